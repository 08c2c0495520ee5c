"""Measurements over HTTP besides wrk's: deep cursor pagination, and the CSV export timed to
the last byte while the web workers' memory is sampled."""

from __future__ import annotations

import json
import statistics
import threading
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from common import MS, BenchError
from memory import rss_mb, worker_pids
from processes import Client

PAGINATION_DEPTH = 1000
PAGINATION_REPEAT = 20


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
