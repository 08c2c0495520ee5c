"""Who can log in to the demo: the named demo users, one per role, and the generated
caseworkers and supervisors of a national-size load; all share the demo password and the
published authenticator key."""

from __future__ import annotations

import base64
import itertools
import math
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import Membership, Programme, Role, Team

# The demo users' TOTP key: published here, so for development and demos only (seed_demo
# refuses production). Hex as django-otp stores it; base32 as authenticator apps take it.
DEMO_TOTP_KEY_HEX = b"reintegration-demo!!".hex()
DEMO_TOTP_SECRET_BASE32 = base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY_HEX)).decode("ascii")
# username -> (role, team names or None for programme roles)
DEMO_USERS: dict[str, tuple[Role, list[str]]] = {
    "caseworker_a": (Role.CASEWORKER, ["Mosul East"]),
    "caseworker_b": (Role.CASEWORKER, ["Mosul West"]),
    "caseworker_c": (Role.CASEWORKER, ["Tel Afar"]),
    "caseworker_d": (Role.CASEWORKER, ["Sinjar"]),
    "supervisor_mosul": (Role.SUPERVISOR, ["Mosul East", "Mosul West"]),
    "supervisor_north": (Role.SUPERVISOR, ["Tel Afar", "Sinjar"]),
    "manager": (Role.PROGRAMME_MANAGER, []),
    "auditor": (Role.AUDITOR, []),
}
DEMO_TEAM_STAFF = sum(
    1 for role, _teams in DEMO_USERS.values() if role in (Role.CASEWORKER, Role.SUPERVISOR)
)
# Generated staff (``--staff``): ``caseworker_0001``..., ``supervisor_0001``...
GENERATED_CASEWORKER = "caseworker_{:04d}"
GENERATED_SUPERVISOR = "supervisor_{:04d}"


class DemoPassword:
    """The demo password's hash, computed at most once a load: hashing is slow on purpose, and
    every demo user has the same password anyway."""

    def __init__(self) -> None:
        self._hash: str | None = None

    def __call__(self) -> str:
        if self._hash is None:
            self._hash = make_password(settings.DEMO_PASSWORD)
        return self._hash


def staff_group() -> Group:
    group, _ = Group.objects.get_or_create(name="Programme staff (demo)")
    group.permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cases",
            codename__in=["view_case", "view_auditevent"],
        )
    )
    return group


def demo_totp_device(user: Any) -> None:
    """A confirmed authenticator app with the published demo key, unless the user already
    has one (a device enrolled by hand is kept)."""
    if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
        TOTPDevice.objects.create(
            user=user, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True
        )


def demo_users(
    programme: Programme,
    teams_by_name: dict[str, Team],
    group: Group,
    password: DemoPassword,
) -> dict[str, Any]:
    """The named demo users with their memberships and authenticator apps; users that exist
    already keep their password and group."""
    users = {}
    user_model = get_user_model()
    for username, (role, team_names) in DEMO_USERS.items():
        user = user_model.objects.filter(username=username).first()
        if user is None:
            user = user_model(username=username, is_staff=True, password=password())
            user.save()
            user.groups.add(group)
        demo_totp_device(user)
        for team_name in team_names:
            Membership.objects.get_or_create(user=user, role=role, team=teams_by_name[team_name])
        if not team_names:
            Membership.objects.get_or_create(user=user, role=role, programme=programme)
        users[username] = user
    return users


def generated_staff(
    teams: list[Team],
    count: int,
    *,
    group: Group,
    password: DemoPassword,
    demo_team_names: set[str],
    team_sizes: list[float],
) -> dict[str, Any]:
    """``count`` generated caseworkers and supervisors, created in bulk (one shared
    password hash: the demo password): a supervisor for every team beyond the demo ones
    (and for the demo teams once there are enough), the rest caseworkers, dealt over the
    teams by ``team_sizes`` (``--skew``: some teams much bigger). Deterministic for given
    sizes and counts; users and memberships that exist already are left as they are."""
    new_teams = [t for t in teams if t.name not in demo_team_names]
    supervisors = len(new_teams)
    if count - supervisors >= 2 * len(teams):
        supervisors = len(teams)  # enough staff: every team gets its own supervisor too
    caseworkers = count - supervisors
    plan: list[tuple[str, Role, Team]] = []
    supervised = new_teams + [t for t in teams if t not in new_teams]
    for index, team in enumerate(supervised[:supervisors]):
        plan.append((GENERATED_SUPERVISOR.format(index + 1), Role.SUPERVISOR, team))
    # Caseworkers: one for every new team first (demo teams have their named one), the rest
    # in proportion to team size.
    seats = [0 if t.name in demo_team_names else 1 for t in teams]
    rest = caseworkers - sum(seats)
    total = sum(team_sizes)
    shares = [rest * size / total for size in team_sizes]
    seats = [s + math.floor(share) for s, share in zip(seats, shares, strict=True)]
    by_remainder = sorted(range(len(teams)), key=lambda i: -(shares[i] % 1))
    for i in by_remainder[: caseworkers - sum(seats)]:
        seats[i] += 1
    number = itertools.count(1)
    for team, seat_count in zip(teams, seats, strict=True):
        for _ in range(seat_count):
            plan.append((GENERATED_CASEWORKER.format(next(number)), Role.CASEWORKER, team))

    user_model = get_user_model()
    names = [username for username, _r, _t in plan]
    have = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
    user_model.objects.bulk_create(
        [
            user_model(username=name, is_staff=True, password=password())
            for name in names
            if name not in have
        ]
    )
    users = {u.username: u for u in user_model.objects.filter(username__in=names)}
    fresh = [users[name] for name in names if name not in have]
    group.user_set.through.objects.bulk_create(
        [group.user_set.through(user_id=u.pk, group_id=group.pk) for u in fresh]
    )
    TOTPDevice.objects.bulk_create(
        [
            TOTPDevice(user=u, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True)
            for u in fresh
        ]
    )
    memberships = set(
        Membership.objects.filter(user__in=users.values()).values_list("user_id", "role", "team_id")
    )
    Membership.objects.bulk_create(
        [
            Membership(user=users[name], role=role, team=team)
            for name, role, team in plan
            if (users[name].pk, role.value, team.pk) not in memberships
        ]
    )
    return users
