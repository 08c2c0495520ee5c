"""Celery tasks: thin wrappers that take ids, bind a request id for the audit log and call a
service.

Every task here uses :class:`ReliableTask`: acknowledged only after it finished (a worker that
dies mid-task leaves the message to be delivered again), retried with exponential back-off and
jitter, and dead-lettered as a ``FailedTask`` row after its last retry. That is safe because
every task is idempotent (running it twice changes nothing twice) and takes ids only, so no
personal data sits in the broker, the result store or the logs.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, shared_task
from django.conf import settings

from cases import context
from cases.services.audit import audit_checkpoint_write, audit_verify
from cases.services.competition import competition_snapshot_take
from cases.services.identity import identity_reencrypt
from cases.services.summaries import competition_summaries_warm
from cases.services.webhooks import webhook_deliver, webhook_dispatch_due

logger = logging.getLogger(__name__)


class ReliableTask(Task):
    """The base of every task in this module (settings: the Celery section)."""

    # Acknowledge after the task ran; a pool process lost mid-task puts the message back.
    acks_late = True
    reject_on_worker_lost = True
    # Any error is retried: the tasks are idempotent, and most failures (database, broker,
    # mail server) pass. A task that still fails after the last retry is dead-lettered.
    autoretry_for = (Exception,)
    max_retries = settings.CELERY_TASK_MAX_RETRIES
    retry_backoff = settings.CELERY_TASK_RETRY_BACKOFF_SECONDS
    retry_backoff_max = settings.CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS
    retry_jitter = True
    # No trail of the tasks a task queues (``result.children``; nothing reads it): with it, a
    # job that queues an email per notification held every one's result until it ended, over
    # 100 MB at 100,000 cases (issue #12).
    trail = False

    def retry(self, *args: Any, exc: BaseException | None = None, **kwargs: Any) -> Any:
        if self.request.is_eager and exc is not None:
            # No broker (development, tests): nothing to wait for or come back later; the task
            # fails at once, raising its own error, and is dead-lettered like any other (here:
            # an eager task that propagates its error never reaches on_failure by itself).
            request = self.request
            self.on_failure(exc, request.id, request.args, request.kwargs, None)
            raise exc
        return super().retry(*args, exc=exc, **kwargs)

    def on_failure(
        self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any
    ) -> None:
        """Called once, after the last retry (a retry is not a failure): keep a dead letter."""
        from cases.services.tasks_health import failed_task_record

        # The request's id when run in place, else the task's: the audit row says where from.
        bound = context.current()
        try:
            with context.bound(request_id=bound.request_id or f"task-{task_id}", ip=bound.ip):
                failed_task_record(
                    task_name=self.name,
                    task_id=task_id,
                    args=list(args or ()),
                    kwargs=dict(kwargs or {}),
                    error=exc,
                    retries=int(self.request.retries or 0),
                )
        except Exception:  # the database may be why the task failed; the log still has it
            logger.exception("task %s[%s]: the dead letter could not be stored", self.name, task_id)


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


# --- post-release monitoring (issue #6) ----------------------------------------------------
# Thin wrappers with ids only as arguments; the services do the work in set-based statements
# and are idempotent, so a redelivered task changes nothing twice.


@shared_task(base=ReliableTask, name="cases.email_deliver")
def email_deliver_task(event_id: int) -> str:
    """Send one notification email from the outbox (queued when its notification commits)."""
    from cases.services.notifications import email_deliver

    return email_deliver(event_id=event_id).status


@shared_task(base=ReliableTask, name="cases.outbox_dispatch")
def outbox_dispatch_task() -> int:
    """Send every due outbox message, webhooks and emails alike (beat, every minute)."""
    from cases.services.notifications import email_dispatch_due

    return webhook_dispatch_due() + email_dispatch_due()


@shared_task(base=ReliableTask, name="cases.monitoring_plan")
def monitoring_plan_task() -> int:
    """Plan the monitoring contacts ahead for every case in monitoring (beat, nightly)."""
    from cases.services.monitoring import monitoring_plan_all

    with context.bound(request_id=f"task-{monitoring_plan_task.request.id or 'eager'}"):
        return monitoring_plan_all()


@shared_task(base=ReliableTask, name="cases.contacts_mark_missed")
def contacts_mark_missed_task() -> int:
    """Mark planned contacts past their date and grace days as missed, and tell each case's
    caseworker once per missed contact (beat, hourly)."""
    from cases.services.monitoring import contacts_mark_missed
    from cases.services.notifications import notify_missed_contacts

    with context.bound(request_id=f"task-{contacts_mark_missed_task.request.id or 'eager'}"):
        marked = contacts_mark_missed()
        notify_missed_contacts()
        return marked


@shared_task(base=ReliableTask, name="cases.missed_contacts_escalate")
def missed_contacts_escalate_task() -> int:
    """Tell the supervisors about contacts missed for longer than the programme allows
    (beat, hourly)."""
    from cases.services.notifications import escalate_missed_contacts

    with context.bound(request_id=f"task-{missed_contacts_escalate_task.request.id or 'eager'}"):
        return escalate_missed_contacts()


@shared_task(base=ReliableTask, name="cases.threat_contexts_flag")
def threat_contexts_flag_task() -> int:
    """Flag the cases in districts where a threat context is active, re-plan their contacts
    at the tighter cadence, and tell their caseworkers (beat, every 15 minutes; also queued
    when a threat context is entered)."""
    from cases.services.monitoring import threat_contexts_flag
    from cases.services.notifications import notify_flagged_cases

    with context.bound(request_id=f"task-{threat_contexts_flag_task.request.id or 'eager'}"):
        flagged = threat_contexts_flag()
        notify_flagged_cases()
        return flagged


@shared_task(base=ReliableTask, name="cases.retention_anonymise")
def retention_anonymise_task() -> int:
    """Erase the identity of closed cases past their programme's retention period; the
    pseudonymous statistics stay (beat, nightly)."""
    from cases.services.retention import retention_anonymise_due

    with context.bound(request_id=f"task-{retention_anonymise_task.request.id or 'eager'}"):
        return retention_anonymise_due()
