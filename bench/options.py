"""The command line of ``make bench`` (bench/run.py) and the load issue #7 asks for."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from workerjobs import WORKER_JOBS

# The load: what issue #7 asks for.
DEFAULT_CASES = 100_000
DEFAULT_RECORDS = 2_000_000
DEFAULT_TEAMS = 50
DEFAULT_STAFF = 500
IMPORT_ROWS = 10_000


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
