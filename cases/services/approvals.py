"""Requests for a supervisor's decision (screening decision, reintegration plan, closure), the
decision itself, and reintegration plans."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from cases.models import (
    Approval,
    ApprovalKind,
    ApprovalStatus,
    AuditAction,
    Case,
    Outcome,
    Pillar,
    PlanGoal,
    PlanStatus,
    ReintegrationPlan,
    ScreeningAssessment,
    ScreeningDecision,
)
from cases.selectors import APPROVER_ROLES, CASE_ROLES, Actor

from .audit import audit_record
from .common import bump_case_version, lock_case, require_open, require_roles, validated
from .errors import ActionNotAllowed, DomainError


@transaction.atomic
def approval_request(
    *,
    actor: Actor,
    case: Case,
    kind: str,
    screening: ScreeningAssessment | None = None,
    plan: ReintegrationPlan | None = None,
    outcome: str = "",
    note: str = "",
) -> Approval:
    """Ask a supervisor to approve a screening decision, a plan or a closure."""
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="request approvals")
    require_open(case)
    if kind not in ApprovalKind.values:
        raise ValidationError({"kind": f"Choose one of {ApprovalKind.values}."})
    if kind == ApprovalKind.SCREENING_DECISION:
        if screening is None or screening.case_id != case.pk:
            raise ValidationError({"screening": "Name the screening assessment to approve."})
        if screening.decision == ScreeningDecision.PENDING:
            raise ValidationError({"screening": "The assessment has no decision yet."})
    elif kind == ApprovalKind.REINTEGRATION_PLAN:
        if plan is None or plan.case_id != case.pk:
            raise ValidationError({"plan": "Name the plan to approve."})
        if not plan.goals.exists():
            raise ValidationError({"plan": "A plan needs at least one goal."})
    elif outcome not in Outcome.values:
        raise ValidationError({"outcome": f"Choose the closing outcome from {Outcome.values}."})
    approval = Approval(
        case=case,
        kind=kind,
        screening=screening if kind == ApprovalKind.SCREENING_DECISION else None,
        plan=plan if kind == ApprovalKind.REINTEGRATION_PLAN else None,
        outcome=outcome if kind == ApprovalKind.CLOSURE else "",
        requested_by=actor,
        requested_at=timezone.now(),
        request_note=note,
    )
    try:
        with transaction.atomic():
            approval.save(force_insert=True)
    except IntegrityError:
        raise DomainError(
            "A request of this kind is already waiting for a decision on this case.",
            code="approval_pending",
        ) from None
    if plan is not None and kind == ApprovalKind.REINTEGRATION_PLAN:
        plan.status = PlanStatus.SUBMITTED
        plan.save(update_fields=["status"])
    audit_record(
        actor=actor,
        action=AuditAction.APPROVAL_REQUEST,
        object_type="approval",
        object_id=str(approval.uuid),
        case_number=case.case_number,
        fields=["kind"],
        detail={"kind": kind, "outcome": approval.outcome},
    )
    return approval


@transaction.atomic
def approval_decide(
    *, actor: Actor, approval: Approval, approve: bool, comment: str = ""
) -> Approval:
    """Approve or reject a request. A supervisor cannot decide their own request unless the
    programme allows self-approval; a rejection needs a comment."""
    approval = (
        Approval.objects.select_for_update().select_related("case__programme").get(pk=approval.pk)
    )
    case = lock_case(approval.case)
    require_roles(actor=actor, case=case, roles=APPROVER_ROLES, action="decide approvals")
    if approval.status != ApprovalStatus.REQUESTED:
        raise DomainError("This request has already been decided.", code="already_decided")
    if approval.requested_by_id == actor.pk and not case.programme.allow_self_approval:
        raise ActionNotAllowed("You cannot approve a request you made yourself.")
    if not approve and not comment.strip():
        raise ValidationError({"comment": "Say why the request is rejected."})
    approval.status = ApprovalStatus.APPROVED if approve else ApprovalStatus.REJECTED
    approval.decided_by = actor
    approval.decided_at = timezone.now()
    approval.comment = comment
    approval.save(update_fields=["status", "decided_by", "decided_at", "comment"])
    if approval.plan_id is not None:
        plan = approval.plan
        assert plan is not None
        plan.status = PlanStatus.APPROVED if approve else PlanStatus.DRAFT
        plan.save(update_fields=["status"])
    bump_case_version(case)
    audit_record(
        actor=actor,
        action=AuditAction.APPROVAL_APPROVE if approve else AuditAction.APPROVAL_REJECT,
        object_type="approval",
        object_id=str(approval.uuid),
        case_number=case.case_number,
        fields=["status", "comment"],
        detail={"kind": approval.kind},
    )
    return approval


@transaction.atomic
def plan_create(*, actor: Actor, case: Case, goals: list[dict[str, Any]]) -> ReintegrationPlan:
    """A reintegration plan: goals and planned services per pillar, with target dates."""
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="write plans")
    require_open(case)
    if not goals:
        raise ValidationError({"goals": "A plan needs at least one goal."})
    plan = ReintegrationPlan.objects.create(case=case, created_by=actor)
    rows = []
    for index, goal in enumerate(goals):
        unknown = set(goal) - {"pillar", "goal", "planned_service", "target_date"}
        if unknown:
            raise ValidationError({f"goals[{index}]": f"Unknown field(s) {sorted(unknown)}."})
        if goal.get("pillar") not in Pillar.values:
            raise ValidationError({f"goals[{index}].pillar": f"Choose from {Pillar.values}."})
        target = goal.get("target_date")
        if target is not None and not isinstance(target, datetime.date):
            raise ValidationError({f"goals[{index}].target_date": "Must be a date."})
        row = PlanGoal(plan=plan, **goal)
        try:
            validated(row, exclude=["plan"])
        except ValidationError as exc:
            raise ValidationError(
                {f"goals[{index}].{k}": v for k, v in exc.message_dict.items()}
            ) from None
        rows.append(row)
    PlanGoal.objects.bulk_create(rows)
    bump_case_version(case)
    audit_record(
        actor=actor,
        action=AuditAction.PLAN_CREATE,
        object_type="reintegrationplan",
        object_id=str(plan.uuid),
        case_number=case.case_number,
        fields=["goals"],
        detail={"goals": len(rows)},
    )
    return plan


__all__ = ["approval_decide", "approval_request", "plan_create"]
