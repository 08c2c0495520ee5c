"""The demo programme's organisation: its sites and teams (the four demo teams, then more over
more sites for a national-size load), who staffs each team, and how cases spread over them."""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from cases.demo.logins import (
    DEMO_TEAM_STAFF,
    DemoPassword,
    demo_users,
    generated_staff,
    staff_group,
)
from cases.models import Membership, Programme, Role, Site, Team

PROGRAMME_NAME = "Demo reintegration programme"
SITES = {
    "Mosul": ("Ninewa", "Mosul", ["Mosul East", "Mosul West"]),
    "Tel Afar": ("Ninewa", "Tel Afar", ["Tel Afar"]),
    "Sinjar": ("Ninewa", "Sinjar", ["Sinjar"]),
}
DEMO_TEAM_NAMES = [name for _g, _d, names in SITES.values() for name in names]
# Where the teams beyond the four demo ones work (``--teams``): site -> (governorate, district).
MORE_SITES = {
    "Hamdaniya": ("Ninewa", "Hamdaniya"),
    "Baaj": ("Ninewa", "Baaj"),
    "Qayyarah": ("Ninewa", "Mosul"),
    "Hawija": ("Kirkuk", "Hawija"),
    "Kirkuk": ("Kirkuk", "Kirkuk"),
    "Tikrit": ("Salah al-Din", "Tikrit"),
    "Baiji": ("Salah al-Din", "Baiji"),
    "Samarra": ("Salah al-Din", "Samarra"),
    "Ramadi": ("Anbar", "Ramadi"),
    "Fallujah": ("Anbar", "Fallujah"),
    "Al-Qaim": ("Anbar", "Al-Qaim"),
    "Baqubah": ("Diyala", "Baqubah"),
    "Baghdad": ("Baghdad", "Baghdad"),
    "Erbil": ("Erbil", "Erbil"),
    "Dohuk": ("Dohuk", "Dohuk"),
    "Basra": ("Basra", "Basra"),
}
# With ``--skew``: team sizes fall off as 1/rank**TEAM_SKEW and caseloads within a team as
# 1/rank**CASELOAD_SKEW (Zipf): a few large teams, a few caseworkers with large caseloads.
TEAM_SKEW = 0.5
CASELOAD_SKEW = 1.0


@dataclass
class TeamStaff:
    """Who works in a team, as user ids, and how cases are spread over them."""

    team: Team
    caseworkers: list[int]
    supervisor_id: int | None
    caseload_weights: list[float] | None = None  # cumulative, with --skew


def cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def zipf_weights(count: int, exponent: float) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


def organisation(
    team_count: int, staff: int, seed: int, *, skew: bool
) -> tuple[Programme, list[Team], dict[str, Any]]:
    """The programme, its ``team_count`` teams and ``staff`` caseworkers and supervisors,
    with the named demo users; what exists already is kept."""
    with transaction.atomic():
        programme, _ = Programme.objects.get_or_create(
            name=PROGRAMME_NAME, defaults={"country": "Iraq", "region": "Ninewa"}
        )
        teams_by_name: dict[str, Team] = {}
        for site_name, (governorate, district, team_names) in SITES.items():
            site, _ = Site.objects.get_or_create(
                programme=programme,
                name=site_name,
                defaults={"governorate": governorate, "district": district},
            )
            for team_name in team_names:
                teams_by_name[team_name], _ = Team.objects.get_or_create(site=site, name=team_name)
        demo_team_names = list(teams_by_name)
        more = more_teams(programme, team_count - len(teams_by_name))
        group = staff_group()
        password = DemoPassword()
        users = demo_users(programme, teams_by_name, group, password)
        teams = [teams_by_name[name] for name in demo_team_names] + more
        generated = staff - DEMO_TEAM_STAFF
        if generated:
            users.update(
                generated_staff(
                    teams,
                    generated,
                    group=group,
                    password=password,
                    demo_team_names=set(DEMO_TEAM_NAMES),
                    team_sizes=team_sizes(teams, seed, skew=skew),
                )
            )
    return programme, teams, users


def more_teams(programme: Programme, count: int) -> list[Team]:
    """``count`` teams beyond the demo ones, dealt over MORE_SITES in turn:
    ``Ramadi 1``, ``Ramadi 2``..."""
    if count <= 0:
        return []
    sites = []
    for name, (governorate, district) in MORE_SITES.items():
        site, _ = Site.objects.get_or_create(
            programme=programme,
            name=name,
            defaults={"governorate": governorate, "district": district},
        )
        sites.append(site)
    teams = []
    for index in range(count):
        site = sites[index % len(sites)]
        name = f"{site.name} {index // len(sites) + 1}"
        team, _ = Team.objects.get_or_create(site=site, name=name)
        teams.append(team)
    return teams


def team_sizes(teams: list[Team], seed: int, *, skew: bool) -> list[float]:
    """Relative team sizes: equal, or with ``--skew`` Zipf over a shuffled order (the
    biggest team is not always the first)."""
    if not skew:
        return [1.0] * len(teams)
    ranks = list(range(len(teams)))
    random.Random(seed).shuffle(ranks)  # noqa: S311 - invented data, repeatable
    weights = zipf_weights(len(teams), TEAM_SKEW)
    return [weights[rank] for rank in ranks]


def team_staff(teams: list[Team], users: dict[str, Any], *, skew: bool) -> list[TeamStaff]:
    """Each team's caseworkers (named demo users first, then generated ones by name) and
    supervisor, in one query."""
    order = {user.pk: index for index, user in enumerate(users.values())}
    members: dict[tuple[int, str], list[int]] = {}
    for team_id, role, user_id in Membership.objects.filter(
        team__in=teams, user_id__in=order
    ).values_list("team_id", "role", "user_id"):
        members.setdefault((team_id, role), []).append(user_id)
    fallback = users["supervisor_mosul"].pk
    result = []
    for team in teams:
        caseworkers = sorted(members.get((team.pk, Role.CASEWORKER), []), key=order.__getitem__)
        supervisors = sorted(members.get((team.pk, Role.SUPERVISOR), []), key=order.__getitem__)
        staff = TeamStaff(team, caseworkers, supervisors[0] if supervisors else fallback)
        if skew and caseworkers:
            staff.caseload_weights = cumulative(zipf_weights(len(caseworkers), CASELOAD_SKEW))
        result.append(staff)
    return result


def team_weights(staff: list[TeamStaff]) -> list[float]:
    """With ``--skew``, cases go to teams in proportion to their caseworkers (bigger teams
    carry more cases); a team without caseworkers gets the share of one."""
    return cumulative([max(len(s.caseworkers), 1) for s in staff])
