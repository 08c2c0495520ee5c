"""The worker's memory backstop (issue #12): a pool process whose resident memory passed
``CELERY_WORKER_MAX_MEMORY_PER_CHILD`` kilobytes is replaced once its task is done.

The fix itself is elsewhere: the whole-caseload jobs stream and batch their work
(``tests/test_competition_streaming.py``, ``tests/services/test_job_batches.py``) and ``make
bench`` reports every worker process's memory at 100,000 cases. This shows only that the
backstop is on by default and reaches a real worker."""

from __future__ import annotations

from celery._state import _task_stack
from django.conf import settings

from cases.tasks import contacts_mark_missed_task, email_deliver_task
from reintegration.celery import app

from .conftest import celery_app_on, needs_redis_server, needs_shared_database, wait_until


def test_the_backstop_is_on_by_default_at_200_mb():
    assert settings.CELERY_WORKER_MAX_MEMORY_PER_CHILD == 200_000
    assert app.conf.worker_max_memory_per_child == 200_000


@needs_redis_server
@needs_shared_database
def test_a_real_worker_runs_with_the_backstop(worker, celery_on_redis):
    running = worker(pool="prefork")
    replies = wait_until(
        lambda: celery_on_redis.control.inspect(timeout=2).conf(),
        timeout=30,
        what=lambda: f"the worker's answer; its log:\n{running.log()[-3000:]}",
    )
    (conf,) = replies.values()
    assert conf["CELERY_WORKER_MAX_MEMORY_PER_CHILD"] == 200_000  # the worker's own settings


def test_a_job_that_queues_tasks_keeps_no_trail_of_them():
    """A task that queues others (the missed-contact job queues an email per notification)
    would keep each queued task's result in its request until it ends: 130,000 of them at
    100,000 cases."""
    job = contacts_mark_missed_task
    job.push_request(id="the-job", called_directly=False)
    _task_stack.push(job)
    try:
        with celery_app_on("memory://"):
            for event_id in range(3):
                email_deliver_task.apply_async((event_id,), retry=False)
        assert job.request.children == []
    finally:
        _task_stack.pop()
        job.pop_request()
