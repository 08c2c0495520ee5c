"""The retention job: closed cases past their programme's retention period lose their
person's identity and the free text that can describe them, in a fixed number of statements,
once; everything a statistic needs stays."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import selectors
from cases.models import (
    IDENTITY_FIELDS,
    Approval,
    AuditEvent,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    PlanGoal,
    Referral,
    ReintegrationPlan,
    Returnee,
    ScreeningAssessment,
    Stage,
    StageTransition,
    SupportProvision,
    SurveyResponse,
)
from cases.services.identity import case_find_by_identifier, identity_reveal
from cases.services.retention import retention_anonymise_due

from .. import factories as f

TODAY = datetime.date(2026, 11, 20)
NOW = timezone.make_aware(datetime.datetime(2026, 11, 20, 9, 0))


def closed_days_ago(make_case, days: int, **kwargs) -> Case:
    """A closed team-A case (every kind of record with free text) closed ``days`` ago."""
    case = make_case(Stage.CLOSED, **kwargs)
    closed = NOW - datetime.timedelta(days=days)
    Case.objects.filter(pk=case.pk).update(closed_at=closed, stage_entered_at=closed)
    case.refresh_from_db()
    actor = case.caseworker or f.UserFactory()
    IntakeRecord.objects.filter(case=case).update(notes="Came back with her brother Yusuf")
    ScreeningAssessment.objects.create(
        case=case,
        assessed_on=TODAY,
        risk_level="high",
        answers={"family": "Husband killed in Raqqa"},
        decision_reason="Known to the tribe's sheikh",
        security_findings="Named in the 2019 detention file",
        assessed_by=actor,
    )
    SupportProvision.objects.create(
        case=case, pillar="livelihood", kind="Grant", provided_on=TODAY, notes="Shop on Nabi St"
    )
    f.ContactFactory(
        case=case, concerns="Her cousin visits at night", outcome="met", actual_date=TODAY
    )
    Incident.objects.create(
        case=case,
        kind="threat_received",
        occurred_on=TODAY,
        severity="high",
        description="Threatened by Abu Omar",
        recorded_by=actor,
    )
    plan = ReintegrationPlan.objects.create(case=case, created_by=actor)
    PlanGoal.objects.create(plan=plan, pillar="community", goal="Reconcile with uncle Hassan")
    partner = f.PartnerFactory(programme=case.programme)
    Referral.objects.create(
        case=case,
        partner=partner,
        service="health",
        note="Diabetic",
        outcome="Seen by Dr Ali",
        created_by=actor,
    )
    f.ApprovalFactory(
        case=case, requested_by=actor, request_note="Ready", comment="Agreed with Omar"
    )
    StageTransition.objects.create(
        case=case,
        from_stage="monitoring",
        to_stage="closed",
        at=closed,
        by=actor,
        reason="Moved in with her sister in Erbil",
    )
    ConsentRecord.objects.filter(returnee=case.returnee).update(notes="Signed with thumbprint")
    SurveyResponse.objects.create(
        case=case, taken_on=TODAY, overall_score=Decimal("62.50"), recorded_by=actor
    )
    Returnee.objects.filter(pk=case.returnee_id).update(skills="Baker at Al-Noor bakery")
    return case


def reveal(case, world) -> dict[str, Any]:
    with transaction.atomic():
        return identity_reveal(actor=world.mona, case=case, reason="Retention check")


def run(today=TODAY) -> int:
    return retention_anonymise_due(today=today)


@pytest.fixture
def programme_days(world):
    world.north.retention_days = 365
    world.north.save()
    return 365


def test_a_due_case_loses_identity_and_free_text(make_case, world, programme_days):
    case = closed_days_ago(make_case, programme_days)
    national_id = case.returnee.national_id
    assert run() == 1

    assert reveal(case, world) == {
        **{name: "" for name in IDENTITY_FIELDS},
        "date_of_birth": None,
    }
    person = Returnee.objects.get(pk=case.returnee_id)
    assert person.anonymised_at is not None
    assert person.national_id_index == person.phone_index == person.skills == ""
    with transaction.atomic():
        found = case_find_by_identifier(actor=world.mona, national_id=national_id)
    assert not found.exists()

    assert IntakeRecord.objects.get(case=case).notes == ""
    screening = ScreeningAssessment.objects.get(case=case)
    assert screening.answers == {}
    assert screening.decision_reason == ""
    assert screening.security_findings == ""
    assert SupportProvision.objects.get(case=case).notes == ""
    assert MonitoringContact.objects.get(case=case).concerns == ""
    assert Incident.objects.get(case=case).description == ""
    assert PlanGoal.objects.get(plan__case=case).goal == ""
    referral = Referral.objects.get(case=case)
    assert referral.note == referral.outcome == ""
    assert set(Approval.objects.filter(case=case).values_list("comment", flat=True)) == {""}
    assert StageTransition.objects.get(case=case, to_stage="closed").reason == ""
    assert set(ConsentRecord.objects.filter(returnee=person).values_list("notes", flat=True)) == {
        ""
    }


def test_the_encrypted_columns_hold_nothing_afterwards(make_case, world, programme_days):
    case = closed_days_ago(make_case, programme_days + 10)
    run()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT given_name, family_name, aliases, date_of_birth, national_id, phone, address"
            " FROM cases_returnee WHERE id = %s",
            [case.returnee_id],
        )
        assert set(cursor.fetchone()) <= {"", None}
        cursor.execute(
            "SELECT security_findings FROM cases_screeningassessment WHERE case_id = %s",
            [case.case_number],
        )
        assert cursor.fetchone() == ("",)


def test_statistics_still_count_the_case(make_case, world, programme_days):
    case = closed_days_ago(make_case, programme_days)
    before = selectors.caseload_by_stage(Case.objects.all())
    run()
    assert selectors.caseload_by_stage(Case.objects.all()) == before
    kept = Case.objects.get(pk=case.pk)
    assert (kept.stage, kept.outcome, kept.risk_level) == (
        Stage.CLOSED,
        case.outcome,
        case.risk_level,
    )
    assert kept.closed_at == case.closed_at
    assert kept.opened_at == case.opened_at
    assert SurveyResponse.objects.get(case=case).overall_score == Decimal("62.50")
    assert ScreeningAssessment.objects.get(case=case).risk_level == "high"
    assert SupportProvision.objects.get(case=case).pillar == "livelihood"
    assert Incident.objects.get(case=case).severity == "high"
    assert StageTransition.objects.filter(case=case).count() >= 1
    person = Returnee.objects.get(pk=case.returnee_id)
    assert person.year_of_birth == 1990
    assert person.current_district == "Mosul"


def test_a_case_not_yet_due_or_open_is_untouched(make_case, world, programme_days):
    recent = closed_days_ago(make_case, programme_days - 1)
    still_open = make_case(Stage.MONITORING)
    never = make_case(Stage.CLOSED, team=world.team_x, caseworker=world.xavier)
    world.south.retention_days = None
    world.south.save()
    Case.objects.filter(pk=never.pk).update(closed_at=NOW - datetime.timedelta(days=5000))
    assert run() == 0
    for case in (recent, still_open, never):
        person = Returnee.objects.get(pk=case.returnee_id)
        assert person.anonymised_at is None
        assert (person.given_name, person.skills) == ("Omar", person.skills)
        assert person.national_id_index
        assert person.date_of_birth
    assert reveal(recent, world)["given_name"] == "Omar"
    assert IntakeRecord.objects.get(case=recent).notes == "Came back with her brother Yusuf"
    assert not AuditEvent.objects.filter(action="retention.anonymise").exists()


def test_the_period_ends_on_the_day_closing_plus_the_retention_days(
    make_case, world, programme_days
):
    case = closed_days_ago(make_case, 0)
    assert run(today=TODAY + datetime.timedelta(days=programme_days - 1)) == 0
    assert run(today=TODAY + datetime.timedelta(days=programme_days)) == 1
    assert Returnee.objects.get(pk=case.returnee_id).anonymised_at is not None


def test_a_person_with_another_case_still_open_keeps_their_identity(
    make_case, world, programme_days
):
    case = closed_days_ago(make_case, programme_days + 1)
    f.CaseFactory(
        returnee=case.returnee, team=world.team_x, stage=Stage.MONITORING, caseworker=world.xavier
    )
    assert run() == 0
    assert Returnee.objects.get(pk=case.returnee_id).given_name == "Omar"


def test_a_second_run_changes_nothing(make_case, world, programme_days):
    case = closed_days_ago(make_case, programme_days)
    assert run() == 1
    person = Returnee.objects.get(pk=case.returnee_id)
    events = AuditEvent.objects.count()
    assert run() == 0
    assert run(today=TODAY + datetime.timedelta(days=400)) == 0
    again = Returnee.objects.get(pk=case.returnee_id)
    assert (again.anonymised_at, again.version) == (person.anonymised_at, person.version)
    assert AuditEvent.objects.count() == events


def test_one_audit_event_per_run_lists_the_case_numbers(make_case, world, programme_days):
    cases = [closed_days_ago(make_case, programme_days + n) for n in range(3)]
    run()
    event = AuditEvent.objects.get(action="retention.anonymise")
    assert event.actor is None
    assert event.actor_label == "system"
    assert event.detail["cases"] == sorted(c.case_number for c in cases)
    assert event.detail["people"] == 3
    assert "Omar" not in str(event.detail)


def test_the_query_count_does_not_depend_on_the_number_of_cases(make_case, world, programme_days):
    def measure(count: int) -> int:
        for _ in range(count):
            closed_days_ago(make_case, programme_days + 3)
        with CaptureQueriesContext(connection) as queries:
            assert run() == count
        return len(queries)

    one = measure(1)
    twenty = measure(20)
    assert one == twenty
    assert one <= 20


def test_with_no_programme_keeping_data_for_a_limited_time_nothing_happens(make_case, world):
    for programme in (world.north, world.south):
        programme.retention_days = None
        programme.save()
    closed_days_ago(make_case, 10_000)
    with CaptureQueriesContext(connection) as queries:
        assert run() == 0
    statements = [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"]]
    assert len(statements) == 1, statements  # the programmes; nothing is touched


def test_the_task_runs_the_job(make_case, world, programme_days):
    from cases.tasks import retention_anonymise_task

    case = closed_days_ago(make_case, 0)
    # Closed long enough before the real today, whatever the day the suite runs.
    Case.objects.filter(pk=case.pk).update(
        closed_at=timezone.now() - datetime.timedelta(days=programme_days + 2)
    )
    assert retention_anonymise_task.apply().get() == 1
    assert Returnee.objects.get(pk=case.returnee_id).anonymised_at is not None
