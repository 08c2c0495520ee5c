"""Approvals: requested by one person, decided by a supervisor or manager, never by oneself
unless the programme allows it."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from cases.models import Approval, AuditEvent, PlanStatus, Stage
from cases.services.approvals import approval_decide, approval_request, plan_create
from cases.services.errors import ActionNotAllowed, DomainError
from cases.services.records import screening_create
from cases.services.workflow import case_transition

SCREENING = {
    "assessed_on": datetime.date(2026, 11, 20),
    "clearance_status": "cleared",
    "risk_level": "medium",
    "decision": "admit",
    "decision_reason": "Motivated, family support",
}


def test_screening_decision_approved_by_the_supervisor_opens_training(world, make_case):
    case = make_case(Stage.SCREENING)
    assessment = screening_create(actor=world.alice, case=case, data=SCREENING)
    approval = approval_request(
        actor=world.alice, case=case, kind="screening_decision", screening=assessment
    )
    approval_decide(actor=world.carol, approval=approval, approve=True, comment="Agreed")
    case_transition(actor=world.alice, case=case, to_stage=Stage.TRAINING)
    case.refresh_from_db()
    assert case.stage == Stage.TRAINING
    approval.refresh_from_db()
    assert (approval.status, approval.decided_by) == ("approved", world.carol)
    actions = set(
        AuditEvent.objects.filter(case_number=case.case_number).values_list("action", flat=True)
    )
    assert {"approval.request", "approval.approve", "case.transition"} <= actions


def test_caseworker_cannot_decide_an_approval(world, make_case):
    case = make_case(Stage.MONITORING)
    approval = approval_request(actor=world.alice, case=case, kind="closure", outcome="transferred")
    with pytest.raises(ActionNotAllowed):
        approval_decide(actor=world.alice, approval=approval, approve=True)


def test_supervisor_cannot_approve_their_own_request_unless_the_programme_allows(world, make_case):
    case = make_case(Stage.MONITORING)
    approval = approval_request(
        actor=world.carol, case=case, kind="closure", outcome="reintegrated"
    )
    with pytest.raises(ActionNotAllowed, match="yourself"):
        approval_decide(actor=world.carol, approval=approval, approve=True)
    world.north.allow_self_approval = True
    world.north.save()
    approval_decide(actor=world.carol, approval=approval, approve=True)
    assert Approval.objects.get(pk=approval.pk).status == "approved"


def test_rejection_needs_a_comment_and_a_decision_is_final(world, make_case):
    case = make_case(Stage.MONITORING)
    approval = approval_request(actor=world.alice, case=case, kind="closure", outcome="deceased")
    with pytest.raises(ValidationError) as error:
        approval_decide(actor=world.mona, approval=approval, approve=False)
    assert "comment" in error.value.message_dict
    approval_decide(actor=world.mona, approval=approval, approve=False, comment="Verify first")
    with pytest.raises(DomainError, match="already been decided"):
        approval_decide(actor=world.carol, approval=approval, approve=True)


def test_one_open_request_per_kind(world, make_case):
    case = make_case(Stage.MONITORING)
    approval_request(actor=world.alice, case=case, kind="closure", outcome="transferred")
    with pytest.raises(DomainError, match="already waiting"):
        approval_request(actor=world.alice, case=case, kind="closure", outcome="reintegrated")
    assert Approval.objects.filter(case=case, kind="closure").count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "coronation"}, "kind"),
        ({"kind": "closure", "outcome": "vanished"}, "outcome"),
        ({"kind": "screening_decision"}, "screening"),
        ({"kind": "reintegration_plan"}, "plan"),
    ],
)
def test_bad_approval_request_names_the_field(world, make_case, kwargs, field):
    case = make_case(Stage.INTAKE)
    with pytest.raises(ValidationError) as error:
        approval_request(actor=world.alice, case=case, **kwargs)
    assert field in error.value.message_dict
    assert not Approval.objects.filter(case=case).exists()


def test_plan_goes_from_draft_to_submitted_to_approved(world, make_case):
    case = make_case(Stage.TRAINING)
    plan = plan_create(
        actor=world.alice,
        case=case,
        goals=[
            {
                "pillar": "livelihood",
                "goal": "Open a carpentry workshop",
                "planned_service": "Grant",
            },
            {"pillar": "security", "goal": "Protection plan", "target_date": datetime.date.today()},
        ],
    )
    assert plan.status == PlanStatus.DRAFT
    assert plan.goals.count() == 2
    approval = approval_request(actor=world.alice, case=case, kind="reintegration_plan", plan=plan)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.SUBMITTED
    approval_decide(actor=world.carol, approval=approval, approve=True)
    plan.refresh_from_db()
    assert plan.status == PlanStatus.APPROVED


def test_plan_with_a_bad_goal_names_it_and_writes_nothing(world, make_case):
    case = make_case(Stage.TRAINING)
    with pytest.raises(ValidationError) as error:
        plan_create(
            actor=world.alice,
            case=case,
            goals=[{"pillar": "livelihood", "goal": "Job"}, {"pillar": "fame", "goal": "x"}],
        )
    assert "goals[1].pillar" in error.value.message_dict
    assert not case.plans.exists()
