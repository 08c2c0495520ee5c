"""Issuing, checking and revoking bearer keys: staff personal tokens and partner API keys.

A key reads ``<kind>_<lookup>_<secret>``. The lookup finds the row; only a SHA-256 of the
secret is stored (the secret is 256 random bits, so a fast hash is enough), and it is compared
in constant time. The whole key is returned once, at issue.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases.models import AccessKey, AccessKeyKind, AuditAction, PartnerOrganisation
from cases.selectors import Actor

from .audit import audit_record

PREFIX = {AccessKeyKind.STAFF: "st", AccessKeyKind.PARTNER: "pk"}
DEFAULT_PARTNER_KEY_DAYS = 365


@dataclass(frozen=True)
class IssuedKey:
    key: AccessKey
    plaintext: str  # shown once; never stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _issue(
    *,
    kind: AccessKeyKind,
    name: str,
    actor: Actor | None,
    user: Actor | None = None,
    partner: PartnerOrganisation | None = None,
    expires_at: datetime.datetime | None,
) -> IssuedKey:
    if not name.strip():
        raise ValidationError({"name": "Name the key after where it will be used."})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "The expiry must be in the future."})
    lookup = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = AccessKey.objects.create(
        kind=kind,
        user=user,
        partner=partner,
        name=name.strip(),
        lookup=lookup,
        secret_hash=_hash(secret),
        expires_at=expires_at,
    )
    audit_record(
        actor=actor,
        action=AuditAction.ACCESS_KEY_ISSUE,
        object_type="access_key",
        object_id=str(key.uuid),
        fields=["kind", "name", "expires_at"],
        detail={"kind": kind, "lookup": lookup},
    )
    return IssuedKey(key=key, plaintext=f"{PREFIX[kind]}_{lookup}_{secret}")


@transaction.atomic
def partner_key_issue(
    *,
    actor: Actor | None,
    partner: PartnerOrganisation,
    name: str,
    expires_at: datetime.datetime | None = None,
) -> IssuedKey:
    """A key for one partner; it expires (a year unless said otherwise)."""
    if not partner.is_active:
        raise ValidationError({"partner": "The partner is not active."})
    expires_at = expires_at or timezone.now() + datetime.timedelta(days=DEFAULT_PARTNER_KEY_DAYS)
    return _issue(
        kind=AccessKeyKind.PARTNER,
        name=name,
        actor=actor,
        partner=partner,
        expires_at=expires_at,
    )


@transaction.atomic
def staff_token_issue(
    *, actor: Actor, name: str, expires_at: datetime.datetime | None = None
) -> IssuedKey:
    """A personal token for the actor's own scripts; it acts with the actor's scope."""
    return _issue(
        kind=AccessKeyKind.STAFF, name=name, actor=actor, user=actor, expires_at=expires_at
    )


@transaction.atomic
def access_key_revoke(*, actor: Actor | None, key: AccessKey) -> AccessKey:
    key = AccessKey.objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        audit_record(
            actor=actor,
            action=AuditAction.ACCESS_KEY_REVOKE,
            object_type="access_key",
            object_id=str(key.uuid),
            fields=["revoked_at"],
            detail={"lookup": key.lookup},
        )
    return key


def access_key_check(plaintext: str, *, kind: AccessKeyKind) -> AccessKey | None:
    """The live key ``plaintext`` names, of ``kind`` only; None for anything else."""
    parts = plaintext.split("_", 2)
    if len(parts) != 3 or parts[0] != PREFIX[kind]:
        return None
    _prefix, lookup, secret = parts
    key = (
        AccessKey.objects.select_related("user", "partner").filter(lookup=lookup, kind=kind).first()
    )
    if key is None or not hmac.compare_digest(key.secret_hash, _hash(secret)):
        return None
    now = timezone.now()
    if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
        return None
    if kind == AccessKeyKind.PARTNER and not (key.partner and key.partner.is_active):
        return None
    if kind == AccessKeyKind.STAFF and not (key.user and key.user.is_active):
        return None
    if key.last_used_at is None or now - key.last_used_at > datetime.timedelta(minutes=5):
        # Coarse on purpose: one write every few minutes, not one per request.
        AccessKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key
