"""The settings the benchmark runs with and the processes it starts: migrate and seed_demo,
the in-process helpers, and gunicorn, the Celery worker and beat as compose.yaml runs them;
and the HTTP client that talks to gunicorn."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from common import BENCH, BIN, HELPER_FLAG, MANAGE, REPO, BenchError

# Bench-only keys: published here, for a scratch database of synthetic people. Fixed, so a kept
# database (--keep, --reuse) can be read by the next run; never the development keys, which
# production settings refuse.
BENCH_SECRET_KEY = "bench-only-secret-key-synthetic-data-never-deployed-0123456789abcdef"  # noqa: S105
BENCH_FIELD_KEY = base64.urlsafe_b64encode(b"bench-only-field-key-synthetic!!").decode()
BENCH_BLIND_INDEX_KEY = "bench-only-blind-index-key-synthetic-data"
BENCH_AUDIT_CHAIN_KEY = "bench-only-audit-chain-key-synthetic-data"


# --- environments --------------------------------------------------------------------------


def seed_env(database_url: str) -> dict[str, str]:
    """For migrate and seed_demo: development mode (seed_demo refuses production), but the
    server's encryption keys, so the server can read what is loaded."""
    env = dict(os.environ)
    for name in ("DJANGO_ENV", "REDIS_URL", "DEBUG"):
        env.pop(name, None)
    env.update(
        DATABASE_URL=database_url,
        FIELD_ENCRYPTION_KEYS=BENCH_FIELD_KEY,
        BLIND_INDEX_KEY=BENCH_BLIND_INDEX_KEY,
        AUDIT_CHAIN_KEYS=BENCH_AUDIT_CHAIN_KEY,
        PYTHONUNBUFFERED="1",
    )
    return env


def server_env(database_url: str, redis_db: int) -> dict[str, str]:
    """Production settings, as prod.env would give them, for 127.0.0.1."""
    env = seed_env(database_url)
    env.update(
        DJANGO_ENV="production",
        SECRET_KEY=BENCH_SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        EMAIL_URL="consolemail://",
        # This run's own file: the chain of a new or reused database is checked from scratch.
        AUDIT_CHECKPOINT_PATH=str(
            Path(tempfile.gettempdir()) / f"reintegration-bench-audit-{os.getpid()}.jsonl"
        ),
        REDIS_URL=f"redis://127.0.0.1:6379/{redis_db}",
        # One token stands in for a whole team's users, so the per-user rate limit (600/min)
        # would answer most requests with 429. The throttle still runs on every request.
        API_STAFF_RATE="100000000/min",
    )
    return env


# --- processes -----------------------------------------------------------------------------


def compose_commands() -> dict[str, list[str]]:
    """The commands of compose.yaml's web, worker and beat services, so the benchmark runs
    exactly what ships."""
    import yaml  # PyYAML: drf-spectacular requires it

    services = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    return {
        name: [str(part) for part in services[name]["command"]]
        for name in ("web", "worker", "beat")
    }


def local_command(command: list[str], port: int) -> list[str]:
    """A compose command for this machine: the virtualenv's executables, 127.0.0.1:port."""
    program, *rest = command
    if program == "python":
        program = sys.executable
    elif (BIN / program).exists():
        program = str(BIN / program)
    out = [program]
    for index, part in enumerate(rest):
        if index > 0 and rest[index - 1] in ("--bind", "-b"):
            part = f"127.0.0.1:{port}"
        out.append(part)
    return out


class Processes:
    """Processes this run started, each in its own process group; stopped in reverse order
    (SIGTERM to the group, SIGKILL after a grace period)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, subprocess.Popen[bytes], Any]] = []

    def start(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (BENCH / f"{name}.log").open("wb")
        print(f"  starting {name}: {' '.join(command)}  (log: bench/{name}.log)", flush=True)
        process = subprocess.Popen(
            command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.started.append((name, process, log))
        return process

    def check(self) -> None:
        for name, process, _log in self.started:
            if process.poll() is not None:
                raise BenchError(
                    f"{name} exited with status {process.returncode}; see bench/{name}.log"
                )

    def stop(self) -> None:
        while self.started:
            name, process, log = self.started.pop()
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=10)
            log.close()
            print(f"  stopped {name}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(args: list[str], env: dict[str, str], *, quiet: bool = False) -> float:
    print("$ manage.py " + " ".join(args), flush=True)
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, str(MANAGE), *args],
        cwd=REPO,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )
    return time.perf_counter() - started


def helper(name: str, env: dict[str, str], **kwargs: Any) -> dict[str, Any]:
    """Run one of the in-process HELPERS below in a subprocess with ``env`` (the server's
    settings); its last stdout line is its JSON answer."""
    command = [sys.executable, str(BENCH / "run.py"), HELPER_FLAG, name, json.dumps(kwargs)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise BenchError(f"helper {name} failed (exit status {done.returncode})")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


def flush_redis(number: int) -> None:
    """Empty the benchmark's Redis database (cache, rate counters, Celery's queues)."""
    import redis

    redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}").flushdb()


# --- HTTP ----------------------------------------------------------------------------------


class Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def headers(self, token: str | None = None, cookie: str | None = None) -> dict[str, str]:
        # TLS ends at the reverse proxy in production, which says so in X-Forwarded-Proto
        # (SECURE_PROXY_SSL_HEADER): the app then serves as it does behind the proxy.
        headers = {"X-Forwarded-Proto": "https", "Host": "127.0.0.1"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if cookie:
            headers["Cookie"] = cookie
        return headers

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        url = self.base + path  # always http://127.0.0.1:<port>/...
        request = urllib.request.Request(url, headers=self.headers(token))  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=120) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def wait_ready(self, processes: Processes, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            processes.check()
            with contextlib.suppress(OSError):
                status, _ = self.get("/health/")
                if status in (200, 503):
                    return
            time.sleep(0.5)
        raise BenchError(f"gunicorn did not answer /health/ within {timeout:.0f} s")
