"""The transactional outbox: events for partners (:mod:`.webhooks`) and emails to staff
(:mod:`.emails`) are written in the same transaction as the change they report, then delivered
by Celery. If the broker or the receiver is down, the row waits; the dispatcher on Celery beat
sends it later. What the channels share, claiming, attempts, back-off, dead letters and
replay, is in :mod:`.core`.
"""

from .core import (
    ABANDONED_ERROR,
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    ERROR_MAX_CHARS,
    LATE_NOTE,
    AttemptOutcome,
    Claim,
    error_summary,
    outbox_claim,
    outbox_deliver_on_commit,
    outbox_due_ids,
    outbox_event_replay,
    outbox_lease,
    outbox_record_attempt,
    webhook_backoff,
)
from .emails import (
    NOT_SENT_INACTIVE,
    NOT_SENT_NO_ADDRESS,
    email_deliver,
    email_dispatch_due,
    notification_emails_enqueue,
    recipient_language,
)
from .webhooks import (
    SIGNATURE_TOLERANCE_SECONDS,
    USER_AGENT,
    outbox_enqueue,
    webhook_deliver,
    webhook_dispatch_due,
    webhook_endpoint_register,
    webhook_endpoint_remove,
    webhook_sign,
    webhook_url_check,
    webhook_verify,
)

__all__ = [
    "ABANDONED_ERROR",
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_CAP_SECONDS",
    "ERROR_MAX_CHARS",
    "LATE_NOTE",
    "NOT_SENT_INACTIVE",
    "NOT_SENT_NO_ADDRESS",
    "SIGNATURE_TOLERANCE_SECONDS",
    "USER_AGENT",
    "AttemptOutcome",
    "Claim",
    "email_deliver",
    "email_dispatch_due",
    "error_summary",
    "notification_emails_enqueue",
    "outbox_claim",
    "outbox_deliver_on_commit",
    "outbox_due_ids",
    "outbox_enqueue",
    "outbox_event_replay",
    "outbox_lease",
    "outbox_record_attempt",
    "recipient_language",
    "webhook_backoff",
    "webhook_deliver",
    "webhook_dispatch_due",
    "webhook_endpoint_register",
    "webhook_endpoint_remove",
    "webhook_sign",
    "webhook_url_check",
    "webhook_verify",
]
