"""Writing and verifying the hash-chained audit log."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from cases import context
from cases.models import AuditEvent

GENESIS_HASH = "0" * 64
# Any constant works: it names the one advisory lock that serialises appends on PostgreSQL.
_CHAIN_LOCK_ID = 72_615_301


def _normalised_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def actor_label(actor: AbstractBaseUser | AnonymousUser | None) -> str:
    if actor is None:
        return "system"
    if not actor.is_authenticated:
        return "anonymous"
    return f"user:{actor.get_username()}"


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: str,
    object_type: str,
    object_id: str,
    case_number: str = "",
    fields: list[str] | tuple[str, ...] = (),
    detail: dict[str, Any] | None = None,
    label: str | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records, so the
    change and its audit row commit or roll back together."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must be called inside a transaction.")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    ctx = context.current()
    user_id = actor.pk if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        at=timezone.now(),
        actor_id=user_id,
        actor_label=label or actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        case_number=case_number,
        fields=sorted(fields),
        detail=detail or {},
        request_id=ctx.request_id,
        ip=_normalised_ip(ctx.ip),
        prev_hash=previous or GENESIS_HASH,
    )
    event.hash = event.compute_hash()
    event.save(force_insert=True)
    return event


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_broken_id: int | None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_broken_id is None


def audit_verify(*, batch_size: int = 5000) -> ChainReport:
    """Walk the chain in order and report the first event whose link or content is wrong."""
    expected_prev = GENESIS_HASH
    checked = 0
    with transaction.atomic():
        for event in AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size):
            if event.prev_hash != expected_prev:
                return ChainReport(
                    checked,
                    event.id,
                    "its previous-hash does not match the event before it",
                )
            if event.compute_hash() != event.hash:
                return ChainReport(checked, event.id, "its content does not match its hash")
            expected_prev = event.hash
            checked += 1
    return ChainReport(checked, None)
