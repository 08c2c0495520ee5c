"""Writing the records of each stage: intake, screening, training, support, monitoring contacts
and incidents. Each write is validated whole, audited, and bumps the case's version."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction

from cases.models import (
    ApprovalStatus,
    AuditAction,
    Case,
    ContactOutcome,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Need,
    ReleaseCondition,
    RiskLevel,
    ScreeningAssessment,
    Stage,
    SupportProvision,
    TrainingEnrolment,
    UrgentNeed,
)
from cases.selectors import CASE_ROLES, SECURITY_READER_ROLES, Actor

from .audit import audit_record
from .cases import INTAKE_INPUT_FIELDS
from .common import (
    apply_changes,
    bump_case_version,
    check_version,
    choices_list,
    lock_case,
    only_fields,
    require_open,
    require_roles,
    save_versioned,
    validated,
)
from .errors import DomainError
from .monitoring import contacts_plan
from .notifications import notify_incident_recorded

M = TypeVar("M", bound=models.Model)

INTAKE_FIELDS = INTAKE_INPUT_FIELDS
SCREENING_FIELDS = (
    "assessed_on",
    "clearance_status",
    "needs",
    "answers",
    "risk_level",
    "decision",
    "decision_reason",
    "security_findings",
    "judicial_status",
    "release_conditions",
    "compliance",
)
ENROLMENT_FIELDS = (
    "course",
    "provider",
    "start_date",
    "end_date",
    "attendance_percent",
    "status",
    "certificate",
)
SUPPORT_FIELDS = ("pillar", "kind", "provided_on", "amount", "currency", "notes")
CONTACT_FIELDS = ("planned_date", "actual_date", "mode", "outcome", "concerns")
INCIDENT_FIELDS = ("kind", "occurred_on", "severity", "description")


def _open_case_for_write(actor: Actor, case: Case) -> Case:
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="change this case")
    require_open(case)
    return case


def _create(
    *,
    actor: Actor,
    case: Case,
    instance: M,
    action: AuditAction,
    fields: list[str],
    before_audit: Callable[[], object] | None = None,
) -> M:
    """Validate, insert, bump the case's version, then audit. ``before_audit`` runs what the
    write sets off (a re-plan) ahead of the audit event: appending to the audit chain takes
    its lock until commit, so the event comes last and concurrent writes wait the least."""
    validated(instance, exclude=["case", "recorded_by", "assessed_by"])
    instance.save(force_insert=True)
    bump_case_version(case)
    if before_audit is not None:
        before_audit()
    audit_record(
        actor=actor,
        action=action,
        object_type=instance._meta.model_name or "",
        object_id=str(instance.uuid),  # type: ignore[attr-defined]
        case_number=case.case_number,
        fields=fields,
    )
    return instance


def _update(
    *,
    actor: Actor,
    case: Case,
    instance: M,
    changes: dict[str, Any],
    allowed: tuple[str, ...],
    expected_version: int | None,
    action: AuditAction,
    before_audit: Callable[[], object] | None = None,
) -> M:
    check_version(instance, expected_version)
    changed = apply_changes(instance, changes, allowed=allowed)
    if not changed:
        return instance
    validated(instance, exclude=["case", "recorded_by", "assessed_by"], changed=changed)
    save_versioned(instance, changed)
    bump_case_version(case)
    if before_audit is not None:
        before_audit()
    audit_record(
        actor=actor,
        action=action,
        object_type=instance._meta.model_name or "",
        object_id=str(instance.uuid),  # type: ignore[attr-defined]
        case_number=case.case_number,
        fields=changed,
    )
    return instance


@transaction.atomic
def intake_update(
    *,
    actor: Actor,
    case: Case,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> IntakeRecord:
    case = _open_case_for_write(actor, case)
    changes = only_fields(changes, INTAKE_FIELDS)
    if "urgent_needs" in changes:
        changes["urgent_needs"] = choices_list(
            changes["urgent_needs"], UrgentNeed, field="urgent_needs"
        )
    record = IntakeRecord.objects.select_for_update().get(case=case)
    return _update(
        actor=actor,
        case=case,
        instance=record,
        changes=changes,
        allowed=INTAKE_FIELDS,
        expected_version=expected_version,
        action=AuditAction.INTAKE_UPDATE,
    )


def _clean_screening(actor: Actor, case: Case, data: dict[str, Any]) -> dict[str, Any]:
    data = only_fields(data, SCREENING_FIELDS)
    if "needs" in data:
        data["needs"] = choices_list(data["needs"], Need, field="needs")
    if "release_conditions" in data:
        data["release_conditions"] = choices_list(
            data["release_conditions"], ReleaseCondition, field="release_conditions"
        )
    if "answers" in data and not isinstance(data["answers"], dict):
        raise ValidationError({"answers": "Must be an object of question → answer."})
    if data.get("security_findings"):
        require_roles(
            actor=actor,
            case=case,
            roles=SECURITY_READER_ROLES,
            action="record security findings",
        )
    return data


@transaction.atomic
def screening_create(*, actor: Actor, case: Case, data: dict[str, Any]) -> ScreeningAssessment:
    """Record a screening assessment; its risk level becomes the case's risk level."""
    case = _open_case_for_write(actor, case)
    if case.stage != Stage.SCREENING:
        raise DomainError("Screening is recorded while the case is in screening.", code="stage")
    data = _clean_screening(actor, case, data)
    assessment = ScreeningAssessment(case=case, assessed_by=actor, **data)
    assessment = _create(
        actor=actor,
        case=case,
        instance=assessment,
        action=AuditAction.SCREENING_CREATE,
        fields=sorted(data),
    )
    _set_case_risk(case, assessment.risk_level, actor=actor)
    return assessment


@transaction.atomic
def screening_update(
    *,
    actor: Actor,
    case: Case,
    assessment: ScreeningAssessment,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> ScreeningAssessment:
    case = _open_case_for_write(actor, case)
    assessment = ScreeningAssessment.objects.select_for_update().get(pk=assessment.pk, case=case)
    if assessment.approvals.filter(
        status__in=[ApprovalStatus.REQUESTED, ApprovalStatus.APPROVED]
    ).exists():
        raise DomainError(
            "This assessment's decision has been sent for approval; record a new assessment "
            "instead of changing it.",
            code="locked",
        )
    changes = _clean_screening(actor, case, changes)
    assessment = _update(
        actor=actor,
        case=case,
        instance=assessment,
        changes=changes,
        allowed=SCREENING_FIELDS,
        expected_version=expected_version,
        action=AuditAction.SCREENING_UPDATE,
    )
    _set_case_risk(case, assessment.risk_level, actor=actor)
    return assessment


def _set_case_risk(case: Case, risk_level: str, *, actor: Actor) -> None:
    if risk_level in RiskLevel.values and case.risk_level != risk_level:
        case.risk_level = risk_level
        case.save(update_fields=["risk_level", "updated_at"])
        _replan_contacts(case, actor=actor, reason="risk_level")


def _replan_contacts(case: Case, *, actor: Actor, reason: str) -> None:
    """A recorded contact or a new risk level re-plans the rest of the monitoring contacts: the
    cadence depends on the risk level, and the plan counts from the last contact held."""
    if case.stage == Stage.MONITORING:
        contacts_plan(case, actor=actor, reason=reason)


@transaction.atomic
def enrolment_create(*, actor: Actor, case: Case, data: dict[str, Any]) -> TrainingEnrolment:
    case = _open_case_for_write(actor, case)
    data = only_fields(data, ENROLMENT_FIELDS)
    return _create(
        actor=actor,
        case=case,
        instance=TrainingEnrolment(case=case, **data),
        action=AuditAction.ENROLMENT_CREATE,
        fields=sorted(data),
    )


@transaction.atomic
def enrolment_update(
    *,
    actor: Actor,
    case: Case,
    enrolment: TrainingEnrolment,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> TrainingEnrolment:
    case = _open_case_for_write(actor, case)
    enrolment = TrainingEnrolment.objects.select_for_update().get(pk=enrolment.pk, case=case)
    return _update(
        actor=actor,
        case=case,
        instance=enrolment,
        changes=only_fields(changes, ENROLMENT_FIELDS),
        allowed=ENROLMENT_FIELDS,
        expected_version=expected_version,
        action=AuditAction.ENROLMENT_UPDATE,
    )


@transaction.atomic
def support_create(*, actor: Actor, case: Case, data: dict[str, Any]) -> SupportProvision:
    case = _open_case_for_write(actor, case)
    data = only_fields(data, SUPPORT_FIELDS)
    if data.get("amount") is not None and not data.get("currency"):
        raise ValidationError({"currency": "Give the currency of the amount."})
    return _create(
        actor=actor,
        case=case,
        instance=SupportProvision(case=case, recorded_by=actor, **data),
        action=AuditAction.SUPPORT_CREATE,
        fields=sorted(data),
    )


@transaction.atomic
def contact_create(*, actor: Actor, case: Case, data: dict[str, Any]) -> MonitoringContact:
    """Record a monitoring contact, planned or already held."""
    case = _open_case_for_write(actor, case)
    data = only_fields(data, CONTACT_FIELDS)
    contact = _create(
        actor=actor,
        case=case,
        instance=MonitoringContact(case=case, recorded_by=actor, **data),
        action=AuditAction.CONTACT_CREATE,
        fields=sorted(data),
        before_audit=lambda: _replan_contacts(case, actor=actor, reason="contact"),
    )
    return contact


@transaction.atomic
def contact_update(
    *,
    actor: Actor,
    case: Case,
    contact: MonitoringContact,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> MonitoringContact:
    """Record what happened at a planned contact (met, missed, rescheduled)."""
    case = _open_case_for_write(actor, case)
    contact = MonitoringContact.objects.select_for_update().get(pk=contact.pk, case=case)
    changes = only_fields(changes, CONTACT_FIELDS)
    if changes.get("outcome") == ContactOutcome.MET and not (
        changes.get("actual_date") or contact.actual_date
    ):
        raise ValidationError({"actual_date": "A contact that took place needs its date."})
    if changes.get("outcome") in (ContactOutcome.MET, ContactOutcome.MISSED):
        changes["recorded_by"] = actor
    contact = _update(
        actor=actor,
        case=case,
        instance=contact,
        changes=changes,
        allowed=(*CONTACT_FIELDS, "recorded_by"),
        expected_version=expected_version,
        action=AuditAction.CONTACT_UPDATE,
        before_audit=lambda: _replan_contacts(case, actor=actor, reason="contact"),
    )
    return contact


@transaction.atomic
def incident_create(*, actor: Actor, case: Case, data: dict[str, Any]) -> Incident:
    """Record an incident; the supervisors of the case's team are told in the same
    transaction (their emails go out once it commits)."""
    case = _open_case_for_write(actor, case)
    data = only_fields(data, INCIDENT_FIELDS)
    incident = _create(
        actor=actor,
        case=case,
        instance=Incident(case=case, recorded_by=actor, **data),
        action=AuditAction.INCIDENT_CREATE,
        fields=sorted(data),
    )
    notify_incident_recorded(actor=actor, case=case, incident=incident)
    return incident
