"""The outbox's email channel: one email per notification, written in the transaction that
creates the notification and sent by Celery with the outbox's claim, lease, back-off and dead
letter, so a mail server or broker that is down delays an email but never loses it.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.utils import DNS_NAME
from django.utils import timezone, translation

from cases.models import Notification, OutboxChannel, OutboxEvent, OutboxStatus

from ..notification_text import notification_email
from .core import (
    ERROR_MAX_CHARS,
    AttemptOutcome,
    error_summary,
    outbox_claim,
    outbox_deliver_on_commit,
    outbox_due_ids,
    outbox_lease,
    outbox_record_attempt,
)

logger = logging.getLogger(__name__)


def notification_emails_enqueue(notifications: Sequence[Notification]) -> None:
    """An email for each of ``notifications`` (new ones, in the caller's transaction; one per
    notification, by constraint), sent once the transaction commits."""
    now = timezone.now()
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                channel=OutboxChannel.EMAIL,
                topic=f"notification.{note.kind}",
                notification=note,
                payload={"notification": str(note.uuid)},
                next_attempt_at=now,
            )
            for note in notifications
        ],
        ignore_conflicts=True,  # one email per notification (constraint)
    )
    emails = list(
        OutboxEvent.objects.filter(
            channel=OutboxChannel.EMAIL, notification__in=notifications, status="pending"
        ).values_list("pk", flat=True)
    )
    outbox_deliver_on_commit(channel=OutboxChannel.EMAIL, event_ids=emails)


# --- sending ---------------------------------------------------------------------------------

# A dispatch run stops after this many failures in a row: the mail server is down, and the
# rest wait for the next run instead of each waiting out a timeout now.
_STOP_AFTER_FAILURES = 5
NOT_SENT_NO_ADDRESS = "Not emailed: the recipient has no email address (shown in the app only)."
NOT_SENT_INACTIVE = "Not emailed: the recipient's account is disabled (shown in the app only)."


def _send_timeout() -> float:
    # Django's EMAIL_TIMEOUT defaults to none at all, which would let one stuck connection
    # outlive the lease; the outbox always bounds it.
    return float(getattr(settings, "EMAIL_TIMEOUT", None) or settings.WEBHOOK_TIMEOUT_SECONDS)


def _email_lease() -> datetime.timedelta:
    return outbox_lease(send_timeout=_send_timeout())


def recipient_language(user_id: int) -> str:
    """The language the recipient's emails are written in. Accounts keep no language of
    their own yet, so it is the site's (``LANGUAGE_CODE``)."""
    return str(settings.LANGUAGE_CODE)


@dataclass(frozen=True)
class _EmailClaim:
    event_id: int
    event_uuid: str
    to: str
    subject: str
    body: str


def _email_claim(event: OutboxEvent) -> _EmailClaim | None:
    """What to send, read at send time (the recipient's address now, not when notified). An
    email nobody can receive is settled here, delivered with a note: the notification is in
    the recipient's list all the same, and retrying would not change that."""
    note = event.notification
    if event.channel != OutboxChannel.EMAIL or note is None:
        return None  # not an email: left as it is
    recipient = note.recipient
    reason = ""
    if not recipient.is_active:
        reason = NOT_SENT_INACTIVE
    elif not recipient.email:
        reason = NOT_SENT_NO_ADDRESS
    if reason:
        event.status = OutboxStatus.DELIVERED
        event.delivered_at = timezone.now()
        event.last_error = reason
        event.save(update_fields=["status", "delivered_at", "last_error"])
        logger.info("outbox event %s settled without an email: %s", event.uuid, reason)
        return None
    with translation.override(recipient_language(recipient.pk)):
        text = notification_email(note)
    return _EmailClaim(
        event_id=event.pk,
        event_uuid=str(event.uuid),
        to=recipient.email,
        subject=text.subject,
        body=text.body,
    )


def _send(claim: _EmailClaim, backend: BaseEmailBackend) -> AttemptOutcome:
    """One attempt through Django's email backend. Every failure comes back as an outcome,
    never as an exception."""
    started = time.monotonic()

    def outcome(ok: bool, error: str, *, timed_out: bool = False) -> AttemptOutcome:
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(
            ok=ok,
            error=error[:ERROR_MAX_CHARS],
            duration_ms=duration_ms,
            timed_out=timed_out,
        )

    message = EmailMessage(
        subject=claim.subject,
        body=claim.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[claim.to],
        connection=backend,
        # The same id on a re-send after a lost lease, so a mail system can drop the copy.
        headers={"Message-ID": f"<notification-{claim.event_uuid}@{DNS_NAME}>"},
    )
    try:
        sent = message.send()
    except TimeoutError as exc:  # socket.timeout: the mail server stopped answering
        return outcome(False, error_summary(exc), timed_out=True)
    except Exception as exc:  # any failure to send is a failed attempt; the task goes on
        return outcome(False, error_summary(exc))
    if not sent:
        return outcome(False, "The email backend accepted nothing.")
    return outcome(True, "")


def _deliver(event_id: int, backend: BaseEmailBackend) -> tuple[OutboxEvent, AttemptOutcome | None]:
    event, claim = outbox_claim(
        event_id,
        lease=_email_lease(),
        prepare=_email_claim,
        related=("notification__recipient",),
    )
    if claim is None:
        return event, None
    outcome = _send(claim.message, backend)
    return outbox_record_attempt(attempt_id=claim.attempt_id, outcome=outcome), outcome


def _backend() -> BaseEmailBackend:
    return get_connection(timeout=_send_timeout())


def email_deliver(*, event_id: int) -> OutboxEvent:
    """Send one notification email if it is pending and due; anything else is left as it is.
    Not atomic on purpose: the send runs between two short transactions, under a lease, so
    a redelivered task or a racing dispatcher finds the email claimed or sent, never sends
    it again."""
    event, _outcome = _deliver(event_id, _backend())
    return event


def email_dispatch_due(*, limit: int = 500) -> int:
    """Send every pending notification email that is due, oldest first, up to ``limit``;
    return how many were attempted. Beat runs this every minute: retries, and emails whose
    queueing failed because the broker was down."""
    due_ids = outbox_due_ids(channel=OutboxChannel.EMAIL, limit=limit)
    if not due_ids:
        return 0
    backend = _backend()
    attempted = failures = 0
    # One connection for the run when the server takes it; otherwise each send opens its own
    # and fails on its own, with back-off.
    with contextlib.suppress(Exception):
        backend.open()
    try:
        for event_id in due_ids:
            try:
                _event, outcome = _deliver(event_id, backend)
            except OutboxEvent.DoesNotExist:  # deleted with its notification since the query
                continue
            if outcome is None:
                continue
            attempted += 1
            if outcome.ok:
                failures = 0
                continue
            failures += 1
            if failures >= _STOP_AFTER_FAILURES:
                logger.warning("email dispatch stopped after %s failures in a row", failures)
                break
            with contextlib.suppress(Exception):
                backend.close()  # a broken connection must not fail the next email too
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    return attempted
