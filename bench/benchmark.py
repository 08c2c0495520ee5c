"""One run of the benchmark, step by step (bench/README.md): load, prepare, the jobs,
the production processes, wrk, the other measurements, beat's jobs in the worker, the
report; every process it started is stopped and the scratch database dropped, also on an
error."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import BenchError
from loadtest import endpoints_for, run_wrk, summarise
from measure import measure_export, measure_pagination
from memory import WorkerMemory
from processes import (
    Client,
    Processes,
    compose_commands,
    flush_redis,
    free_port,
    helper,
    local_command,
    manage,
    server_env,
)
from report import machine, report
from scratch import load_database, postgres_settings
from workerjobs import (
    WARM_TASK,
    WORKER_JOBS,
    job_line,
    run_in_worker,
    wait_worker_ready,
    worker_runs,
)


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
