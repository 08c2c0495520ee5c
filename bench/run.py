"""The benchmark of issue #7: the system at a national programme's size, on PostgreSQL, served by
the same processes compose.yaml starts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --cases 5000 --records 100000 --duration 5   # a quick run
    .venv/bin/python bench/run.py --keep            # then, while tuning:
    .venv/bin/python bench/run.py --reuse           # migrate the kept database, measure again

What it does (bench/README.md says more):

1. Creates a scratch database on the server in DATABASE_URL, migrates it and loads the
   national-size programme with ``seed_demo`` (timed); ``--reuse`` keeps a loaded one.
2. Times, in subprocesses with the server's settings, the overdue-marking job over the whole
   database and a 10,000-row import (both rolled back, so a kept database stays the same), and
   counts the queries of each list request.
3. Starts gunicorn, the Celery worker and Celery beat with the commands in compose.yaml and
   production settings, bound to 127.0.0.1, and drives each endpoint with wrk for a fixed time
   at fixed concurrency; then pages deep through a cursor-paginated list and downloads the CSV
   export while watching the web workers' memory.
4. Prints the figures beside the targets (and writes them as Markdown with ``--markdown``),
   stops every process it started and drops the scratch database unless ``--keep``/``--reuse``.

Exit status: 0 when it ran (targets met or not: the table says), 2 when it could not run.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
MANAGE = REPO / "manage.py"
LUA = BENCH / "wrk" / "endpoint.lua"
BIN = Path(sys.executable).parent
sys.path.insert(0, str(BENCH))

# The load: what issue #7 asks for.
DEFAULT_CASES = 100_000
DEFAULT_RECORDS = 2_000_000
DEFAULT_TEAMS = 50
DEFAULT_STAFF = 500
IMPORT_ROWS = 10_000
PAGINATION_DEPTH = 1000
PAGINATION_REPEAT = 20

# Bench-only keys: published here, for a scratch database of synthetic people. Fixed, so a kept
# database (--keep, --reuse) can be read by the next run; never the development keys, which
# production settings refuse.
BENCH_SECRET_KEY = "bench-only-secret-key-synthetic-data-never-deployed-0123456789abcdef"  # noqa: S105
BENCH_FIELD_KEY = base64.urlsafe_b64encode(b"bench-only-field-key-synthetic!!").decode()
BENCH_BLIND_INDEX_KEY = "bench-only-blind-index-key-synthetic-data"
BENCH_AUDIT_CHAIN_KEY = "bench-only-audit-chain-key-synthetic-data"

# Microseconds in a millisecond, milliseconds in a second (wrk reports microseconds).
MS = 1000.0


@dataclass
class Endpoint:
    key: str
    title: str
    user: str  # which prepared credential: caseworker, supervisor, manager, session
    requests: list[str]  # paths, or "path\tHeader: value"
    method: str = "GET"
    body: dict[str, Any] | None = None
    target: str = ""  # "list", "heavy" or "" (no target)
    result: dict[str, Any] = field(default_factory=dict)
    # "heavy" endpoints again with one client: their target names no concurrency.
    alone: dict[str, Any] = field(default_factory=dict)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Load a national-size programme, serve it as production does, measure it."
    )
    size = parser.add_argument_group("the load")
    size.add_argument("--cases", type=int, default=DEFAULT_CASES)
    size.add_argument(
        "--records",
        type=int,
        default=None,
        help="stage records and monitoring contacts (default: 20 per case, 2,000,000 for 100,000)",
    )
    size.add_argument("--teams", type=int, default=DEFAULT_TEAMS)
    size.add_argument("--staff", type=int, default=DEFAULT_STAFF)
    size.add_argument("--no-skew", action="store_true", help="even caseloads and team sizes")
    size.add_argument("--import-rows", type=int, default=IMPORT_ROWS)
    db = parser.add_argument_group("the scratch database")
    db.add_argument("--db-name", default="reintegration_bench")
    db.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    db.add_argument(
        "--reuse",
        action="store_true",
        help="use the scratch database a --keep run left (migrated first; loaded if missing); "
        "implies --keep",
    )
    load = parser.add_argument_group("the load tool")
    load.add_argument("--duration", type=int, default=15, help="seconds of wrk per endpoint")
    load.add_argument("--warmup", type=int, default=2, help="seconds of wrk before each")
    load.add_argument("--connections", type=int, default=16, help="concurrent clients")
    load.add_argument("--threads", type=int, default=2, help="wrk threads")
    load.add_argument(
        "--only",
        default="",
        help="comma-separated endpoint keys to drive (default: all); the ceiling always runs",
    )
    other = parser.add_argument_group("other")
    other.add_argument("--redis-db", type=int, default=13, help="Redis database number to use")
    other.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    other.add_argument("--skip-extras", action="store_true", help="only the wrk table")
    other.add_argument(
        "--no-tracemalloc",
        action="store_true",
        help="skip the in-process export run that measures peak memory with tracemalloc",
    )
    other.add_argument(
        "--worker-jobs",
        default="missed",
        help="beat's whole-caseload jobs to run in the worker after the load test, memory "
        f"measured (comma-separated, from {', '.join(WORKER_JOBS)}; '' for none; the "
        "competition summaries warm-up always runs, before the load test)",
    )
    other.add_argument("--markdown", type=Path, help="also write the report here (Markdown)")
    args = parser.parse_args(argv)
    wanted = {k for k in args.worker_jobs.split(",") if k}
    if wanted - set(WORKER_JOBS):
        parser.error(f"--worker-jobs: unknown {', '.join(sorted(wanted - set(WORKER_JOBS)))}")
    # In WORKER_JOBS' order: the missed-contact jobs, which queue the most emails, last.
    args.worker_jobs = [k for k in WORKER_JOBS if k in wanted]
    if args.records is None:
        args.records = args.cases * DEFAULT_RECORDS // DEFAULT_CASES
    if args.reuse:
        args.keep = True
    if not re.match(r"^[a-z_][a-z0-9_]{0,62}$", args.db_name):
        parser.error("--db-name must be a plain lower-case identifier")
    return args


class BenchError(Exception):
    """The benchmark cannot run (exit status 2)."""


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


def postgres_settings() -> list[tuple[str, str]]:
    """The ``-c name=value`` settings compose.yaml starts PostgreSQL with, so the scratch
    database is tuned as the production one is."""
    import yaml

    command = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]["postgres"].get(
        "command", []
    )
    pairs = [str(part) for part in command[command.index("-c") :]] if "-c" in command else []
    out = []
    for flag, setting in zip(pairs[::2], pairs[1::2], strict=True):
        name, _, value = setting.partition("=")
        if flag != "-c" or not re.fullmatch(r"[a-z_]+", name) or not re.fullmatch(r"[\w.]+", value):
            raise BenchError(f"cannot read the PostgreSQL setting {flag} {setting} in compose.yaml")
        out.append((name, value))
    return out


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
    command = [sys.executable, str(Path(__file__).resolve()), HELPER_FLAG, name, json.dumps(kwargs)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise BenchError(f"helper {name} failed (exit status {done.returncode})")
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    return dict(json.loads(lines[-1]))


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


# --- wrk -----------------------------------------------------------------------------------


def run_wrk(
    args: argparse.Namespace,
    port: int,
    endpoint: Endpoint,
    token: str | None,
    workdir: Path,
    duration: int,
    connections: int | None = None,
) -> dict[str, Any]:
    connections = connections or args.connections
    paths = workdir / f"{endpoint.key}.txt"
    paths.write_text("\n".join(endpoint.requests) + "\n")
    script_args = [str(paths), endpoint.method]
    if endpoint.body is not None:
        body = workdir / f"{endpoint.key}.json"
        body.write_text(json.dumps(endpoint.body))
        script_args.append(str(body))
    command = [
        "wrk",
        f"-t{min(args.threads, connections)}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        "30s",
        "-H",
        "X-Forwarded-Proto: https",
        "-H",
        "Host: 127.0.0.1",
    ]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    command += ["-s", str(LUA), f"http://127.0.0.1:{port}", "--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration + 120)
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            return dict(json.loads(line[len("BENCH_JSON ") :]))
    raise BenchError(f"wrk gave no result for {endpoint.key}: {done.stdout}{done.stderr}")


def summarise(raw: dict[str, Any]) -> dict[str, Any]:
    seconds = raw["duration_us"] / 1e6
    sockets = sum(raw["socket_errors"].values())
    return {
        "p50": raw["latency_us"]["p50"] / MS,
        "p95": raw["latency_us"]["p95"] / MS,
        "p99": raw["latency_us"]["p99"] / MS,
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "requests": raw["requests"],
        "errors": raw["non2xx"] + sockets,
        "non2xx": raw["non2xx"],
        "socket_errors": sockets,
        "first_status": raw["first_status"],
        "first_body": raw["first_body"],
    }


# --- pagination and export -----------------------------------------------------------------


def measure_pagination(client: Client, token: str, path: str) -> dict[str, Any]:
    """Follow ``next`` from page 1 up to page PAGINATION_DEPTH; then time page 1 and the
    deepest page, PAGINATION_REPEAT times each, alternating."""
    first = path
    current: str | None = path
    page = 1
    started = time.perf_counter()
    while page < PAGINATION_DEPTH:
        assert current is not None
        status, body = client.get(current, token)
        if status != 200:
            raise BenchError(f"pagination: {current} answered {status}: {body[:200]!r}")
        following = json.loads(body).get("next")
        if not following:
            break
        parts = urlsplit(following)
        current = parts.path + ("?" + parts.query if parts.query else "")
        page += 1
    walk = time.perf_counter() - started
    assert current is not None
    times: dict[str, list[float]] = {"first": [], "deep": []}
    for _ in range(PAGINATION_REPEAT):
        for key, target in (("first", first), ("deep", current)):
            t0 = time.perf_counter()
            status, _body = client.get(target, token)
            times[key].append(time.perf_counter() - t0)
            if status != 200:
                raise BenchError(f"pagination: {target} answered {status}")
    first_ms = statistics.median(times["first"]) * MS
    deep_ms = statistics.median(times["deep"]) * MS
    return {
        "depth": page,
        "walk_seconds": walk,
        "first_ms": first_ms,
        "deep_ms": deep_ms,
        "ratio": deep_ms / first_ms if first_ms else 0.0,
    }


def worker_pids(master: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                children.append(int(entry.name))
    return children


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure_export(client: Client, token: str, master_pid: int) -> dict[str, Any]:
    """Download the CSV export to the last byte, sampling the web workers' resident memory."""
    pids = worker_pids(master_pid)
    before = {pid: rss_mb(pid) for pid in pids}
    peak = dict(before)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            for pid in pids:
                peak[pid] = max(peak.get(pid, 0.0), rss_mb(pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    url = client.base + "/api/v1/cases/export.csv"
    request = urllib.request.Request(url, headers=client.headers(token))  # noqa: S310
    size = lines = 0
    first_byte = None
    started = time.perf_counter()
    status = 0
    try:
        with urllib.request.urlopen(request, timeout=600) as response:  # noqa: S310
            status = response.status
            while chunk := response.read(65536):
                if first_byte is None:
                    first_byte = time.perf_counter() - started
                size += len(chunk)
                lines += chunk.count(b"\n")
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError) as exc:
        stop.set()
        return {"status": 0, "error": str(exc), "seconds": time.perf_counter() - started}
    finally:
        stop.set()
        sampler.join()
    seconds = time.perf_counter() - started
    grown = {pid: peak[pid] - before.get(pid, 0.0) for pid in peak}
    busiest = max(grown, key=lambda pid: grown[pid]) if grown else None
    return {
        "status": status,
        "seconds": seconds,
        "first_byte": first_byte,
        "bytes": size,
        "rows": max(lines - 1, 0),
        "peak_rss_mb": peak[busiest] if busiest else 0.0,
        "rss_growth_mb": grown[busiest] if busiest else 0.0,
    }


# --- the Celery worker's memory -----------------------------------------------------------

# Issue #12: every worker process under this at 100,000 cases (resident memory, MB of 2**20).
WORKER_RSS_TARGET_MB = 200
SAMPLE_SECONDS = 0.1

# Beat's jobs over the whole caseload, run in the worker on purpose (``--worker-jobs``): key,
# the tasks (sent together: each takes a pool process of its own), and what they are.
WORKER_JOBS = {
    "flag": (("cases.threat_contexts_flag",), "threat contexts: flag, re-plan, notify (beat, "
             "every 15 min)"),
    "plan": (("cases.monitoring_plan",), "plan contacts ahead (beat, nightly)"),
    "snapshot": (("cases.competition_snapshot",), "per-team competition snapshot (beat, "
                 "nightly)"),
    "missed": (
        ("cases.contacts_mark_missed", "cases.missed_contacts_escalate"),
        "missed contacts: mark and notify the caseworkers, escalate to the supervisors (beat, "
        "hourly; sent together)",
    ),
}  # fmt: skip
WARM_TASK = "cases.competition_summaries_warm"


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (a Celery worker's pool processes)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # a kernel without the children file: scan /proc
        return worker_pids(pid)


class WorkerMemory:
    """The resident memory (VmRSS) of the Celery worker's processes, its main process and
    every pool process as they come and go (one past the memory backstop is replaced),
    sampled every SAMPLE_SECONDS in a thread from start to stop: per process the first
    figure, the last and the peak, and the peak within a window (one job)."""

    def __init__(self, main_pid: int) -> None:
        self.main = main_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak: dict[int, float] = {}
        self.window: dict[int, float] = {}
        self.current: dict[int, float] = {}  # the latest sample: the processes alive then
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> dict[int, float]:
        now = {pid: rss_mb(pid) for pid in [self.main, *child_pids(self.main)]}
        now = {pid: mb for pid, mb in now.items() if mb > 0}  # 0: gone since listed
        with self._lock:
            self.current = now
            for pid, mb in now.items():
                self.first.setdefault(pid, mb)
                self.last[pid] = mb
                self.peak[pid] = max(self.peak.get(pid, 0.0), mb)
                self.window[pid] = max(self.window.get(pid, 0.0), mb)
        return now

    def open_window(self) -> dict[int, float]:
        """Start a new window; returns each live process's figure now."""
        now = self.sample()
        with self._lock:
            self.window = dict(now)
        return now

    def window_peaks(self) -> dict[int, float]:
        self.sample()
        with self._lock:
            return dict(self.window)

    def role(self, pid: int) -> str:
        return "main process" if pid == self.main else "pool process"


def wait_worker_ready(processes: Processes, timeout: float = 120) -> None:
    """Until the worker's log says it is ready (it consumes from then on)."""
    log = BENCH / "worker.log"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        processes.check()
        with contextlib.suppress(OSError):
            if " ready." in log.read_text(errors="replace"):
                return
        time.sleep(0.2)
    raise BenchError(
        f"the Celery worker was not ready within {timeout:.0f} s; see bench/worker.log"
    )


def run_in_worker(
    memory: WorkerMemory, env: dict[str, str], tasks: tuple[str, ...], redis_db: int
) -> dict[str, Any]:
    """Send ``tasks`` to the running worker together, wait for every result, and take the
    worker's memory before, during (peak) and after. Emails the jobs queued are then taken
    off the broker's queue: they stay pending in the outbox (beat's dispatcher sends them
    later, as after a broker outage), and the next job measured does not wait behind them."""
    before = memory.open_window()
    answer = helper("tasks", env, names=list(tasks))
    peaks = memory.window_peaks()
    after = memory.sample()
    dropped = drop_queued_emails(redis_db)
    return {
        "tasks": answer["tasks"],
        "before": before,
        "peak": peaks,
        "after": after,
        "emails_left_in_outbox": dropped,
    }


def drop_queued_emails(number: int) -> int:
    """Take the ``cases.email_deliver`` messages off the Celery queue in the benchmark's Redis
    database (server-side, in one step); returns how many."""
    import redis

    script = """
    local kept, dropped = {}, 0
    for _, item in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
        if string.find(item, '"task": "cases.email_deliver"', 1, true) then
            dropped = dropped + 1
        else
            table.insert(kept, item)
        end
    end
    if dropped > 0 then
        redis.call('DEL', KEYS[1])
        for i = 1, #kept, 1000 do
            redis.call('RPUSH', KEYS[1], unpack(kept, i, math.min(i + 999, #kept)))
        end
    end
    return dropped
    """
    client = redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}")
    return int(client.eval(script, 1, "celery"))


_SUCCEEDED = re.compile(r"Task (cases\.\w+)\[([0-9a-f-]+)\] succeeded in ([0-9.]+)s: (.*)$")


def worker_runs(tasks: set[str]) -> list[tuple[str, str, float, str]]:
    """Every run of ``tasks`` the worker's log records as done: (task, id, seconds, result);
    beat's own runs as well as the benchmark's."""
    runs = []
    with contextlib.suppress(OSError):
        for line in (BENCH / "worker.log").read_text(errors="replace").splitlines():
            found = _SUCCEEDED.search(line)
            if found and found.group(1) in tasks:
                name, task_id, seconds, result = found.groups()
                runs.append((name, task_id, float(seconds), result.strip()))
    return runs


def _short(task: str) -> str:
    return task.removeprefix("cases.")


def job_seconds(ran: dict[str, Any]) -> str:
    return ", ".join(
        f"{_short(name)} {fmt(one['seconds'])} s" if one["seconds"] is not None else
        f"{_short(name)} timed out"
        for name, one in ran["tasks"].items()
    )  # fmt: skip


def job_results(ran: dict[str, Any]) -> str:
    parts = []
    for name, one in ran["tasks"].items():
        value = one["result"]
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        parts.append(
            f"{_short(name)}: {shown}"
            + ("" if one["status"] == "SUCCESS" else f" ({one['status']})")
        )
    return "; ".join(parts)  # fmt: skip


def job_growth(ran: dict[str, Any]) -> tuple[float, str]:
    """The highest peak of any worker process during the job, and the before → peak → after
    of the process that grew most."""
    before, peak, after = ran["before"], ran["peak"], ran["after"]
    if not peak:
        return 0.0, "n/a"
    grown = max(peak, key=lambda pid: peak[pid] - before.get(pid, peak[pid]))
    ended = f"{after[grown]:.0f}" if grown in after else "replaced"
    start = f"{before[grown]:.0f}" if grown in before else "new"
    return max(peak.values()), f"{start} → {peak[grown]:.0f} → {ended}"


def job_line(ran: dict[str, Any]) -> str:
    highest, growth = job_growth(ran)
    return (
        f"{job_seconds(ran)}; {job_results(ran)}; worker memory (MB) of the process that grew "
        f"most: {growth}; highest of any worker process: {highest:.0f} MB"
    )


# --- the machine ---------------------------------------------------------------------------


def machine(database_url: str) -> dict[str, str]:
    import psycopg

    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    ram = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        pg = f"PostgreSQL {row[0] if row else '?'}"
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_version = (
        (wrk.stdout + wrk.stderr).strip().splitlines()[0] if wrk.stdout or wrk.stderr else "wrk"
    )
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "CPU": cpu,
        "cores": str(os.cpu_count()),
        "RAM": ram,
        "database": pg,
        "Python": platform.python_version(),
        "load tool": wrk_version.split(" [")[0],
        "system": f"{platform.system()} {platform.release()}",
        "commit": commit or "unknown",
        "load average at start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --- the report ----------------------------------------------------------------------------


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "—"
    return "met" if ok else "**missed**"


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def report(
    args: argparse.Namespace,
    info: dict[str, str],
    load: dict[str, Any],
    endpoints: list[Endpoint],
    extras: dict[str, Any],
    workers: str,
) -> str:
    out: list[str] = []
    add = out.append
    add("# Benchmark results (issue #7)")
    add("")
    add("Produced by `bench/run.py` (`make bench`); see bench/README.md for what each figure is.")
    add("")
    add("## Machine")
    add("")
    add("| | |")
    add("|---|---|")
    for key, value in info.items():
        add(f"| {key} | {value} |")
    add("")
    add("## Load")
    add("")
    counts = load.get("counts", {})
    add(
        f"{counts.get('cases', 0):,} cases, {counts.get('records', 0):,} stage records and "
        f"monitoring contacts, {counts.get('teams', 0)} teams, {counts.get('staff', 0)} "
        f"caseworkers and supervisors (largest caseload {counts.get('largest_caseload', 0):,}, "
        f"median {counts.get('median_caseload', 0):,})."
    )
    add("")
    if load.get("seconds") is not None:
        ok: bool | None = load["seconds"] <= 180 if args.cases >= DEFAULT_CASES else None
        add("| step | seconds | target | |")
        add("|---|---:|---|---|")
        add(f"| migrate | {load['migrate']:.1f} | | |")
        add(
            f"| seed_demo (load, encryption included) | {load['seconds']:.1f} | ≤ 180 s "
            f"| {verdict(ok)} |"
        )
    else:
        add(f"Reused the kept database `{args.db_name}` (load not timed in this run).")
    add("")
    add("## Endpoints under load")
    add("")
    add(
        f"wrk, {args.connections} connections, {args.threads} threads, {args.duration} s each "
        f"after {args.warmup} s of warm-up; gunicorn as compose.yaml runs it ({workers}), "
        "production settings, on 127.0.0.1. Latency in ms. Errors: non-2xx responses plus "
        "socket errors. Ratio: requests/s over the ceiling's, measured in the same run."
    )
    add("")
    add("| endpoint | p50 | p95 | p99 | req/s | errors | ratio | target | |")
    add("|---|---:|---:|---:|---:|---:|---:|---|---|")
    ceiling = next((e for e in endpoints if e.key == "ceiling"), None)
    ceiling_rps = ceiling.result.get("rps") if ceiling and ceiling.result else None
    notes = []
    for e in endpoints:
        r = e.result
        if not r:
            add(f"| {e.title} | n/a | n/a | n/a | n/a | n/a | n/a | | not run |")
            continue
        ratio = r["rps"] / ceiling_rps if ceiling_rps else None
        if not r["requests"]:
            add(
                f"| {e.title} | n/a | n/a | n/a | 0 | {r['errors']:,} | 0 % | "
                "| **no response completed** |"
            )
            continue
        if e.target == "list":
            target = "p95 ≤ 50 ms, ≥ 50 % of ceiling"
            ok = r["p95"] <= 50 and (ratio or 0) >= 0.5 and r["errors"] == 0
        elif e.target == "heavy":
            target = "(judged with one client, below)"
            ok = None
        else:
            target, ok = "", None
        add(
            f"| {e.title} | {r['p50']:.1f} | {r['p95']:.1f} | {r['p99']:.1f} | {r['rps']:,.0f} "
            f"| {r['errors']:,} | {fmt(ratio * 100 if ratio is not None else None, 0)} % "
            f"| {target} | {verdict(ok)} |"
        )
        if r["errors"]:
            notes.append(
                f"- {e.title}: {r['non2xx']:,} non-2xx, {r['socket_errors']:,} socket errors; "
                f"first: {r['first_status']} `{r['first_body'][:160]}`"
            )
    add("")
    alone = [e for e in endpoints if e.alone]
    if alone:
        add(
            "The same server, one client at a time (the summary and dashboard target, "
            "≤ 300 ms, names no concurrency; at 16 clients above they queue behind each other):"
        )
        add("")
        add("| endpoint | p50 | p95 | p99 | req/s | errors | target | |")
        add("|---|---:|---:|---:|---:|---:|---|---|")
        for e in alone:
            a = e.alone
            ok = bool(a["requests"]) and a["p95"] <= 300 and a["errors"] == 0
            add(
                f"| {e.title} | {a['p50']:.1f} | {a['p95']:.1f} | {a['p99']:.1f} "
                f"| {a['rps']:,.0f} | {a['errors']:,} | p95 ≤ 300 ms | {verdict(ok)} |"
            )
        add("")
    if notes:
        add("Errors:")
        add("")
        out.extend(notes)
        add("")
    add("Requests, per endpoint:")
    add("")
    for e in endpoints:
        sample = e.requests[0].split("\t")[0]
        more = f" (and {len(e.requests) - 1:,} more, in turn)" if len(e.requests) > 1 else ""
        add(f"- {e.title}: `{e.method} {sample}`{more}, as {e.user}")
    add("")
    if not args.skip_extras:
        add("## Other measurements")
        add("")
        add("| measurement | figure | target | |")
        add("|---|---|---|---|")
        page = extras.get("pagination")
        if page:
            ok = page["ratio"] <= 1.2 if page["depth"] >= PAGINATION_DEPTH else None
            add(
                f"| cursor pagination: page {page['depth']:,} vs page 1 (median of "
                f"{PAGINATION_REPEAT}) | {page['deep_ms']:.1f} ms vs {page['first_ms']:.1f} ms: "
                f"{page['ratio']:.2f}x | ≤ 1.2x | {verdict(ok)} |"
            )
        export = extras.get("export")
        if export and export.get("status") == 200:
            full = args.cases >= DEFAULT_CASES
            ok = export["seconds"] <= 60 and export["peak_rss_mb"] < 200
            add(
                f"| CSV export over HTTP, {export['rows']:,} cases "
                f"({export['bytes'] / 1e6:.1f} MB) "
                f"| {export['seconds']:.1f} s to the last byte (first after "
                f"{fmt(export['first_byte'], 2)} s); web worker peak RSS "
                f"{export['peak_rss_mb']:.0f} MB (+{export['rss_growth_mb']:.0f} MB) "
                f"| ≤ 60 s, < 200 MB | {verdict(ok if full else None)} |"
            )
        elif export:
            problem = export.get("error") or f"HTTP {export.get('status')}"
            add(f"| CSV export | n/a ({problem}) | ≤ 60 s, < 200 MB | |")
        traced = extras.get("export_memory")
        if traced and traced.get("status") == 200:
            add(
                f"| CSV export in-process ({traced['rows']:,} cases, tracemalloc) | peak "
                f"{traced['peak_mb']:.1f} MB traced, {traced['seconds']:.1f} s (slowed by "
                f"tracing) | < 200 MB | {verdict(traced['peak_mb'] < 200)} |"
            )
        elif traced:
            add(
                f"| CSV export in-process | n/a ({traced.get('error', traced.get('status'))}) | | |"
            )
        imported = extras.get("import")
        if imported and imported.get("rows"):
            ok = imported["rows_per_second"] >= 2000
            add(
                f"| import of {imported['rows']:,} returnees from CSV, full validation, "
                f"rolled back | {imported['seconds']:.1f} s: {imported['rows_per_second']:,.0f} "
                f"rows/s | ≥ 2,000 rows/s | {verdict(ok)} |"
            )
        elif imported:
            add(f"| import | n/a ({imported.get('error', '')}) | ≥ 2,000 rows/s | |")
        marked = extras.get("mark_missed")
        if marked:
            ok = marked["seconds"] <= 5 if args.cases >= DEFAULT_CASES else None
            add(
                f"| overdue-marking job over the whole database (rolled back) "
                f"| {marked['seconds']:.2f} s, {marked['marked']:,} contacts marked "
                f"| ≤ 5 s | {verdict(ok)} |"
            )
        add("")
        queries = extras.get("queries")
        if queries:
            add("Queries per request (Django test client against the same database):")
            add("")
            add("| request | status | queries |")
            add("|---|---:|---:|")
            for row in queries:
                add(f"| {row['title']} | {row['status']} | {row['queries']} |")
            add("")
    memory = extras.get("worker_memory")
    if memory is not None:
        out.extend(worker_memory_report(args, extras, memory))
    add(
        "Load average when the report was written: "
        + " ".join(f"{x:.2f}" for x in os.getloadavg())
        + " (other work on the machine slows every figure)."
    )
    add("")
    return "\n".join(out) + "\n"


def worker_memory_report(
    args: argparse.Namespace, extras: dict[str, Any], memory: WorkerMemory
) -> list[str]:
    """The worker-memory section of the report: each job sent to the worker, then each of the
    worker's processes over the whole run."""
    full = args.cases >= DEFAULT_CASES
    target = f"< {WORKER_RSS_TARGET_MB} MB"
    out = ["## Celery worker memory", ""]
    out.append(
        f"The worker as compose.yaml runs it (`{extras.get('worker_command', 'celery worker')}`: "
        "prefork, one pool process per core), its resident memory (VmRSS, MB of 2^20 bytes) "
        f"read from /proc every {SAMPLE_SECONDS:g} s from start to stop. Beat's jobs over the "
        "whole caseload were sent to it through the broker (beat ran its own schedule too). "
        f"Target (issue #12): every worker process {target} at 100,000 cases."
    )
    out.append("")
    out.append(
        "| job, run in the worker | seconds (queued to result) | result | MB before → peak → "
        "after, the process that grew most | highest of any worker process | target | |"
    )
    out.append("|---|---|---|---|---:|---|---|")
    jobs = []
    if extras.get("warm"):
        warm = dict(extras["warm"])
        warm["title"] = "competition summaries warm-up (beat, every 5 min; before the load test)"
        jobs.append(warm)
    jobs += extras.get("worker_jobs", [])
    emails = 0
    for ran in jobs:
        highest, growth = job_growth(ran)
        emails += ran.get("emails_left_in_outbox", 0)
        ok = highest < WORKER_RSS_TARGET_MB
        out.append(
            f"| {ran['title']} | {job_seconds(ran)} | {job_results(ran)} | {growth} "
            f"| {highest:.0f} MB | {target} | {verdict(ok if full else None)} |"
        )
    out.append("")
    alive = set(memory.current)
    out.append("| worker process | pid | at start | peak | at end | target | |")
    out.append("|---|---:|---:|---:|---:|---|---|")
    for pid in sorted(memory.peak, key=lambda p: (p != memory.main, p)):
        ok = memory.peak[pid] < WORKER_RSS_TARGET_MB
        end = f"{memory.last[pid]:.0f}" if pid in alive else f"{memory.last[pid]:.0f} (gone)"
        out.append(
            f"| {memory.role(pid)} | {pid} | {memory.first[pid]:.0f} | {memory.peak[pid]:.0f} "
            f"| {end} | {target} | {verdict(ok if full else None)} |"
        )
    out.append("")
    runs = extras.get("worker_runs") or []
    if runs:
        sent = {one["id"] for ran in jobs for one in ran["tasks"].values()}
        out.append(
            "Every run of these jobs in the worker during the benchmark, as its log records "
            "them: the benchmark's, and beat's own (on its schedule; a job beat ran first "
            "leaves the benchmark's run little to do). The peaks above cover them all."
        )
        out.append("")
        out.append("| job | sent by | seconds in the worker | result |")
        out.append("|---|---|---:|---:|")
        for name, task_id, seconds, result in runs:
            by = "the benchmark" if task_id in sent else "beat"
            shown = f"{int(result):,}" if result.isdigit() else result
            out.append(f"| `{_short(name)}` | {by} | {seconds:.1f} | {shown} |")
        out.append("")
    replaced = [p for p in memory.peak if p != memory.main and p not in alive]
    notes = []
    if replaced:
        notes.append(
            f"{len(replaced)} pool process(es) ended during the run (replaced, e.g. by the "
            "memory backstop `CELERY_WORKER_MAX_MEMORY_PER_CHILD`, or by a time limit)."
        )
    if emails:
        notes.append(
            f"{emails:,} notification emails the jobs queued were taken off the broker's queue "
            "after each job: they stay pending in the outbox (beat's dispatcher sends them "
            "later), so the next job measured did not wait behind them."
        )
    if notes:
        out.extend([" ".join(notes), ""])
    return out


# --- the run -------------------------------------------------------------------------------


def load_database(args: argparse.Namespace, admin_url: str, scratch: str) -> dict[str, Any]:
    import psycopg
    from seed import pg_admin

    env = seed_env(scratch)
    exists = False
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = bool(
            conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.db_name]).fetchone()
        )
    if exists:
        # Loaded, not just created: a run stopped during the load is loaded again.
        with psycopg.connect(scratch) as conn:
            row = conn.execute("SELECT to_regclass('public.cases_case') IS NOT NULL").fetchone()
            if row and row[0]:
                row = conn.execute("SELECT EXISTS (SELECT 1 FROM cases_case)").fetchone()
            exists = bool(row and row[0])
    if args.reuse and exists:
        print(f"Reusing the scratch database '{args.db_name}'.", flush=True)
        manage(["migrate", "--noinput", "-v", "0"], env)
        return {"seconds": None}
    pg_admin(admin_url, "DROP DATABASE IF EXISTS {}", args.db_name)
    pg_admin(admin_url, "CREATE DATABASE {}", args.db_name)
    migrate = manage(["migrate", "--noinput", "-v", "0"], env)
    seed = [
        "seed_demo",
        "--cases",
        str(args.cases),
        "--records",
        str(args.records),
        "--teams",
        str(args.teams),
        "--staff",
        str(args.staff),
    ]
    if not args.no_skew:
        seed.append("--skew")
    seconds = manage(seed, env)
    return {"seconds": seconds, "migrate": migrate}


def endpoints_for(prep: dict[str, Any]) -> list[Endpoint]:
    session_lines = [
        f"/team/\tCookie: {prep['session_cookie_name']}={key}" for key in prep["sessions"]
    ]
    return [
        Endpoint("ceiling", "ceiling: `GET /api/v1/me/`", "caseworker", ["/api/v1/me/"]),
        Endpoint(
            "caseload",
            "my caseload (largest caseworker)",
            "caseworker",
            [f"/api/v1/cases/?caseworker={prep['caseworker']}"],
            target="list",
        ),
        Endpoint(
            "supervisor_list",
            "supervisor list, filtered",
            "supervisor",
            [
                f"/api/v1/cases/?team={prep['team_uuid']}&stage=monitoring&risk_level=high"
                "&overdue=true"
            ],
            target="list",
        ),
        Endpoint(
            "detail",
            "case detail",
            "caseworker",
            [f"/api/v1/cases/{n}/" for n in prep["detail_cases"]],
            target="list",
        ),
        Endpoint(
            "search",
            "search by case number",
            "supervisor",
            [f"/api/v1/cases/?case_number={q}" for q in prep["search_terms"]],
            target="list",
        ),
        Endpoint(
            "contact_post",
            "record a contact (POST)",
            "caseworker",
            [f"/api/v1/cases/{n}/contacts/" for n in prep["contact_cases"]],
            method="POST",
            body={"actual_date": prep["today"], "mode": "phone", "outcome": "met"},
        ),
        Endpoint(
            "summary",
            "competition summary, whole programme",
            "manager",
            [f"/api/v1/competition/summary/?programme={prep['programme_uuid']}"],
            target="heavy",
        ),
        Endpoint(
            "dashboard",
            "supervisor dashboard page `/team/`",
            "supervisor (session)",
            session_lines,
            target="heavy",
        ),
    ]


def bench(args: argparse.Namespace, admin_url: str) -> str:
    from seed import database_of, redacted, with_database

    if database_of(admin_url) == args.db_name:
        raise BenchError(
            f"DATABASE_URL names '{args.db_name}' itself; name another database on the server "
            "(e.g. postgres): the scratch one is dropped and created."
        )
    scratch = with_database(admin_url, args.db_name)
    info = machine(admin_url)
    info["arguments"] = " ".join(sys.argv[1:]) or "(none)"
    print(f"Scratch database: {redacted(scratch)}", flush=True)
    processes = Processes()
    workdir = Path(tempfile.mkdtemp(prefix="reintegration-bench-"))
    dropped = False
    try:
        load = load_database(args, admin_url, scratch)
        from seed import pg_admin

        for name, value in postgres_settings():
            pg_admin(admin_url, f"ALTER DATABASE {{}} SET {name} = {value}", args.db_name)
            print(f"  PostgreSQL setting from compose.yaml: {name} = {value}", flush=True)
        env = server_env(scratch, args.redis_db)
        try:
            flush_redis(args.redis_db)
        except Exception as exc:
            raise BenchError(f"Redis on 127.0.0.1:6379 is needed: {exc}") from exc
        # As the image is built (Dockerfile): translations compiled, static files collected.
        manage(["compile_translations"], env, quiet=True)
        manage(["collectstatic", "--noinput", "-v", "0"], env)
        prep = helper("prepare", env, redis_db=args.redis_db, sessions=32)
        load["counts"] = prep["counts"]
        if prep.get("reset_contacts"):
            print(f"  reset {prep['reset_contacts']:,} contacts a previous run's job had marked")
        extras: dict[str, Any] = {}
        if not args.skip_extras:
            print("Overdue-marking job (rolled back)...", flush=True)
            extras["mark_missed"] = helper("mark_missed", env)
            print(f"Import of {args.import_rows:,} rows (rolled back)...", flush=True)
            extras["import"] = helper(
                "import",
                env,
                rows=args.import_rows,
                team=prep["team_uuid"],
                user=prep["supervisor"],
            )
            print("Query counts...", flush=True)
            extras["queries"] = helper("queries", env, prep=prep)["rows"]
            if not args.no_tracemalloc:
                print("Export in-process with tracemalloc...", flush=True)
                extras["export_memory"] = helper("export_memory", env, user="manager")

        port = args.port or free_port()
        commands = compose_commands()
        web = local_command(commands["web"], port)
        workers = (
            " ".join(commands["web"][commands["web"].index("--workers") :][:2])
            if "--workers" in commands["web"]
            else "default workers"
        )
        print("Starting the production processes (compose.yaml's commands)...", flush=True)
        master = processes.start("web", web, env)
        worker = processes.start("worker", local_command(commands["worker"], port), env)
        extras["worker_command"] = " ".join(commands["worker"])
        processes.start("beat", local_command(commands["beat"], port), env)
        client = Client(port)
        client.wait_ready(processes)
        wait_worker_ready(processes)
        memory = WorkerMemory(worker.pid)
        memory.start()
        print("Competition summaries warm-up, in the worker (beat's job, once)...", flush=True)
        extras["warm"] = run_in_worker(memory, env, (WARM_TASK,), args.redis_db)
        print("  " + job_line(extras["warm"]), flush=True)

        tokens = prep["tokens"]
        endpoints = endpoints_for(prep)
        only = {k for k in args.only.split(",") if k}
        for endpoint in endpoints:
            if only and endpoint.key not in only and endpoint.key != "ceiling":
                continue
            token = None if endpoint.user.endswith("(session)") else tokens[endpoint.user]
            print(f"wrk: {endpoint.key} ...", flush=True)
            if args.warmup:
                run_wrk(args, port, endpoint, token, workdir, args.warmup)
            endpoint.result = summarise(
                run_wrk(args, port, endpoint, token, workdir, args.duration)
            )
            r = endpoint.result
            print(
                f"  p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, "
                f"{r['rps']:,.0f} req/s, {r['errors']} errors",
                flush=True,
            )
            if endpoint.target == "heavy":
                endpoint.alone = summarise(
                    run_wrk(args, port, endpoint, token, workdir, args.duration, connections=1)
                )
                a = endpoint.alone
                print(
                    f"  one client: p50 {a['p50']:.1f} ms, p95 {a['p95']:.1f} ms, "
                    f"{a['rps']:,.0f} req/s, {a['errors']} errors",
                    flush=True,
                )
            processes.check()
        if not args.skip_extras:
            print("Cursor pagination...", flush=True)
            extras["pagination"] = measure_pagination(client, tokens["manager"], "/api/v1/cases/")
            print("CSV export over HTTP...", flush=True)
            extras["export"] = measure_export(client, tokens["manager"], master.pid)
        extras["worker_jobs"] = []
        for key in args.worker_jobs:
            tasks, title = WORKER_JOBS[key]
            print(f"In the worker: {title}...", flush=True)
            ran = run_in_worker(memory, env, tasks, args.redis_db)
            ran["title"] = title
            extras["worker_jobs"].append(ran)
            print("  " + job_line(ran), flush=True)
            processes.check()
        memory.stop()
        extras["worker_memory"] = memory
        extras["worker_runs"] = worker_runs(
            {WARM_TASK, *(task for tasks, _title in WORKER_JOBS.values() for task in tasks)}
        )
        print("Stopping the processes...", flush=True)
        processes.stop()
        text = report(args, info, load, endpoints, extras, workers)
        if not args.keep:
            from seed import pg_admin

            pg_admin(admin_url, "DROP DATABASE IF EXISTS {}", args.db_name)
            dropped = True
        return text
    finally:
        processes.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        with contextlib.suppress(Exception):
            flush_redis(args.redis_db)
        if args.keep:
            print(f"Kept the scratch database '{args.db_name}' (use --reuse to measure it again).")
        elif not dropped:
            with contextlib.suppress(Exception):
                from seed import pg_admin

                pg_admin(admin_url, "DROP DATABASE IF EXISTS {}", args.db_name)
            print(f"Dropped the scratch database '{args.db_name}'.")


# --- helpers: run in a subprocess with the server's settings ------------------------------

HELPER_FLAG = "--in-process-helper"


def _django() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reintegration.settings")
    import django

    django.setup()


def h_prepare(kw: dict[str, Any]) -> dict[str, Any]:
    """Credentials and request samples: the caseworker with the largest caseload, a supervisor
    of that caseworker's team, the programme manager; a personal token each (as
    ``staff_token_issue`` gives them), OTP-verified sessions for the supervisor (as the login
    and django_otp's ``login`` leave them), and the cases to rotate over. On a reused database,
    first puts back the contacts an earlier run's overdue job marked (missed by the job: no
    recorder, version 2), so every run finds the same work."""
    import importlib

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.management.commands.seed_demo import PROGRAMME_NAME, WRITE_ORDER
    from cases.middleware import _SESSION_STARTED
    from cases.models import (
        Case,
        ContactOutcome,
        DeliveryAttempt,
        Membership,
        MonitoringContact,
        Notification,
        NotificationKind,
        OutboxEvent,
        Programme,
        Returnee,
        Role,
        Stage,
    )
    from cases.services.keys import staff_token_issue

    reset = MonitoringContact.objects.filter(
        outcome=ContactOutcome.MISSED, recorded_by__isnull=True, version=2
    ).update(outcome=ContactOutcome.PLANNED, version=1)
    # And what the missed-contact jobs notified, with their emails and delivery attempts, so
    # they notify the same again (the scratch database only; SQL, not a cascade in Python).
    kinds = [NotificationKind.CONTACT_MISSED.value, NotificationKind.CONTACT_ESCALATED.value]
    # Table names from the models, values as parameters.
    notes = f"SELECT id FROM {Notification._meta.db_table} WHERE kind IN (%s, %s)"  # noqa: S608
    events = f"SELECT id FROM {OutboxEvent._meta.db_table} WHERE notification_id IN ({notes})"  # noqa: S608
    with connection.cursor() as cursor:
        for table, column, ids in (
            (DeliveryAttempt._meta.db_table, "event_id", events),
            (OutboxEvent._meta.db_table, "id", events),
            (Notification._meta.db_table, "id", notes),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({ids})", kinds)  # noqa: S608
    programme = Programme.objects.get(name=PROGRAMME_NAME)
    loads = list(
        Case.objects.filter(programme=programme, caseworker__isnull=False)
        .values_list("caseworker_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "caseworker_id")
    )
    user_model = get_user_model()
    caseworker = user_model.objects.get(pk=loads[0][0])
    team_id = (
        Case.objects.filter(caseworker=caseworker)
        .values_list("team_id")
        .annotate(n=Count("pk"))
        .order_by("-n")[0][0]
    )
    supervisor = (
        Membership.objects.filter(team_id=team_id, role=Role.SUPERVISOR)
        .select_related("user", "team")
        .order_by("user__username")
        .first()
    )
    assert supervisor is not None, "the caseworker's team has no supervisor"
    team = supervisor.team
    assert team is not None
    manager = user_model.objects.get(username="manager")
    expires = timezone.now() + datetime.timedelta(days=1)
    tokens = {
        role: staff_token_issue(actor=user, name="benchmark", expires_at=expires).plaintext
        for role, user in (
            ("caseworker", caseworker),
            ("supervisor", supervisor.user),
            ("manager", manager),
        )
    }
    device = TOTPDevice.objects.filter(user=supervisor.user, confirmed=True).first()
    assert device is not None, "the supervisor has no confirmed authenticator"
    store = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    sessions = []
    for _ in range(int(kw.get("sessions", 16))):
        session = store()
        session[SESSION_KEY] = str(supervisor.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = supervisor.user.get_session_auth_hash()
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[_SESSION_STARTED] = time.time()
        session.create()
        sessions.append(session.session_key)

    own = Case.objects.filter(caseworker=caseworker).order_by("?")
    detail = list(own.values_list("case_number", flat=True)[:2000])
    contact = list(own.filter(stage=Stage.MONITORING).values_list("case_number", flat=True)[:2000])
    if not contact:
        contact = detail[:50]
    team_cases = list(
        Case.objects.filter(team=team).order_by("?").values_list("case_number", flat=True)[:1000]
    )
    # Full numbers and the first letters of one (as read out over the phone), in turn.
    search = [n if i % 2 == 0 else n[:6] for i, n in enumerate(team_cases)]

    with connection.cursor() as cursor:
        # Fresh statistics, as after any bulk load (seed_demo does this too; a reused
        # database may have been changed since).
        cursor.execute("ANALYZE")
        records = 0
        for model in WRITE_ORDER:
            if model not in (Returnee, Case):
                cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # noqa: S608
                records += cursor.fetchone()[0]
    caseloads = sorted(n for _id, n in loads)
    return {
        "reset_contacts": reset,
        "caseworker": caseworker.username,
        "supervisor": supervisor.user.username,
        "team_uuid": str(team.uuid),
        "programme_uuid": str(programme.uuid),
        "tokens": tokens,
        "sessions": sessions,
        "session_cookie_name": settings.SESSION_COOKIE_NAME,
        "detail_cases": detail,
        "contact_cases": contact,
        "search_terms": search,
        "today": timezone.localdate().isoformat(),
        "counts": {
            "cases": Case.objects.count(),
            "records": records,
            "teams": programme.sites.aggregate(n=Count("teams"))["n"],
            "staff": Membership.objects.filter(role__in=[Role.CASEWORKER, Role.SUPERVISOR])
            .values("user")
            .distinct()
            .count(),
            "largest_caseload": caseloads[-1],
            "median_caseload": int(statistics.median(caseloads)),
        },
    }


def h_mark_missed(kw: dict[str, Any]) -> dict[str, Any]:
    """The overdue-marking job over the whole database, timed, then rolled back."""
    from django.db import transaction

    from cases.services.monitoring import contacts_mark_missed

    with transaction.atomic():
        started = time.perf_counter()
        marked = contacts_mark_missed()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {"seconds": seconds, "marked": marked}


def h_tasks(kw: dict[str, Any]) -> dict[str, Any]:
    """Send the tasks ``names`` to the running worker through the broker, together, and wait
    for each one's result: seconds from sending to its result, and the result."""
    from reintegration.celery import app

    started = time.perf_counter()
    pending = {name: app.send_task(name) for name in kw["names"]}
    done: dict[str, Any] = {}
    deadline = started + float(kw.get("timeout", 3600))
    while pending and time.perf_counter() < deadline:
        for name, result in list(pending.items()):
            if result.ready():
                value = result.get(propagate=False)
                done[name] = {
                    "id": result.id,
                    "seconds": time.perf_counter() - started,
                    "status": result.status,
                    "result": value if isinstance(value, int | float | str | dict) else repr(value),
                }
                del pending[name]
        time.sleep(0.2)
    for name, result in pending.items():
        done[name] = {"id": result.id, "seconds": None, "status": "TIMEOUT", "result": None}
    return {"tasks": done}


def import_csv(rows: int, today: datetime.date) -> bytes:
    """``rows`` invented returnees in the import's CSV format (cases.services.imports)."""
    import csv
    import io
    import random

    rng = random.Random()
    out = io.StringIO()
    columns = [
        "given_name", "family_name", "date_of_birth", "national_id", "phone", "address", "sex",
        "year_of_birth", "current_district", "profession", "detention_history",
        "return_pathway", "return_date", "first_contact_date", "intake_date", "referral_source",
        "urgent_needs", "consent_legal_basis", "consent_scope", "consent_given_on",
    ]  # fmt: skip
    writer = csv.writer(out)
    writer.writerow(columns)
    returned = today - datetime.timedelta(days=20)
    for _ in range(rows):
        year = rng.randint(1965, 2005)
        writer.writerow(
            [
                rng.choice(["Ahmed", "Omar", "Fatima", "Maryam", "Yusuf", "Noor"]),
                rng.choice(["al-Jubouri", "al-Obeidi", "Saleh", "al-Rawi"]),
                f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(10**13, 10**14 - 1)}",  # 14 digits: never one the seed made
                f"077{rng.randint(10**7, 10**8 - 1)}",
                f"House {rng.randint(1, 400)}, Mosul",
                rng.choice(["male", "female"]),
                str(year),
                "Mosul",
                "agriculture",
                rng.choice(["yes", "no"]),
                "camp_repatriation",
                returned.isoformat(),
                (returned + datetime.timedelta(days=3)).isoformat(),
                (returned + datetime.timedelta(days=4)).isoformat(),
                "camp_authority",
                "documents;shelter",
                "consent",
                "programme_records;share_with_partners",
                (returned + datetime.timedelta(days=4)).isoformat(),
            ]
        )
    return out.getvalue().encode("utf-8")


def h_import(kw: dict[str, Any]) -> dict[str, Any]:
    """``returnees_import`` of a generated file (full validation, then the bulk write), timed,
    then rolled back; as ``manage.py import_returnees`` and the import endpoint run it."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from cases import context

    try:
        from cases.services.imports import import_team, returnees_import
    except ImportError:
        return {"error": "cases.services.imports not found"}
    actor = get_user_model().objects.get(username=kw["user"])
    team = import_team(actor=actor, team_uuid=kw["team"])
    if team is None:
        return {"error": f"{kw['user']} cannot import into team {kw['team']}"}
    data = import_csv(int(kw["rows"]), timezone.localdate())
    with context.bound(request_id="bench-import-0001"), transaction.atomic():
        started = time.perf_counter()
        result = returnees_import(actor=actor, team=team, data=data)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {
        "rows": result.created,
        "seconds": seconds,
        "rows_per_second": result.created / seconds if seconds else 0.0,
    }


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")


def h_queries(kw: dict[str, Any]) -> dict[str, Any]:
    """Queries of one request to each list (and the detail, summary and dashboard), counted
    with CaptureQueriesContext; each asked twice, the second counted (the first warms
    per-process caches)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    prep = kw["prep"]
    rows = []
    for endpoint in endpoints_for(prep):
        if endpoint.method != "GET":
            continue
        client = _client()
        line = endpoint.requests[0]
        path, _, header = line.partition("\t")
        extra = {}
        if endpoint.user.endswith("(session)"):
            client.cookies[prep["session_cookie_name"]] = header.split("=", 1)[1]
        else:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {prep['tokens'][endpoint.user]}"
        status = count = 0
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path, **extra)
            status, count = response.status_code, len(queries)
        rows.append({"title": endpoint.title, "status": status, "queries": count})
    return {"rows": rows}


def h_export_memory(kw: dict[str, Any]) -> dict[str, Any]:
    """The CSV export in-process, peak Python memory traced (tracemalloc)."""
    import tracemalloc

    from django.contrib.auth import get_user_model

    from cases.services.keys import staff_token_issue

    user = get_user_model().objects.get(username=kw["user"])
    token = staff_token_issue(actor=user, name="benchmark export").plaintext
    client = _client()
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/api/v1/cases/export.csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = size = 0
    if response.status_code == 200:
        content = response.streaming_content if response.streaming else [response.content]
        for chunk in content:
            size += len(chunk)
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "status": response.status_code,
        "rows": max(rows - 1, 0),
        "bytes": size,
        "seconds": seconds,
        "peak_mb": peak / 1e6,
    }


HELPERS = {
    "prepare": h_prepare,
    "mark_missed": h_mark_missed,
    "tasks": h_tasks,
    "import": h_import,
    "queries": h_queries,
    "export_memory": h_export_memory,
}


def run_helper(name: str, raw: str) -> int:
    _django()
    answer = HELPERS[name](json.loads(raw))
    print(json.dumps(answer))
    return 0


def flush_redis(number: int) -> None:
    """Empty the benchmark's Redis database (cache, rate counters, Celery's queues)."""
    import redis

    redis.Redis.from_url(f"redis://127.0.0.1:6379/{number}").flushdb()


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [HELPER_FLAG]:
        return run_helper(argv[1], argv[2])
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print(
            "bench/run.py: wrk is not installed. On Debian or Ubuntu: sudo apt-get install wrk "
            "(make bench does it when run as root).",
            file=sys.stderr,
        )
        return 2
    admin_url = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    if urlsplit(admin_url).scheme not in ("postgres", "postgresql"):
        print("bench/run.py: DATABASE_URL must point at a PostgreSQL server.", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    try:
        text = bench(args, admin_url)
    except BenchError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 2
    except subprocess.CalledProcessError as exc:
        print(
            f"bench/run.py: {' '.join(map(str, exc.cmd))} failed ({exc.returncode})",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print("bench/run.py: interrupted; processes stopped.", file=sys.stderr)
        return 2
    print()
    print(text)
    if args.markdown:
        args.markdown.write_text(text)
        print(f"Written to {args.markdown}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
