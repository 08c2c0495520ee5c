"""Celery tasks: thin wrappers that take ids, bind a request id for the audit log and call a
service. Services queue them by name (``cases.services.queue``) and never import this module.

Every task here uses :class:`~cases.services.tasks_health.ReliableTask`: acknowledged only after
it finished (a worker that dies mid-task leaves the message to be delivered again), retried with
exponential back-off and jitter, and dead-lettered as a ``FailedTask`` row after its last
retry. That is safe because every task is idempotent (running it twice changes nothing twice)
and takes ids only, so no personal data sits in the broker, the result store or the logs.
"""

from __future__ import annotations

from celery import shared_task

from cases import context
from cases.competition.cached import competition_summaries_warm
from cases.services.audit import audit_checkpoint_write, audit_verify
from cases.services.competition import competition_snapshot_take
from cases.services.identity import identity_reencrypt
from cases.services.monitoring import (
    contacts_mark_missed,
    monitoring_plan_all,
    threat_contexts_flag,
)
from cases.services.notifications import (
    escalate_missed_contacts,
    notify_flagged_cases,
    notify_missed_contacts,
)
from cases.services.outbox import (
    email_deliver,
    email_dispatch_due,
    webhook_deliver,
    webhook_dispatch_due,
)
from cases.services.retention import retention_anonymise_due
from cases.services.tasks_health import ReliableTask


@shared_task(base=ReliableTask, name="cases.identity_reencrypt")
def identity_reencrypt_task() -> int:
    """Re-encrypt identity fields under the newest key, off the request path."""
    with context.bound(request_id=f"task-{identity_reencrypt_task.request.id or 'eager'}"):
        return identity_reencrypt(actor=None)


@shared_task(base=ReliableTask, name="cases.audit_verify")
def audit_verify_task() -> dict[str, object]:
    """Check the whole audit chain against every checkpoint (beat, nightly) and sign a new
    checkpoint if it verifies; the result names each problem found."""
    return audit_checkpoint_write(report=audit_verify()).as_dict()


@shared_task(base=ReliableTask, name="cases.audit_checkpoint")
def audit_checkpoint_task() -> dict[str, object]:
    """Check the events since the latest checkpoint and sign a new one, kept outside the
    database (beat, every AUDIT_CHECKPOINT_SECONDS)."""
    return audit_checkpoint_write().as_dict()


# A worker that dies mid-delivery leaves the message to be redelivered; the event's lease and
# its idempotency key keep that from reaching the partner twice unnoticed.
@shared_task(base=ReliableTask, name="cases.webhook_deliver")
def webhook_deliver_task(event_id: int) -> str:
    """Send one outbox event (queued when the change that wrote it commits)."""
    return webhook_deliver(event_id=event_id).status


@shared_task(base=ReliableTask, name="cases.webhook_dispatch")
def webhook_dispatch_task() -> int:
    """Send every due outbox event (beat, every minute): retries, and events whose queueing
    failed because the broker was down."""
    return webhook_dispatch_due()


@shared_task(base=ReliableTask, name="cases.competition_snapshot")
def competition_snapshot_task() -> int:
    """Store today's per-team competition summary (scheduled nightly by beat)."""
    with context.bound(request_id=f"task-{competition_snapshot_task.request.id or 'eager'}"):
        return competition_snapshot_take()


@shared_task(base=ReliableTask, name="cases.competition_summaries_warm")
def competition_summaries_warm_task() -> int:
    """Refresh the cached competition summaries of large caseloads (beat, every few minutes)."""
    with context.bound(request_id=f"task-{competition_summaries_warm_task.request.id or 'eager'}"):
        return competition_summaries_warm()


# --- the outbox and post-release monitoring ---------------------------------------------------
# Thin wrappers with ids only as arguments; the services do the work in set-based statements
# and are idempotent, so a redelivered task changes nothing twice.


@shared_task(base=ReliableTask, name="cases.email_deliver")
def email_deliver_task(event_id: int) -> str:
    """Send one notification email from the outbox (queued when its notification commits)."""
    return email_deliver(event_id=event_id).status


@shared_task(base=ReliableTask, name="cases.outbox_dispatch")
def outbox_dispatch_task() -> int:
    """Send every due outbox message, webhooks and emails alike (beat, every minute)."""
    return webhook_dispatch_due() + email_dispatch_due()


@shared_task(base=ReliableTask, name="cases.monitoring_plan")
def monitoring_plan_task() -> int:
    """Plan the monitoring contacts ahead for every case in monitoring (beat, nightly)."""
    with context.bound(request_id=f"task-{monitoring_plan_task.request.id or 'eager'}"):
        return monitoring_plan_all()


@shared_task(base=ReliableTask, name="cases.contacts_mark_missed")
def contacts_mark_missed_task() -> int:
    """Mark planned contacts past their date and grace days as missed, and tell each case's
    caseworker once per missed contact (beat, hourly)."""
    with context.bound(request_id=f"task-{contacts_mark_missed_task.request.id or 'eager'}"):
        marked = contacts_mark_missed()
        notify_missed_contacts()
        return marked


@shared_task(base=ReliableTask, name="cases.missed_contacts_escalate")
def missed_contacts_escalate_task() -> int:
    """Tell the supervisors about contacts missed for longer than the programme allows
    (beat, hourly)."""
    with context.bound(request_id=f"task-{missed_contacts_escalate_task.request.id or 'eager'}"):
        return escalate_missed_contacts()


@shared_task(base=ReliableTask, name="cases.threat_contexts_flag")
def threat_contexts_flag_task() -> int:
    """Flag the cases in districts where a threat context is active, re-plan their contacts
    at the tighter cadence, and tell their caseworkers (beat, every 15 minutes; also queued
    when a threat context is entered)."""
    with context.bound(request_id=f"task-{threat_contexts_flag_task.request.id or 'eager'}"):
        flagged = threat_contexts_flag()
        notify_flagged_cases()
        return flagged


@shared_task(base=ReliableTask, name="cases.retention_anonymise")
def retention_anonymise_task() -> int:
    """Erase the identity of closed cases past their programme's retention period; the
    pseudonymous statistics stay (beat, nightly)."""
    with context.bound(request_id=f"task-{retention_anonymise_task.request.id or 'eager'}"):
        return retention_anonymise_due()
