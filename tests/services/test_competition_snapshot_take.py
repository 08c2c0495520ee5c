"""The nightly per-team competition snapshot: one row per team and stage, set-based, idempotent
within a day, audited once."""

import datetime

from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import AuditEvent, CompetitionSnapshot, Stage, Team
from cases.services.competition import competition_snapshot_take
from cases.tasks import competition_snapshot_task

from ..conftest import case_at

TODAY = datetime.date(2026, 11, 20)


def test_each_team_gets_one_row_per_stage_with_its_own_cases(world):
    mine = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    case_at(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    case_at(Stage.CLOSED, team=world.team_b, caseworker=world.bob)

    written = competition_snapshot_take(today=TODAY)

    teams = Team.objects.count()
    assert written == 4 * teams == CompetitionSnapshot.objects.count()
    a_intake = CompetitionSnapshot.objects.get(team=world.team_a, day=TODAY, stage="intake")
    assert a_intake.data["cases"] == 1
    assert [c["case_number"] for c in a_intake.data["top_cases"]] == [mine.case_number]
    b_intake = CompetitionSnapshot.objects.get(team=world.team_b, day=TODAY, stage="intake")
    assert b_intake.data["cases"] == 1
    assert mine.case_number not in str(b_intake.data)
    a_monitoring = CompetitionSnapshot.objects.get(team=world.team_a, stage="monitoring")
    assert a_monitoring.data["cases"] == 1
    empty = CompetitionSnapshot.objects.get(team=world.team_x, stage="intake")
    assert empty.data["cases"] == 0


def test_running_twice_the_same_day_updates_instead_of_duplicating(world):
    case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    competition_snapshot_take(today=TODAY)
    first = CompetitionSnapshot.objects.count()
    case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    competition_snapshot_take(today=TODAY)
    assert CompetitionSnapshot.objects.count() == first
    row = CompetitionSnapshot.objects.get(team=world.team_a, day=TODAY, stage="intake")
    assert row.data["cases"] == 2
    competition_snapshot_take(today=TODAY + datetime.timedelta(days=1))
    assert CompetitionSnapshot.objects.count() == 2 * first


def test_each_run_is_audited_once_with_its_counts(world):
    case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    before = AuditEvent.objects.filter(action="competition.snapshot").count()
    written = competition_snapshot_take(today=TODAY)
    events = AuditEvent.objects.filter(action="competition.snapshot")
    assert events.count() == before + 1
    event = events.latest("id")
    assert event.object_id == TODAY.isoformat()
    assert event.detail["rows"] == written
    assert event.detail["cases"] == 1


def test_query_count_does_not_grow_with_the_caseload(world):
    for _ in range(2):
        case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    with CaptureQueriesContext(connection) as small:
        competition_snapshot_take(today=TODAY)
    for team in (world.team_a, world.team_b, world.team_c):
        for stage in (Stage.SCREENING, Stage.MONITORING):
            case_at(stage, team=team)
    with CaptureQueriesContext(connection) as large:
        competition_snapshot_take(today=TODAY)
    assert len(small.captured_queries) == len(large.captured_queries)


def test_the_task_takes_todays_snapshot_and_is_scheduled_nightly(world):
    case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    assert competition_snapshot_task.apply().get() == 4 * Team.objects.count()
    entry = settings.CELERY_BEAT_SCHEDULE["competition-snapshot-nightly"]
    assert entry["task"] == "cases.competition_snapshot"
