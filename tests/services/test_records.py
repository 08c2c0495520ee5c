"""Stage records: validated whole, audited, versioned, and only on open cases."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from cases.models import (
    AuditEvent,
    Case,
    Incident,
    MonitoringContact,
    ScreeningAssessment,
    Stage,
    SupportProvision,
    TrainingEnrolment,
)
from cases.services.approvals import approval_request
from cases.services.errors import ActionNotAllowed, DomainError, StaleVersion
from cases.services.records import (
    contact_create,
    contact_update,
    enrolment_create,
    enrolment_update,
    incident_create,
    intake_update,
    screening_create,
    screening_update,
    support_create,
)

TODAY = datetime.date(2026, 11, 20)
SCREENING = {
    "assessed_on": TODAY,
    "clearance_status": "cleared",
    "needs": ["livelihood", "documentation"],
    "answers": {"family_support": "strong"},
    "risk_level": "high",
    "decision": "admit",
    "decision_reason": "Cleared by the judiciary; motivated",
    "judicial_status": "served_sentence",
    "release_conditions": ["reporting_obligations"],
    "compliance": "compliant",
}


def _audit_actions(case):
    return list(
        AuditEvent.objects.filter(case_number=case.case_number).values_list("action", flat=True)
    )


def test_screening_sets_the_case_risk_level_and_is_audited(world, make_case):
    case = make_case(Stage.SCREENING)
    assessment = screening_create(actor=world.alice, case=case, data=SCREENING)
    case.refresh_from_db()
    assert case.risk_level == "high"
    assert case.version == 2
    assert assessment.needs == ["livelihood", "documentation"]
    assert _audit_actions(case) == ["screening.create"]


def test_screening_outside_the_screening_stage_is_refused(world, make_case):
    case = make_case(Stage.INTAKE)
    with pytest.raises(DomainError, match="in screening"):
        screening_create(actor=world.alice, case=case, data=SCREENING)


def test_caseworker_cannot_write_security_findings_but_a_supervisor_can(world, make_case):
    case = make_case(Stage.SCREENING)
    data = {**SCREENING, "security_findings": "Named in a 2016 payroll list"}
    with pytest.raises(ActionNotAllowed):
        screening_create(actor=world.alice, case=case, data=data)
    assessment = screening_create(actor=world.carol, case=case, data=data)
    assessment.refresh_from_db()
    assert assessment.security_findings == "Named in a 2016 payroll list"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"needs": ["yacht"]}, "needs"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"decision": "maybe"}, "decision"),
        ({"judicial_status": "pardoned-ish"}, "judicial_status"),
        ({"release_conditions": "travel"}, "release_conditions"),
        ({"answers": ["not", "a", "dict"]}, "answers"),
        ({"assessed_by": 1}, "assessed_by"),
    ],
)
def test_bad_screening_input_names_the_field_and_writes_nothing(world, make_case, change, field):
    case = make_case(Stage.SCREENING)
    with pytest.raises(ValidationError) as error:
        screening_create(actor=world.carol, case=case, data={**SCREENING, **change})
    assert field in error.value.message_dict
    assert not ScreeningAssessment.objects.filter(case=case).exists()
    assert Case.objects.get(pk=case.pk).version == 1
    assert _audit_actions(case) == []


def test_assessment_sent_for_approval_can_no_longer_change(world, make_case):
    case = make_case(Stage.SCREENING)
    assessment = screening_create(actor=world.alice, case=case, data=SCREENING)
    approval_request(actor=world.alice, case=case, kind="screening_decision", screening=assessment)
    with pytest.raises(DomainError, match="new assessment"):
        screening_update(
            actor=world.alice, case=case, assessment=assessment, changes={"risk_level": "low"}
        )


def test_screening_update_with_a_stale_version_is_refused(world, make_case):
    case = make_case(Stage.SCREENING)
    assessment = screening_create(actor=world.alice, case=case, data=SCREENING)
    screening_update(
        actor=world.alice,
        case=case,
        assessment=assessment,
        changes={"risk_level": "low"},
        expected_version=1,
    )
    with pytest.raises(StaleVersion):
        screening_update(
            actor=world.carol,
            case=case,
            assessment=assessment,
            changes={"risk_level": "medium"},
            expected_version=1,
        )
    assessment.refresh_from_db()
    assert (assessment.risk_level, assessment.version) == ("low", 2)
    assert Case.objects.get(pk=case.pk).risk_level == "low"


def test_intake_update_records_changed_fields_only(world, make_case):
    case = make_case(Stage.INTAKE)
    record = intake_update(
        actor=world.alice,
        case=case,
        changes={"urgent_needs": ["medical"], "referral_source": "camp_authority"},
        expected_version=1,
    )
    assert record.version == 2
    event = AuditEvent.objects.get(action="intake.update")
    assert event.fields == ["urgent_needs"]


def test_enrolment_lifecycle_and_attendance_bounds(world, make_case):
    case = make_case(Stage.TRAINING)
    enrolment = enrolment_create(
        actor=world.alice,
        case=case,
        data={"course": "Carpentry", "provider": "Ninewa VTC", "start_date": TODAY},
    )
    with pytest.raises(ValidationError) as error:
        enrolment_update(
            actor=world.alice, case=case, enrolment=enrolment, changes={"attendance_percent": 140}
        )
    assert "attendance_percent" in error.value.message_dict
    with pytest.raises(ValidationError) as error:
        enrolment_update(
            actor=world.alice,
            case=case,
            enrolment=enrolment,
            changes={"end_date": TODAY - datetime.timedelta(days=3)},
        )
    assert "end_date" in error.value.message_dict
    enrolment_update(
        actor=world.alice,
        case=case,
        enrolment=enrolment,
        changes={"status": "completed", "attendance_percent": 92, "certificate": "VTC-881"},
        expected_version=1,
    )
    enrolment = TrainingEnrolment.objects.get(pk=enrolment.pk)
    assert (enrolment.status, enrolment.attendance_percent, enrolment.version) == (
        "completed",
        92,
        2,
    )


def test_support_with_an_amount_needs_a_currency(world, make_case):
    case = make_case(Stage.TRAINING)
    with pytest.raises(ValidationError) as error:
        support_create(
            actor=world.alice,
            case=case,
            data={"pillar": "livelihood", "kind": "Stipend", "provided_on": TODAY, "amount": 200},
        )
    assert "currency" in error.value.message_dict
    support_create(
        actor=world.alice,
        case=case,
        data={
            "pillar": "livelihood",
            "kind": "Stipend",
            "provided_on": TODAY,
            "amount": 200,
            "currency": "USD",
        },
    )
    assert SupportProvision.objects.get(case=case).amount == 200


def test_contact_met_needs_its_date_and_records_who_met(world, make_case):
    case = make_case(Stage.MONITORING)
    contact = contact_create(actor=world.alice, case=case, data={"planned_date": TODAY})
    with pytest.raises(ValidationError) as error:
        contact_update(actor=world.alice, case=case, contact=contact, changes={"outcome": "met"})
    contact_update(
        actor=world.carol,
        case=case,
        contact=contact,
        changes={"outcome": "met", "actual_date": TODAY, "mode": "home_visit"},
        expected_version=1,
    )
    assert "actual_date" in error.value.message_dict
    contact = MonitoringContact.objects.get(pk=contact.pk)
    assert (contact.outcome, contact.recorded_by) == ("met", world.carol)


def test_incident_needs_a_known_kind_and_severity(world, make_case):
    case = make_case(Stage.MONITORING)
    with pytest.raises(ValidationError) as error:
        incident_create(
            actor=world.alice,
            case=case,
            data={"kind": "gossip", "occurred_on": TODAY, "severity": "apocalyptic"},
        )
    assert {"kind", "severity"} <= set(error.value.message_dict)
    incident_create(
        actor=world.alice,
        case=case,
        data={"kind": "recruiter_contact", "occurred_on": TODAY, "severity": "high"},
    )
    assert Incident.objects.filter(case=case).count() == 1
    assert _audit_actions(case) == ["incident.create"]


def test_closed_cases_take_no_new_records(world, make_case):
    case = make_case(Stage.CLOSED)
    with pytest.raises(DomainError, match="closed"):
        incident_create(
            actor=world.alice,
            case=case,
            data={"kind": "threat_received", "occurred_on": TODAY, "severity": "high"},
        )


def test_auditor_cannot_write_records(world, make_case):
    case = make_case(Stage.MONITORING)
    with pytest.raises(ActionNotAllowed):
        contact_create(actor=world.audrey, case=case, data={"planned_date": TODAY})
