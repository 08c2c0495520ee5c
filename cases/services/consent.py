"""Recording and withdrawing consent. Withdrawing consent to share stops sharing, never support."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import AuditAction, Case, ConsentRecord, ConsentScope, LegalBasis, Returnee
from cases.selectors import Actor

from .audit import audit_record
from .common import choices_list, require_open, validated


def consent_build(
    *,
    actor: Actor,
    returnee: Returnee,
    legal_basis: str,
    scope: list[str],
    given_at: datetime.datetime | None = None,
    notes: str = "",
    per_row_queries: bool = True,
) -> ConsentRecord:
    """An unsaved, validated consent record (bulk imports pass ``per_row_queries=False`` and
    check uniqueness as a set)."""
    if legal_basis not in LegalBasis.values:
        raise ValidationError({"legal_basis": f"Choose one of {sorted(LegalBasis.values)}."})
    scope = choices_list(scope, ConsentScope, field="scope")
    if not scope:
        raise ValidationError({"scope": "Say what the consent covers."})
    given_at = given_at or timezone.now()
    if given_at > timezone.now() + datetime.timedelta(minutes=5):
        raise ValidationError({"given_at": "Consent cannot be given in the future."})
    record = ConsentRecord(
        returnee=returnee,
        legal_basis=legal_basis,
        scope=scope,
        given_at=given_at,
        recorded_by=actor,
        notes=notes,
    )
    validated(record, exclude=["returnee", "recorded_by"], queries=per_row_queries)
    return record


@transaction.atomic
def consent_create(
    *,
    actor: Actor,
    case: Case,
    legal_basis: str,
    scope: list[str],
    given_at: datetime.datetime | None = None,
    notes: str = "",
) -> ConsentRecord:
    require_open(case)
    record = consent_build(
        actor=actor,
        returnee=case.returnee,
        legal_basis=legal_basis,
        scope=scope,
        given_at=given_at,
        notes=notes,
    )
    scope = record.scope
    record.save(force_insert=True)
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_CREATE,
        object_type="consent",
        object_id=str(record.uuid),
        case_number=case.case_number,
        fields=["legal_basis", "scope", "given_at"],
        detail={"legal_basis": legal_basis, "scope": scope},
    )
    return record


@transaction.atomic
def consent_withdraw(
    *, actor: Actor, case: Case, consent: ConsentRecord, withdrawn_at: Any = None
) -> ConsentRecord:
    consent = ConsentRecord.objects.select_for_update().get(pk=consent.pk)
    if consent.returnee_id != case.returnee_id:
        raise ValidationError({"consent": "This consent does not belong to the case."})
    if consent.withdrawn_at is not None:
        raise ValidationError({"consent": "This consent was already withdrawn."})
    consent.withdrawn_at = withdrawn_at or timezone.now()
    consent.save(update_fields=["withdrawn_at"])
    audit_record(
        actor=actor,
        action=AuditAction.CONSENT_WITHDRAW,
        object_type="consent",
        object_id=str(consent.uuid),
        case_number=case.case_number,
        fields=["withdrawn_at"],
    )
    return consent


def has_active_consent(case: Case, *, scope: str | None = None) -> bool:
    """Whether the person has consent in force (covering ``scope`` when given). Uses the
    person's prefetched consents when a list view loaded them, so lists stay at fixed queries."""
    prefetched = getattr(case.returnee, "_prefetched_objects_cache", {}).get("consents")
    if prefetched is not None:
        consents = [record for record in prefetched if record.withdrawn_at is None]
    else:
        consents = list(
            ConsentRecord.objects.filter(returnee_id=case.returnee_id, withdrawn_at=None)
        )
    return any(scope is None or scope in record.scope for record in consents)
