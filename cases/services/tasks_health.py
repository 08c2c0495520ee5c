"""Background work that loses nothing, and says how it is doing.

- Retries: :class:`ReliableTask`, the base of every task in ``cases/tasks.py``, acknowledges a
  message only once its task finished and retries a failed task with back-off.
- Dead letters: a task of ``cases/tasks.py`` that still fails after its last retry is kept as a
  :class:`~cases.models.FailedTask` row (task name, its id arguments, a short error), once per
  task id; programme managers are told in-app and see them in the admin and the API, where
  they can queue the task again. The outbox (webhooks and emails) has its own dead-letter
  status and is not repeated here.
- Health: :func:`health_report` checks the database, the cache, the broker and how long ago
  Celery beat last ran a periodic task, for ``/health/``.
- Queue status: :func:`queue_status` tells an operator how much work is waiting, for
  ``manage.py queue_status``.

Nothing here reads or reports personal data: tasks carry ids only, and the stored arguments
are checked again on the way in.
"""

from __future__ import annotations

import datetime
import logging
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from celery import Task
from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q
from django.utils import timezone

from cases import context, selectors
from cases.models import (
    AuditAction,
    FailedTask,
    Membership,
    NotificationKind,
    OutboxEvent,
    OutboxStatus,
    Role,
)
from cases.selectors import Actor
from reintegration.cache import FailOpenRedisCache, LogEvery
from reintegration.celery import app as celery_app

from .audit import audit_record
from .errors import ActionNotAllowed, DomainError
from .notifications import NotificationSpec, notify_many
from .queue import publish, registered_task

logger = logging.getLogger(__name__)

# Stored error texts are for people reading the list, not a place for whole tracebacks.
ERROR_MAX_CHARS = 500
# An argument kept as it is: an integer id, or a short token such as a case number or uuid.
_ID_LIKE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REDACTED = "[redacted]"
# Their failures are not notified by email: that email would ride the same broken road.
_NOT_NOTIFIED = frozenset({"cases.email_deliver", "cases.outbox_dispatch"})
# A probe of the broker or the cache gives up after this long: a load balancer's check must
# answer quickly even when Redis does not.
PROBE_TIMEOUT_SECONDS = 1.0


class BrokerUnavailable(DomainError):
    """The broker could not take the task; nothing was changed."""

    code = "broker_unavailable"


# --- the base of every task ----------------------------------------------------------------


class ReliableTask(Task):  # type: ignore[misc]  # Celery has no type information
    """The base of every task in ``cases/tasks.py`` (settings: the Celery section)."""

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
    # 100 MB at 100,000 cases.
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


# --- dead letters --------------------------------------------------------------------------


def _id_only(value: Any) -> Any:
    """``value`` if it is an id (an integer, a short token, or lists of them), else a marker:
    a dead letter never keeps what a task should not have carried."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _ID_LIKE.match(value):
        return value
    if isinstance(value, (list, tuple)):
        return [_id_only(item) for item in value]
    return REDACTED


def _error_text(error: BaseException | str) -> str:
    if isinstance(error, BaseException):
        message = str(error).strip()
        text = f"{type(error).__name__}: {message}" if message else type(error).__name__
    else:
        text = error
    # The first line only: a database error's DETAIL line may quote the values of a row.
    first_line = text.splitlines()[0] if text else ""
    return first_line[:ERROR_MAX_CHARS]


def _programme_manager_ids() -> list[int]:
    return list(
        Membership.objects.active()
        .filter(role=Role.PROGRAMME_MANAGER)
        .values_list("user_id", flat=True)
        .distinct()
        .order_by("user_id")
    )


def failed_task_record(
    *,
    task_name: str,
    task_id: str,
    args: list[Any],
    kwargs: dict[str, Any],
    error: BaseException | str,
    retries: int,
) -> FailedTask | None:
    """Keep the dead letter of a task that failed after its last retry, and tell the programme
    managers. Idempotent by task id: a second report of the same failure changes nothing and
    returns ``None``."""
    with transaction.atomic():
        failed, created = FailedTask.objects.get_or_create(
            task_id=task_id,
            defaults={
                "task_name": task_name[:200],
                "args": _id_only(list(args)),
                "kwargs": {str(k)[:64]: _id_only(v) for k, v in kwargs.items()},
                "error": _error_text(error),
                "retries": max(int(retries), 0),
            },
        )
        if not created:
            return None
        audit_record(
            actor=None,
            action=AuditAction.TASK_DEAD_LETTER,
            object_type="failed_task",
            object_id=str(failed.uuid),
            fields=["task_name", "args", "error", "retries"],
            detail={"task": failed.task_name, "retries": failed.retries},
        )
        if failed.task_name not in _NOT_NOTIFIED:
            notify_many(
                NotificationSpec(
                    key=f"task_failed:{failed.uuid}:{user_id}",
                    recipient_id=user_id,
                    kind=NotificationKind.TASK_FAILED,
                    detail={"task": failed.task_name, "retries": failed.retries},
                )
                for user_id in _programme_manager_ids()
            )
    logger.warning(
        "task %s[%s] dead-lettered after %s retries", failed.task_name, task_id, failed.retries
    )
    return failed


def _registered_task(name: str) -> Any:
    """One of our tasks by name (never an arbitrary one a row might name)."""
    task = registered_task(name) if name.startswith("cases.") else None
    if not isinstance(task, ReliableTask):
        raise DomainError(f"There is no task named {name!r} to queue.", code="unknown_task")
    return task


def failed_task_retry(*, failed: FailedTask, actor: Actor) -> FailedTask:
    """Queue a dead-lettered task again, with the same arguments and a new task id, for a
    programme manager. A dead letter is retried once; if the task fails again it leaves a new
    one. Raises :class:`BrokerUnavailable` (nothing changed) when the broker is down."""
    if not selectors.can_manage_failed_tasks(user=actor):
        raise ActionNotAllowed("Only a programme manager can retry a failed task.")
    with transaction.atomic():
        failed = FailedTask.objects.select_for_update().get(pk=failed.pk)
        if failed.retried_at is not None:
            raise DomainError("This failed task was already queued again.", code="already_retried")
        task = _registered_task(failed.task_name)
        args, kwargs = list(failed.args), dict(failed.kwargs)
        new_task_id = str(uuid.uuid4())
        eager = bool(task.app.conf.task_always_eager)
        if not eager:
            try:
                # No publish retries: the request answers at once when the broker is down.
                publish(task.name, args, kwargs, task_id=new_task_id)
            except Exception as exc:
                logger.warning("failed task %s: not queued again: %s", failed.uuid, exc)
                raise BrokerUnavailable(
                    "The task queue cannot be reached; nothing was queued. Try again later."
                ) from None
        failed.retried_at = timezone.now()
        failed.save(update_fields=["retried_at"])
        audit_record(
            actor=actor,
            action=AuditAction.TASK_RETRY,
            object_type="failed_task",
            object_id=str(failed.uuid),
            fields=["retried_at"],
            detail={"task": failed.task_name, "new_task_id": new_task_id},
        )
        if eager:
            # Development without a broker: run it here once committed; a failure leaves a
            # new dead letter instead of failing this request.
            transaction.on_commit(
                lambda: task.apply(args, kwargs, task_id=new_task_id, throw=False)
            )
    return failed


# --- health --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    status: str  # "ok", "down", "eager" (no broker: tasks run in the web process), "stale"
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, **self.extra}


@dataclass(frozen=True)
class HealthReport:
    status: str  # "ok", "degraded" (serving, but background work may lag), "down"
    checks: dict[str, Check]

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "checks": {name: check.as_dict() for name, check in self.checks.items()},
        }


# What a part in trouble means for what this instance serves, in the answer of ``/health/``:
# an operator (or a load balancer's log) reads why "degraded" still answers 200. What the
# cache's and the broker's say is shown with Redis stopped in tests/reliability/test_redis_down.py.
EFFECTS = {
    "database": "Nothing can be served without the database.",
    "cache": (
        "Requests are still served: API rate limits are not enforced, and a large "
        "caseload's competition summary is computed by each web process until the cache "
        "is back."
    ),
    "broker": (
        "Requests are still served: emails, webhooks and other background work wait in "
        "the outbox and are sent once the broker is back."
    ),
    "beat": (
        "Requests are still served: periodic work (the outbox dispatcher, reminders, "
        "summary refreshes) is not running on time."
    ),
}
# A probe that fails on every check is logged at most once a minute per part: load balancers
# ask every few seconds.
_probe_log = LogEvery(60.0)


def _timed(name: str, probe: Callable[[], str]) -> Check:
    started = time.monotonic()
    try:
        status = probe()
    except Exception as exc:  # a check that cannot run reports the part as down
        if _probe_log.due(name):
            logger.warning("health: %s: %s", name, _error_text(exc))
        status = "down"
    return Check(status, {"latency_ms": int((time.monotonic() - started) * 1000)})


def _with_effect(name: str, check: Check) -> Check:
    if check.status in ("down", "stale"):
        return Check(check.status, {**check.extra, "effect": EFFECTS[name]})
    return check


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            row = cursor.fetchone()
    except Exception:
        # Leave no broken connection behind for the next request.
        connection.close_if_unusable_or_obsolete()
        raise
    return "ok" if row and row[0] == 1 else "down"


def _cache() -> str:
    backend = caches["default"]
    if isinstance(backend, FailOpenRedisCache):
        # Asked now even while the cache is not asking Redis (its circuit is open), and a
        # success closes the circuit: /health/ reports Redis as it is this moment.
        return "ok" if backend.probe() else "down"
    key = f"health:{uuid.uuid4().hex}"
    cache.set(key, "1", timeout=10)
    found = cache.get(key)
    cache.delete(key)
    return "ok" if found == "1" else "down"


def broker_is_eager() -> bool:
    """True when there is no broker: tasks run in the process that queues them."""
    url = str(celery_app.conf.broker_url or "")
    return bool(celery_app.conf.task_always_eager) or url.startswith("memory://")


def _redis_client(url: str) -> Any:
    import redis

    return redis.Redis.from_url(
        url,
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
        retry_on_timeout=False,
    )


def _broker() -> str:
    if broker_is_eager():
        return "eager"
    url = str(celery_app.conf.broker_url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        client = _redis_client(url)
        try:
            return "ok" if client.ping() else "down"
        finally:
            client.close()
    with celery_app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1, timeout=PROBE_TIMEOUT_SECONDS)
    return "ok"


def beat_last_run_age(*, now: datetime.datetime | None = None) -> int | None:
    """Seconds since beat last ran any enabled periodic task (as django-celery-beat records
    it), or None if it never has."""
    from django_celery_beat.models import PeriodicTask

    last = PeriodicTask.objects.filter(enabled=True).aggregate(last=Max("last_run_at"))["last"]
    if last is None:
        return None
    return max(int(((now or timezone.now()) - last).total_seconds()), 0)


def _beat(database_up: bool) -> Check:
    if broker_is_eager():
        return Check("eager", {"last_run_age_seconds": None})
    if not database_up:
        return Check("unknown", {"last_run_age_seconds": None})
    try:
        age = beat_last_run_age()
    except Exception as exc:
        if _probe_log.due("beat"):
            logger.warning("health: beat: %s", _error_text(exc))
        return Check("unknown", {"last_run_age_seconds": None})
    stale_after = int(settings.CELERY_BEAT_STALE_AFTER_SECONDS)
    status = "ok" if age is not None and age <= stale_after else "stale"
    return Check(status, {"last_run_age_seconds": age, "stale_after_seconds": stale_after})


def health_report() -> HealthReport:
    """The state of every part the service needs. ``down`` when the database is (nothing
    works without it), ``degraded`` when another part is (pages and the API work, without
    rate limits if the cache is down; background work waits, safely, in the outbox), ``ok``
    otherwise. A part in trouble carries its ``effect`` on what is served (:data:`EFFECTS`)."""
    database = _timed("database", _database)
    checks = {
        "database": database,
        "cache": _timed("cache", _cache),
        "broker": _timed("broker", _broker),
        "beat": _beat(database.status == "ok"),
    }
    checks = {name: _with_effect(name, check) for name, check in checks.items()}
    if database.status != "ok":
        overall = "down"
    elif all(check.status in ("ok", "eager") for check in checks.values()):
        overall = "ok"
    else:
        overall = "degraded"
    return HealthReport(overall, checks)


# --- queue status --------------------------------------------------------------------------


@dataclass(frozen=True)
class QueueStatus:
    broker: str  # "eager", "ok" or "down"
    queue: str
    queued: int | None  # messages waiting in the broker's queue
    unacknowledged: int | None  # handed to a worker, not yet finished
    outbox_pending: int
    outbox_oldest_pending_age_seconds: int | None
    outbox_dead: int
    failed_tasks: int
    failed_tasks_not_retried: int


def _priority_queue_keys(queue: str) -> list[str]:
    """Kombu's Redis transport keeps one list per priority step (0, 3, 6, 9)."""
    return [queue, *(f"{queue}\x06\x16{step}" for step in (3, 6, 9))]


def _broker_depth(queue: str) -> tuple[str, int | None, int | None]:
    if broker_is_eager():
        return "eager", None, None
    url = str(celery_app.conf.broker_url)
    if not url.startswith(("redis://", "rediss://", "unix://")):
        return "ok", None, None
    client = _redis_client(url)
    try:
        pipe = client.pipeline()
        for key in _priority_queue_keys(queue):
            pipe.llen(key)
        pipe.hlen("unacked")
        *lengths, unacked = pipe.execute()
    except Exception as exc:
        logger.warning("queue status: %s", _error_text(exc))
        return "down", None, None
    finally:
        client.close()
    return "ok", int(sum(lengths)), int(unacked)


def queue_status(*, now: datetime.datetime | None = None) -> QueueStatus:
    """What is waiting: in the broker, in the outbox, and as dead letters. A handful of
    queries whatever the counts."""
    now = now or timezone.now()
    queue = str(celery_app.conf.task_default_queue or "celery")
    broker, queued, unacked = _broker_depth(queue)
    outbox = OutboxEvent.objects.aggregate(
        pending=Count("id", filter=Q(status=OutboxStatus.PENDING)),
        oldest=Min("created_at", filter=Q(status=OutboxStatus.PENDING)),
        dead=Count("id", filter=Q(status=OutboxStatus.DEAD)),
    )
    failed = FailedTask.objects.aggregate(
        total=Count("id"), open=Count("id", filter=Q(retried_at__isnull=True))
    )
    oldest = outbox["oldest"]
    return QueueStatus(
        broker=broker,
        queue=queue,
        queued=queued,
        unacknowledged=unacked,
        outbox_pending=outbox["pending"],
        outbox_oldest_pending_age_seconds=(
            max(int((now - oldest).total_seconds()), 0) if oldest is not None else None
        ),
        outbox_dead=outbox["dead"],
        failed_tasks=failed["total"],
        failed_tasks_not_retried=failed["open"],
    )
