"""Named personas, in one place, and cases ready at each stage.

Programme "North" has team A and team B at one site and team C at another; programme "South"
has team X. Everyone below is a member of North unless the name says otherwise.
"""

from __future__ import annotations

import datetime
import os
from pathlib import Path
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from cases import context
from cases.models import ApprovalKind, Case, Role, Stage

from . import factories as f


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Real hashing costs ~0.3 s a user; the tests are about access, not hash strength."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


# The instant every test starts at: "today" is the same on every run, whatever the date or
# the hour (no test meets midnight, a month end or a leap day by chance). Time still runs.
FROZEN_NOW = datetime.datetime(2026, 11, 24, 9, 0, tzinfo=datetime.UTC)
# Tests whose other half runs in another process or in the browser, on the real clock: a
# Celery worker, a seeding subprocess, Chromium's cookie jar. They keep the real clock too.
_REAL_CLOCK_DIRS = {"browser", "reliability"}


@pytest.fixture(autouse=True)
def _fixed_clock(request):
    """Start every test at ``FROZEN_NOW`` (time-machine), unless it is marked ``real_clock``
    or lives where another process shares its dates."""
    here = Path(str(request.node.path)).parent.name
    if here in _REAL_CLOCK_DIRS or request.node.get_closest_marker("real_clock"):
        yield None
        return
    with time_machine.travel(FROZEN_NOW, tick=True) as traveller:
        yield traveller


@pytest.fixture
def clock():
    """Stopped time that a test moves forward itself (``clock.shift(seconds)``), for the
    session store, the middleware and django-otp alike."""
    with time_machine.travel(FROZEN_NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _request_context():
    """Audit rows written by a test carry a recognisable request id and address."""
    with context.bound(request_id="test-request-0001", ip="192.0.2.10"):
        yield


@pytest.fixture
def world(db):
    north = f.ProgrammeFactory(name="North")
    south = f.ProgrammeFactory(name="South")
    site_1 = f.SiteFactory(programme=north, name="Mosul", district="Mosul")
    site_2 = f.SiteFactory(programme=north, name="Sinjar", district="Sinjar")
    site_s = f.SiteFactory(programme=south, name="Basra", district="Basra")
    team_a = f.TeamFactory(site=site_1, name="Team A")
    team_b = f.TeamFactory(site=site_1, name="Team B")
    team_c = f.TeamFactory(site=site_2, name="Team C")
    team_x = f.TeamFactory(site=site_s, name="Team X")

    def member(username, role, *, team=None, programme=None, **user_fields):
        user = f.UserFactory(username=username, **user_fields)
        f.MembershipFactory(user=user, role=role, team=team, programme=programme)
        return user

    people = SimpleNamespace(
        north=north,
        south=south,
        team_a=team_a,
        team_b=team_b,
        team_c=team_c,
        team_x=team_x,
        alice=member("alice", Role.CASEWORKER, team=team_a),  # caseworker, team A
        bob=member("bob", Role.CASEWORKER, team=team_b),  # caseworker, team B
        carol=member("carol", Role.SUPERVISOR, team=team_a),  # supervises A and C
        mona=member("mona", Role.PROGRAMME_MANAGER, programme=north),  # manager, North
        audrey=member("audrey", Role.AUDITOR, programme=north),  # auditor, North
        xavier=member("xavier", Role.CASEWORKER, team=team_x),  # caseworker, South
        ivan=member("ivan", Role.CASEWORKER, team=team_a, is_active=False),  # disabled
        root=f.UserFactory(username="root", is_superuser=True),  # no role at all
    )
    f.MembershipFactory(user=people.carol, role=Role.SUPERVISOR, team=team_c)
    f.MembershipFactory(user=people.alice, role=Role.CASEWORKER, team=team_c)
    return people


def case_at(
    stage: str,
    *,
    team,
    caseworker=None,
    supervisor=None,
    risk_level: str = "medium",
) -> Case:
    """A case in ``stage`` whose records satisfy every precondition to get there."""
    case = f.CaseFactory(team=team, caseworker=caseworker, stage=Stage.INTAKE)
    actor = caseworker or f.UserFactory()
    f.IntakeRecordFactory(case=case, recorded_by=actor)
    f.ConsentFactory(returnee=case.returnee, recorded_by=actor)
    if stage in (Stage.TRAINING, Stage.MONITORING):
        screening = f.ScreeningFactory(case=case, assessed_by=actor, risk_level=risk_level)
        f.ApprovalFactory(
            case=case,
            kind=ApprovalKind.SCREENING_DECISION,
            screening=screening,
            outcome="",
            requested_by=actor,
            decided_by=supervisor or f.UserFactory(),
        )
        case.risk_level = risk_level
    case.stage = stage
    case.stage_entered_at = timezone.now()
    if stage == Stage.CLOSED:
        case.outcome, case.closed_at = "reintegrated", case.stage_entered_at
    case.save()
    return case


@pytest.fixture
def make_case(world):
    """``make_case("training")`` → a team-A case of alice's at that stage."""

    def make(stage: str = Stage.INTAKE, *, team=None, caseworker=None, **kwargs) -> Case:
        team = team or world.team_a
        if caseworker is None and team == world.team_a:
            caseworker = world.alice
        return case_at(stage, team=team, caseworker=caseworker, supervisor=world.carol, **kwargs)

    return make


def pytest_report_header(config):
    database = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    broker = "Redis" if os.environ.get("REDIS_URL") else "in-memory (eager Celery)"
    return f"database: {database}; cache and broker: {broker}"


_TRANSACTIONAL_FIXTURES = {"transactional_db", "live_server"}


def pytest_collection_modifyitems(items):
    """Every transactional test restores the migrated data (serialized rollback), not some.

    A transactional test empties the tables when it ends. Without serialized rollback Django
    then re-creates content types and permissions with new ids; a later test *with* serialized
    rollback on the same xdist worker re-inserts the ids it saved at start-up and collides with
    them (IntegrityError on django_content_type, depending on which worker drew which test).
    With all of them alike, each one starts from exactly the migrated database."""
    for item in items:
        marker = item.get_closest_marker("django_db")
        kwargs = dict(marker.kwargs) if marker else {}
        fixtures = set(getattr(item, "fixturenames", ()))
        if kwargs.get("transaction") or fixtures & _TRANSACTIONAL_FIXTURES:
            kwargs.update(transaction=True, serialized_rollback=True)
            item.add_marker(pytest.mark.django_db(**kwargs), append=False)


@pytest.fixture
def eager_tasks():
    """Tasks run in-process at call time for this test, with or without a broker: for tests
    of what a task does once queued, not of the broker (tests/reliability/ has those)."""
    from reintegration.celery import app

    before = (app.conf.task_always_eager, app.conf.task_eager_propagates)
    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    try:
        yield app
    finally:
        app.conf.task_always_eager, app.conf.task_eager_propagates = before
