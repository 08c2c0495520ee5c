"""The competition summary of a large caseload, served from a cache a background job keeps warm.

Gathering 100,000 cases' facts and applying the rules to each takes seconds, far too long for
a supervisor's dashboard or a manager's API call. A caseload is a set of teams (a case's
programme is its team's, fixed when the case opens), so the summary is cached under the set
of team ids and the day: every user who sees the same teams reads the same figures, and a
user never reads a summary of teams outside their scope, because the set comes from their
scope. Small caseloads (under ``COMPETITION_SUMMARY_CACHE_MIN_CASES``) are always computed
live: they are fast, and their users expect to see a contact they just recorded.

``competition_summaries_warm`` (Celery beat, every ``COMPETITION_SUMMARY_WARM_SECONDS``)
reads the whole open caseload once, a chunk at a time, applies the rules once per case, and
stores the summary of every team set someone looks at: each programme, and each user's case
scope and supervised teams. A summary carries ``computed_at``; pages and the API show it.

While the cache is down (Redis unreachable; ``reintegration/cache.py``) a large caseload's
summary is computed on request, as on a cold cache, and kept in the web process's memory until
the cache is back, so each process computes it once rather than on every request.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import logging
from collections import defaultdict
from collections.abc import Collection, Iterable

from django.conf import settings
from django.core.cache import cache
from django.core.cache.backends.locmem import LocMemCache
from django.db.models import QuerySet
from django.utils import timezone

from cases import selectors
from cases.models import Case, Membership, Role, Team
from cases.selectors import Viewer
from reintegration.cache import LogEvery, Outage, cache_outage

from .summary import CompetitionSummary, SummaryTally, competition_summary, team_tallies

logger = logging.getLogger(__name__)

KEY_PREFIX = "competition-summary:v1"


def summary_cache_key(team_ids: Collection[int], today: datetime.date) -> str:
    """One key per (set of teams, day); the ids are hashed, never listed in the key."""
    digest = hashlib.sha256(",".join(str(i) for i in sorted(set(team_ids))).encode()).hexdigest()
    return f"{KEY_PREFIX}:{today.isoformat()}:{digest[:32]}"


# Summaries computed while the shared cache is down, in this process only, under the outage's
# number: none is read once that outage is over. At about 20 KB a summary, a few MB at most.
_kept_here = LocMemCache(
    "competition-summaries-while-the-cache-is-down", {"OPTIONS": {"MAX_ENTRIES": 200}}
)
# A cache that raises (not the project's fail-open one) is said at most once a minute.
_raising_cache_log = LogEvery(60.0)


def _local_key(key: str, outage: Outage) -> str:
    return f"{key}:outage-{outage.number}"


def _cache_get(key: str) -> CompetitionSummary | None:
    try:
        found = cache.get(key)
    except Exception as exc:  # a cache that is down means computing live, never an error page
        if _raising_cache_log.due("get"):
            logger.warning("competition summary cache unavailable (%s)", type(exc).__name__)
        return None
    outage = cache_outage()
    if found is None and outage is not None:
        found = _kept_here.get(_local_key(key, outage))
    return found if isinstance(found, CompetitionSummary) else None


def _cache_set(key: str, summary: CompetitionSummary) -> None:
    timeout = settings.COMPETITION_SUMMARY_CACHE_SECONDS
    try:
        cache.set(key, summary, timeout=timeout)
    except Exception as exc:
        if _raising_cache_log.due("set"):
            logger.warning("competition summary cache unavailable (%s)", type(exc).__name__)
        return
    outage = cache_outage()
    if outage is not None:
        _kept_here.set(_local_key(key, outage), summary, timeout=timeout)


def _worth_caching(summary: CompetitionSummary) -> bool:
    minimum: int = settings.COMPETITION_SUMMARY_CACHE_MIN_CASES
    return summary.cases >= minimum


def competition_summary_for_teams(
    *, user: Viewer | None, teams: Iterable[Team], today: datetime.date | None = None
) -> CompetitionSummary:
    """The summary of the open cases of ``teams`` that ``user`` may see: from the cache when
    a large caseload's summary is there, otherwise computed now (and cached when large).

    ``teams`` is narrowed here to those whose cases the user sees (``selectors.case_teams``),
    before the cache is asked: a team outside the scope counts as a team without cases, and
    a cached summary is never read for a set of teams the user could not see in full."""
    today = today or timezone.localdate()
    wanted = {team.pk for team in teams}
    team_ids = sorted(
        selectors.case_teams(user=user).filter(pk__in=wanted).values_list("pk", flat=True)
    )
    key = summary_cache_key(team_ids, today)
    cached = _cache_get(key)
    if cached is not None:
        return cached
    cases = selectors.case_list(user=user).filter(team_id__in=team_ids)
    summary = _compute(cases.open(), today=today)
    if _worth_caching(summary):
        _cache_set(key, summary)
    return summary


def _compute(cases: QuerySet[Case], *, today: datetime.date) -> CompetitionSummary:
    # Streamed, a chunk of cases at a time: a cold cache must not cost a web process the
    # whole caseload's facts in memory.
    return _stamped(competition_summary(cases, today=today))


def _stamped(summary: CompetitionSummary) -> CompetitionSummary:
    return dataclasses.replace(summary, computed_at=timezone.now())


def _team_sets() -> set[frozenset[int]]:
    """Every set of teams someone reads a summary for: each programme's teams, and each
    active user's case scope and supervised teams (the rules of ``selectors.case_teams`` and
    ``selectors.supervised_teams``, for all users in two queries)."""
    programme_teams: dict[int, set[int]] = defaultdict(set)
    for team_id, programme_id in Team.objects.values_list("id", "site__programme_id"):
        programme_teams[programme_id].add(team_id)
    scope: dict[int, set[int]] = defaultdict(set)
    supervised: dict[int, set[int]] = defaultdict(set)
    memberships = Membership.objects.active().values_list(
        "user_id", "role", "team_id", "programme_id"
    )
    for user_id, role, team_id, programme_id in memberships:
        if role in (Role.CASEWORKER, Role.SUPERVISOR) and team_id is not None:
            scope[user_id].add(team_id)
        if role == Role.SUPERVISOR and team_id is not None:
            supervised[user_id].add(team_id)
        if role == Role.PROGRAMME_MANAGER and programme_id is not None:
            scope[user_id] |= programme_teams[programme_id]
            supervised[user_id] |= programme_teams[programme_id]
    sets = {frozenset(teams) for teams in programme_teams.values()}
    sets |= {frozenset(teams) for teams in scope.values()}
    sets |= {frozenset(teams) for teams in supervised.values()}
    sets |= {frozenset({team_id}) for teams in programme_teams.values() for team_id in teams}
    return {teams for teams in sets if teams}


def competition_summaries_warm(*, today: datetime.date | None = None) -> int:
    """Compute and cache the summary of every team set someone reads whose caseload is large
    enough to be served from the cache. The open caseload is read once, a chunk of cases at a
    time, the rules applied once per case and each case reduced at once to its team's tally
    (``cases.competition.team_tallies``): a few counters and the top cases, never the cases,
    so the worker's memory does not grow with the caseload. A team set's summary merges its
    teams' tallies. Returns the summaries stored."""
    today = today or timezone.localdate()
    tallies = team_tallies(Case.objects.open(), today=today)
    minimum = settings.COMPETITION_SUMMARY_CACHE_MIN_CASES
    stored = 0
    for teams in _team_sets():
        parts = [tallies[team_id] for team_id in sorted(teams) if team_id in tallies]
        if sum(part.cases for part in parts) < minimum:
            continue
        summary = _stamped(SummaryTally.merged(parts).summary(today=today))
        _cache_set(summary_cache_key(teams, today), summary)
        stored += 1
    return stored
