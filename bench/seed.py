"""Time ``manage.py seed_demo --cases N`` on a fresh, throw-away database.

The PostgreSQL server is the one in DATABASE_URL; the script creates a scratch database on it
(``reintegration_bench`` unless ``--db-name`` says otherwise), runs ``migrate`` and then
``seed_demo`` there as subprocesses, times the seed step, counts the rows it wrote and drops the
scratch database again (``--keep`` keeps it). The database named in DATABASE_URL itself is only
used to create and drop the scratch one.

Usage (from the repository root, with the dev requirements installed):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python bench/seed.py
    .venv/bin/python bench/seed.py --cases 5000 --keep

Exit status: 0 when the seed met the target, 1 when it was slower, 2 when it could not run.
"""

from __future__ import annotations

import argparse
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

REPO = Path(__file__).resolve().parent.parent
MANAGE = REPO / "manage.py"
POSTGRES_SCHEMES = {"postgres", "postgresql"}
# The design's figure: the full demo volume loads in three minutes.
TARGET_CASES = 100_000
TARGET_SECONDS = 180.0
# Tables worth reporting besides the ``cases_`` ones.
EXTRA_TABLES = ("auth_user",)
_DB_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time `manage.py seed_demo --cases N` on a fresh scratch database."
    )
    parser.add_argument("--cases", type=int, default=TARGET_CASES, help="cases to seed")
    parser.add_argument(
        "--db-name",
        default="reintegration_bench",
        help="scratch database created (and dropped) on the server in DATABASE_URL",
    )
    parser.add_argument(
        "--target-seconds",
        type=float,
        default=TARGET_SECONDS,
        help="the seed step must finish within this many seconds",
    )
    parser.add_argument("--chunk", type=int, default=None, help="passed to seed_demo --chunk")
    for option in ("--records", "--teams", "--staff", "--jobs"):
        parser.add_argument(option, type=int, default=None, help=f"passed to seed_demo {option}")
    parser.add_argument("--skew", action="store_true", help="passed to seed_demo --skew")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument(
        "--allow-sqlite",
        action="store_true",
        help="without a PostgreSQL DATABASE_URL, run on a temporary SQLite file instead",
    )
    args = parser.parse_args(argv)
    if args.cases < 1:
        parser.error("--cases must be at least 1")
    if not _DB_NAME.match(args.db_name):
        parser.error("--db-name must be a plain lower-case identifier")
    return args


def fail(message: str) -> int:
    print(f"bench/seed.py: {message}", file=sys.stderr)
    return 2


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def database_of(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def run_manage(args: list[str], database_url: str) -> float:
    """Run ``manage.py <args>`` against ``database_url``; return its wall time in seconds."""
    env = dict(os.environ, DATABASE_URL=database_url)
    # seed_demo refuses production mode; the scratch database only ever holds synthetic data.
    env.pop("DJANGO_ENV", None)
    command = [sys.executable, str(MANAGE), *args]
    print("$ manage.py " + " ".join(args), flush=True)
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, env=env, check=True)
    return time.perf_counter() - started


# --- PostgreSQL -------------------------------------------------------------------------------


def pg_admin(url: str, statement: str, name: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL(statement).format(sql.Identifier(name)))


def pg_counts(url: str) -> tuple[str, dict[str, int]]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        version = row[0] if row else "?"
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            )
        ]
        counts = {}
        for table in tables:
            if table.startswith("cases_") or table in EXTRA_TABLES:
                query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
                found = conn.execute(query).fetchone()
                counts[table] = found[0] if found else 0
    return f"PostgreSQL {version}", counts


# --- SQLite (--allow-sqlite) ------------------------------------------------------------------


def sqlite_counts(path: Path) -> tuple[str, dict[str, int]]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
            )
        ]
        counts = {}
        for table in tables:
            if table.startswith("cases_") or table in EXTRA_TABLES:
                quoted = '"' + table.replace('"', '""') + '"'
                counts[table] = conn.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]  # noqa: S608
        return f"SQLite {sqlite3.sqlite_version}", counts
    finally:
        conn.close()


# --- the benchmark ----------------------------------------------------------------------------


def seed_args(args: argparse.Namespace) -> list[str]:
    extra = []
    for name in ("chunk", "records", "teams", "staff", "jobs"):
        if getattr(args, name) is not None:
            extra += [f"--{name}", str(getattr(args, name))]
    if args.skew:
        extra.append("--skew")
    return ["seed_demo", "--cases", str(args.cases), *extra]


def report(
    args: argparse.Namespace,
    engine: str,
    where: str,
    migrate_seconds: float,
    seed_seconds: float,
    counts: dict[str, int],
) -> int:
    cases = counts.get("cases_case", 0)
    rate = cases / seed_seconds if seed_seconds else 0.0
    met = seed_seconds <= args.target_seconds
    print()
    print("== seed_demo benchmark ==")
    print(f"database       {engine}, {where}")
    print(f"cases asked    {args.cases:,}")
    print(f"cases in db    {cases:,}")
    print(f"migrate        {migrate_seconds:8.1f} s")
    print(f"seed_demo      {seed_seconds:8.1f} s")
    print(f"cases/s        {rate:10,.0f}")
    print("rows per table:")
    for table, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        print(f"  {table:<32} {count:>12,}")
    print(f"  {'(total)':<32} {sum(counts.values()):>12,}")
    verdict = "MET" if met else "MISSED"
    print(f"target         {args.target_seconds:.0f} s for {args.cases:,} cases: {verdict}")
    # Fixed costs (demo users' password hashing, process start) swamp small runs.
    if args.cases != TARGET_CASES and args.cases >= 1000 and rate:
        projected = TARGET_CASES / rate
        print(
            f"projection     {TARGET_CASES:,} cases at this rate: {projected:.0f} s "
            f"(linear extrapolation; run with --cases {TARGET_CASES} for the real figure)"
        )
    if cases != args.cases:
        print(f"WARNING: asked for {args.cases:,} cases, found {cases:,}", file=sys.stderr)
    return 0 if met else 1


def bench_postgres(args: argparse.Namespace, url: str) -> int:
    if database_of(url) == args.db_name:
        return fail(
            f"DATABASE_URL already names '{args.db_name}'; it must name another database on "
            "the server (e.g. postgres) because the scratch one is dropped and re-created."
        )
    scratch = with_database(url, args.db_name)
    print(f"Scratch database: {redacted(scratch)}", flush=True)
    pg_admin(url, "DROP DATABASE IF EXISTS {}", args.db_name)
    pg_admin(url, "CREATE DATABASE {}", args.db_name)
    try:
        migrate_seconds = run_manage(["migrate", "--noinput", "-v", "0"], scratch)
        seed_seconds = run_manage(seed_args(args), scratch)
        engine, counts = pg_counts(scratch)
        return report(args, engine, args.db_name, migrate_seconds, seed_seconds, counts)
    finally:
        if args.keep:
            print(f"Kept scratch database '{args.db_name}'.")
        else:
            pg_admin(url, "DROP DATABASE IF EXISTS {}", args.db_name)
            print(f"Dropped scratch database '{args.db_name}'.")


def bench_sqlite(args: argparse.Namespace) -> int:
    directory = Path(tempfile.mkdtemp(prefix="reintegration-bench-"))
    path = directory / f"{args.db_name}.sqlite3"
    url = f"sqlite:///{path}"
    print(f"Scratch database: {path}", flush=True)
    try:
        migrate_seconds = run_manage(["migrate", "--noinput", "-v", "0"], url)
        seed_seconds = run_manage(seed_args(args), url)
        engine, counts = sqlite_counts(path)
        return report(args, engine, str(path), migrate_seconds, seed_seconds, counts)
    finally:
        if args.keep:
            print(f"Kept scratch database {path}.")
        else:
            path.unlink(missing_ok=True)
            directory.rmdir()
            print("Removed scratch database.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    url = os.environ.get("DATABASE_URL", "")
    scheme = urlsplit(url).scheme if url else ""
    try:
        if scheme in POSTGRES_SCHEMES:
            return bench_postgres(args, url)
        if args.allow_sqlite:
            return bench_sqlite(args)
    except subprocess.CalledProcessError as exc:
        return fail(f"'{' '.join(exc.cmd[2:])}' failed with exit status {exc.returncode}.")
    except psycopg.Error as exc:
        return fail(f"PostgreSQL: {exc}")
    return fail(
        "DATABASE_URL must point at a PostgreSQL server (postgres://user@host:port/dbname); "
        "pass --allow-sqlite to benchmark on a temporary SQLite file instead."
    )


if __name__ == "__main__":
    sys.exit(main())
