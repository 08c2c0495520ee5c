"""The scratch database: created, migrated and loaded with ``seed_demo`` (timed), or a kept
one reused, and tuned with the PostgreSQL settings compose.yaml starts the server with."""

from __future__ import annotations

import argparse
import re
from typing import Any

from common import REPO, BenchError
from processes import manage, seed_env


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
