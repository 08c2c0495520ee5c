"""The competition summary of a large caseload is served from the cache a background job keeps
warm; small caseloads are computed live; nobody reads a summary of teams outside their scope."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from cases import selectors
from cases.competition.cached import (
    competition_summaries_warm,
    competition_summary_for_teams,
    summary_cache_key,
)
from cases.models import Stage
from cases.tasks import competition_summaries_warm_task

from .conftest import case_at
from .web.conftest import verified_client

CACHED = override_settings(COMPETITION_SUMMARY_CACHE_MIN_CASES=2)


@pytest.fixture(autouse=True)
def empty_cache():
    cache.clear()
    yield
    cache.clear()


def _summary(user, teams=None):
    teams = teams if teams is not None else selectors.case_teams(user=user)
    return competition_summary_for_teams(user=user, teams=teams)


def _open(world, n, *, team=None, caseworker=None):
    team = team or world.team_a
    return [
        case_at(Stage.MONITORING, team=team, caseworker=caseworker or world.alice) for _ in range(n)
    ]


def test_a_small_caseload_is_computed_live_every_time(world):
    _open(world, 1)
    assert _summary(world.mona).cases == 1
    _open(world, 1)
    assert _summary(world.mona).cases == 2  # default threshold (1,000) not reached: live


@CACHED
def test_a_large_caseload_is_served_from_the_cache_without_reading_the_cases(world):
    _open(world, 3)
    first = _summary(world.mona)
    assert first.cases == 3
    assert first.computed_at is not None
    with CaptureQueriesContext(connection) as queries:
        again = _summary(world.mona)
    assert again.computed_at == first.computed_at
    assert again.cases == 3
    tables = " ".join(q["sql"] for q in queries.captured_queries)
    assert "cases_monitoringcontact" not in tables
    assert "cases_stagetransition" not in tables


@CACHED
def test_the_warm_job_refreshes_what_the_cache_serves(world):
    _open(world, 3)
    stale = _summary(world.mona)
    _open(world, 2)
    assert _summary(world.mona).cases == 3  # still the cached figures
    stored = competition_summaries_warm()
    assert stored >= 1
    fresh = _summary(world.mona)
    assert fresh.cases == 5
    assert fresh.computed_at > stale.computed_at


@CACHED
def test_the_warm_job_covers_programmes_supervisors_and_single_teams(world):
    _open(world, 2, team=world.team_a)
    _open(world, 2, team=world.team_c)
    competition_summaries_warm()
    today = _summary(world.mona).today
    north = {world.team_a.pk, world.team_b.pk, world.team_c.pk}
    for teams in (north, {world.team_a.pk, world.team_c.pk}, {world.team_a.pk}):
        assert cache.get(summary_cache_key(teams, today)) is not None, teams
    # Team X (South) has two cases only below the threshold: not stored.
    assert cache.get(summary_cache_key({world.team_x.pk}, today)) is None


@CACHED
def test_the_warm_job_takes_the_same_queries_for_more_cases(world):
    _open(world, 2)
    with CaptureQueriesContext(connection) as small:
        competition_summaries_warm()
    _open(world, 8, team=world.team_c)
    with CaptureQueriesContext(connection) as large:
        competition_summaries_warm()
    assert len(small.captured_queries) == len(large.captured_queries)


@CACHED
def test_the_beat_task_runs_the_warm_job(world, eager_tasks):
    _open(world, 3)
    assert competition_summaries_warm_task.delay().get() >= 1
    assert _summary(world.mona).computed_at is not None
    key = summary_cache_key(
        {world.team_a.pk, world.team_b.pk, world.team_c.pk}, _summary(world.mona).today
    )
    assert cache.get(key) is not None


@CACHED
def test_a_cached_summary_never_reaches_a_user_who_sees_other_teams(world):
    _open(world, 3, team=world.team_a)
    _open(world, 2, team=world.team_x, caseworker=world.xavier)
    competition_summaries_warm()
    assert _summary(world.mona).cases == 3  # North: team A's cases only
    assert _summary(world.xavier).cases == 2  # South: team X's
    assert _summary(world.bob).cases == 0  # team B: nothing open
    # Teams outside the user's scope are read through case_list all the same.
    assert _summary(world.bob, teams=[world.team_x]).cases == 0


@override_settings(
    COMPETITION_SUMMARY_CACHE_MIN_CASES=1,
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    },
)
def test_a_cache_that_is_down_means_computing_live(world):
    _open(world, 2)
    assert _summary(world.mona).cases == 2
    assert competition_summaries_warm() >= 1  # nothing stored, nothing raised


@CACHED
def test_the_api_and_the_dashboard_say_when_the_figures_were_computed(world):
    _open(world, 3)
    body = verified_client(world.mona, APIClient()).get("/api/v1/competition/summary/").json()
    assert body["cases"] == 3
    assert body["computed_at"]
    page = verified_client(world.carol).get("/team/").content.decode()
    assert 'id="competition-computed"' in page
