"""A task that fails after its last retry becomes a dead letter (a FailedTask row) that staff
see and can queue again: in the process (eager, any database), and with a real worker on a
real Redis (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import (
    AuditEvent,
    FailedTask,
    Notification,
    NotificationKind,
    OutboxEvent,
)
from cases.services.tasks_health import ERROR_MAX_CHARS, REDACTED, failed_task_record
from cases.tasks import webhook_deliver_task

from ..web.conftest import verified_client
from .conftest import needs_redis_server, needs_shared_database, wait_until

MISSING_EVENT = 987_654  # no outbox event has this id: webhook_deliver always fails on it


def _record(task_id: str = "t-1", **overrides) -> FailedTask | None:
    values = {
        "task_name": "cases.webhook_deliver",
        "task_id": task_id,
        "args": [MISSING_EVENT],
        "kwargs": {},
        "error": OutboxEvent.DoesNotExist("OutboxEvent matching query does not exist."),
        "retries": 6,
        **overrides,
    }
    return failed_task_record(**values)


def _dead_letter(task_id: str = "t-1", **overrides) -> FailedTask:
    """A dead letter recorded for the first time (``_record`` gives None for a repeat)."""
    failed = _record(task_id, **overrides)
    assert failed is not None
    return failed


def _api(world, persona: str) -> APIClient:
    return verified_client(getattr(world, persona), APIClient())


# --- recording ------------------------------------------------------------------------------


def test_a_task_failing_for_good_leaves_one_dead_letter(world, celery_eager):
    # Eager (no broker) a task is not retried: it fails at once with its own error. With a
    # worker it is retried first (the real-worker test below).
    with pytest.raises(OutboxEvent.DoesNotExist):
        webhook_deliver_task.apply(args=[MISSING_EVENT])
    failed = FailedTask.objects.get()
    assert failed.task_name == "cases.webhook_deliver"
    assert failed.args == [MISSING_EVENT]
    assert failed.kwargs == {}
    assert failed.retries == 0
    assert failed.error.startswith("DoesNotExist: OutboxEvent matching query")
    audit = AuditEvent.objects.get(action="task.dead_letter")
    assert audit.object_id == str(failed.uuid)
    assert audit.actor_label == "system"
    # The programme managers are told, in the app and by email (through the outbox).
    note = Notification.objects.get(kind=NotificationKind.TASK_FAILED)
    assert note.recipient == world.mona
    assert note.detail == {"task": "cases.webhook_deliver", "retries": 0}
    assert OutboxEvent.objects.filter(notification=note).count() == 1


def test_a_task_that_succeeds_leaves_no_dead_letter(db, celery_eager):
    assert webhook_deliver_task.app.tasks["cases.audit_verify"].apply().successful()
    assert not FailedTask.objects.exists()


def test_the_same_failure_reported_twice_is_kept_once(world):
    assert _record("t-1") is not None
    assert _record("t-1") is None
    assert FailedTask.objects.count() == 1
    assert AuditEvent.objects.filter(action="task.dead_letter").count() == 1
    assert Notification.objects.filter(kind=NotificationKind.TASK_FAILED).count() == 1


def test_a_dead_letter_keeps_ids_only_and_a_short_error(db):
    failed = _dead_letter(
        args=[5, "CASE-7Q2K", "Zubaida Qaraghuli", {"phone": "+9647705550101"}],
        kwargs={"case_number": "CASE-7Q2K", "note": "lives at Alley 7"},
        error=ValueError("x" * 2000 + "\nDETAIL: Key (phone)=(+9647705550101) exists"),
    )
    assert failed.args == [5, "CASE-7Q2K", REDACTED, REDACTED]
    assert failed.kwargs == {"case_number": "CASE-7Q2K", "note": REDACTED}
    assert len(failed.error) == ERROR_MAX_CHARS
    assert "9647705550101" not in failed.error


def test_a_failed_email_task_is_not_emailed_about(world):
    _record(task_name="cases.email_deliver")
    assert FailedTask.objects.count() == 1
    assert not Notification.objects.exists()


# --- staff see them and queue them again ------------------------------------------------------


def test_programme_managers_see_the_dead_letters_and_nobody_else(world):
    failed = _dead_letter()
    response = _api(world, "mona").get("/api/v1/failed-tasks/")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    [row] = response.json()["results"]
    assert row["uuid"] == str(failed.uuid)
    assert row["task_name"] == "cases.webhook_deliver"
    assert row["args"] == [MISSING_EVENT]
    assert row["retries"] == 6
    assert row["retried_at"] is None
    for persona in ("alice", "carol", "audrey"):
        assert _api(world, persona).get("/api/v1/failed-tasks/").json()["results"] == []
    assert APIClient().get("/api/v1/failed-tasks/").status_code == 401


def test_open_lists_only_those_not_queued_again(world):
    _record("t-1")
    FailedTask.objects.filter(task_id=_dead_letter("t-2").task_id).update(retried_at=timezone.now())
    rows = _api(world, "mona").get("/api/v1/failed-tasks/", {"open": "true"}).json()["results"]
    assert [row["task_id"] for row in rows] == ["t-1"]


def test_a_manager_queues_a_dead_letter_again_once(
    world, celery_eager, django_capture_on_commit_callbacks
):
    failed = _dead_letter()
    url = f"/api/v1/failed-tasks/{failed.uuid}/retry/"
    assert _api(world, "alice").post(url).status_code == 404

    with django_capture_on_commit_callbacks(execute=True):
        response = _api(world, "mona").post(url)
    assert response.status_code == 200, response.content
    failed.refresh_from_db()
    assert failed.retried_at is not None
    assert response.json()["retried_at"] is not None
    audit = AuditEvent.objects.get(action="task.retry")
    assert audit.actor_id == world.mona.pk
    assert audit.object_id == str(failed.uuid)
    # Run again (eagerly here) with the same ids; it fails again: a new dead letter.
    again = FailedTask.objects.exclude(pk=failed.pk).get()
    assert again.task_name == failed.task_name
    assert again.args == failed.args
    assert again.task_id == audit.detail["new_task_id"]

    second = _api(world, "mona").post(url)
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "already_retried"


def test_a_retry_while_the_broker_is_down_changes_nothing(world, celery_broker_down):
    failed = _dead_letter()
    response = _api(world, "mona").post(f"/api/v1/failed-tasks/{failed.uuid}/retry/")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "broker_unavailable"
    failed.refresh_from_db()
    assert failed.retried_at is None
    assert not AuditEvent.objects.filter(action="task.retry").exists()


def test_a_dead_letter_naming_no_task_of_ours_is_not_queued(world, celery_eager):
    failed = _dead_letter(task_name="celery.chord_unlock")
    response = _api(world, "mona").post(f"/api/v1/failed-tasks/{failed.uuid}/retry/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "unknown_task"


def test_the_admin_lists_them_read_only_and_retries_them(world, celery_eager):
    failed = _dead_letter()
    world.root.is_staff = True
    world.root.save(update_fields=["is_staff"])
    admin = verified_client(world.root)
    changelist = reverse("admin:cases_failedtask_changelist")
    page = admin.get(changelist)
    assert page.status_code == 200
    assert "cases.webhook_deliver" in page.content.decode()
    assert admin.get(reverse("admin:cases_failedtask_add")).status_code == 403
    change = admin.get(reverse("admin:cases_failedtask_change", args=[failed.pk]))
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()

    response = admin.post(
        changelist, {"action": "retry", "_selected_action": [failed.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "Queued again: 1." in response.content.decode()
    failed.refresh_from_db()
    assert failed.retried_at is not None
    assert AuditEvent.objects.get(action="task.retry").actor_id == world.root.pk
    # A caseworker with admin access sees no dead letters.
    world.alice.is_staff = True
    world.alice.save(update_fields=["is_staff"])
    assert verified_client(world.alice).get(changelist).status_code == 403


# --- with a real worker on a real Redis -------------------------------------------------------


@needs_redis_server
@needs_shared_database
@pytest.mark.django_db(transaction=True)
def test_a_task_that_always_fails_ends_dead_lettered_and_staff_queue_it_again(
    celery_on_redis, redis_server, worker, world
):
    running = worker(pool="solo")
    first = webhook_deliver_task.apply_async(args=[MISSING_EVENT])
    failed = wait_until(
        lambda: FailedTask.objects.filter(task_id=first.id).first(),
        timeout=30,
        what=lambda: "the dead letter after the last retry\n" + running.log()[-4000:],
    )
    # Two retries in this worker's settings, each after a back-off, then the dead letter.
    assert running.log().count(f"Task cases.webhook_deliver[{first.id}] retry") == 2
    assert failed.retries == 2
    assert failed.args == [MISSING_EVENT]
    assert failed.error.startswith("DoesNotExist")
    audit = AuditEvent.objects.get(action="task.dead_letter", object_id=str(failed.uuid))
    assert audit.request_id == f"task-{first.id}"

    api = _api(world, "mona")
    [row] = api.get("/api/v1/failed-tasks/").json()["results"]
    assert row["task_id"] == first.id
    assert api.post(f"/api/v1/failed-tasks/{failed.uuid}/retry/").status_code == 200
    again = wait_until(
        lambda: FailedTask.objects.exclude(task_id=first.id).first(),
        timeout=30,
        what=lambda: "the retried task dead-lettered again\n" + running.log()[-4000:],
    )
    assert again.task_name == "cases.webhook_deliver"
    assert again.args == [MISSING_EVENT]
    assert f"Task cases.webhook_deliver[{again.task_id}] received" in running.log()
    failed.refresh_from_db()
    assert failed.retried_at is not None
    rows = api.get("/api/v1/failed-tasks/", {"open": "true"}).json()["results"]
    assert [r["task_id"] for r in rows] == [again.task_id]
