"""Redis goes down (and comes back empty, as a broker without persistence does): contacts and
incidents recorded through the API meanwhile still succeed, and every notification they caused
is emailed exactly once when Redis is back — the outbox in the database keeps what the broker
lost, and the dispatcher (beat's every-minute task, queued here by the test) sends it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import redis.connection
from celery.signals import before_task_publish
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import (
    Notification,
    NotificationKind,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
    Stage,
)
from cases.tasks import outbox_dispatch_task

from ..web.conftest import verified_client
from .conftest import (
    needs_redis_server,
    needs_shared_database,
    sent_emails,
    wait_until,
)

pytestmark = [needs_redis_server, needs_shared_database, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def published() -> Iterator[list[str]]:
    """The name of every task message a publisher tried to send (Celery's own signal)."""
    names: list[str] = []

    def record(sender=None, **_kwargs) -> None:
        names.append(sender)

    before_task_publish.connect(record, weak=False)
    yield names
    before_task_publish.disconnect(record)


@pytest.fixture
def broker_connects(monkeypatch, redis_server) -> list[int]:
    """Every TCP connection attempt to the test's Redis, counted at the socket (the real
    connect still runs): a request that retried a dead broker would show it here."""
    attempts: list[int] = []
    real_connect = redis.connection.Connection._connect

    def counted(self):
        if self.port == redis_server.port:
            attempts.append(self.port)
        return real_connect(self)

    monkeypatch.setattr(redis.connection.Connection, "_connect", counted)
    return attempts


def _emails() -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(channel=OutboxChannel.EMAIL).select_related(
            "notification__recipient"
        )
    )


def _notification(email: OutboxEvent) -> Notification:
    """The notification an email tells of (every email in the outbox has one)."""
    assert email.notification is not None
    return email.notification


def test_records_made_while_redis_is_down_notify_everyone_once_when_it_is_back(
    celery_on_redis, redis_server, worker, mail_dir, world, make_case, broker_connects, published
):
    for user in (world.alice, world.bob, world.carol, world.mona, world.audrey):
        user.email = f"{user.username}@example.org"
        user.save(update_fields=["email"])
    case = make_case(Stage.MONITORING)  # alice's, team A: carol supervises it
    running = worker(pool="solo")
    api = verified_client(world.alice, APIClient())
    today = timezone.localdate().isoformat()

    redis_server.stop()
    bodies = [
        ("contacts", {"planned_date": today}),
        ("incidents", {"kind": "threat_received", "occurred_on": today, "severity": "high"}),
        ("contacts", {"planned_date": today}),
        ("incidents", {"kind": "recruiter_contact", "occurred_on": today, "severity": "medium"}),
    ]
    for name, body in bodies:
        broker_connects.clear()
        published.clear()
        response = api.post(f"/api/v1/cases/{case.case_number}/{name}/", body, format="json")
        assert response.status_code == 201, response.content
        # A request must not wait on the broker: each message it queued after its commit
        # tried the dead broker once and gave up (refused at once), never retried.
        assert len(broker_connects) == len(published), (name, published, broker_connects)
    assert published, "the incidents queued their emails"

    emails = _emails()
    incident_notes = [
        e for e in emails if _notification(e).kind == NotificationKind.INCIDENT_RECORDED
    ]
    # The team's supervisor (carol), once per incident, at least.
    assert len(incident_notes) >= 2
    assert [_notification(e).recipient.username for e in incident_notes].count("carol") == 2
    # Nothing went out, nothing was even attempted: the broker could not take the tasks.
    assert all((e.status, e.attempts) == (OutboxStatus.PENDING, 0) for e in emails)
    assert sent_emails(mail_dir) == []

    redis_server.start()  # empty: whatever was queued before is gone
    assert redis_server.queued() == []
    dispatch = outbox_dispatch_task.apply_async()
    wait_until(
        lambda: (
            not OutboxEvent.objects.filter(
                channel=OutboxChannel.EMAIL, status=OutboxStatus.PENDING
            ).exists()
        ),
        timeout=45,
        what=lambda: "every pending email sent once Redis is back\n" + running.log()[-4000:],
    )
    # The emails can be sent (by the delivery tasks it queued) before the dispatcher's own
    # "succeeded" line reaches the log: wait for the line rather than read it once.
    wait_until(
        lambda: f"Task cases.outbox_dispatch[{dispatch.id}] succeeded" in running.log(),
        timeout=45,
        what=lambda: "the dispatcher finished\n" + running.log()[-4000:],
    )

    def sent_once() -> None:
        messages = sent_emails(mail_dir)
        ids = [m for text in messages for m in re.findall(r"notification-([0-9a-f-]{36})@", text)]
        assert sorted(ids) == sorted(str(e.uuid) for e in emails), "each email exactly once"
        for event in emails:
            [message] = [m for m in messages if f"notification-{event.uuid}@" in m]
            assert _notification(event).recipient.email in message

    sent_once()
    assert all(e.status == OutboxStatus.DELIVERED for e in _emails())

    # The dispatcher again (beat runs it every minute): nothing is sent twice.
    again = outbox_dispatch_task.apply_async()
    wait_until(
        lambda: f"Task cases.outbox_dispatch[{again.id}] succeeded" in running.log(),
        timeout=20,
        what=lambda: "the second dispatch\n" + running.log()[-3000:],
    )
    sent_once()
