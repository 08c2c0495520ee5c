"""The report of a run, in Markdown: the machine, the load, the endpoints under load, the
other measurements and the Celery worker's memory, each beside its target."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

from common import REPO, fmt, verdict
from loadtest import Endpoint
from measure import PAGINATION_DEPTH, PAGINATION_REPEAT
from memory import SAMPLE_SECONDS, WORKER_RSS_TARGET_MB, WorkerMemory
from options import DEFAULT_CASES
from workerjobs import job_growth, job_results, job_seconds, task_short

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
            out.append(f"| `{task_short(name)}` | {by} | {seconds:.1f} | {shown} |")
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
