"""The audit chain's keys and its signed checkpoints, which anchor the chain outside the database.

A checkpoint states how many events the chain held, its head event and head hash, at a time,
signed (HMAC-SHA256) with the chain key. It is appended to ``AUDIT_CHECKPOINT_PATH``, a JSON-lines
file opened with ``O_APPEND`` and meant for another volume marked append-only, and written to the
process log, so log shipping keeps a copy. Whoever can rewrite the database can rewrite neither,
and without the key cannot forge a checkpoint.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# Starts the checkpoint in a log line, so a copy can be picked out of shipped logs.
CHECKPOINT_MARKER = "audit-checkpoint "
CHECKPOINT_KIND = "audit-checkpoint"
CHECKPOINT_VERSION = 1
# The previous hash of the first event, and the head hash of an empty chain.
GENESIS_HASH = "0" * 64
_HEX_64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class ChainKey:
    key_id: str
    secret: bytes = b""

    def __repr__(self) -> str:  # never the secret, in a log or a traceback
        return f"ChainKey({self.key_id!r})"


def key_id_of(secret: bytes) -> str:
    """A short public fingerprint of a key, stored with each event and checkpoint it made."""
    return hmac.new(secret, b"reintegration audit chain key id", hashlib.sha256).hexdigest()[:12]


@functools.lru_cache(maxsize=8)
def _keys(raw_keys: tuple[str, ...]) -> tuple[ChainKey, ...]:
    keys: dict[str, ChainKey] = {}
    for raw in raw_keys:
        secret = raw.strip().encode("utf-8")
        if secret:
            keys.setdefault(key_id_of(secret), ChainKey(key_id_of(secret), secret))
    if not keys:
        raise ImproperlyConfigured("AUDIT_CHAIN_KEYS holds no key.")
    return tuple(keys.values())


def chain_keys() -> tuple[ChainKey, ...]:
    """``AUDIT_CHAIN_KEYS``, newest first: the first chains new events and signs checkpoints;
    the others still verify what they chained before a rotation."""
    return _keys(tuple(settings.AUDIT_CHAIN_KEYS))


def current_key() -> ChainKey:
    return chain_keys()[0]


def secrets_by_key_id() -> dict[str, bytes]:
    return {key.key_id: key.secret for key in chain_keys()}


def _canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


def _signature(payload: dict[str, Any], secret: bytes) -> str:
    return hmac.new(secret, _canonical(payload), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """The chain as it stood at ``at``: ``count`` events, the newest ``head_id`` with
    ``head_hash`` (no head and the genesis hash when empty), signed with key ``key_id``."""

    at: datetime
    count: int
    head_id: int | None
    head_hash: str
    key_id: str
    signature: str = ""
    # Where it was read from ("path:line"), to name it in a report; not part of what is signed.
    source: str = ""

    def payload(self) -> dict[str, Any]:
        return {
            "kind": CHECKPOINT_KIND,
            "v": CHECKPOINT_VERSION,
            "at": self.at.isoformat(),
            "count": self.count,
            "head_id": self.head_id,
            "head_hash": self.head_hash,
            "key_id": self.key_id,
        }

    def signed(self, key: ChainKey) -> Checkpoint:
        return replace(
            self,
            key_id=key.key_id,
            signature=_signature({**self.payload(), "key_id": key.key_id}, key.secret),
        )

    def to_json(self) -> str:
        return json.dumps(
            {**self.payload(), "sig": self.signature}, sort_keys=True, separators=(",", ":")
        )

    def describe(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"the checkpoint of {self.at.isoformat()}{where}"


class CheckpointError(ValueError):
    """A line that claims to be a checkpoint and is not one whose signature verifies."""

    def __init__(self, message: str, *, unknown_key: bool = False) -> None:
        super().__init__(message)
        self.unknown_key = unknown_key


def _field(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = data.get(name)
    # bool is an int to Python; a count of True is not a count.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CheckpointError(f"its field {name!r} is missing or of the wrong type")
    return value


def checkpoint_parse(text: str, *, secrets: dict[str, bytes], source: str = "") -> Checkpoint:
    """Read one checkpoint (the JSON object, or a log line holding it after the marker) and
    verify its signature with the key it names."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CheckpointError("it is not valid JSON") from exc
    if not isinstance(data, dict) or data.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError("it is not an audit checkpoint")
    if data.get("v") != CHECKPOINT_VERSION:
        raise CheckpointError(f"its version {data.get('v')!r} is not {CHECKPOINT_VERSION}")
    signature = _field(data, "sig", str)
    key_id = _field(data, "key_id", str)
    count = _field(data, "count", int)
    head_hash = _field(data, "head_hash", str)
    head_id = data.get("head_id")
    if head_id is not None:
        head_id = _field(data, "head_id", int)
    try:
        at = datetime.fromisoformat(_field(data, "at", str))
    except ValueError as exc:
        raise CheckpointError("its time is not an ISO 8601 time") from exc
    if at.tzinfo is None or count < 0 or not _HEX_64.fullmatch(head_hash):
        raise CheckpointError("its time, count or head hash is malformed")
    if (head_id is None) != (count == 0) or (head_id is None and head_hash != GENESIS_HASH):
        raise CheckpointError("its head does not agree with its count")
    secret = secrets.get(key_id)
    if secret is None:
        raise CheckpointError(
            f"it is signed with key {key_id}, which is not in AUDIT_CHAIN_KEYS: it cannot be "
            "verified",
            unknown_key=True,
        )
    payload = {name: value for name, value in data.items() if name != "sig"}
    if not hmac.compare_digest(_signature(payload, secret), signature):
        raise CheckpointError(
            "its signature does not verify: the checkpoint was altered, or forged without the key"
        )
    return Checkpoint(at, count, head_id, head_hash, key_id, signature, source)


def checkpoint_text(line: str) -> str | None:
    """The checkpoint a line holds, or None for a line that holds none (a log's other lines)."""
    if CHECKPOINT_MARKER in line:
        return line.split(CHECKPOINT_MARKER, 1)[1].strip()
    stripped = line.strip()
    return stripped if stripped.startswith("{") else None


@dataclass(frozen=True)
class CheckpointReading:
    checkpoints: tuple[Checkpoint, ...]
    # (where, what is wrong) for each line that claims to be a checkpoint and does not verify.
    rejected: tuple[tuple[str, CheckpointError], ...]
    missing: tuple[Path, ...]


def checkpoints_read(paths: Iterable[Path], *, secrets: dict[str, bytes]) -> CheckpointReading:
    """Every checkpoint in these files (the checkpoint file, or copies kept from the log)."""
    found: list[Checkpoint] = []
    rejected: list[tuple[str, CheckpointError]] = []
    missing: list[Path] = []
    for path in paths:
        try:
            handle = path.open(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            missing.append(path)
            continue
        with handle:
            for number, line in enumerate(handle, start=1):
                text = checkpoint_text(line)
                if text is None:
                    continue
                source = f"{path}:{number}"
                try:
                    found.append(checkpoint_parse(text, secrets=secrets, source=source))
                except CheckpointError as exc:
                    rejected.append((source, exc))
    return CheckpointReading(tuple(found), tuple(rejected), tuple(missing))


def checkpoint_append(path: Path, checkpoint: Checkpoint) -> None:
    """Add one line to the checkpoint file, never touching what is there: ``O_APPEND`` is the
    only way to write to a file marked append-only (``chattr +a``), and one ``write`` of one
    short line lands whole even when two processes append at once."""
    line = (checkpoint.to_json() + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        if os.write(fd, line) != len(line):
            raise OSError(f"the checkpoint was written only in part to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_paths(extra: Sequence[Path | str] = ()) -> list[Path]:
    """The configured checkpoint file, if any, then the copies given."""
    configured = [Path(settings.AUDIT_CHECKPOINT_PATH)] if settings.AUDIT_CHECKPOINT_PATH else []
    return [*configured, *(Path(path) for path in extra)]
