"""Writing and verifying the keyed, hash-chained audit log, and signing its checkpoints."""

from __future__ import annotations

import hmac
import ipaddress
import logging
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection, transaction
from django.utils import timezone

from cases import context
from cases.models import AuditAction, AuditEvent
from cases.services.audit_chain import (
    CHECKPOINT_MARKER,
    Checkpoint,
    checkpoint_append,
    checkpoint_paths,
    checkpoints_read,
    current_key,
    secrets_by_key_id,
)
from cases.services.audit_chain import GENESIS_HASH as GENESIS_HASH  # re-exported

logger = logging.getLogger(__name__)
# Its own logger, kept at INFO whatever LOG_LEVEL says (settings, LOGGING): the signed
# checkpoints in the process log are the copy that log shipping takes off the host.
checkpoint_logger = logging.getLogger("cases.audit.checkpoint")

# Any constant works: it names the one advisory lock that serialises appends on PostgreSQL.
_CHAIN_LOCK_ID = 72_615_301


def _normalised_ip(ip: str | None) -> str | None:
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip).compressed
    except ValueError:
        return None


def actor_label(actor: AbstractBaseUser | AnonymousUser | None) -> str:
    if actor is None:
        return "system"
    if not actor.is_authenticated:
        return "anonymous"
    return f"user:{actor.get_username()}"


def audit_record(
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    action: AuditAction,
    object_type: str,
    object_id: str,
    case_number: str = "",
    fields: list[str] | tuple[str, ...] = (),
    detail: dict[str, Any] | None = None,
    label: str | None = None,
) -> AuditEvent:
    """Append one event. Must run inside the transaction of the change it records, so the
    change and its audit row commit or roll back together."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit_record must be called inside a transaction.")
    action = AuditAction(action)  # an action outside the catalogue is a programming error
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_CHAIN_LOCK_ID])
    previous = AuditEvent.objects.order_by("-id").values_list("hash", flat=True).first()
    key = current_key()
    ctx = context.current()
    user_id = actor.pk if actor is not None and actor.is_authenticated else None
    event = AuditEvent(
        at=timezone.now(),
        actor_id=user_id,
        actor_label=label or actor_label(actor),
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        case_number=case_number,
        fields=sorted(fields),
        detail=detail or {},
        request_id=ctx.request_id,
        ip=_normalised_ip(ctx.ip),
        prev_hash=previous or GENESIS_HASH,
        key_id=key.key_id,
    )
    event.hash = event.compute_hash(key.secret)
    event.save(force_insert=True)
    return event


class Problem(StrEnum):
    """What verification can find wrong."""

    BROKEN_LINK = "broken link"
    CONTENT_CHANGED = "content changed"
    UNKNOWN_KEY = "unknown key"
    TRUNCATED = "truncated"
    REWRITTEN = "rewritten"
    BAD_CHECKPOINT = "bad checkpoint"


# Problems found at one event of the chain; the walk stops trusting the chain after the first.
CHAIN_BREAKS = frozenset({Problem.BROKEN_LINK, Problem.CONTENT_CHANGED})


@dataclass(frozen=True)
class ChainProblem:
    kind: Problem
    message: str
    event_id: int | None = None


@dataclass(frozen=True)
class ChainReport:
    checked: int  # events whose link and hash verified, up to the first broken one
    count: int = 0  # events in the chain (up to and including the head)
    head_id: int | None = None
    head_hash: str = GENESIS_HASH
    problems: tuple[ChainProblem, ...] = ()
    legacy: int = 0  # unkeyed events from before the chain was keyed, verified the old way
    checkpoints: int = 0  # signed checkpoints compared with the chain
    latest_checkpoint: Checkpoint | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_broken_id(self) -> int | None:
        return next((p.event_id for p in self.problems if p.kind in CHAIN_BREAKS), None)

    @property
    def problem(self) -> str:
        return self.problems[0].message if self.problems else ""

    def headlines(self) -> list[str]:
        """One sentence a problem, naming what was done to the chain."""
        lines = []
        for p in self.problems:
            if p.kind in CHAIN_BREAKS:
                lines.append(
                    f"Audit chain broken at event {p.event_id}: {p.message} "
                    f"({self.checked} events verified before it)."
                )
            else:
                lines.append(f"{_HEADLINES[p.kind]}: {p.message}.")
        return lines

    def as_dict(self) -> dict[str, Any]:
        return {
            "checked": self.checked,
            "first_broken_id": self.first_broken_id,
            "problems": self.headlines(),
        }


_HEADLINES = {
    Problem.UNKNOWN_KEY: "Audit chain cannot be verified",
    Problem.TRUNCATED: "Audit chain truncated",
    Problem.REWRITTEN: "Audit chain rewritten",
    Problem.BAD_CHECKPOINT: "Audit checkpoint invalid",
}


def _head_changed(checkpoint: Checkpoint, stored_hash: str) -> ChainProblem:
    return ChainProblem(
        Problem.REWRITTEN,
        f"event {checkpoint.head_id} has changed since {checkpoint.describe()}: its hash is now "
        f"{stored_hash[:16]}…, the checkpoint recorded {checkpoint.head_hash[:16]}… (the event "
        "was replaced, or the chain recomputed)",
        checkpoint.head_id,
    )


def _count_differs(checkpoint: Checkpoint, count: int) -> ChainProblem:
    if count < checkpoint.count:
        return ChainProblem(
            Problem.TRUNCATED,
            f"{checkpoint.describe()} counted {checkpoint.count} events up to event "
            f"{checkpoint.head_id}, the log now holds {count}: "
            f"{checkpoint.count - count} events before it were removed",
            checkpoint.head_id,
        )
    return ChainProblem(
        Problem.REWRITTEN,
        f"{checkpoint.describe()} counted {checkpoint.count} events up to event "
        f"{checkpoint.head_id}, the log now holds {count}: events were inserted before it",
        checkpoint.head_id,
    )


def _head_missing(checkpoint: Checkpoint, last_id: int | None, count: int) -> ChainProblem:
    if last_id is None or checkpoint.head_id is None or checkpoint.head_id > last_id:
        now = "the log is now empty" if last_id is None else f"the log now ends at event {last_id}"
        return ChainProblem(
            Problem.TRUNCATED,
            f"{checkpoint.describe()} records {checkpoint.count} events up to event "
            f"{checkpoint.head_id}; {now} with {count} events: its tail was removed",
            checkpoint.head_id,
        )
    return ChainProblem(
        Problem.TRUNCATED,
        f"event {checkpoint.head_id}, the head of {checkpoint.describe()}, is missing: it was "
        "removed",
        checkpoint.head_id,
    )


def _latest(checkpoints: Sequence[Checkpoint]) -> Checkpoint | None:
    return max(checkpoints, key=lambda c: (c.at, c.count), default=None)


class _Walk:
    """One pass over the events in id order: each link, each hash under the key that made it,
    and each checkpoint whose head event it passes."""

    def __init__(self, *, secrets: dict[str, bytes], checkpoints: Sequence[Checkpoint]) -> None:
        self.secrets = secrets
        self.expected_prev = GENESIS_HASH
        self.count = 0
        self.checked = 0
        self.legacy = 0
        self.keyed_seen = False
        self.last_id: int | None = None
        self.broken: ChainProblem | None = None
        self.unknown: dict[str, list[int]] = {}  # key id -> [first id, last id, events]
        self.by_head: dict[int, list[Checkpoint]] = defaultdict(list)
        self.checkpoint_problems: list[tuple[Checkpoint, ChainProblem]] = []
        for checkpoint in checkpoints:
            if checkpoint.head_id is not None:
                self.by_head[checkpoint.head_id].append(checkpoint)

    def resume_after(self, checkpoint: Checkpoint, *, keyed_seen: bool) -> None:
        """Start after a checkpoint already found to match the chain."""
        assert checkpoint.head_id is not None
        self.expected_prev = checkpoint.head_hash
        self.count = checkpoint.count
        self.last_id = checkpoint.head_id
        self.keyed_seen = keyed_seen
        for head_id in [h for h in self.by_head if h <= checkpoint.head_id]:
            del self.by_head[head_id]

    def step(self, event: AuditEvent) -> None:
        self.count += 1
        self.last_id = event.id
        if self.broken is None:
            self._verify(event)
            self.expected_prev = event.hash
        for checkpoint in self.by_head.pop(event.id, ()):
            if not hmac.compare_digest(event.hash, checkpoint.head_hash):
                self.checkpoint_problems.append((checkpoint, _head_changed(checkpoint, event.hash)))
            elif self.count != checkpoint.count:
                self.checkpoint_problems.append(
                    (checkpoint, _count_differs(checkpoint, self.count))
                )

    def _verify(self, event: AuditEvent) -> None:
        def broken(kind: Problem, message: str) -> None:
            self.broken = ChainProblem(kind, message, event.id)

        if event.prev_hash != self.expected_prev:
            return broken(
                Problem.BROKEN_LINK, "its previous-hash does not match the event before it"
            )
        if not event.key_id:
            # Legacy events are only the ones written before the chain was keyed: a chain
            # recomputed without the key cannot pass for them once keyed events came first.
            if self.keyed_seen:
                return broken(
                    Problem.CONTENT_CHANGED,
                    "its content is hashed as an unkeyed legacy event, after keyed events: the "
                    "chain was recomputed without the key",
                )
            if not hmac.compare_digest(event.compute_hash(None), event.hash):
                return broken(Problem.CONTENT_CHANGED, "its content does not match its hash")
            self.legacy += 1
            self.checked += 1
            return None
        self.keyed_seen = True
        secret = self.secrets.get(event.key_id)
        if secret is None:
            # Not verifiable, not proven wrong either: the walk goes on, the report names them.
            seen = self.unknown.setdefault(event.key_id, [event.id, event.id, 0])
            seen[1], seen[2] = event.id, seen[2] + 1
            return None
        if not hmac.compare_digest(event.compute_hash(secret), event.hash):
            return broken(
                Problem.CONTENT_CHANGED,
                f"its content does not match its hash under key {event.key_id}: the event was "
                "changed, or the chain recomputed without the key",
            )
        self.checked += 1
        return None

    def problems(self) -> list[ChainProblem]:
        found = [] if self.broken is None else [self.broken]
        for key_id, (first, last, events) in self.unknown.items():
            which = (
                f"event {first} was" if events == 1 else f"{events} events, {first} to {last}, were"
            )
            found.append(
                ChainProblem(
                    Problem.UNKNOWN_KEY,
                    f"{which} chained with key {key_id}, which is not in AUDIT_CHAIN_KEYS: they "
                    "cannot be verified (put that key back in the list, after the current one)",
                    first,
                )
            )
        for checkpoints in self.by_head.values():
            for checkpoint in checkpoints:
                problem = _head_missing(checkpoint, self.last_id, self.count)
                self.checkpoint_problems.append((checkpoint, problem))
        # Checkpoints that disagree alike are told once, by the latest of them.
        by_kind: dict[Problem, list[tuple[Checkpoint, ChainProblem]]] = defaultdict(list)
        for checkpoint, problem in self.checkpoint_problems:
            by_kind[problem.kind].append((checkpoint, problem))
        for same in by_kind.values():
            _, problem = max(same, key=lambda pair: (pair[0].at, pair[0].count))
            if len(same) > 1:
                more = f" ({len(same) - 1} earlier checkpoints disagree likewise)"
                problem = ChainProblem(problem.kind, problem.message + more, problem.event_id)
            found.append(problem)
        return found


def _anchor_problem(
    checkpoint: Checkpoint, *, anchor_id: int, last_id: int | None
) -> ChainProblem | None:
    """Does the chain still hold the checkpoint's head event (``anchor_id``), unchanged, with
    as many events up to it as the checkpoint counted?"""
    stored = AuditEvent.objects.filter(id=anchor_id).values_list("hash", flat=True).first()
    if stored is None:
        return _head_missing(checkpoint, last_id, AuditEvent.objects.count())
    if not hmac.compare_digest(stored, checkpoint.head_hash):
        return _head_changed(checkpoint, stored)
    count = AuditEvent.objects.filter(id__lte=anchor_id).count()
    if count != checkpoint.count:
        return _count_differs(checkpoint, count)
    return None


def audit_verify(
    *,
    checkpoint_copies: Sequence[Path | str] = (),
    since_latest_checkpoint: bool = False,
    batch_size: int = 5000,
) -> ChainReport:
    """Walk the chain in order and report what is wrong: the first event whose link or hash
    (under the key that chained it) does not verify, events chained with a key no longer
    configured, and every signed checkpoint (AUDIT_CHECKPOINT_PATH, plus ``checkpoint_copies``
    such as lines kept from the log) that the chain no longer matches or that does not verify.

    ``since_latest_checkpoint`` checks the latest checkpoint's head and count and the events
    after it only: what is done before each new checkpoint, while the nightly run walks it all.
    """
    secrets = secrets_by_key_id()
    paths = checkpoint_paths(checkpoint_copies)
    reading = checkpoints_read(paths, secrets=secrets)
    problems = [
        ChainProblem(
            Problem.UNKNOWN_KEY if error.unknown_key else Problem.BAD_CHECKPOINT,
            f"the checkpoint at {source}: {error}",
        )
        for source, error in reading.rejected
    ]
    latest = _latest(reading.checkpoints)
    walk = _Walk(secrets=secrets, checkpoints=reading.checkpoints)
    with transaction.atomic():
        # Appends take their ids under one lock (PostgreSQL's advisory lock, SQLite's write
        # lock), so every event up to the head read here has committed: the walk and the
        # counts below look at one fixed chain while new events keep arriving.
        head_id = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()
        events = AuditEvent.objects.filter(id__lte=head_id or 0)
        if since_latest_checkpoint and latest is not None and latest.head_id is not None:
            anchor = _anchor_problem(latest, anchor_id=latest.head_id, last_id=head_id)
            if anchor is not None:
                return ChainReport(0, problems=(*problems, anchor), latest_checkpoint=latest)
            keyed_before = events.filter(id__lte=latest.head_id).exclude(key_id="").exists()
            walk.resume_after(latest, keyed_seen=keyed_before)
            events = events.filter(id__gt=latest.head_id)
        for event in events.order_by("id").iterator(chunk_size=batch_size):
            walk.step(event)
    problems = [*walk.problems(), *problems]
    notes = []
    if walk.legacy:
        notes.append(
            f"{walk.legacy} legacy events, written before the chain was keyed, were verified "
            "with plain SHA-256: only a checkpoint after them anchors them."
        )
    for path in reading.missing:
        notes.append(f"No checkpoint file at {path} yet.")
    if not paths:
        notes.append(
            "No checkpoint file is configured (AUDIT_CHECKPOINT_PATH): a removed tail, or a "
            "chain rewritten as legacy events, cannot be detected without one."
        )
    elif latest is None and not reading.missing:
        notes.append("No signed checkpoint was found to compare the chain with.")
    return ChainReport(
        walk.checked,
        count=walk.count,
        head_id=walk.last_id,
        head_hash=walk.expected_prev if walk.broken is None else "",
        problems=tuple(problems),
        legacy=walk.legacy,
        checkpoints=len(reading.checkpoints),
        latest_checkpoint=latest,
        notes=tuple(notes),
    )


@dataclass(frozen=True)
class CheckpointOutcome:
    report: ChainReport
    checkpoint: Checkpoint | None  # None: refused, the report says why
    path: Path | None = None

    def as_dict(self) -> dict[str, Any]:
        written = self.checkpoint.count if self.checkpoint is not None else None
        return {**self.report.as_dict(), "checkpoint": written}


def audit_checkpoint_write(*, report: ChainReport | None = None) -> CheckpointOutcome:
    """Sign the chain's head and count with the current chain key and keep the checkpoint
    outside the database: one line appended to AUDIT_CHECKPOINT_PATH, one in the process log.

    Only a chain that verifies is signed: ``report`` when given (a full walk just done),
    otherwise the latest checkpoint and the events since are checked first. A refusal is
    logged as an error. No audit event is written for it: one would move the head it signs.
    """
    if report is None:
        report = audit_verify(since_latest_checkpoint=True)
    if not report.ok:
        logger.error("Audit checkpoint not written: %s", " ".join(report.headlines()))
        return CheckpointOutcome(report, None)
    key = current_key()
    checkpoint = Checkpoint(
        at=timezone.now(),
        count=report.count,
        head_id=report.head_id,
        head_hash=report.head_hash,
        key_id=key.key_id,
    ).signed(key)
    # The log first: if the file cannot be written, the copy in the log still exists.
    checkpoint_logger.info("%s%s", CHECKPOINT_MARKER, checkpoint.to_json())
    path = Path(settings.AUDIT_CHECKPOINT_PATH) if settings.AUDIT_CHECKPOINT_PATH else None
    if path is not None:
        checkpoint_append(path, checkpoint)
    return CheckpointOutcome(report, checkpoint, path)
