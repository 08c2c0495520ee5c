"""The caseload summary per programme stage: counts, medians against the benchmark, pillar
shares, contact and exposure counts, the cases to look at first, and a fixed query count."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.competition import attention_score, case_competition, competition_summary
from cases.models import Case, MonitoringContact, Pillar, Stage, StageTransition, SupportProvision

from . import factories as f
from .conftest import case_at

TODAY = datetime.date(2026, 11, 20)


def _at(day):
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def _stage(summary, stage):
    return next(s for s in summary.stages if s.stage == stage)


def _intake_case(world, *, return_days_before_intake):
    case = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    case.intake.intake_date = TODAY - datetime.timedelta(days=5)
    case.intake.first_contact_date = case.intake.intake_date
    case.intake.return_date = case.intake.intake_date - datetime.timedelta(
        days=return_days_before_intake
    )
    case.intake.save()
    return case


def test_intake_median_is_days_from_return_against_the_repentance_benchmark(world):
    for days in (3, 10, 30):
        _intake_case(world, return_days_before_intake=days)
    summary = competition_summary(Case.objects.all(), today=TODAY)
    intake = _stage(summary, Stage.INTAKE)
    assert intake.cases == 3
    assert summary.cases == 3
    assert intake.median_days == 10
    assert intake.benchmark_days == 7  # the shipped repentance benchmark
    assert intake.competing_stage == "repentance"


def test_pillar_share_counts_the_cases_missing_it(world):
    first = _intake_case(world, return_days_before_intake=1)
    _intake_case(world, return_days_before_intake=1)
    SupportProvision.objects.create(
        case=first, pillar="livelihood", kind="Grant", provided_on=TODAY
    )
    intake = _stage(competition_summary(Case.objects.all(), today=TODAY), Stage.INTAKE)
    assert intake.pillar_missing_share["livelihood"] == 0.5
    assert set(intake.pillar_missing_share) == set(Pillar.values)


def test_later_stages_measure_days_since_entering_the_stage(world):
    case = case_at(Stage.SCREENING, team=world.team_a, caseworker=world.alice)
    StageTransition.objects.create(
        case=case,
        from_stage="intake",
        to_stage="screening",
        at=_at(TODAY - datetime.timedelta(days=40)),
        by=world.carol,
    )
    screening = _stage(competition_summary(Case.objects.all(), today=TODAY), Stage.SCREENING)
    assert screening.cases == 1
    assert screening.median_days == 40
    assert screening.competing_stage == "sharia_institute"


def test_monitoring_counts_contact_shortfall_and_missed_contacts(world):
    case = case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    MonitoringContact.objects.create(
        case=case,
        planned_date=TODAY - datetime.timedelta(days=3),
        outcome="planned",
        recorded_by=world.alice,
    )
    monitoring = _stage(competition_summary(Case.objects.all(), today=TODAY), Stage.MONITORING)
    assert monitoring.cases == 1
    assert monitoring.contact_shortfall == 1
    assert monitoring.contacts_missed == 1


def test_top_cases_rank_by_attention_score_then_case_number_with_their_sentences(world):
    cases = [_intake_case(world, return_days_before_intake=d) for d in (1, 60, 60)]
    intake = _stage(competition_summary(Case.objects.all(), today=TODAY), Stage.INTAKE)
    scores = {c.case_number: attention_score(case_competition(c, today=TODAY)) for c in cases}
    expected = sorted(scores, key=lambda number: (-scores[number], number))
    assert [c.case_number for c in intake.top_cases] == expected
    slow = intake.top_cases[0]
    assert slow.attention_score == scores[slow.case_number]
    assert any("behind the group's repentance registration" in r for r in slow.reasons)


def test_closed_cases_are_left_out(world):
    case_at(Stage.CLOSED, team=world.team_a, caseworker=world.alice)
    summary = competition_summary(Case.objects.all(), today=TODAY)
    assert summary.cases == 0
    assert [s.stage for s in summary.stages] == [
        "intake",
        "screening",
        "training",
        "monitoring",
    ]


@pytest.mark.parametrize("stage", [Stage.INTAKE, Stage.MONITORING])
def test_summary_takes_the_same_number_of_queries_for_a_larger_caseload(world, stage):
    def make(n):
        for _ in range(n):
            case = case_at(stage, team=world.team_a, caseworker=world.alice)
            f.ContactFactory(case=case, recorded_by=world.alice)

    make(2)
    with CaptureQueriesContext(connection) as small:
        competition_summary(Case.objects.all(), today=TODAY)
    make(10)
    with CaptureQueriesContext(connection) as large:
        summary = competition_summary(Case.objects.all(), today=TODAY)
    assert summary.cases == 12
    assert len(small.captured_queries) == len(large.captured_queries) <= 7
