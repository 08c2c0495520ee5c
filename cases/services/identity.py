"""Reading, changing and searching identity fields: every one of these is audited."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import QuerySet

from cases import crypto, selectors
from cases.models import IDENTITY_FIELDS, AuditAction, Case, Returnee, ScreeningAssessment
from cases.selectors import CASE_ROLES, Actor

from .audit import audit_record
from .cases import RETURNEE_PROFILE_FIELDS, returnee_set_identity_indexes
from .common import (
    apply_changes,
    bump_case_version,
    check_version,
    lock_case,
    require_open,
    require_roles,
    save_versioned,
    validated,
)


@transaction.atomic
def identity_reveal(*, actor: Actor, case: Case, reason: str) -> dict[str, Any]:
    """Return the person's identity fields, recording who asked and why."""
    reason = (reason or "").strip()
    if len(reason) < 5:
        raise ValidationError({"reason": "Say why you need to see this person's identity."})
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="see identity fields")
    person = Returnee.objects.get(pk=case.returnee_id)
    audit_record(
        actor=actor,
        action=AuditAction.IDENTITY_REVEAL,
        object_type="returnee",
        object_id=person.person_number,
        case_number=case.case_number,
        fields=list(IDENTITY_FIELDS),
        detail={"reason": reason},
    )
    return {name: getattr(person, name) for name in IDENTITY_FIELDS}


@transaction.atomic
def returnee_update(
    *,
    actor: Actor,
    case: Case,
    changes: dict[str, Any],
    expected_version: int | None = None,
) -> Returnee:
    """Change a person's identity or profile fields; identity values never reach the log.
    The case is the unit of concurrency: ``expected_version`` is the case's version."""
    case = lock_case(case)
    require_open(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="change this person's record")
    check_version(case, expected_version)
    person = Returnee.objects.select_for_update().get(pk=case.returnee_id)
    changed = apply_changes(person, changes, allowed=IDENTITY_FIELDS + RETURNEE_PROFILE_FIELDS)
    if not changed:
        return person
    validated(person, exclude=["national_id_index", "phone_index"])
    returnee_set_identity_indexes(person)
    save_versioned(person, [*changed, "national_id_index", "phone_index"])
    bump_case_version(case)
    audit_record(
        actor=actor,
        action=AuditAction.RETURNEE_UPDATE,
        object_type="returnee",
        object_id=person.person_number,
        case_number=case.case_number,
        fields=changed,
    )
    return person


@transaction.atomic
def case_find_by_identifier(
    *, actor: Actor, national_id: str = "", phone: str = ""
) -> QuerySet[Case]:
    """Exact-match search through the blind index, within the actor's scope. The searched
    value is never logged; the audit event records which kind of identifier was searched."""
    if bool(national_id) == bool(phone):
        raise ValidationError({"national_id": "Give exactly one of national_id or phone."})
    if national_id:
        kind, digest = "national_id", crypto.national_id_index(national_id)
        matches = selectors.case_list(user=actor).filter(returnee__national_id_index=digest)
    else:
        kind, digest = "phone", crypto.phone_index(phone)
        matches = selectors.case_list(user=actor).filter(returnee__phone_index=digest)
    if not digest:
        raise ValidationError({kind: "This value is empty after normalisation."})
    numbers = list(matches.values_list("case_number", flat=True))
    audit_record(
        actor=actor,
        action=AuditAction.IDENTITY_SEARCH,
        object_type="returnee",
        object_id=kind,
        fields=[kind],
        detail={"matches": numbers},
    )
    return matches


_ENCRYPTED_COLUMNS: dict[type[models.Model], tuple[str, ...]] = {
    Returnee: IDENTITY_FIELDS,
    ScreeningAssessment: ("security_findings",),
}


def identity_reencrypt(*, actor: Actor | None = None, batch_size: int = 1000) -> int:
    """Re-encrypt every encrypted value under the newest key (after adding one at the front
    of FIELD_ENCRYPTION_KEYS), and recompute the blind indexes under BLIND_INDEX_KEY; old
    keys can be removed once this has run."""
    total = 0
    for model, fields in _ENCRYPTED_COLUMNS.items():
        last_pk = 0
        while True:
            with transaction.atomic():
                batch = list(
                    model._default_manager.select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("pk", *fields)[:batch_size]
                )
                if not batch:
                    break
                update_fields = list(fields)
                if model is Returnee:
                    # Plaintext is at hand: refresh the blind index too, so changing
                    # BLIND_INDEX_KEY and running this re-indexes everyone.
                    for person in batch:
                        returnee_set_identity_indexes(person)  # type: ignore[arg-type]
                    update_fields += ["national_id_index", "phone_index"]
                model._default_manager.bulk_update(batch, update_fields)
                last_pk = batch[-1].pk
                total += len(batch)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.IDENTITY_REENCRYPT,
            object_type="encryption_keys",
            object_id="field_encryption",
            detail={"records": total, "key_count": len(settings.FIELD_ENCRYPTION_KEYS)},
        )
    return total
