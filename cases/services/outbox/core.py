"""What every outbox channel shares: queueing a delivery after commit, the claim under a
lease, the delivery log (one :class:`~cases.models.DeliveryAttempt` per attempt, committed
before the send, so an attempt whose worker died mid-send is still there to see), the back-off,
the dead letter and the replay of a dead-lettered event.
"""

from __future__ import annotations

import datetime
import logging
import os
import random
import socket
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from cases import selectors
from cases.models import (
    AuditAction,
    DeliveryAttempt,
    DeliveryOutcome,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
)
from cases.selectors import Actor

from ..audit import audit_record
from ..errors import ActionNotAllowed, DomainError
from ..queue import enqueue_each_on_commit

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 6 * 3600.0
# Stored error texts are for people reading the delivery log, not a place for whole replies.
ERROR_MAX_CHARS = 500
ABANDONED_ERROR = (
    "No outcome before the lease ran out: the worker stopped mid-attempt (killed, or cut off "
    "from the database). The receiver may have got the event; the next attempt sends it again "
    "with the same idempotency key."
)
LATE_NOTE = "Finished after its lease ran out; another worker may have sent the event too."


def outbox_deliver_on_commit(*, channel: str, event_ids: list[int]) -> None:
    """Queue the delivery of each of ``event_ids`` (events of ``channel``) once the surrounding
    transaction commits. If the broker is down they stay pending, and the dispatcher on beat
    sends them later."""
    calls = [(event_id,) for event_id in event_ids]
    if channel == OutboxChannel.EMAIL:
        enqueue_each_on_commit(
            "cases.email_deliver",
            calls,
            unsent="email %s: delivery not started now; the dispatcher will",
        )
    else:
        enqueue_each_on_commit(
            "cases.webhook_deliver",
            calls,
            unsent="outbox event %s: delivery not started now; the dispatcher will",
        )


# --- Back-off and lease ----------------------------------------------------------------------


def webhook_backoff(*, attempts: int) -> datetime.timedelta:
    """The wait before the next try after ``attempts`` failures: full jitter over an
    exponential ceiling (30 s, 60 s, 120 s, … capped at 6 h), so retries from many events
    spread out instead of arriving at a recovering receiver together."""
    doublings = min(max(attempts - 1, 0), 20)  # 30 s * 2**20 is far past the cap already
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**doublings)
    # Jitter needs spread, not unpredictability: the standard generator is right here.
    return datetime.timedelta(seconds=random.uniform(0, ceiling))  # noqa: S311


def outbox_lease(*, send_timeout: float) -> datetime.timedelta:
    """How long a claimed event stays with the worker sending it. A send timeout bounds each
    phase of a send (connect, write, read), not the whole, so the lease is three of them plus
    ``OUTBOX_LEASE_MARGIN_SECONDS``: a slow but live send finishes before anyone else may
    send the event again."""
    margin = float(settings.OUTBOX_LEASE_MARGIN_SECONDS)
    return datetime.timedelta(seconds=3 * send_timeout + margin)


# --- Attempts, shared by every outbox channel (webhooks, emails) -----------------------------

C = TypeVar("C")


@dataclass(frozen=True)
class AttemptOutcome:
    """What one delivery attempt came to, on any channel."""

    ok: bool
    error: str
    duration_ms: int
    status_code: int | None = None
    timed_out: bool = False

    @property
    def recorded_as(self) -> DeliveryOutcome:
        if self.ok:
            return DeliveryOutcome.DELIVERED
        return DeliveryOutcome.TIMEOUT if self.timed_out else DeliveryOutcome.FAILED


@dataclass(frozen=True)
class Claim(Generic[C]):
    """An event claimed for one attempt: what the sender needs (``message``), and the id of
    the attempt's row in the delivery log, to record the outcome on."""

    message: C
    attempt_id: int


def error_summary(exc: BaseException) -> str:
    """The exception's class and message, for the delivery log (cut to ``ERROR_MAX_CHARS``
    when stored)."""
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _worker_name() -> str:
    # Which process made the attempt, so an operator can match it with a worker's log: the
    # host and the process id, nothing about the event or its receiver.
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def _abandon_unfinished(event: OutboxEvent, *, lease_ended_at: datetime.datetime) -> bool:
    """The event is due again while an attempt of it has no outcome: that attempt's lease
    ran out, so its worker is gone (or too late to count). Say so in the log, and count it
    as a failed attempt: a message that kills every worker taking it must still end dead
    after ``WEBHOOK_MAX_ATTEMPTS``, not be retried forever. True when that made it dead."""
    abandoned = DeliveryAttempt.objects.filter(event=event, outcome=DeliveryOutcome.STARTED).update(
        outcome=DeliveryOutcome.ABANDONED, finished_at=lease_ended_at, error=ABANDONED_ERROR
    )
    if not abandoned:
        return False
    logger.warning(
        "outbox event %s: %s attempt(s) abandoned when their lease ran out",
        event.uuid,
        abandoned,
    )
    event.attempts += abandoned
    event.last_error = ABANDONED_ERROR
    if event.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
        event.status = OutboxStatus.DEAD
        logger.warning(
            "outbox event %s dead-lettered after %s attempts", event.uuid, event.attempts
        )
    event.save(update_fields=["attempts", "last_error", "status"])
    return event.status == OutboxStatus.DEAD


def outbox_claim(
    event_id: int,
    *,
    lease: datetime.timedelta,
    prepare: Callable[[OutboxEvent], C | None],
    related: tuple[str, ...] = (),
) -> tuple[OutboxEvent, Claim[C] | None]:
    """Lock the event briefly; if it is pending and due, let ``prepare`` turn it into what the
    sender needs, push ``next_attempt_at`` out by ``lease`` and open the attempt's row in the
    delivery log (``started``). All of it commits before the send, which runs outside any
    transaction, so no other worker (a redelivered task, a racing dispatcher) sends the event
    meanwhile, and a worker killed mid-send leaves its attempt behind. ``prepare`` returns
    ``None`` when it settled the event itself (dead-lettered it, say); then nothing is sent."""
    with transaction.atomic():
        event = (
            OutboxEvent.objects.select_for_update(of=("self",))
            .select_related(*related)
            .get(pk=event_id)
        )
        now = timezone.now()
        if event.status != OutboxStatus.PENDING or event.next_attempt_at > now:
            return event, None
        if _abandon_unfinished(event, lease_ended_at=event.next_attempt_at):
            return event, None
        message = prepare(event)
        if message is None:
            return event, None
        event.next_attempt_at = now + lease
        event.save(update_fields=["next_attempt_at"])
        # Numbered under the event's row lock, so two claims never take the same number.
        latest = DeliveryAttempt.objects.filter(event=event).aggregate(latest=Max("number"))
        attempt = DeliveryAttempt.objects.create(
            event=event,
            number=(latest["latest"] or 0) + 1,
            started_at=now,
            worker=_worker_name(),
        )
        return event, Claim(message=message, attempt_id=attempt.pk)


def outbox_record_attempt(*, attempt_id: int, outcome: AttemptOutcome) -> OutboxEvent:
    """Close the attempt's row in the delivery log with its outcome and move the event on:
    delivered, retry later with back-off, or dead after ``WEBHOOK_MAX_ATTEMPTS`` (the
    outbox's one limit, for every channel)."""
    event_id = DeliveryAttempt.objects.values_list("event_id", flat=True).get(pk=attempt_id)
    with transaction.atomic():
        event = OutboxEvent.objects.select_for_update().get(pk=event_id)
        attempt = DeliveryAttempt.objects.get(pk=attempt_id)
        now = timezone.now()
        error = outcome.error
        # Counted as failed already when its lease ran out (``_abandon_unfinished``).
        counted = attempt.outcome == DeliveryOutcome.ABANDONED
        if counted:
            # Not dead after all, only slower than its lease: what happened still counts.
            error = f"{error} {LATE_NOTE}" if error else LATE_NOTE
        attempt.finished_at = now
        attempt.outcome = outcome.recorded_as
        attempt.status_code = outcome.status_code
        attempt.error = error[:ERROR_MAX_CHARS]
        attempt.duration_ms = outcome.duration_ms
        attempt.save(
            update_fields=["finished_at", "outcome", "status_code", "error", "duration_ms"]
        )
        late_success = outcome.ok and counted and event.status == OutboxStatus.DEAD
        if event.status != OutboxStatus.PENDING and not late_success:
            # Someone else finished it while our lease ran out; the log row is all we add.
            return event
        if outcome.ok:
            event.status = OutboxStatus.DELIVERED
            event.delivered_at = now
            event.last_error = ""
            event.save(update_fields=["status", "delivered_at", "last_error"])
            logger.info("outbox event %s delivered (attempt %s)", event.uuid, attempt.number)
            return event
        if not counted:
            event.attempts += 1
        event.last_error = outcome.error
        if event.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            event.status = OutboxStatus.DEAD
            logger.warning(
                "outbox event %s dead-lettered after %s attempts", event.uuid, event.attempts
            )
        else:
            event.next_attempt_at = now + webhook_backoff(attempts=event.attempts)
            logger.info(
                "outbox event %s attempt %s failed (%s); retry after %s",
                event.uuid,
                attempt.number,
                outcome.status_code or attempt.outcome,
                event.next_attempt_at.isoformat(),
            )
        event.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        return event


def outbox_due_ids(*, channel: str, limit: int) -> list[int]:
    """Ids of the pending events of ``channel`` that are due, oldest first, up to ``limit``."""
    return list(
        OutboxEvent.objects.filter(
            channel=channel,
            status=OutboxStatus.PENDING,
            next_attempt_at__lte=timezone.now(),
        )
        .order_by("next_attempt_at", "id")
        .values_list("pk", flat=True)[:limit]
    )


# --- Replay ----------------------------------------------------------------------------------


@transaction.atomic
def outbox_event_replay(*, event: OutboxEvent, actor: Actor) -> OutboxEvent:
    """Send a dead-lettered event again from the start: a webhook for a manager of the
    partner's programme, a notification email for whoever sees it in the outbox list (a
    manager of the programme of the case it is about). The delivery log keeps the earlier
    attempts."""
    event = (
        OutboxEvent.objects.select_for_update(of=("self",))
        .select_related("partner", "endpoint")
        .get(pk=event.pk)
    )
    if event.channel == OutboxChannel.EMAIL:
        if not selectors.outbox_event_list(user=actor).filter(pk=event.pk).exists():
            raise ActionNotAllowed(
                "Only a manager of the programme the email is about can replay it."
            )
        if event.status != OutboxStatus.DEAD:
            raise DomainError(
                "Only a dead-lettered event can be replayed.", code="not_dead_lettered"
            )
    else:
        partner, endpoint = event.partner, event.endpoint
        if partner is None or endpoint is None:
            raise DomainError("Only a webhook event can be replayed here.", code="not_a_webhook")
        if not selectors.programmes_managed(user=actor).filter(pk=partner.programme_id).exists():
            raise ActionNotAllowed(
                "Only a manager of the partner's programme can replay its events."
            )
        if event.status != OutboxStatus.DEAD:
            raise DomainError(
                "Only a dead-lettered event can be replayed.", code="not_dead_lettered"
            )
        if not endpoint.is_active:
            raise DomainError(
                "The webhook endpoint was removed; register it again first.",
                code="endpoint_removed",
            )
    previous_attempts = event.attempts
    event.status = OutboxStatus.PENDING
    event.attempts = 0
    event.next_attempt_at = timezone.now()
    event.last_error = ""
    event.save(update_fields=["status", "attempts", "next_attempt_at", "last_error"])
    audit_record(
        actor=actor,
        action=AuditAction.OUTBOX_REPLAY,
        object_type="outbox_event",
        object_id=str(event.uuid),
        fields=["status", "attempts", "next_attempt_at"],
        detail={"topic": event.topic, "previous_attempts": previous_attempts},
    )
    outbox_deliver_on_commit(channel=event.channel, event_ids=[event.pk])
    return event
