"""What every part of the benchmark (bench/run.py) shares: where things are, the error that
stops a run, and how a figure is written."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
MANAGE = REPO / "manage.py"
LUA = BENCH / "wrk" / "endpoint.lua"
BIN = Path(sys.executable).parent

# Microseconds in a millisecond, milliseconds in a second (wrk reports microseconds).
MS = 1000.0

# The flag run.py takes to run one of inprocess.py's helpers.
HELPER_FLAG = "--in-process-helper"


class BenchError(Exception):
    """The benchmark cannot run (exit status 2)."""


def verdict(ok: bool | None) -> str:
    if ok is None:
        return "—"
    return "met" if ok else "**missed**"


def fmt(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"
