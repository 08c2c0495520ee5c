"""The processes of a deployment start from ``requirements.txt`` alone (issue #12, point 1).

The rest of the suite runs in the development virtualenv, whose test tools bring in packages
the runtime list may have forgotten (``packaging``, which kombu's Redis transport imports, came
in that way, so a worker installed as the Dockerfile installs it died at start). Here a
virtualenv is built from ``requirements.txt`` and nothing else, and the real processes run from
it: ``celery worker`` and ``celery beat`` on a Redis the test starts, sharing the test's
PostgreSQL database, and gunicorn serving the app.

- The worker runs a task the test queues (a notification email through the outbox).
- Beat installs its whole schedule in the database, sends the due outbox dispatcher, and the
  worker runs it: it sends an email whose queueing failed while the broker was unreachable.
  Beat's own record says the dispatcher last ran an hour ago (as after a beat restart), so it
  is due the moment beat starts instead of a minute later.

Building the virtualenv takes about a minute, so these tests run only with
``TEST_RUNTIME_VENV=1`` (``.ci/run`` has a step for them), and then fail rather than skip when
PostgreSQL or ``redis-server`` is missing. The virtualenv is kept in ``.venv-runtime-<hash>``
(the hash of ``requirements.txt`` and the Python version), so a rerun reuses it and a changed
requirement builds a new one; pip uses the package indexes this machine is configured with.
"""

from __future__ import annotations

import datetime
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from cases.models import NotificationKind, OutboxEvent, OutboxStatus
from cases.services.notifications import NotificationSpec, notify_many

from .. import factories as f
from .conftest import (
    ON_POSTGRES,
    REDIS_SERVER,
    REPO,
    RedisServer,
    celery_app_on,
    database_url,
    free_port,
    sent_emails,
    wait_until,
)

REQUIRED = os.environ.get("TEST_RUNTIME_VENV") == "1"

pytestmark = [
    pytest.mark.runtime_venv,
    pytest.mark.skipif(
        not REQUIRED,
        reason="builds a virtualenv from requirements.txt alone (about a minute): set "
        "TEST_RUNTIME_VENV=1 to run it (.ci/run does)",
    ),
    pytest.mark.django_db(transaction=True),
]

REQUIREMENTS = REPO / "requirements.txt"
# Installing takes about a minute here; a slow package index gets far more before we give up.
PIP_TIMEOUT_SECONDS = 900
START_TIMEOUT_SECONDS = 60
# Only requirements-dev.txt brings these: the runtime virtualenv must not have them.
DEV_ONLY_MODULES = ("pytest", "pytest_django", "hypothesis", "factory", "time_machine")


def _require_services() -> None:
    """Asked for (TEST_RUNTIME_VENV=1), a missing service fails the tests, before the
    virtualenv is built: they never pass by skipping."""
    if not ON_POSTGRES:
        pytest.fail(
            "the worker and beat run in processes of their own and must share the test's "
            "database: set DATABASE_URL to PostgreSQL (the SQLite test database lives in this "
            "process's memory)"
        )
    if REDIS_SERVER is None:
        pytest.fail(
            "no redis-server binary: install Redis (the test starts its own on a spare port)"
        )


def _venv_directory() -> Path:
    key = hashlib.sha256(REQUIREMENTS.read_bytes())
    key.update(f"python{sys.version_info.major}.{sys.version_info.minor}".encode())
    return REPO / f".venv-runtime-{key.hexdigest()[:16]}"


def _run(command: list[str], *, env: dict[str, str], timeout: float) -> None:
    result = subprocess.run(  # noqa: S603 (our interpreter, pip and our arguments)
        command, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"{' '.join(command)} exited {result.returncode}:\n"
        f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}"
    )


def _clean_environment() -> dict[str, str]:
    """This process's environment without what points Python at the development virtualenv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE"}
    }
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="session")
def runtime_venv() -> Path:
    """A virtualenv with ``pip install -r requirements.txt`` and nothing else, built once per
    content of requirements.txt (a lock keeps parallel test processes from building it
    twice)."""
    _require_services()
    directory = _venv_directory()
    done = directory / ".installed"
    with open(f"{directory}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(directory, ignore_errors=True)  # a build that was cut off
            env = _clean_environment()
            # The base interpreter, not the development virtualenv's: nothing of it is seen.
            base_python = getattr(sys, "_base_executable", sys.executable)
            _run([base_python, "-m", "venv", str(directory)], env=env, timeout=120)
            _run(
                [
                    str(directory / "bin" / "python"),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "-r",
                    str(REQUIREMENTS),
                ],
                env=env,
                timeout=PIP_TIMEOUT_SECONDS,
            )
            done.write_text(REQUIREMENTS.read_text())
    return directory


class Process:
    """One process started from the runtime virtualenv, in its own process group, its output
    in a log file."""

    def __init__(self, name: str, command: list[str], *, env: dict[str, str], log: Path) -> None:
        self.name = name
        self.log_path = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(  # noqa: S603 (the virtualenv's own programs)
                command,
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.process.poll() is None

    def wait_for_log(self, text: str, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        wait_until(
            lambda: text in self.log() or not self.running(),
            timeout=timeout,
            what=lambda: f"{self.name} logging {text!r}; its log:\n{self.log()[-4000:]}",
        )
        assert self.running(), f"{self.name} exited ({self.process.returncode}):\n{self.log()}"

    def stop(self) -> int:
        """SIGTERM (a warm shutdown), then the exit status."""
        if self.running():
            with suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=30)
        finally:
            self.kill()

    def kill(self) -> None:
        with suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)


@pytest.fixture
def start(
    transactional_db: None,
    runtime_venv: Path,
    redis_server: RedisServer,
    mail_dir: Path,
    tmp_path: Path,
) -> Iterator[Callable[..., Process]]:
    """``start(name, program, *arguments)`` → a process of the runtime virtualenv's
    ``bin/<program>``, on ``redis_server`` and the test's database, with the project's settings
    (and emails written to ``mail_dir``). Every one is killed when the test ends, before its
    database is emptied."""
    env = {
        **_clean_environment(),
        "PATH": f"{runtime_venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "VIRTUAL_ENV": str(runtime_venv),
        "PYTHONPATH": str(REPO),
        "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_FILE_PATH": str(mail_dir),
        "LOG_LEVEL": "INFO",
    }
    started: list[Process] = []

    def make(name: str, program: str, *arguments: str) -> Process:
        handle = Process(
            name,
            [str(runtime_venv / "bin" / program), *arguments],
            env=env,
            log=tmp_path / f"{name}.log",
        )
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.kill()


def _notify(username: str) -> OutboxEvent:
    """One notification for a new user, committed: its email waits in the outbox, and its
    delivery task is handed to whatever broker this process's Celery app has."""
    user = f.UserFactory(username=username, email=f"{username}@example.org")
    with transaction.atomic():
        [note] = notify_many(
            [
                NotificationSpec(
                    key=f"runtime:{username}",
                    recipient_id=user.pk,
                    kind=NotificationKind.TASK_FAILED,
                )
            ]
        )
    return OutboxEvent.objects.get(notification=note)


def _delivered(event: OutboxEvent) -> bool:
    return OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.DELIVERED


def _emailed(mail_dir: Path, event: OutboxEvent) -> bool:
    return any(f"notification-{event.uuid}@" in m for m in sent_emails(mail_dir))


def test_the_virtualenv_has_the_runtime_requirements_only(runtime_venv: Path) -> None:
    probe = (
        "import importlib.util, sys; "
        f"print(','.join(m for m in {DEV_ONLY_MODULES!r} if importlib.util.find_spec(m)))"
    )
    result = subprocess.run(  # noqa: S603 (the virtualenv's interpreter)
        [str(runtime_venv / "bin" / "python"), "-c", probe],
        env=_clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "", "development packages in the runtime virtualenv"


def test_worker_and_beat_from_requirements_txt_start_and_run_tasks(
    start, redis_server: RedisServer, mail_dir: Path, tmp_path: Path
) -> None:
    # A task queued by the test: the email of a notification, waiting in Redis for a worker.
    with celery_app_on(redis_server.url):
        queued = _notify("nadia.hassan")
    assert len(redis_server.queued()) == 1

    worker = start(
        "worker",
        "celery",
        "-A",
        "reintegration",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        "1",
        "--hostname",
        "runtime@venv",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    )
    worker.wait_for_log(" ready.")
    wait_until(
        lambda: _delivered(queued),
        timeout=START_TIMEOUT_SECONDS,
        what=lambda: f"the queued email delivered; the worker's log:\n{worker.log()[-4000:]}",
    )
    assert _emailed(mail_dir, queued)
    assert "Task cases.email_deliver[" in worker.log()

    # An email whose queueing failed (nobody listens on that port): it waits in the outbox
    # for beat's dispatcher.
    with celery_app_on(f"redis://127.0.0.1:{free_port()}/0"):
        stranded = _notify("omar.khalil")
    assert OutboxEvent.objects.get(pk=stranded.pk).status == OutboxStatus.PENDING
    assert redis_server.queued() == []

    # Beat's record of the dispatcher: it last ran an hour ago, so it is due at once.
    every_minute, _ = IntervalSchedule.objects.get_or_create(
        every=60, period=IntervalSchedule.SECONDS
    )
    an_hour_ago = timezone.now() - datetime.timedelta(hours=1)
    PeriodicTask.objects.create(
        name="outbox-dispatch",
        task="cases.outbox_dispatch",
        interval=every_minute,
        last_run_at=an_hour_ago,
    )

    beat = start(
        "beat",
        "celery",
        "-A",
        "reintegration",
        "beat",
        "--loglevel",
        "INFO",
        "--pidfile",
        str(tmp_path / "beat.pid"),
    )
    beat.wait_for_log("Sending due task outbox-dispatch (cases.outbox_dispatch)")
    wait_until(
        lambda: _delivered(stranded),
        timeout=START_TIMEOUT_SECONDS,
        what=lambda: (
            "the stranded email sent by beat's dispatcher; the worker's log:\n"
            f"{worker.log()[-3000:]}\nbeat's log:\n{beat.log()[-3000:]}"
        ),
    )
    assert _emailed(mail_dir, stranded)
    assert "Task cases.outbox_dispatch[" in worker.log()
    # Beat installed the project's whole schedule in the database when it started.
    installed = set(PeriodicTask.objects.values_list("name", flat=True))
    assert set(settings.CELERY_BEAT_SCHEDULE) <= installed

    # Both stop cleanly on SIGTERM, and beat writes what it ran back to its record then.
    assert beat.stop() == 0, beat.log()
    assert worker.stop() == 0, worker.log()
    dispatcher = PeriodicTask.objects.get(name="outbox-dispatch")
    assert dispatcher.total_run_count >= 1
    assert dispatcher.last_run_at is not None
    assert dispatcher.last_run_at > an_hour_ago


def test_gunicorn_from_requirements_txt_serves_the_app(start) -> None:
    port = free_port()
    web = start(
        "gunicorn",
        "gunicorn",
        "reintegration.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
    )

    def get(path: str) -> tuple[int, str] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
                return answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")
        except OSError:
            return None  # not listening yet

    wait_until(
        lambda: get("/account/login/") is not None or not web.running(),
        timeout=START_TIMEOUT_SECONDS,
        what=lambda: f"gunicorn answering; its log:\n{web.log()[-4000:]}",
    )
    assert web.running(), web.log()
    status, page = get("/account/login/") or (0, "")
    assert status == 200, page[-2000:]
    assert "<form" in page
    # The API's schema view imports the whole API (serializers, filters, drf-spectacular).
    status, schema = get("/api/schema/") or (0, "")
    assert status == 200, schema[-2000:]
    assert schema.startswith("openapi:")
    assert web.stop() == 0, web.log()
