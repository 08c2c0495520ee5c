"""A real Redis server and real Celery worker processes, started by the tests themselves.

- ``redis_server``: ``redis-server`` on a spare port, without persistence (``--save ""
  --appendonly no``, so a restart loses whatever was queued, as a crashed broker would), in the
  test's temporary directory. The tests stop and start it.
- ``worker``: ``worker()`` starts ``celery -A reintegration worker`` as a subprocess (its own
  process group, so SIGKILL takes it whole) on that Redis and on the test's own database, with
  the settings of ``worker_settings.py`` and short timings from the environment: a 3 s
  visibility timeout swept every second (so a message of a killed worker comes back within
  seconds), two retries 0 to 1 s apart. The test's own process publishes to the same Redis
  (``celery_on_redis``).

The worker must see the rows the test writes and the test the rows the worker writes, so these
tests run on PostgreSQL (``DATABASE_URL``; CI's second run). The SQLite test database lives in
the test process's memory, where no other process can reach it: there they are skipped, as they
are where no ``redis-server`` binary exists.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

REPO = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server")
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"

needs_redis_server = pytest.mark.skipif(
    REDIS_SERVER is None,
    reason="no redis-server binary on this machine: install Redis to run the tests against a "
    "real broker (CI always has it)",
)
needs_shared_database = pytest.mark.skipif(
    not ON_POSTGRES,
    reason="the Celery worker runs in its own process and must share the test's database: "
    "set DATABASE_URL to PostgreSQL (as CI's second run does); the SQLite test database lives "
    "in this process's memory",
)

# The worker's timings (see the module docstring); the settings' own check that the visibility
# timeout outlasts the longest retry wait applies to them too.
VISIBILITY_TIMEOUT = 3
WORKER_TIMINGS = {
    "CELERY_VISIBILITY_TIMEOUT_SECONDS": str(VISIBILITY_TIMEOUT),
    "CELERY_UNACKED_RESTORE_INTERVAL_SECONDS": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    "CELERY_TASK_MAX_RETRIES": "2",
    "CELERY_TASK_RETRY_BACKOFF_SECONDS": "1",
    "CELERY_TASK_RETRY_BACKOFF_MAX_SECONDS": "1",
    # No time limits: the tests block tasks on purpose, and kill them themselves.
    "CELERY_TASK_TIME_LIMIT": "0",
    "CELERY_TASK_SOFT_TIME_LIMIT": "0",
    "CELERY_BROKER_CONNECTION_TIMEOUT": "1",
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float,
    what: str | Callable[[], str],
    interval: float = 0.05,
) -> Any:
    """Poll ``predicate`` until it returns something truthy (returned), or fail after
    ``timeout`` seconds saying ``what`` did not happen."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            message = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:.0f} s: {message}")
        time.sleep(interval)


class RedisServer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def ping(self) -> bool:
        try:
            return bool(self.client().ping())
        except Exception:
            return False

    def start(self) -> None:
        assert REDIS_SERVER is not None
        self.process = subprocess.Popen(  # noqa: S603 (the redis-server binary, our arguments)
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self.ping, timeout=10, what=f"redis-server answering on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.process = None
        wait_until(lambda: not self.ping(), timeout=5, what="redis-server stopping")

    def queued(self, queue: str = "celery") -> list[bytes]:
        return list(self.client().lrange(queue, 0, -1))

    def unacked(self) -> int:
        return int(self.client().hlen("unacked"))

    def restorable(self) -> int:
        """Messages kombu's Redis transport could still hand out again: the unacknowledged
        ones and their index, which its restore sweep reads (nothing else comes back)."""
        client = self.client()
        return int(client.hlen("unacked")) + int(client.zcard("unacked_index"))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    if REDIS_SERVER is None:
        pytest.skip(
            "no redis-server binary on this machine: install Redis to run the tests against a "
            "real broker (CI always has it)"
        )
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=10)


@contextmanager
def celery_app_on(url: str, *, eager: bool = False) -> Iterator[Any]:
    """This process's Celery app publishing to ``url`` (or running tasks in place: eager)
    inside the block, whatever the environment configured."""
    from reintegration.celery import app

    saved = {key: app.conf[key] for key in ("broker_url", "task_always_eager")}
    app.conf.broker_url = url
    app.conf.task_always_eager = eager
    app._after_fork()  # drop the pooled connections to the broker configured before
    try:
        yield app
    finally:
        app.conf.update(saved)
        app._after_fork()


@pytest.fixture
def celery_on_redis(redis_server: RedisServer) -> Iterator[Any]:
    """This process's Celery app publishing to ``redis_server`` (not eager)."""
    with celery_app_on(redis_server.url) as app:
        yield app


@pytest.fixture
def celery_eager() -> Iterator[Any]:
    """No broker: tasks run in this process (the development default), even where the
    environment names a Redis."""
    with celery_app_on("memory://", eager=True) as app:
        yield app


@pytest.fixture
def celery_broker_down() -> Iterator[Any]:
    """A broker URL on a free port nobody listens on: Redis is down."""
    with celery_app_on(f"redis://127.0.0.1:{free_port()}/0") as app:
        yield app


def database_url() -> str:
    """The URL of the database this test runs on (pytest-django's test database)."""
    db = connection.settings_dict
    user, password = quote(db["USER"] or "", safe=""), quote(db["PASSWORD"] or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    return f"postgres://{auth}{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """One ``celery worker`` process (and its pool processes, in its own process group)."""

    def __init__(self, *, name: str, env: dict[str, str], log: Path, pool: str) -> None:
        self.name = name
        self.env = env
        self.log_path = log
        self.pool = pool
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, wait: bool = True) -> Worker:
        command = [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "reintegration",
            "worker",
            "--loglevel",
            "INFO",
            "--pool",
            self.pool,
            "--concurrency",
            "1",
            "--hostname",
            f"{self.name}@reliability",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ]
        with self.log_path.open("ab") as log:
            self.process = process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command,
                cwd=REPO,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            wait_until(
                lambda: " ready." in self.log() or process.poll() is not None,
                timeout=45,
                what=lambda: f"worker {self.name} ready; its log:\n{self.log()[-3000:]}",
            )
            assert process.poll() is None, f"worker {self.name} exited:\n{self.log()}"
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def pool_processes(self) -> list[int]:
        """The pool's child processes (prefork), from /proc."""
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        return [int(pid) for pid in path.read_text().split()]

    def kill(self) -> None:
        """SIGKILL to the whole worker: no warm shutdown, no acknowledgement, nothing saved."""
        if self.process is not None and self.process.poll() is None:
            with suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.kill()
        # Pool processes left behind, if any.
        with suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)


@pytest.fixture
def mail_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "mail"
    directory.mkdir()
    return directory


def sent_emails(directory: Path) -> list[str]:
    """Every email the worker's file backend wrote (one file may hold several)."""
    separator = "\n" + "-" * 79 + "\n"
    messages = []
    for path in sorted(directory.iterdir()):
        messages += [m for m in path.read_text(errors="replace").split(separator) if m.strip()]
    return messages


@pytest.fixture
def worker(
    transactional_db: None, redis_server: RedisServer, mail_dir: Path, tmp_path: Path
) -> Iterator[Callable[..., Worker]]:
    """``worker(pool="solo")`` → a started worker on ``redis_server`` and the test database
    (``env``: settings to change for it); every worker is killed when the test ends, before
    its database is emptied."""
    if not ON_POSTGRES:
        pytest.skip("needs PostgreSQL")
    started: list[Worker] = []
    base_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.reliability.worker_settings",
        "DATABASE_URL": database_url(),
        "REDIS_URL": redis_server.url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "EMAIL_FILE_PATH": str(mail_dir),
        "PYTHONPATH": str(REPO),
        "LOG_LEVEL": "INFO",
        **WORKER_TIMINGS,
    }

    def make(
        *, pool: str = "solo", start: bool = True, env: dict[str, str] | None = None
    ) -> Worker:
        name = f"w{len(started) + 1}"
        handle = Worker(
            name=name, env={**base_env, **(env or {})}, log=tmp_path / f"{name}.log", pool=pool
        )
        started.append(handle)
        return handle.start() if start else handle

    yield make
    for handle in started:
        handle.kill()  # the test is over: no warm shutdown to wait for


def worker_logs(workers: list[Worker]) -> str:
    return "\n".join(f"--- {w.name} ---\n{w.log()[-4000:]}" for w in workers)
