"""Celery tasks: thin wrappers that take ids, bind a request id for the audit log and call a
service."""

from __future__ import annotations

from celery import shared_task

from cases import context
from cases.services.audit import audit_verify
from cases.services.competition import competition_snapshot_take
from cases.services.identity import identity_reencrypt
from cases.services.webhooks import webhook_deliver, webhook_dispatch_due


@shared_task(name="cases.identity_reencrypt")
def identity_reencrypt_task() -> int:
    """Re-encrypt identity fields under the newest key, off the request path."""
    with context.bound(request_id=f"task-{identity_reencrypt_task.request.id or 'eager'}"):
        return identity_reencrypt(actor=None)


@shared_task(name="cases.audit_verify")
def audit_verify_task() -> dict[str, object]:
    """Check the audit chain (scheduled nightly by beat); the result names the first break."""
    report = audit_verify()
    return {"checked": report.checked, "first_broken_id": report.first_broken_id}


# acks_late: a worker that dies mid-delivery leaves the message to be redelivered; the
# event's lease and its idempotency key keep that from reaching the partner twice unnoticed.
@shared_task(name="cases.webhook_deliver", acks_late=True)
def webhook_deliver_task(event_id: int) -> str:
    """Send one outbox event (queued when the change that wrote it commits)."""
    return webhook_deliver(event_id=event_id).status


@shared_task(name="cases.webhook_dispatch", acks_late=True)
def webhook_dispatch_task() -> int:
    """Send every due outbox event (beat, every minute): retries, and events whose queueing
    failed because the broker was down."""
    return webhook_dispatch_due()


@shared_task(name="cases.competition_snapshot")
def competition_snapshot_task() -> int:
    """Store today's per-team competition summary (scheduled nightly by beat)."""
    with context.bound(request_id=f"task-{competition_snapshot_task.request.id or 'eager'}"):
        return competition_snapshot_take()
