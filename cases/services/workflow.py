"""The stage workflow: one table of allowed moves, their preconditions, and the one service that
moves a case.

Forward moves need their stage's records; moves back need a reason; closing needs an approved
closure with the outcome the case closes with. Every move writes a StageTransition row and an
audit event in the same transaction as the stage change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.models import (
    Approval,
    ApprovalKind,
    ApprovalStatus,
    AuditAction,
    Case,
    ClearanceStatus,
    IntakeRecord,
    Outcome,
    ScreeningAssessment,
    ScreeningDecision,
    Stage,
    StageTransition,
)
from cases.selectors import CASE_ROLES, Actor

from .audit import audit_record
from .common import bump_case_version, check_version, lock_case, require_roles
from .consent import has_active_consent
from .errors import TransitionNotAllowed
from .monitoring import contacts_plan

# A precondition returns None when met, or the sentence that says what is missing.
Precondition = Callable[[Case], str | None]


def _has_consent(case: Case) -> str | None:
    if not has_active_consent(case):
        return _("Record the person's consent (with its legal basis) first.")
    return None


def _intake_complete(case: Case) -> str | None:
    intake = IntakeRecord.objects.filter(case=case).first()
    if intake is None:
        return _("The intake record is missing.")
    missing = [
        name
        for name in (
            "return_date",
            "first_contact_date",
            "intake_date",
            "referral_source",
        )
        if not getattr(intake, name)
    ]
    if missing:
        return _("The intake record is incomplete: %(fields)s.") % {"fields": ", ".join(missing)}
    return None


def latest_screening(case: Case) -> ScreeningAssessment | None:
    return ScreeningAssessment.objects.filter(case=case).order_by("-assessed_on", "-id").first()


def _screening_admits(case: Case) -> str | None:
    screening = latest_screening(case)
    if screening is None:
        return _("No screening assessment has been recorded.")
    reasons = []
    if screening.clearance_status != ClearanceStatus.CLEARED:
        reasons.append(_("the security/judicial clearance is not granted"))
    if screening.decision != ScreeningDecision.ADMIT:
        reasons.append(_("the screening decision is not 'admit to training'"))
    approved = Approval.objects.filter(
        screening=screening,
        kind=ApprovalKind.SCREENING_DECISION,
        status=ApprovalStatus.APPROVED,
    ).exists()
    if not approved:
        reasons.append(_("the screening decision is not approved by a supervisor"))
    if reasons:
        return _("Cannot start training: %(reasons)s.") % {"reasons": "; ".join(reasons)}
    return None


def _has_risk_level(case: Case) -> str | None:
    if not case.risk_level:
        return _("The case has no risk level; it is set at screening.")
    return None


def approved_closure(case: Case) -> Approval | None:
    return (
        Approval.objects.filter(
            case=case,
            kind=ApprovalKind.CLOSURE,
            status=ApprovalStatus.APPROVED,
            used_at__isnull=True,
        )
        .order_by("-decided_at", "-id")
        .first()
    )


def _closure_approved(case: Case) -> str | None:
    if approved_closure(case) is None:
        return _("Closing needs a closure approved by a supervisor.")
    return None


@dataclass(frozen=True)
class Move:
    source: Stage
    target: Stage
    preconditions: tuple[Precondition, ...] = ()
    needs_reason: bool = False


_CLOSE = (_closure_approved,)

# The whole workflow. A move that is not in this table is forbidden.
MOVES: dict[tuple[Stage, Stage], Move] = {
    (move.source, move.target): move
    for move in (
        Move(Stage.INTAKE, Stage.SCREENING, (_has_consent, _intake_complete)),
        Move(Stage.SCREENING, Stage.TRAINING, (_screening_admits,)),
        Move(Stage.TRAINING, Stage.MONITORING, (_has_risk_level,)),
        # Closing, from any open stage (refer/exclude at screening; a death or a withdrawal of
        # consent can come at any time).
        Move(Stage.INTAKE, Stage.CLOSED, _CLOSE),
        Move(Stage.SCREENING, Stage.CLOSED, _CLOSE),
        Move(Stage.TRAINING, Stage.CLOSED, _CLOSE),
        Move(Stage.MONITORING, Stage.CLOSED, _CLOSE),
        # Moves back, e.g. re-screening after an incident during monitoring.
        Move(Stage.SCREENING, Stage.INTAKE, needs_reason=True),
        Move(Stage.TRAINING, Stage.SCREENING, needs_reason=True),
        Move(Stage.MONITORING, Stage.SCREENING, needs_reason=True),
        Move(Stage.MONITORING, Stage.TRAINING, needs_reason=True),
    )
}


def move_refusals(case: Case, target: str, *, reason: str = "") -> list[str]:
    """Why ``case`` cannot move to ``target`` now; an empty list means it can."""
    try:
        target_stage = Stage(target)
    except ValueError:
        return [_("'%(target)s' is not a stage.") % {"target": target}]
    move = MOVES.get((Stage(case.stage), target_stage))
    if move is None:
        return [
            _("A case cannot move from %(source)s to %(target)s.")
            % {"source": Stage(case.stage).label, "target": target_stage.label}
        ]
    refusals = [message for check in move.preconditions if (message := check(case))]
    if move.needs_reason and not reason.strip():
        refusals.append(_("Moving a case back needs a reason."))
    return refusals


def move_options(case: Case) -> dict[str, list[str]]:
    """For each stage reachable from the current one: the refusals (empty when allowed).
    Pages use it to show the buttons the workflow allows and why it refuses the others."""
    return {
        target.value: move_refusals(case, target, reason="(reason will be asked)")
        for (source, target) in MOVES
        if source == case.stage
    }


@transaction.atomic
def case_transition(
    *,
    actor: Actor,
    case: Case,
    to_stage: str,
    reason: str = "",
    outcome: str = "",
    expected_version: int | None = None,
) -> StageTransition:
    """Move ``case`` to ``to_stage`` if the workflow table allows it, or raise
    ``TransitionNotAllowed`` saying why; a stale ``expected_version`` raises ``StaleVersion``."""
    if to_stage not in Stage.values:
        raise ValidationError({"to_stage": f"Unknown stage; choose from {Stage.values}."})
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="move cases between stages")
    check_version(case, expected_version)
    refusals = move_refusals(case, to_stage, reason=reason)
    if refusals:
        raise TransitionNotAllowed(" ".join(refusals), reasons=refusals)

    now = timezone.now()
    from_stage = case.stage
    closure = None
    fields = ["stage", "stage_entered_at"]
    if to_stage == Stage.CLOSED:
        closure = approved_closure(case)
        assert closure is not None  # guaranteed by the precondition
        if outcome and outcome != closure.outcome:
            raise ValidationError(
                {"outcome": f"The approved closure is for outcome '{closure.outcome}'."}
            )
        if outcome and outcome not in Outcome.values:
            raise ValidationError({"outcome": "Unknown outcome."})
        case.outcome = closure.outcome
        case.closed_at = now
        fields += ["outcome", "closed_at"]
        closure.used_at = now
        closure.save(update_fields=["used_at"])

    case.stage = to_stage
    case.stage_entered_at = now
    bump_case_version(case, *fields)
    transition = StageTransition.objects.create(
        case=case,
        from_stage=from_stage,
        to_stage=to_stage,
        at=now,
        by=actor,
        reason=reason,
    )
    planned = 0
    if Stage.MONITORING in (from_stage, to_stage):
        # Monitoring is where planned contacts live: plan them on entering it, and drop the
        # untouched future ones on leaving it, so nobody is chased for a visit that no longer
        # applies.
        planned = contacts_plan(
            case, today=timezone.localdate(now), actor=actor, reason="stage"
        ).created
    audit_record(
        actor=actor,
        action=AuditAction.CASE_TRANSITION,
        object_type="case",
        object_id=case.case_number,
        case_number=case.case_number,
        fields=fields,
        detail={
            "from": from_stage,
            "to": to_stage,
            "outcome": case.outcome,
            "planned_contacts": planned,
        },
    )
    return transition
