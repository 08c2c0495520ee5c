"""Referrals to partner NGOs: staff offer and withdraw them; a partner accepts or declines,
reports progress (which lands on the case as enrolments and support) and closes them.

A partner sees the minimum: the case number and the fields the referral shares, and only while
the person's consent to share still stands. Every change is audited (a partner's under its own
label) and announced to the partner's webhooks through the outbox.
"""

from __future__ import annotations

import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import (
    IDENTITY_SHARED_FIELDS,
    AuditAction,
    Case,
    ConsentScope,
    EnrolmentStatus,
    PartnerOrganisation,
    Pillar,
    Referral,
    ReferralService,
    ReferralStatus,
    ScreeningAssessment,
    SharedField,
    SupportProvision,
    TrainingEnrolment,
)
from cases.selectors import CASE_ROLES, Actor

from .audit import audit_record
from .common import (
    bump_case_version,
    check_version,
    choices_list,
    lock_case,
    require_open,
    require_roles,
    save_versioned,
    validated,
)
from .consent import has_active_consent
from .errors import DomainError
from .outbox import outbox_enqueue

OPEN_STATUSES = (ReferralStatus.OFFERED, ReferralStatus.ACCEPTED)
PROGRESS_KINDS = ("attendance", "completion", "certificate", "job_placement")


def partner_label(partner: PartnerOrganisation) -> str:
    return f"partner:{partner.uuid}"


def _announce(referral: Referral, topic: str) -> None:
    outbox_enqueue(
        partner=referral.partner,
        topic=topic,
        payload={
            "referral": str(referral.uuid),
            "case_number": referral.case_id,
            "service": referral.service,
            "status": referral.status,
            "version": referral.version,
            "occurred_at": timezone.now().isoformat(),
        },
    )


def _audit(
    referral: Referral,
    action: AuditAction,
    *,
    actor: Actor | None = None,
    partner: PartnerOrganisation | None = None,
    fields: list[str] | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    audit_record(
        actor=actor,
        label=partner_label(partner) if partner is not None else None,
        action=action,
        object_type="referral",
        object_id=str(referral.uuid),
        case_number=referral.case_id,
        fields=fields or [],
        detail=detail or {},
    )


def _consent_refusal(case: Case, shared_fields: list[str]) -> dict[str, str]:
    if not has_active_consent(case, scope=ConsentScope.SHARE_WITH_PARTNERS):
        return {"partner": "The person has not consented to sharing with partner NGOs."}
    identity = sorted(set(shared_fields) & IDENTITY_SHARED_FIELDS)
    if identity and not has_active_consent(case, scope=ConsentScope.SHARE_IDENTITY_WITH_PARTNERS):
        return {
            "shared_fields": f"Sharing {', '.join(identity)} needs the person's consent to share "
            "identity with partners."
        }
    return {}


@transaction.atomic
def referral_create(
    *,
    actor: Actor,
    case: Case,
    partner: PartnerOrganisation,
    service: str,
    shared_fields: list[str] | None = None,
    note: str = "",
) -> Referral:
    """Offer the case to a partner for one service, sharing only the fields named."""
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="refer cases")
    require_open(case)
    if partner.programme_id != case.programme_id or not partner.is_active:
        raise ValidationError({"partner": "Unknown partner."})
    if service not in ReferralService.values:
        raise ValidationError({"service": f"Choose one of {ReferralService.values}."})
    fields = choices_list(shared_fields or [], SharedField, field="shared_fields")
    refusal = _consent_refusal(case, fields)
    if refusal:
        raise ValidationError(refusal)
    if Referral.objects.filter(
        case=case, partner=partner, service=service, status__in=OPEN_STATUSES
    ).exists():
        raise DomainError(
            "This case already has an open referral to this partner for this service.",
            code="referral_open",
        )
    referral = Referral.objects.create(
        case=case,
        partner=partner,
        service=service,
        shared_fields=fields,
        note=note,
        created_by=actor,
    )
    _audit(
        referral,
        AuditAction.REFERRAL_CREATE,
        actor=actor,
        fields=["service", "shared_fields"],
        detail={"partner": str(partner.uuid), "shared_fields": fields},
    )
    _announce(referral, "referral.created")
    return referral


def _lock_referral(referral: Referral) -> Referral:
    return (
        Referral.objects.select_for_update(of=("self",))
        .select_related("case", "partner")
        .get(pk=referral.pk)
    )


@transaction.atomic
def referral_withdraw(
    *, actor: Actor, referral: Referral, reason: str, expected_version: int | None = None
) -> Referral:
    referral = _lock_referral(referral)
    require_roles(actor=actor, case=referral.case, roles=CASE_ROLES, action="withdraw referrals")
    check_version(referral, expected_version)
    if referral.status not in OPEN_STATUSES:
        raise DomainError("Only an open referral can be withdrawn.", code="referral_not_open")
    if not reason.strip():
        raise ValidationError({"reason": "Say why the referral is withdrawn."})
    referral.status = ReferralStatus.WITHDRAWN
    referral.outcome = reason
    referral.closed_at = timezone.now()
    save_versioned(referral, ["status", "outcome", "closed_at"])
    _audit(referral, AuditAction.REFERRAL_WITHDRAW, actor=actor, fields=["status", "outcome"])
    _announce(referral, "referral.withdrawn")
    return referral


def _partner_change(
    partner: PartnerOrganisation,
    referral: Referral,
    expected_version: int | None,
    allowed: tuple[str, ...],
) -> Referral:
    referral = _lock_referral(referral)
    if referral.partner_id != partner.pk:  # callers reach referrals through the selector
        raise DomainError("Not this partner's referral.", code="not_found")
    check_version(referral, expected_version)
    if referral.status not in allowed:
        raise DomainError(
            f"The referral is {referral.get_status_display().lower()}; that is not possible now.",
            code="referral_state",
        )
    return referral


def _save_partner_change(
    referral: Referral, partner: PartnerOrganisation, action: AuditAction, fields: list[str]
) -> Referral:
    save_versioned(referral, fields)
    _audit(referral, action, partner=partner, fields=fields)
    _announce(referral, "referral.updated")
    return referral


@transaction.atomic
def referral_accept(
    *, partner: PartnerOrganisation, referral: Referral, expected_version: int | None = None
) -> Referral:
    referral = _partner_change(partner, referral, expected_version, (ReferralStatus.OFFERED,))
    referral.status = ReferralStatus.ACCEPTED
    referral.responded_at = timezone.now()
    return _save_partner_change(
        referral, partner, AuditAction.REFERRAL_ACCEPT, ["status", "responded_at"]
    )


@transaction.atomic
def referral_decline(
    *,
    partner: PartnerOrganisation,
    referral: Referral,
    reason: str,
    expected_version: int | None = None,
) -> Referral:
    if not reason.strip():
        raise ValidationError({"reason": "Say why the referral is declined."})
    referral = _partner_change(partner, referral, expected_version, (ReferralStatus.OFFERED,))
    referral.status = ReferralStatus.DECLINED
    referral.decline_reason = reason
    referral.responded_at = timezone.now()
    return _save_partner_change(
        referral,
        partner,
        AuditAction.REFERRAL_DECLINE,
        ["status", "decline_reason", "responded_at"],
    )


@transaction.atomic
def referral_close(
    *,
    partner: PartnerOrganisation,
    referral: Referral,
    outcome: str,
    expected_version: int | None = None,
) -> Referral:
    if not outcome.strip():
        raise ValidationError({"outcome": "Say how the referral ended."})
    referral = _partner_change(partner, referral, expected_version, (ReferralStatus.ACCEPTED,))
    referral.status = ReferralStatus.CLOSED
    referral.outcome = outcome
    referral.closed_at = timezone.now()
    return _save_partner_change(
        referral, partner, AuditAction.REFERRAL_CLOSE, ["status", "outcome", "closed_at"]
    )


def _date(data: dict[str, Any], name: str, *, required: bool) -> datetime.date | None:
    value = data.get(name)
    if value in (None, ""):
        if required:
            raise ValidationError({name: "This field is required."})
        return None
    if isinstance(value, datetime.date):
        return value
    try:
        return datetime.date.fromisoformat(str(value))
    except ValueError:
        raise ValidationError({name: "Give a date as YYYY-MM-DD."}) from None


@transaction.atomic
def referral_report_progress(
    *, partner: PartnerOrganisation, referral: Referral, kind: str, data: dict[str, Any]
) -> TrainingEnrolment | SupportProvision:
    """A partner's progress report, landing on the case: attendance, completion and
    certificates on the referral's enrolment; a job placement as livelihood support."""
    if kind not in PROGRESS_KINDS:
        raise ValidationError({"kind": f"Choose one of {list(PROGRESS_KINDS)}."})
    referral = _partner_change(partner, referral, None, (ReferralStatus.ACCEPTED,))
    case = lock_case(referral.case)
    require_open(case)
    record: TrainingEnrolment | SupportProvision
    if kind == "job_placement":
        record = _job_placement(case, referral, data)
        fields = ["support"]
    else:
        record, fields = _enrolment_progress(case, referral, partner, kind, data)
    bump_case_version(case)
    save_versioned(referral)
    _audit(
        referral,
        AuditAction(f"referral.progress.{kind}"),
        partner=partner,
        fields=fields,
        detail={"record": str(record.uuid)},
    )
    _announce(referral, "referral.updated")
    return record


def _enrolment_progress(
    case: Case,
    referral: Referral,
    partner: PartnerOrganisation,
    kind: str,
    data: dict[str, Any],
) -> tuple[TrainingEnrolment, list[str]]:
    enrolment = TrainingEnrolment.objects.select_for_update().filter(referral=referral).first()
    if enrolment is None:
        enrolment = TrainingEnrolment(
            case=case,
            referral=referral,
            course=str(data.get("course") or referral.get_service_display()),
            provider=partner.name,
            start_date=_date(data, "start_date", required=False) or timezone.localdate(),
        )
    changed: list[str] = []
    if kind == "attendance":
        percent = data.get("attendance_percent")
        if not isinstance(percent, int) or isinstance(percent, bool):
            raise ValidationError({"attendance_percent": "Give a whole number from 0 to 100."})
        enrolment.attendance_percent = percent
        enrolment.status = (
            EnrolmentStatus.IN_PROGRESS
            if enrolment.status == EnrolmentStatus.ENROLLED
            else enrolment.status
        )
        changed = ["attendance_percent", "status"]
    elif kind == "completion":
        completed = data.get("completed")
        if not isinstance(completed, bool):
            raise ValidationError({"completed": "Say true (completed) or false (dropped out)."})
        enrolment.end_date = _date(data, "end_date", required=True)
        enrolment.status = EnrolmentStatus.COMPLETED if completed else EnrolmentStatus.DROPPED_OUT
        changed = ["end_date", "status"]
    else:
        certificate = str(data.get("certificate") or "").strip()
        if not certificate:
            raise ValidationError({"certificate": "Give the certificate's reference."})
        enrolment.certificate = certificate
        changed = ["certificate"]
    validated(enrolment, exclude=["case", "referral"])
    if enrolment.pk is None:
        enrolment.save(force_insert=True)
    else:
        save_versioned(enrolment, changed)
    return enrolment, [f"enrolment.{name}" for name in changed]


def _job_placement(case: Case, referral: Referral, data: dict[str, Any]) -> SupportProvision:
    employer = str(data.get("employer") or "").strip()
    if not employer:
        raise ValidationError({"employer": "Name the employer or the kind of work."})
    amount = data.get("monthly_income")
    if amount not in (None, ""):
        try:
            amount = Decimal(str(amount))
        except InvalidOperation:
            raise ValidationError({"monthly_income": "Give a number."}) from None
        if not data.get("currency"):
            raise ValidationError({"currency": "Give the currency of the income."})
    else:
        amount = None
    started = _date(data, "start_date", required=True)
    assert started is not None
    support = SupportProvision(
        case=case,
        referral=referral,
        pillar=Pillar.LIVELIHOOD,
        kind=f"Job placement: {employer}"[:200],
        provided_on=started,
        amount=amount,
        currency=str(data.get("currency") or ""),
    )
    validated(support, exclude=["case", "referral", "recorded_by"])
    support.save(force_insert=True)
    return support


def _latest_needs(case: Case) -> list[str]:
    prefetched = getattr(case, "_prefetched_objects_cache", {}).get("screenings")
    if prefetched is not None:
        screenings = sorted(prefetched, key=lambda s: (s.assessed_on, s.pk), reverse=True)
        latest = screenings[0] if screenings else None
    else:
        latest = (
            ScreeningAssessment.objects.filter(case=case).order_by("-assessed_on", "-id").first()
        )
    return list(latest.needs) if latest else []


@transaction.atomic
def referral_shared_view(*, partner: PartnerOrganisation, referral: Referral) -> dict[str, Any]:
    """The fields a partner may see for a referral: the shared ones, only while consent to
    share stands (identity ones only with consent to share identity). Reading identity is
    audited like any other identity read."""
    if referral.partner_id != partner.pk:
        raise DomainError("Not this partner's referral.", code="not_found")
    case = referral.case
    if referral.status not in OPEN_STATUSES or not has_active_consent(
        case, scope=ConsentScope.SHARE_WITH_PARTNERS
    ):
        return {}
    person = case.returnee
    shared: dict[str, Any] = {}
    identity_ok = has_active_consent(case, scope=ConsentScope.SHARE_IDENTITY_WITH_PARTNERS)
    for name in referral.shared_fields:
        if name in IDENTITY_SHARED_FIELDS:
            if identity_ok:
                shared[name] = getattr(person, name)
        elif name == SharedField.NEEDS:
            shared[name] = _latest_needs(case)
        else:
            shared[name] = getattr(person, name)
    identity_read = sorted(set(shared) & IDENTITY_SHARED_FIELDS)
    if identity_read:
        _audit(referral, AuditAction.IDENTITY_PARTNER_READ, partner=partner, fields=identity_read)
    return shared
