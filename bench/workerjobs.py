"""Beat's jobs run in the benchmark's Celery worker through the broker, each with the
worker's memory before, during and after, and the lines that describe a run."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

from common import BENCH, BenchError, fmt
from memory import WorkerMemory
from processes import Processes, helper

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


def task_short(task: str) -> str:
    return task.removeprefix("cases.")


def job_seconds(ran: dict[str, Any]) -> str:
    return ", ".join(
        f"{task_short(name)} {fmt(one['seconds'])} s" if one["seconds"] is not None else
        f"{task_short(name)} timed out"
        for name, one in ran["tasks"].items()
    )  # fmt: skip


def job_results(ran: dict[str, Any]) -> str:
    parts = []
    for name, one in ran["tasks"].items():
        value = one["result"]
        shown = f"{value:,}" if isinstance(value, int) else str(value)
        parts.append(
            f"{task_short(name)}: {shown}"
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
