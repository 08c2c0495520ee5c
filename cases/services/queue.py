"""Queueing Celery work from a service: by the task's registered name, after the transaction
commits, and without a broker that is down failing or holding up the change.

Services name a task (``"cases.webhook_deliver"``) instead of importing ``cases.tasks``: the
tasks import the services, never the other way round. The task is taken from the Celery app's
registry, so it runs in place where the app is eager (development without a broker, tests).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction

from reintegration.celery import app

logger = logging.getLogger(__name__)


def registered_task(name: str) -> Any:
    """The task registered as ``name``, or None. A web process imports no task module of its
    own: the first lookup of a name not registered yet loads them, as a worker does."""
    if name not in app.tasks:
        app.autodiscover_tasks(force=True)
    return app.tasks.get(name)


def _task(name: str) -> Any:
    task = registered_task(name)
    if task is None:
        raise LookupError(f"There is no task registered as {name!r}.")
    return task


def publish(
    task_name: str,
    args: Sequence[Any] = (),
    kwargs: dict[str, Any] | None = None,
    *,
    task_id: str | None = None,
) -> None:
    """Hand one task to the broker now; raises when the broker cannot take it. No publish
    retries: a request must not wait on a broker that is down."""
    options: dict[str, Any] = {"retry": False}
    if task_id is not None:
        options["task_id"] = task_id
    _task(task_name).apply_async(args, kwargs, **options)


def enqueue_each_on_commit(task_name: str, calls: Iterable[Sequence[Any]], *, unsent: str) -> None:
    """Once the surrounding transaction commits, publish ``task_name`` once per argument list
    in ``calls``, in order. A broker that fails stops the rest (down or hanging, it would only
    keep each of them waiting in turn); each message that did not go is logged with ``unsent``
    (``%s``-formatted with its arguments) and waits for the periodic job that picks it up."""
    task = _task(task_name)  # an unknown name fails the change, not a commit that happened
    pending = [tuple(args) for args in calls]
    if pending:
        transaction.on_commit(lambda: _publish_all(task, pending, unsent))


def enqueue_on_commit(task_name: str, *args: Any, unsent: str) -> None:
    """:func:`enqueue_each_on_commit` for one task."""
    enqueue_each_on_commit(task_name, [args], unsent=unsent)


def _publish_all(task: Any, pending: list[tuple[Any, ...]], unsent: str) -> None:
    for args in pending:
        try:
            task.apply_async(args, retry=False)
        except Exception:  # the periodic job sends whatever did not go now
            logger.warning(unsent, *args)
            return
