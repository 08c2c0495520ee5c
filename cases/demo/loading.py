"""Writing demo cases fast: chunk by chunk, the next chunk generated while the last one is
written, and on PostgreSQL in several processes side by side."""

from __future__ import annotations

import multiprocessing
import os
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, connections, transaction

from cases.bulkload import BulkLoader
from cases.demo.organisation import TeamStaff
from cases.demo.records import CaseRows
from cases.demo.rows import WRITE_ORDER, Batch
from cases.models import Programme

# Loading processes (``--jobs``): at most this many by default; each has its own random stream.
MAX_JOBS = 2
JOB_SEED_STRIDE = 1_000_003


class SeedError(Exception):
    """The demo load cannot be done as asked, or part of it failed."""


@dataclass
class Load:
    """What every chunk of a load needs."""

    programme: Programme
    team_staff: list[TeamStaff]
    team_weights: list[float] | None
    users: dict[str, Any]
    chunk: int
    per_case: float | None
    started: float
    interval_days: dict[str, int]
    references: set[str]
    progress: Callable[[str], object]


class ChunkWriter:
    """Writes chunks of rows while the next chunk is being generated: on PostgreSQL, outside
    any transaction, a second thread with its own connection does the COPYs (the database
    works on one core while Python builds rows on the other). Elsewhere, or inside a
    transaction (tests), it writes in the caller's thread."""

    def __init__(self) -> None:
        self.threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.error: BaseException | None = None
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="seed-writer", daemon=True)
            self._thread.start()

    @staticmethod
    def write(batch: Batch) -> None:
        loader = BulkLoader()
        with transaction.atomic():
            for model in WRITE_ORDER:
                loader.insert(model, batch.rows.get(model, []))

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self.error is None:
                    self.write(batch)
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            while self._queue.get() is not None:  # drain, so put() never blocks
                pass
        finally:
            connection.close()

    def put(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        if self._thread is None:
            self.write(batch)
        else:
            self._queue.put(batch)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error


def jobs_for(asked: int | None, wanted: int, chunk: int) -> int:
    """Processes to load with: several only on PostgreSQL outside a transaction (each has
    its own connection and commits its own chunks), and only for several chunks' worth."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    if asked is not None:
        return max(asked, 1)
    if wanted < 4 * chunk:
        return 1
    return max(min(os.cpu_count() or 1, MAX_JOBS), 1)


def load_cases(
    plan: Load, rng: random.Random, wanted: int, *, job: int, jobs: int
) -> tuple[int, int]:
    """Generate and write ``wanted`` cases, chunk by chunk; returns (cases, records). Job
    ``job`` of ``jobs`` draws only the case and person numbers that are its own, so
    processes loading side by side never draw the same one."""
    rows = CaseRows(
        interval_days=plan.interval_days, references=plan.references, job=job, jobs=jobs
    )
    created = records = 0
    writer = ChunkWriter()
    prefix = f"  [{job + 1}/{jobs}] " if jobs > 1 else "  "
    try:
        while created < wanted:
            size = min(plan.chunk, wanted - created)
            target = round(plan.per_case * (created + size)) - records if plan.per_case else None
            batch = rows.chunk(
                rng,
                plan.programme,
                plan.team_staff,
                plan.team_weights,
                plan.users,
                size,
                target,
            )
            writer.put(batch)
            created += size
            records += batch.records()
            if wanted > plan.chunk:
                plan.progress(
                    f"{prefix}{created}/{wanted} cases, {records} records "
                    f"({time.monotonic() - plan.started:.0f} s)"
                )
    finally:
        writer.close()
    return created, records


def load_cases_in_processes(plan: Load, seed: int, wanted: int, jobs: int) -> tuple[int, int]:
    """``load_cases`` in ``jobs`` forked processes, each with its share of the cases, its own
    random streams and its own database connection."""
    context = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[int, int]] = context.Queue()
    shares = [wanted // jobs + (1 if k < wanted % jobs else 0) for k in range(jobs)]
    connections.close_all()  # each process opens its own

    def work(job: int) -> None:
        rng = random.Random(seed + job * JOB_SEED_STRIDE)  # noqa: S311 - invented data
        results.put(load_cases(plan, rng, shares[job], job=job, jobs=jobs))
        connections.close_all()

    processes = [context.Process(target=work, args=(k,), daemon=True) for k in range(jobs)]
    for process in processes:
        process.start()
    answers: list[tuple[int, int]] = []
    try:
        for process in processes:
            process.join()
        while len(answers) < jobs and all(p.exitcode == 0 for p in processes):
            answers.append(results.get(timeout=10))
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise SeedError(
            f"{len(failed)} of {jobs} loading processes failed (exit status {failed}); the "
            "chunks they committed stay, and running the command again tops up."
        )
    return sum(a[0] for a in answers), sum(a[1] for a in answers)
