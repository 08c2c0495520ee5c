"""A worker killed in the middle of a task loses nothing: the message comes back and the task's
effect happens once. The task is the real ``cases.email_deliver`` (one notification email
through the outbox), held in the middle of its run by a row lock the test takes on the email's
outbox row, then killed with SIGKILL."""

from __future__ import annotations

import base64
import json
import os
import signal

import pytest
from django.db import connection, transaction

from cases.models import FailedTask, NotificationKind, OutboxEvent, OutboxStatus
from cases.services.notifications import NotificationSpec, notify_many

from .. import factories as f
from .conftest import (
    needs_redis_server,
    needs_shared_database,
    sent_emails,
    wait_until,
    worker_logs,
)

pytestmark = [needs_redis_server, needs_shared_database, pytest.mark.django_db(transaction=True)]

ADDRESS = "dana.rashid@example.org"


def _email_waiting_in_redis(redis_server) -> tuple[OutboxEvent, str]:
    """One notification whose email is queued (the worker is not running yet): the outbox
    row, and the id of the task message waiting in Redis."""
    user = f.UserFactory(username="dana.rashid", email=ADDRESS)
    with transaction.atomic():
        [note] = notify_many(
            [
                NotificationSpec(
                    key="reliability:probe", recipient_id=user.pk, kind=NotificationKind.TASK_FAILED
                )
            ]
        )
    event = OutboxEvent.objects.get(notification=note)
    [raw] = redis_server.queued()
    message = json.loads(raw)
    assert message["headers"]["task"] == "cases.email_deliver"
    args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    # Ids only in the broker: the outbox row's id, nothing about the person it is for.
    assert (args, kwargs) == ([event.pk], {})
    text = raw.decode()
    assert ADDRESS not in text
    assert "dana" not in text.lower()
    return event, message["headers"]["id"]


def _a_task_waits_on_the_lock() -> bool:
    with connection.cursor() as cursor:
        # Inside a transaction PostgreSQL keeps the first statistics snapshot: take a new one.
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
        )
        (waiting,) = cursor.fetchone()
    return waiting > 0


def _status(event: OutboxEvent) -> str:
    return OutboxEvent.objects.get(pk=event.pk).status


def test_a_worker_killed_mid_task_gets_it_back_after_a_restart_and_sends_once(
    celery_on_redis, redis_server, worker, mail_dir
):
    event, task_id = _email_waiting_in_redis(redis_server)
    received = f"Task cases.email_deliver[{task_id}] received"

    with transaction.atomic():
        OutboxEvent.objects.select_for_update().get(pk=event.pk)  # the task will wait here
        first = worker(pool="solo")
        wait_until(
            _a_task_waits_on_the_lock,
            timeout=20,
            what=lambda: "the task blocked mid-run on the outbox row\n" + first.log(),
        )
        assert received in first.log()
        first.kill()
        # The message is with the dead worker: out of the queue, not acknowledged.
        assert redis_server.queued() == []
        assert redis_server.unacked() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 0)
    assert sent_emails(mail_dir) == []

    second = worker(pool="solo")
    wait_until(
        lambda: _status(event) == OutboxStatus.DELIVERED,
        timeout=30,
        what=lambda: "the email delivered after the restart\n" + worker_logs([first, second]),
    )
    assert second.log().count(received) == 1  # the same message, delivered again
    [email] = sent_emails(mail_dir)
    assert ADDRESS in email
    assert f"notification-{event.uuid}@" in email

    # Acknowledged this time: the message left the unacknowledged set and its index, which
    # are all the visibility-timeout sweep restores from, so nothing can come back.
    wait_until(lambda: redis_server.restorable() == 0, timeout=10, what="the acknowledgement")
    assert second.log().count(received) == 1
    assert redis_server.queued() == []
    assert redis_server.unacked() == 0
    assert len(sent_emails(mail_dir)) == 1
    assert not FailedTask.objects.exists()


def test_a_pool_process_killed_mid_task_puts_the_message_back_at_once(
    celery_on_redis, redis_server, worker, mail_dir
):
    """task_reject_on_worker_lost: the worker itself survives; its pool process dies."""
    event, task_id = _email_waiting_in_redis(redis_server)
    received = f"Task cases.email_deliver[{task_id}] received"

    with transaction.atomic():
        OutboxEvent.objects.select_for_update().get(pk=event.pk)
        # A long visibility timeout here: only the lost process may put the message back.
        running = worker(pool="prefork", env={"CELERY_VISIBILITY_TIMEOUT_SECONDS": "60"})
        wait_until(
            _a_task_waits_on_the_lock,
            timeout=20,
            what=lambda: "the task blocked mid-run on the outbox row\n" + running.log(),
        )
        [pool_process] = running.pool_processes()
        os.kill(pool_process, signal.SIGKILL)
        wait_until(
            lambda: "WorkerLostError" in running.log(),
            timeout=20,
            what=lambda: "the worker noticing its lost process\n" + running.log(),
        )

    wait_until(
        lambda: _status(event) == OutboxStatus.DELIVERED,
        timeout=30,
        what=lambda: "the email delivered by a new pool process\n" + running.log(),
    )
    assert running.log().count(received) == 2  # rejected, requeued, received again
    assert len(sent_emails(mail_dir)) == 1
    wait_until(lambda: redis_server.unacked() == 0, timeout=10, what="the acknowledgement")
    assert not FailedTask.objects.exists()
