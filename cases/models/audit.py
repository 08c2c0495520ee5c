"""The append-only, hash-chained audit log: who did or saw what, when, and from where."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit event."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """One audited action. Never holds identity values: only names of fields and pseudonymous
    object identifiers."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, kept if the user goes.")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    case_number = models.CharField(max_length=16, blank=True, db_index=True)
    fields = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Which AUDIT_CHAIN_KEYS key chained this event (its fingerprint), so events chained before
    # a key rotation still verify with the old key. Empty: a legacy event, written before the
    # chain was keyed, hashed with plain SHA-256 (migration 0012).
    key_id = models.CharField(max_length=16, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")

    def content(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "case_number": self.case_number,
            "fields": list(self.fields),
            "detail": self.detail,
            "request_id": self.request_id,
            "ip": self.ip,
        }

    def compute_hash(self, key: bytes | None) -> str:
        """The event's link in the chain: HMAC-SHA256 under ``key`` of the previous hash and
        the canonical content, so nobody without the key can recompute the chain after an
        edit. ``None`` computes the legacy, unkeyed SHA-256 of events written before the
        chain was keyed (``key_id`` empty)."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), default=str)
        message = (self.prev_hash + canonical).encode("utf-8")
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()
