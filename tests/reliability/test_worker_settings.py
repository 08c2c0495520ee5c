"""The Celery settings that keep work from being lost, and the shared base of every task."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from cases.services.tasks_health import ReliableTask
from reintegration.celery import app

from .conftest import REPO, WORKER_TIMINGS


def _our_tasks():
    app.loader.import_default_modules()
    tasks = {name: task for name, task in app.tasks.items() if name.startswith("cases.")}
    assert set(tasks) >= KNOWN, KNOWN - set(tasks)
    return tasks


KNOWN = {
    "cases.identity_reencrypt",
    "cases.audit_verify",
    "cases.webhook_deliver",
    "cases.webhook_dispatch",
    "cases.competition_snapshot",
    "cases.email_deliver",
    "cases.outbox_dispatch",
    "cases.monitoring_plan",
    "cases.contacts_mark_missed",
    "cases.missed_contacts_escalate",
    "cases.threat_contexts_flag",
    "cases.retention_anonymise",
}


def test_messages_are_acknowledged_late_and_json_only():
    conf = app.conf
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert conf.accept_content == ["json"]
    assert conf.broker_transport_options["visibility_timeout"] == (
        settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
    )


@pytest.mark.parametrize("name", sorted(_our_tasks()))
def test_every_task_uses_the_reliable_base(name):
    task = app.tasks[name]
    assert isinstance(task, ReliableTask)
    assert task.acks_late is True
    assert task.reject_on_worker_lost is True
    assert task.autoretry_for == (Exception,)
    assert task.max_retries == settings.CELERY_TASK_MAX_RETRIES >= 1
    assert task.retry_backoff == settings.CELERY_TASK_RETRY_BACKOFF_SECONDS >= 1
    assert task.retry_backoff_max == settings.CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS
    assert task.retry_jitter is True
    assert hasattr(task, "_orig_run"), "autoretry wraps the task's run"


def _longest_retry_wait(*, backoff: int, backoff_max: int, max_retries: int) -> int:
    """The longest countdown Celery's autoretry can give (jitter only shortens it)."""
    random.seed(0)
    return max(
        get_exponential_backoff_interval(backoff, retries, backoff_max, full_jitter=False)
        for retries in range(max_retries + 1)
    )


def test_the_visibility_timeout_outlasts_the_longest_retry_wait_and_run():
    longest_wait = _longest_retry_wait(
        backoff=settings.CELERY_TASK_RETRY_BACKOFF_SECONDS,
        backoff_max=settings.CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS,
        max_retries=settings.CELERY_TASK_MAX_RETRIES,
    )
    assert longest_wait == settings.CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS  # the cap is reached
    longest_run = settings.CELERY_TASK_TIME_LIMIT or 0
    assert settings.CELERY_TASK_TIME_LIMIT, "production runs with a hard time limit"
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    # A message may stay unacknowledged for a retry's countdown and then the task's run.
    assert longest_wait + longest_run < settings.CELERY_VISIBILITY_TIMEOUT_SECONDS
    # And with the test worker's short timings too.
    assert int(WORKER_TIMINGS["CELERY_VISIBILITY_TIMEOUT_SECONDS"]) > _longest_retry_wait(
        backoff=int(WORKER_TIMINGS["CELERY_TASK_RETRY_BACKOFF_SECONDS"]),
        backoff_max=int(WORKER_TIMINGS["CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS"]),
        max_retries=int(WORKER_TIMINGS["CELERY_TASK_MAX_RETRIES"]),
    )


def _settings_load(**environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import reintegration.settings"],
        cwd=REPO,
        env={**os.environ, **environment},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_refuse_a_visibility_timeout_shorter_than_a_retry_wait():
    refused = _settings_load(
        CELERY_VISIBILITY_TIMEOUT_SECONDS="900",
        CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS="600",
        CELERY_TASK_TIME_LIMIT="600",
    )
    assert refused.returncode != 0
    assert "CELERY_VISIBILITY_TIMEOUT_SECONDS must be longer" in refused.stderr
    accepted = _settings_load(
        CELERY_VISIBILITY_TIMEOUT_SECONDS="1300",
        CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS="600",
        CELERY_TASK_TIME_LIMIT="600",
    )
    assert accepted.returncode == 0, accepted.stderr
