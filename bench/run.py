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

This file is the entry point; the steps are in the modules beside it (bench/README.md lists
them), and run.py also runs their in-process helpers (``--in-process-helper``).

Exit status: 0 when it ran (targets met or not: the table says), 2 when it could not run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchmark import bench
from common import HELPER_FLAG, BenchError
from inprocess import run_helper
from options import parse_args


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
