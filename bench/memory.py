"""Resident memory read from /proc: of gunicorn's workers during the export, and of the
Celery worker's processes sampled in a thread over the whole run."""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path


def worker_pids(master: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == master:
                children.append(int(entry.name))
    return children


def rss_mb(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# --- the Celery worker's memory -----------------------------------------------------------

# Issue #12: every worker process under this at 100,000 cases (resident memory, MB of 2**20).
WORKER_RSS_TARGET_MB = 200
SAMPLE_SECONDS = 0.1


def child_pids(pid: int) -> list[int]:
    """The direct children of ``pid`` (a Celery worker's pool processes)."""
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:  # a kernel without the children file: scan /proc
        return worker_pids(pid)


class WorkerMemory:
    """The resident memory (VmRSS) of the Celery worker's processes, its main process and
    every pool process as they come and go (one past the memory backstop is replaced),
    sampled every SAMPLE_SECONDS in a thread from start to stop: per process the first
    figure, the last and the peak, and the peak within a window (one job)."""

    def __init__(self, main_pid: int) -> None:
        self.main = main_pid
        self.first: dict[int, float] = {}
        self.last: dict[int, float] = {}
        self.peak: dict[int, float] = {}
        self.window: dict[int, float] = {}
        self.current: dict[int, float] = {}  # the latest sample: the processes alive then
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sample()

    def _run(self) -> None:
        while not self._stop.wait(SAMPLE_SECONDS):
            self.sample()

    def sample(self) -> dict[int, float]:
        now = {pid: rss_mb(pid) for pid in [self.main, *child_pids(self.main)]}
        now = {pid: mb for pid, mb in now.items() if mb > 0}  # 0: gone since listed
        with self._lock:
            self.current = now
            for pid, mb in now.items():
                self.first.setdefault(pid, mb)
                self.last[pid] = mb
                self.peak[pid] = max(self.peak.get(pid, 0.0), mb)
                self.window[pid] = max(self.window.get(pid, 0.0), mb)
        return now

    def open_window(self) -> dict[int, float]:
        """Start a new window; returns each live process's figure now."""
        now = self.sample()
        with self._lock:
            self.window = dict(now)
        return now

    def window_peaks(self) -> dict[int, float]:
        self.sample()
        with self._lock:
            return dict(self.window)

    def role(self, pid: int) -> str:
        return "main process" if pid == self.main else "pool process"
