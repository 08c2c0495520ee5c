"""The endpoints driven under load, and wrk's run of each (through bench/wrk/endpoint.lua)
summarised as latency percentiles, requests per second and errors."""

from __future__ import annotations

import argparse
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import LUA, MS, BenchError


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
