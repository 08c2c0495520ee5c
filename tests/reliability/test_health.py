"""``/health/`` for load balancers, and ``manage.py queue_status`` for operators."""

from __future__ import annotations

import datetime
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import OperationalError, connections
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from cases.models import FailedTask, NotificationKind, OutboxEvent, OutboxStatus
from cases.services import tasks_health
from cases.tasks import outbox_dispatch_task

from .. import factories as f
from .conftest import celery_app_on, free_port, needs_redis_server
from .test_redis_down import production_caches

pytestmark = pytest.mark.django_db

CHECKS = {"database", "cache", "broker", "beat"}


def _health(client):
    response = client.get("/health/")
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "no-store"
    return response, response.json()


def _beat_ran(seconds_ago: float, *, enabled: bool = True, name: str = "outbox-dispatch"):
    every = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)[0]
    return PeriodicTask.objects.create(
        name=name,
        task="cases.outbox_dispatch",
        interval=every,
        enabled=enabled,
        last_run_at=timezone.now() - datetime.timedelta(seconds=seconds_ago),
    )


def test_without_a_broker_everything_is_ok_and_nobody_signs_in(client, celery_eager):
    response, body = _health(client)
    assert response.status_code == 200
    assert body["status"] == "ok"
    assert set(body["checks"]) == CHECKS
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["cache"]["status"] == "ok"
    assert body["checks"]["broker"]["status"] == "eager"
    assert body["checks"]["beat"] == {"status": "eager", "last_run_age_seconds": None}
    assert client.head("/health/").status_code == 200
    assert client.post("/health/").status_code == 405


@needs_redis_server
def test_with_redis_up_and_beat_running_it_is_ok(client, celery_on_redis):
    _beat_ran(30)
    _beat_ran(3 * 3600, name="nightly")  # the most recent run counts
    _beat_ran(5, enabled=False, name="switched-off")  # a disabled task does not
    response, body = _health(client)
    assert response.status_code == 200
    assert body["status"] == "ok", body
    assert body["checks"]["broker"]["status"] == "ok"
    beat = body["checks"]["beat"]
    assert beat["status"] == "ok"
    assert 30 <= beat["last_run_age_seconds"] < 90


@needs_redis_server
def test_beat_not_running_for_too_long_is_degraded(client, celery_on_redis, settings):
    settings.CELERY_BEAT_STALE_AFTER_SECONDS = 600
    _beat_ran(601)
    response, body = _health(client)
    assert response.status_code == 200
    assert body["status"] == "degraded"
    assert body["checks"]["beat"]["status"] == "stale"
    assert body["checks"]["beat"]["last_run_age_seconds"] >= 601


@needs_redis_server
def test_beat_that_never_ran_is_degraded(client, celery_on_redis):
    _response, body = _health(client)
    assert body["status"] == "degraded"
    assert body["checks"]["beat"] == {
        "status": "stale",
        "last_run_age_seconds": None,
        "stale_after_seconds": 15 * 60,
        "effect": tasks_health.EFFECTS["beat"],
    }


def test_broker_down_is_degraded_and_answers_quickly(client, celery_broker_down):
    _beat_ran(10)
    response, body = _health(client)
    assert response.status_code == 200  # still serving: what it queues waits in the outbox
    assert body["status"] == "degraded"
    assert body["checks"]["broker"]["status"] == "down"
    assert body["checks"]["broker"]["latency_ms"] < 2000
    assert "wait in the outbox" in body["checks"]["broker"]["effect"]
    assert "effect" not in body["checks"]["database"]


@needs_redis_server
def test_cache_down_is_degraded_and_says_requests_are_served_without_rate_limits(
    client, celery_eager, redis_server, settings, monkeypatch
):
    settings.CACHES = production_caches(monkeypatch, redis_server.url)
    assert _status_only(body_of(client)["checks"]["cache"]) == "ok"
    redis_server.stop()
    response, body = _health(client)
    assert response.status_code == 200  # tests/reliability/test_redis_down.py: it serves
    assert body["status"] == "degraded"
    cache_check = body["checks"]["cache"]
    assert cache_check["status"] == "down"
    assert cache_check["effect"].startswith("Requests are still served")
    assert "rate limits are not enforced" in cache_check["effect"]
    assert _status_only(body["checks"]["database"]) == "ok"
    assert body["checks"]["broker"]["status"] == "eager"


def body_of(client):
    return _health(client)[1]


def _status_only(check):
    """The status of a check that carries nothing else but its latency (no ``effect``)."""
    assert set(check) == {"status", "latency_ms"}, check
    return check["status"]


def test_database_down_is_503(client, celery_on_down_database):
    response, body = _health(client)
    assert response.status_code == 503
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "down"
    assert body["checks"]["database"]["effect"] == "Nothing can be served without the database."
    assert body["checks"]["beat"]["status"] in ("eager", "unknown")


@pytest.fixture
def celery_on_down_database(celery_eager, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(connections["default"], "cursor", refuse)


def test_the_answer_carries_no_error_text_nor_address(client, celery_broker_down):
    response, _body = _health(client)
    text = response.content.decode()
    assert "127.0.0.1" not in text
    assert "redis://" not in text
    assert "Error" not in text


# --- queue_status ---------------------------------------------------------------------------


def _pending_email(*, minutes_ago: int, status: str = OutboxStatus.PENDING) -> OutboxEvent:
    from cases.models import Notification

    note = Notification.objects.create(
        key=f"probe:{minutes_ago}:{status}",
        recipient=f.UserFactory(),
        kind=NotificationKind.TASK_FAILED,
    )
    event = OutboxEvent.objects.create(
        channel="email",
        topic="notification.task_failed",
        notification=note,
        payload={},
        status=status,
        next_attempt_at=timezone.now(),
    )
    created = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=created)
    return event


def _queue_status(*args: str) -> str:
    out = StringIO()
    call_command("queue_status", *args, stdout=out)
    return out.getvalue()


def test_queue_status_without_a_broker(celery_eager):
    _pending_email(minutes_ago=5)
    _pending_email(minutes_ago=125)
    _pending_email(minutes_ago=1, status=OutboxStatus.DEAD)
    FailedTask.objects.create(task_name="cases.monitoring_plan", task_id="t-1", error="E")
    FailedTask.objects.create(
        task_name="cases.monitoring_plan", task_id="t-2", error="E", retried_at=timezone.now()
    )
    text = _queue_status()
    assert "Broker:          eager" in text
    assert "Outbox pending:  2 (oldest: 2h 05m" in text
    assert "Outbox dead:     1" in text
    assert "Failed tasks:    2 (1 not retried)" in text
    data = json.loads(_queue_status("--json"))
    assert data["broker"] == "eager"
    assert data["queued"] is None
    assert data["outbox_pending"] == 2
    assert data["outbox_dead"] == 1
    assert 125 * 60 <= data["outbox_oldest_pending_age_seconds"] < 126 * 60
    assert (data["failed_tasks"], data["failed_tasks_not_retried"]) == (2, 1)


def test_queue_status_with_nothing_pending(celery_eager):
    assert "Outbox pending:  0 (oldest: none pending)" in _queue_status()


@needs_redis_server
def test_queue_status_reads_the_depth_of_the_redis_queue(celery_on_redis, redis_server):
    for _ in range(3):
        outbox_dispatch_task.apply_async()  # nobody consumes them
    assert len(redis_server.queued()) == 3
    text = _queue_status()
    assert "Broker:          3 waiting in queue 'celery', 0 being worked on" in text
    assert json.loads(_queue_status("--json"))["queued"] == 3


def test_queue_status_says_when_the_broker_is_down():
    with celery_app_on(f"redis://127.0.0.1:{free_port()}/0"):
        assert "down (cannot reach the broker)" in _queue_status()
        assert json.loads(_queue_status("--json"))["broker"] == "down"
