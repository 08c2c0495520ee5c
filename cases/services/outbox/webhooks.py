"""The outbox's webhook channel: partners' endpoints, the events written for them in the
transaction of the change they report, signing, and delivery with retries, back-off and a
dead-letter state, so a partner outage delays events but never loses them.

Delivery is at least once: a receiver de-duplicates on ``X-Idempotency-Key`` (the event's
uuid) and checks ``X-Signature`` with the algorithm in :func:`webhook_sign`.
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from cases.models import (
    AuditAction,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
    PartnerOrganisation,
    WebhookEndpoint,
)

from ..audit import audit_record
from ..common import validated
from .core import (
    ERROR_MAX_CHARS,
    AttemptOutcome,
    Claim,
    error_summary,
    outbox_claim,
    outbox_deliver_on_commit,
    outbox_due_ids,
    outbox_lease,
    outbox_record_attempt,
)

logger = logging.getLogger(__name__)

USER_AGENT = "reintegration-webhooks/1"
SIGNATURE_TOLERANCE_SECONDS = 300


# --- URL checks --------------------------------------------------------------------------


def _refused_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # ::ffff:127.0.0.1 reaches 127.0.0.1; judge the address it really is.
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        # Shared (carrier-grade NAT) space and the like: not private, not public either.
        or not address.is_global
    )


def webhook_url_check(url: str) -> None:
    """Refuse a URL a webhook must not be sent to: anything but https, and — unless private
    addresses are allowed (development only) — a host that resolves to an address inside our
    own or any non-public network. Raises ``ValidationError({"url": ...})``."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValidationError({"url": "Enter a valid URL."}) from None
    allow_private: bool = settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES
    allowed_schemes = {"https", "http"} if allow_private else {"https"}
    if parts.scheme.lower() not in allowed_schemes:
        raise ValidationError({"url": "The URL must start with https://."})
    host = parts.hostname
    if not host:
        raise ValidationError({"url": "The URL must name a host."})
    if parts.username or parts.password:
        raise ValidationError({"url": "The URL must not carry a user name or password."})
    if allow_private:
        return
    default_port = 443 if parts.scheme.lower() == "https" else 80
    try:
        resolved = socket.getaddrinfo(host, port or default_port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise ValidationError({"url": f"The host {host!r} cannot be resolved."}) from None
    if not resolved:
        raise ValidationError({"url": f"The host {host!r} cannot be resolved."})
    for _family, _type, _proto, _canonname, sockaddr in resolved:
        # An IPv6 link-local address may carry a zone ("fe80::1%eth0").
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if _refused_address(address):
            raise ValidationError(
                {"url": f"The host {host!r} resolves to a private or reserved address."}
            )


# --- Endpoints ---------------------------------------------------------------------------


@transaction.atomic
def webhook_endpoint_register(
    *, partner: PartnerOrganisation, url: str, actor_label: str
) -> tuple[WebhookEndpoint, str]:
    """Register ``url`` for ``partner`` and return the endpoint with its signing secret, which
    is shown this once. Registering a removed endpoint's URL again revives it with a new
    secret."""
    url = url.strip()
    webhook_url_check(url)
    secret = secrets.token_urlsafe(32)
    endpoint = WebhookEndpoint.objects.select_for_update().filter(partner=partner, url=url).first()
    if endpoint is not None:
        if endpoint.is_active:
            raise ValidationError({"url": "This URL is already registered."})
        endpoint.secret = secret
        endpoint.is_active = True
        endpoint.save(update_fields=["secret", "is_active"])
    else:
        endpoint = WebhookEndpoint(partner=partner, url=url, secret=secret)
        validated(endpoint)
        endpoint.save(force_insert=True)
    audit_record(
        actor=None,
        label=actor_label,
        action=AuditAction.WEBHOOK_REGISTER,
        object_type="webhook",
        object_id=str(endpoint.uuid),
        fields=["url"],
        detail={"partner": str(partner.uuid)},
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_remove(*, endpoint: WebhookEndpoint, actor_label: str) -> WebhookEndpoint:
    """Stop sending to ``endpoint``. Its pending events are dead-lettered when they fall due;
    the row and its delivery log stay."""
    endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
    if endpoint.is_active:
        endpoint.is_active = False
        endpoint.save(update_fields=["is_active"])
        audit_record(
            actor=None,
            label=actor_label,
            action=AuditAction.WEBHOOK_REMOVE,
            object_type="webhook",
            object_id=str(endpoint.uuid),
            fields=["is_active"],
        )
    return endpoint


# --- Events ------------------------------------------------------------------------------


def outbox_enqueue(
    *, partner: PartnerOrganisation, topic: str, payload: dict[str, Any]
) -> list[OutboxEvent]:
    """One event per active endpoint of ``partner``; delivery is queued once the surrounding
    transaction commits, and never blocks or fails the change itself."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue must run inside the transaction of the change.")
    now = timezone.now()
    events = []
    for endpoint in WebhookEndpoint.objects.filter(partner=partner, is_active=True):
        event_id = uuid.uuid4()  # the idempotency key, also in the body
        events.append(
            OutboxEvent(
                uuid=event_id,
                topic=topic,
                partner=partner,
                endpoint=endpoint,
                payload={**payload, "event": topic, "event_id": str(event_id)},
                next_attempt_at=now,
            )
        )
    if not events:
        return []
    events = OutboxEvent.objects.bulk_create(events)
    outbox_deliver_on_commit(
        channel=OutboxChannel.WEBHOOK, event_ids=[event.pk for event in events]
    )
    return events


# --- Signatures --------------------------------------------------------------------------


def _signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def webhook_sign(*, secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Signature`` header: ``t=<unix seconds>,v1=<hex HMAC-SHA256>`` of
    ``"<t>." + body`` under the endpoint's secret."""
    return f"t={timestamp},v1={_signature(secret, timestamp, body)}"


def webhook_verify(
    *,
    secret: str,
    header: str,
    body: bytes,
    tolerance_seconds: int = SIGNATURE_TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver does: accept ``body`` only if ``header`` signs it under ``secret`` and
    its timestamp is within ``tolerance_seconds`` of ``now`` (unix seconds), so a captured
    request cannot be replayed later."""
    timestamp: int | None = None
    candidates: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                return False
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _signature(secret, timestamp, body)
    # Check every candidate (a rotating sender may send two) without stopping early.
    matches = [hmac.compare_digest(expected, candidate) for candidate in candidates]
    return any(matches)


# --- Delivery ----------------------------------------------------------------------------


def _lease() -> datetime.timedelta:
    return outbox_lease(send_timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS))


@dataclass(frozen=True)
class _Claim:
    event_id: int
    event_uuid: str
    topic: str
    url: str
    secret: str
    body: bytes


def _body(event: OutboxEvent) -> bytes:
    return json.dumps(event.payload, separators=(",", ":"), sort_keys=True).encode()


def _webhook_claim(event: OutboxEvent) -> _Claim | None:
    endpoint = event.endpoint
    assert endpoint is not None  # webhook events always have one (constraint)
    if not endpoint.is_active:
        event.status = OutboxStatus.DEAD
        event.last_error = "The webhook endpoint was removed."
        event.save(update_fields=["status", "last_error"])
        logger.info("outbox event %s dead-lettered: endpoint removed", event.uuid)
        return None
    return _Claim(
        event_id=event.pk,
        event_uuid=str(event.uuid),
        topic=event.topic,
        url=endpoint.url,
        secret=endpoint.secret,
        body=_body(event),
    )


def _claim(event_id: int) -> tuple[OutboxEvent, Claim[_Claim] | None]:
    return outbox_claim(event_id, lease=_lease(), prepare=_webhook_claim, related=("endpoint",))


def _post(claim: _Claim, client: httpx.Client) -> AttemptOutcome:
    """One HTTP attempt. Every failure comes back as an outcome, never as an exception."""
    started = time.monotonic()

    def outcome(status_code: int | None, error: str, *, timed_out: bool = False) -> AttemptOutcome:
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(
            ok=status_code is not None and 200 <= status_code < 300,
            error=error[:ERROR_MAX_CHARS],
            duration_ms=duration_ms,
            status_code=status_code,
            timed_out=timed_out,
        )

    try:
        # DNS may have changed since the endpoint was registered.
        webhook_url_check(claim.url)
    except ValidationError as exc:
        return outcome(None, "Refused before sending: " + "; ".join(exc.messages))
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Event-Topic": claim.topic,
        "X-Idempotency-Key": claim.event_uuid,
        "X-Signature": webhook_sign(secret=claim.secret, timestamp=timestamp, body=claim.body),
    }
    try:
        # Streamed and never read: only the status matters, and a huge or endless body
        # must not tie up the worker.
        with client.stream("POST", claim.url, content=claim.body, headers=headers) as response:
            status_code = response.status_code
    except httpx.TimeoutException as exc:
        return outcome(None, error_summary(exc), timed_out=True)
    except Exception as exc:  # any failure to deliver is a failed attempt; the task goes on
        return outcome(None, error_summary(exc))
    if 200 <= status_code < 300:
        return outcome(status_code, "")
    if 300 <= status_code < 400:
        return outcome(status_code, f"HTTP {status_code} (redirects are not followed)")
    return outcome(status_code, f"HTTP {status_code}")


def _client() -> httpx.Client:
    return httpx.Client(timeout=float(settings.WEBHOOK_TIMEOUT_SECONDS), follow_redirects=False)


def _deliver(event_id: int, client: httpx.Client) -> tuple[OutboxEvent, bool]:
    event, claim = _claim(event_id)
    if claim is None:
        return event, False
    outcome = _post(claim.message, client)
    return outbox_record_attempt(attempt_id=claim.attempt_id, outcome=outcome), True


def webhook_deliver(*, event_id: int) -> OutboxEvent:
    """Try to send one event if it is pending and due; anything else is left as it is.
    Not atomic on purpose: the HTTP call runs between two short transactions, the first of
    which commits the attempt to the delivery log before anything is sent."""
    with _client() as client:
        event, _attempted = _deliver(event_id, client)
    return event


def webhook_dispatch_due(*, limit: int = 500) -> int:
    """Send every pending event that is due, oldest first, up to ``limit``; return how many
    were attempted. Beat runs this every minute, so events whose queueing failed (the broker
    was down at commit) or whose retry has come due go out without anyone noticing."""
    due_ids = outbox_due_ids(channel=OutboxChannel.WEBHOOK, limit=limit)
    attempted = 0
    with _client() as client:
        for event_id in due_ids:
            try:
                _event, tried = _deliver(event_id, client)
            except OutboxEvent.DoesNotExist:  # deleted with its endpoint since the query
                continue
            attempted += tried
    return attempted
