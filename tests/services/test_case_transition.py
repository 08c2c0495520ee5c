"""The stage workflow: every allowed move with its preconditions, every forbidden move."""

import itertools

import pytest
from django.core.exceptions import ValidationError

from cases.models import (
    Approval,
    ApprovalKind,
    AuditEvent,
    Case,
    ClearanceStatus,
    ConsentRecord,
    MonitoringContact,
    Stage,
    StageTransition,
)
from cases.services.errors import ActionNotAllowed, StaleVersion, TransitionNotAllowed
from cases.services.workflow import MOVES, case_transition, move_options

from .. import factories as f

ALL_PAIRS = list(itertools.product(Stage.values, Stage.values))
FORBIDDEN = [(a, b) for a, b in ALL_PAIRS if (a, b) not in MOVES]
BACKWARD = [(a, b) for (a, b), move in MOVES.items() if move.needs_reason]


def _satisfy(case, target, world):
    """Give ``case`` what a move to ``target`` needs."""
    if target == Stage.CLOSED:
        f.ApprovalFactory(
            case=case, kind=ApprovalKind.CLOSURE, outcome="transferred", decided_by=world.carol
        )
    if target == Stage.TRAINING and not case.screenings.exists():
        screening = f.ScreeningFactory(case=case, assessed_by=world.alice)
        f.ApprovalFactory(
            case=case,
            kind=ApprovalKind.SCREENING_DECISION,
            screening=screening,
            outcome="",
            decided_by=world.carol,
        )


def _state(case):
    return (
        Case.objects.filter(pk=case.pk).values_list("stage", "version").get(),
        StageTransition.objects.filter(case=case).count(),
        AuditEvent.objects.filter(case_number=case.case_number).count(),
    )


@pytest.mark.parametrize(("source", "target"), FORBIDDEN)
def test_forbidden_move_raises_and_writes_nothing(world, make_case, source, target):
    case = make_case(source)
    _satisfy(case, target, world)
    before = _state(case)
    with pytest.raises(TransitionNotAllowed) as error:
        case_transition(actor=world.alice, case=case, to_stage=target, reason="because")
    assert "cannot move" in error.value.message
    assert _state(case) == before


@pytest.mark.parametrize(("source", "target"), list(MOVES))
def test_allowed_move_with_preconditions_met_moves_records_and_audits(
    world, make_case, source, target
):
    case = make_case(source)
    _satisfy(case, target, world)
    transition = case_transition(
        actor=world.alice, case=case, to_stage=target, reason="after an incident"
    )
    case.refresh_from_db()
    assert case.stage == target
    assert case.version == 2
    assert (transition.from_stage, transition.to_stage, transition.by) == (
        source,
        target,
        world.alice,
    )
    event = AuditEvent.objects.get(case_number=case.case_number, action="case.transition")
    assert event.detail["from"] == source
    assert event.detail["to"] == target
    assert event.actor == world.alice


@pytest.mark.parametrize(("source", "target"), BACKWARD)
def test_moving_back_without_a_reason_is_refused(world, make_case, source, target):
    case = make_case(source)
    with pytest.raises(TransitionNotAllowed, match="needs a reason"):
        case_transition(actor=world.alice, case=case, to_stage=target, reason="  ")
    case.refresh_from_db()
    assert case.stage == source


def test_intake_to_screening_needs_recorded_consent(world, make_case):
    case = make_case(Stage.INTAKE)
    ConsentRecord.objects.filter(returnee=case.returnee).update(withdrawn_at=case.opened_at)
    with pytest.raises(TransitionNotAllowed, match="consent"):
        case_transition(actor=world.alice, case=case, to_stage=Stage.SCREENING)


def test_intake_to_screening_needs_an_intake_record(world):
    case = f.CaseFactory(team=world.team_a, caseworker=world.alice)
    f.ConsentFactory(returnee=case.returnee)
    with pytest.raises(TransitionNotAllowed, match="intake record is missing"):
        case_transition(actor=world.alice, case=case, to_stage=Stage.SCREENING)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clearance_status": ClearanceStatus.PENDING}, "clearance is not granted"),
        ({"decision": "refer"}, "not 'admit to training'"),
    ],
)
def test_screening_to_training_needs_clearance_and_admit(world, make_case, change, message):
    case = make_case(Stage.TRAINING)
    case.stage = Stage.SCREENING
    case.save()
    case.screenings.update(**change)
    with pytest.raises(TransitionNotAllowed, match=message):
        case_transition(actor=world.alice, case=case, to_stage=Stage.TRAINING)


def test_screening_to_training_needs_an_approved_screening_decision(world, make_case):
    case = make_case(Stage.TRAINING)
    case.stage = Stage.SCREENING
    case.save()
    Approval.objects.filter(case=case).update(status="requested", decided_by=None)
    with pytest.raises(TransitionNotAllowed, match="not approved"):
        case_transition(actor=world.alice, case=case, to_stage=Stage.TRAINING)


@pytest.mark.parametrize("source", [Stage.SCREENING, Stage.MONITORING])
def test_closing_needs_an_approved_closure(world, make_case, source):
    case = make_case(source)
    f.ApprovalFactory(
        case=case, kind=ApprovalKind.CLOSURE, status="requested", outcome="reintegrated"
    )
    with pytest.raises(TransitionNotAllowed, match="closure approved"):
        case_transition(actor=world.alice, case=case, to_stage=Stage.CLOSED)


def test_closing_takes_the_approved_outcome_and_uses_the_approval_once(world, make_case):
    case = make_case(Stage.MONITORING)
    f.ApprovalFactory(case=case, kind=ApprovalKind.CLOSURE, outcome="lost_to_follow_up")
    case_transition(actor=world.alice, case=case, to_stage=Stage.CLOSED)
    case.refresh_from_db()
    assert (case.stage, case.outcome) == (Stage.CLOSED, "lost_to_follow_up")
    assert case.closed_at is not None
    assert Approval.objects.get(case=case, kind="closure").used_at is not None


def test_closing_with_another_outcome_than_approved_is_refused(world, make_case):
    case = make_case(Stage.MONITORING)
    f.ApprovalFactory(case=case, kind=ApprovalKind.CLOSURE, outcome="transferred")
    with pytest.raises(ValidationError) as error:
        case_transition(actor=world.alice, case=case, to_stage=Stage.CLOSED, outcome="reintegrated")
    assert "outcome" in error.value.message_dict
    case.refresh_from_db()
    assert case.stage == Stage.MONITORING


@pytest.mark.parametrize(("risk", "expected"), [("high", 12), ("medium", 6), ("low", 3)])
def test_training_to_monitoring_plans_first_contacts_from_the_risk_level(
    world, make_case, risk, expected
):
    case = make_case(Stage.TRAINING, risk_level=risk)
    # Issue #6: Mosul has the shipped example threat context (a tighter cadence); this test
    # is about the regular one, so the person lives where no threat context is active.
    case.returnee.current_district = "Tel Keppe"
    case.returnee.save(update_fields=["current_district"])
    case_transition(actor=world.alice, case=case, to_stage=Stage.MONITORING)
    planned = MonitoringContact.objects.filter(case=case, outcome="planned")
    assert planned.count() == expected
    first = planned.order_by("planned_date").values_list("planned_date", flat=True)[0]
    assert first is not None
    assert first > case.stage_entered_at.date()


def test_training_to_monitoring_needs_a_risk_level(world, make_case):
    case = make_case(Stage.TRAINING)
    Case.objects.filter(pk=case.pk).update(risk_level="")
    with pytest.raises(TransitionNotAllowed, match="risk level"):
        case_transition(actor=world.alice, case=case, to_stage=Stage.MONITORING)


def test_unknown_stage_is_a_validation_error_naming_the_field(world, make_case):
    case = make_case(Stage.INTAKE)
    with pytest.raises(ValidationError) as error:
        case_transition(actor=world.alice, case=case, to_stage="graduated")
    assert "to_stage" in error.value.message_dict


def test_stale_version_is_refused_not_overwritten(world, make_case):
    case = make_case(Stage.INTAKE)
    stale_copy = Case.objects.get(pk=case.pk)
    case_transition(actor=world.alice, case=case, to_stage=Stage.SCREENING, expected_version=1)
    with pytest.raises(StaleVersion):
        case_transition(
            actor=world.carol,
            case=stale_copy,
            to_stage=Stage.INTAKE,
            reason="redo intake",
            expected_version=1,
        )
    stale_copy.refresh_from_db()
    assert (stale_copy.stage, stale_copy.version) == (Stage.SCREENING, 2)


def test_auditor_cannot_move_a_case(world, make_case):
    case = make_case(Stage.INTAKE)
    with pytest.raises(ActionNotAllowed):
        case_transition(actor=world.audrey, case=case, to_stage=Stage.SCREENING)


def test_move_options_list_allowed_moves_and_the_reasons_for_the_others(world, make_case):
    case = make_case(Stage.SCREENING)
    options = move_options(case)
    assert set(options) == {Stage.TRAINING, Stage.CLOSED, Stage.INTAKE}
    assert options[Stage.INTAKE] == []
    assert any("screening assessment" in reason for reason in options[Stage.TRAINING])
    assert any("closure" in reason for reason in options[Stage.CLOSED])
