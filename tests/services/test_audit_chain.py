"""The audit chain is keyed and anchored outside the database (issue #12, point 4).

The attacker here has write access to the table with its triggers bypassed (as a superuser
would), and the project's code, but not the chain key and not the checkpoint file: they delete
the newest events, or edit one and recompute every later hash. Each attack must be reported.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor

from cases.models import AuditAction, AuditEvent
from cases.services.audit import (
    GENESIS_HASH,
    Problem,
    audit_checkpoint_write,
    audit_record,
    audit_verify,
)
from cases.services.audit_chain import (
    CHECKPOINT_MARKER,
    ChainKey,
    Checkpoint,
    checkpoint_append,
    key_id_of,
)
from cases.tasks import audit_checkpoint_task, audit_verify_task

from ..test_settings import PRODUCTION_ENV, _manage

KEY_1 = "test-audit-chain-key-number-one-0123456789"
KEY_2 = "test-audit-chain-key-number-two-9876543210"
ATTACKERS_KEY = "a-key-the-attacker-made-up-for-the-chain-000"
ID_1 = key_id_of(KEY_1.encode())
ID_2 = key_id_of(KEY_2.encode())
T0 = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _chain_key(settings):
    settings.AUDIT_CHAIN_KEYS = [KEY_1]
    settings.AUDIT_CHECKPOINT_PATH = ""


@pytest.fixture
def frozen(time_machine):
    time_machine.move_to(T0, tick=False)
    return time_machine


@pytest.fixture
def checkpoint_file(settings, tmp_path):
    """The checkpoint file, on a volume of its own (here: a directory of its own)."""
    path = tmp_path / "audit-volume" / "checkpoints.jsonl"
    path.parent.mkdir()
    settings.AUDIT_CHECKPOINT_PATH = str(path)
    return path


def record(count: int, *, start: int = 0) -> list[AuditEvent]:
    with transaction.atomic():
        return [
            audit_record(
                actor=None,
                action=AuditAction.DEMO_SEED,
                object_type="case",
                object_id=f"C-TEST-{n:04d}",
                detail={"n": n},
            )
            for n in range(start, start + count)
        ]


@pytest.fixture
def events(db, frozen):
    return record(5)


def checkpoint_now() -> Checkpoint:
    """Sign a checkpoint of the chain (which has events, so there is one to sign)."""
    checkpoint = audit_checkpoint_write().checkpoint
    assert checkpoint is not None
    return checkpoint


# --- the attacker ------------------------------------------------------------------------------


def as_attacker(*statements: tuple[str, list[Any]]) -> None:
    """Run SQL as someone with write access to the table and its triggers out of the way, inside
    the test's transaction (rolled back at its end, triggers included)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL session_replication_role = replica")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS cases_auditevent_no_update")
        for sql, params in statements:
            cursor.execute(sql, params)


def _canonical(event: AuditEvent) -> bytes:
    content = json.dumps(event.content(), sort_keys=True, separators=(",", ":"), default=str)
    return (event.prev_hash + content).encode("utf-8")


def old_unkeyed_hash(event: AuditEvent) -> str:
    """The project's hash function before the chain was keyed: anyone can compute it."""
    return hashlib.sha256(_canonical(event)).hexdigest()


def hmac_under(key: str):
    return lambda event: hmac.new(key.encode(), _canonical(event), hashlib.sha256).hexdigest()


def delete_events(*ids: int) -> None:
    as_attacker(*(("DELETE FROM cases_auditevent WHERE id = %s", [pk]) for pk in ids))


def rewrite_from(first_id: int, hasher, *, object_id: str | None = None, key_id=None) -> None:
    """Edit event ``first_id`` (its object id) and recompute its hash and every later one's,
    each chained to the one before, with ``hasher``; ``key_id`` also relabels the events."""
    statements = []
    previous = None
    for event in AuditEvent.objects.order_by("id"):
        if event.id >= first_id:
            if event.id == first_id and object_id is not None:
                event.object_id = object_id
            if previous is not None:
                event.prev_hash = previous
            if key_id is not None:
                event.key_id = key_id
            event.hash = hasher(event)
            statements.append(
                (
                    "UPDATE cases_auditevent SET object_id = %s, prev_hash = %s, hash = %s, "
                    "key_id = %s WHERE id = %s",
                    [event.object_id, event.prev_hash, event.hash, event.key_id, event.id],
                )
            )
        previous = event.hash
    as_attacker(*statements)


def kinds(report) -> list[Problem]:
    return [problem.kind for problem in report.problems]


# --- the keyed chain ---------------------------------------------------------------------------


def test_events_are_chained_with_hmac_under_the_first_key_and_name_it(events):
    for event in AuditEvent.objects.order_by("id"):
        assert event.key_id == ID_1
        assert event.hash == hmac_under(KEY_1)(event)
        assert event.hash != old_unkeyed_hash(event)
    assert AuditEvent.objects.earliest("id").prev_hash == GENESIS_HASH
    report = audit_verify()
    assert report.ok
    assert report.checked == 5
    assert report.legacy == 0


# --- attack 1: the newest events are deleted ----------------------------------------------------


def test_deleting_the_newest_events_is_reported_as_a_truncated_tail(events, checkpoint_file):
    assert checkpoint_now().count == 5
    delete_events(events[3].pk, events[4].pk)

    report = audit_verify()

    assert kinds(report) == [Problem.TRUNCATED]
    assert report.problems[0].event_id == events[4].pk
    assert (
        f"records 5 events up to event {events[4].pk}; the log now ends at event "
        f"{events[2].pk} with 3 events: its tail was removed" in report.problem
    )
    assert f"{checkpoint_file}:1" in report.problem
    assert T0.isoformat() in report.problem


def test_a_removed_tail_is_found_after_new_events_were_appended(events, checkpoint_file):
    audit_checkpoint_write()
    delete_events(events[3].pk, events[4].pk)
    record(2, start=10)  # the application carries on, chaining from what is left

    report = audit_verify()

    assert kinds(report) == [Problem.TRUNCATED]
    assert f"event {events[4].pk}, the head of the checkpoint" in report.problem
    assert "is missing: it was removed" in report.problem


def test_an_event_removed_from_the_middle_breaks_a_link_and_the_count(events, checkpoint_file):
    audit_checkpoint_write()
    delete_events(events[1].pk)

    report = audit_verify()

    assert kinds(report) == [Problem.BROKEN_LINK, Problem.TRUNCATED]
    assert report.first_broken_id == events[2].pk
    assert (
        f"counted 5 events up to event {events[4].pk}, the log now holds 4: 1 events before it "
        "were removed" in report.problems[1].message
    )


# --- attack 2: an event is edited and every later hash recomputed ---------------------------------


def test_an_edit_recomputed_with_the_old_unkeyed_function_is_found(events):
    rewrite_from(events[2].pk, old_unkeyed_hash, object_id="C-FORGED")

    report = audit_verify()

    assert kinds(report) == [Problem.CONTENT_CHANGED]
    assert report.first_broken_id == events[2].pk
    assert report.checked == 2
    assert f"does not match its hash under key {ID_1}" in report.problem


@pytest.mark.parametrize("relabel", [False, True], ids=["keeps-the-key-id", "names-its-own-key"])
def test_an_edit_recomputed_with_hmac_under_a_wrong_key_is_found(events, checkpoint_file, relabel):
    audit_checkpoint_write()
    rewrite_from(
        events[2].pk,
        hmac_under(ATTACKERS_KEY),
        object_id="C-FORGED",
        key_id=key_id_of(ATTACKERS_KEY.encode()) if relabel else None,
    )

    report = audit_verify()

    assert not report.ok
    if relabel:
        # Events chained with a key we do not hold cannot pass as verified.
        assert kinds(report) == [Problem.UNKNOWN_KEY, Problem.REWRITTEN]
        assert f"3 events, {events[2].pk} to {events[4].pk}" in report.problem
    else:
        assert kinds(report) == [Problem.CONTENT_CHANGED, Problem.REWRITTEN]
        assert report.first_broken_id == events[2].pk
    # The checkpoint's head no longer matches either way.
    rewritten = report.problems[-1]
    assert rewritten.event_id == events[4].pk
    assert "has changed since the checkpoint of" in rewritten.message


def test_events_recomputed_as_unkeyed_legacy_events_after_keyed_ones_are_found(events):
    rewrite_from(events[2].pk, old_unkeyed_hash, object_id="C-FORGED", key_id="")

    report = audit_verify()

    assert kinds(report) == [Problem.CONTENT_CHANGED]
    assert report.first_broken_id == events[2].pk
    assert "unkeyed legacy event, after keyed events" in report.problem


def test_the_whole_chain_recomputed_as_legacy_events_is_caught_by_the_checkpoint(
    events, checkpoint_file
):
    audit_checkpoint_write()
    rewrite_from(events[0].pk, old_unkeyed_hash, object_id="C-FORGED", key_id="")

    report = audit_verify()

    assert kinds(report) == [Problem.REWRITTEN]
    assert report.legacy == 5  # every link and SHA-256 hash checks: only the anchor tells


def test_a_chain_rewritten_with_the_key_still_disagrees_with_earlier_checkpoints(
    events, checkpoint_file, frozen
):
    """Even someone holding the key, who rewrites the chain and signs a checkpoint of their
    own, cannot take back the checkpoints already appended to the file."""
    audit_checkpoint_write()
    frozen.shift(timedelta(minutes=10))
    audit_checkpoint_write()
    rewrite_from(events[1].pk, hmac_under(KEY_1), object_id="C-FORGED")
    frozen.shift(timedelta(minutes=10))
    head = AuditEvent.objects.latest("id")
    forged = Checkpoint(T0 + timedelta(minutes=20), 5, head.id, head.hash, ID_1)
    checkpoint_append(checkpoint_file, forged.signed(ChainKey(ID_1, KEY_1.encode())))

    report = audit_verify()

    assert report.checkpoints == 3
    assert kinds(report) == [Problem.REWRITTEN]
    assert f"{checkpoint_file}:2" in report.problem  # the latest honest checkpoint
    assert "(1 earlier checkpoints disagree likewise)" in report.problem


def test_without_a_checkpoint_file_verify_says_what_it_cannot_detect(events):
    report = audit_verify()
    assert report.ok
    assert any(
        "No checkpoint file is configured (AUDIT_CHECKPOINT_PATH)" in note
        and "cannot be detected" in note
        for note in report.notes
    )


# --- key rotation ---------------------------------------------------------------------------------


def test_events_and_checkpoints_before_and_after_a_key_rotation_verify(
    settings, frozen, checkpoint_file, db
):
    before = record(3)
    first = checkpoint_now()
    frozen.shift(timedelta(minutes=10))
    settings.AUDIT_CHAIN_KEYS = [KEY_2, KEY_1]  # the new key first, the old one kept
    after = record(2, start=3)
    second = checkpoint_now()

    assert {e.key_id for e in before} == {ID_1}
    assert {e.key_id for e in after} == {ID_2}
    assert (first.key_id, second.key_id) == (ID_1, ID_2)
    assert after[0].prev_hash == before[-1].hash  # the chain runs on across the rotation
    report = audit_verify()
    assert report.ok
    assert report.checked == 5
    assert report.checkpoints == 2


def test_removing_the_old_key_names_the_events_that_cannot_be_verified(
    settings, frozen, checkpoint_file, db
):
    before = record(3)
    audit_checkpoint_write()
    settings.AUDIT_CHAIN_KEYS = [KEY_2, KEY_1]
    record(2, start=3)
    settings.AUDIT_CHAIN_KEYS = [KEY_2]  # the old key dropped

    report = audit_verify()

    assert kinds(report) == [Problem.UNKNOWN_KEY, Problem.UNKNOWN_KEY]
    events_problem, checkpoint_problem = report.problems
    assert events_problem.event_id == before[0].pk
    assert events_problem.message.startswith(
        f"3 events, {before[0].pk} to {before[2].pk}, were chained with key {ID_1}, "
        "which is not in AUDIT_CHAIN_KEYS: they cannot be verified"
    )
    assert f"{checkpoint_file}:1: it is signed with key {ID_1}" in checkpoint_problem.message
    assert report.checked == 2  # the events of the current key still verify
    with pytest.raises(
        CommandError, match=f"Audit chain cannot be verified: 3 events, {before[0].pk}"
    ):
        call_command("audit_verify", stdout=StringIO(), stderr=StringIO())


# --- the checkpoint file and the log --------------------------------------------------------------


def test_checkpoints_are_appended_to_the_file_and_never_rewritten(events, checkpoint_file, frozen):
    first = checkpoint_now()
    first_line = checkpoint_file.read_bytes()
    frozen.shift(timedelta(minutes=10))
    record(1, start=5)
    second = checkpoint_now()

    content = checkpoint_file.read_bytes()
    assert content.startswith(first_line)
    lines = [json.loads(line) for line in content.decode().splitlines()]
    assert [line["count"] for line in lines] == [5, 6]
    assert lines[0] == {
        "kind": "audit-checkpoint",
        "v": 1,
        "at": T0.isoformat(),
        "count": 5,
        "head_id": events[4].pk,
        "head_hash": events[4].hash,
        "key_id": ID_1,
        "sig": first.signature,
    }
    assert lines[1]["at"] == (T0 + timedelta(minutes=10)).isoformat()
    assert lines[1]["head_id"] == second.head_id != first.head_id


def test_the_checkpoint_file_can_be_marked_append_only(events, checkpoint_file):
    """`chattr +a`, as the README recommends: the kernel then refuses any write that is not an
    append, and the writer still works because it opens the file with O_APPEND."""
    checkpoint_file.touch()
    if subprocess.run(["chattr", "+a", str(checkpoint_file)], check=False).returncode:  # noqa: S603, S607
        pytest.skip("chattr +a needs root and a file system that supports it")
    try:
        assert audit_checkpoint_write().checkpoint is not None
        with pytest.raises(PermissionError):
            checkpoint_file.open("w")
        with pytest.raises(PermissionError):
            checkpoint_file.open("r+")
        assert json.loads(checkpoint_file.read_text())["count"] == 5
    finally:
        subprocess.run(["chattr", "-a", str(checkpoint_file)], check=True)  # noqa: S603, S607


def test_the_log_carries_a_copy_that_detects_a_removed_tail(events, caplog, tmp_path):
    # No checkpoint file at all: the log shipped off the host is the anchor.
    with caplog.at_level(logging.INFO, logger="cases.audit.checkpoint"):
        checkpoint = checkpoint_now()
    [logged] = [r for r in caplog.records if r.name == "cases.audit.checkpoint"]
    assert logged.getMessage() == CHECKPOINT_MARKER + checkpoint.to_json()
    shipped = tmp_path / "shipped.log"
    shipped.write_text(
        "2026-03-01 09:50:00,000 INFO celery.worker Task accepted\n"
        f"2026-03-01 10:00:00,000 INFO cases.audit.checkpoint {logged.getMessage()}\n"
    )
    delete_events(events[4].pk)

    assert audit_verify().ok  # on its own the database cannot tell
    report = audit_verify(checkpoint_copies=[shipped])
    assert kinds(report) == [Problem.TRUNCATED]
    assert f"{shipped}:2" in report.problem


def test_the_process_log_keeps_checkpoints_whatever_the_log_level():
    shell = (
        "import logging; print(logging.getLogger('cases').isEnabledFor(logging.INFO), "
        "logging.getLogger('cases.audit.checkpoint').isEnabledFor(logging.INFO))"
    )
    result = _manage("shell", "-c", shell, env={"LOG_LEVEL": "WARNING"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False True"


def _tamper_first_line(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    data = json.loads(lines[0])
    change(data)
    lines[0] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: d.update(count=3), id="count-lowered"),
        pytest.param(lambda d: d.update(head_id=d["head_id"] - 2), id="head-moved"),
        pytest.param(
            lambda d: d.update(
                sig=Checkpoint(T0, 3, 1, "0" * 63 + "1", ID_1)
                .signed(ChainKey(ID_1, ATTACKERS_KEY.encode()))
                .signature
            ),
            id="signed-without-the-key",
        ),
    ],
)
def test_a_tampered_checkpoint_is_reported(events, checkpoint_file, change):
    audit_checkpoint_write()
    _tamper_first_line(checkpoint_file, change)

    report = audit_verify()

    assert kinds(report) == [Problem.BAD_CHECKPOINT]
    assert report.problem == (
        f"the checkpoint at {checkpoint_file}:1: its signature does not verify: the checkpoint "
        "was altered, or forged without the key"
    )
    with pytest.raises(CommandError, match="Audit checkpoint invalid: the checkpoint at"):
        call_command("audit_verify", stdout=StringIO(), stderr=StringIO())


def test_a_line_that_is_not_a_checkpoint_in_the_file_is_reported(events, checkpoint_file):
    audit_checkpoint_write()
    with checkpoint_file.open("a") as handle:
        handle.write('{"kind": "audit-checkpoint", "v": 1, "count": "lots"}\n')

    report = audit_verify()

    assert kinds(report) == [Problem.BAD_CHECKPOINT]
    assert f"{checkpoint_file}:2" in report.problem


def test_no_checkpoint_is_signed_over_a_broken_chain(events, checkpoint_file, caplog):
    audit_checkpoint_write()
    before = checkpoint_file.read_bytes()
    delete_events(events[4].pk)

    with caplog.at_level(logging.ERROR):
        outcome = audit_checkpoint_write()

    assert outcome.checkpoint is None
    assert kinds(outcome.report) == [Problem.TRUNCATED]
    assert checkpoint_file.read_bytes() == before
    assert "Audit checkpoint not written: Audit chain truncated" in caplog.text


def test_the_next_checkpoint_is_refused_when_events_since_the_latest_were_recomputed(
    events, checkpoint_file
):
    audit_checkpoint_write()
    later = record(2, start=5)
    rewrite_from(later[0].pk, old_unkeyed_hash, object_id="C-FORGED")

    outcome = audit_checkpoint_write()

    assert outcome.checkpoint is None
    assert outcome.report.first_broken_id == later[0].pk


# --- the command, the tasks, beat -----------------------------------------------------------------


def run_manage(*args: str) -> tuple[int, str, str]:
    """The command's exit status, output and error output, as `manage.py` gives them: a
    CommandError is printed as "CommandError: <message>" and exits with its returncode."""
    out, err = StringIO(), StringIO()
    try:
        call_command(*args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue(), f"{err.getvalue()}CommandError: {error}\n"
    return 0, out.getvalue(), err.getvalue()


def test_the_command_exits_zero_and_signs_a_checkpoint_on_an_intact_chain(events, checkpoint_file):
    status, out, err = run_manage("audit_verify")
    assert status == 0, err
    assert "Audit chain intact: 5 events." in out
    assert f"Checkpoint signed with key {ID_1}: 5 events up to event {events[4].pk}" in out
    assert f"No checkpoint file at {checkpoint_file} yet." in err

    status, out, _ = run_manage("audit_verify", "--no-checkpoint")
    assert status == 0
    assert "Audit chain intact: 5 events, matching 1 signed checkpoints (the latest: " in out
    assert len(checkpoint_file.read_text().splitlines()) == 1  # --no-checkpoint wrote none


def test_the_command_exits_non_zero_naming_a_truncated_tail(events, checkpoint_file):
    assert run_manage("audit_verify")[0] == 0
    delete_events(events[3].pk, events[4].pk)

    status, out, err = run_manage("audit_verify")

    assert status == 1
    assert "intact" not in out
    assert f"CommandError: Audit chain truncated: the checkpoint of {T0.isoformat()}" in err
    assert len(checkpoint_file.read_text().splitlines()) == 1  # nothing signed over it


def test_the_command_names_a_recomputed_chain_and_every_other_problem(events, checkpoint_file):
    assert run_manage("audit_verify")[0] == 0
    rewrite_from(events[1].pk, old_unkeyed_hash, object_id="C-FORGED")

    status, _, err = run_manage("audit_verify")

    assert status == 1
    assert f"Audit chain rewritten: event {events[4].pk} has changed since" in err
    assert (
        f"CommandError: Audit chain broken at event {events[1].pk}: its content does not match "
        f"its hash under key {ID_1}" in err
    )
    assert "(1 more problems above.)" in err


def test_beat_signs_a_checkpoint_every_ten_minutes(events, checkpoint_file, settings):
    entry = next(
        e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "cases.audit_checkpoint"
    )
    assert entry["schedule"] == 600.0

    assert audit_checkpoint_task.apply().get() == {
        "checked": 5,
        "first_broken_id": None,
        "problems": [],
        "checkpoint": 5,
    }
    assert json.loads(checkpoint_file.read_text())["head_id"] == events[4].pk


def test_the_nightly_task_reports_a_truncated_tail(events, checkpoint_file):
    assert audit_verify_task.apply().get()["checkpoint"] == 5
    delete_events(events[4].pk)

    result = audit_verify_task.apply().get()

    assert result["checkpoint"] is None
    assert result["first_broken_id"] is None
    assert result["problems"][0].startswith("Audit chain truncated: the checkpoint of")


# --- events from before the chain was keyed -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_legacy_events_from_before_the_migration_verify_and_keyed_ones_follow(frozen):
    """Events written before migration 0012 (plain SHA-256) are kept as they are, marked
    legacy, verified the old way; the first keyed event chains from the last legacy hash."""
    executor = MigrationExecutor(connection)
    executor.migrate([("cases", "0011_delivery_attempts")])
    try:
        previous = GENESIS_HASH
        with connection.cursor() as cursor:
            for n in range(3):
                old = AuditEvent(
                    at=T0,
                    actor_label="system",
                    action="old.event",
                    object_type="case",
                    object_id=f"C-OLD-{n}",
                    detail={"n": n},
                    prev_hash=previous,
                )
                old.hash = old_unkeyed_hash(old)
                cursor.execute(
                    "INSERT INTO cases_auditevent (at, actor_label, action, object_type, "
                    "object_id, case_number, fields, detail, request_id, prev_hash, hash) "
                    "VALUES (%s, 'system', 'old.event', 'case', %s, '', '[]', %s, '', %s, %s)",
                    [
                        connection.ops.adapt_datetimefield_value(T0),
                        old.object_id,
                        json.dumps(old.detail),
                        old.prev_hash,
                        old.hash,
                    ],
                )
                previous = old.hash
    finally:
        MigrationExecutor(connection).migrate(
            MigrationExecutor(connection).loader.graph.leaf_nodes()
        )

    assert list(AuditEvent.objects.values_list("key_id", flat=True)) == ["", "", ""]
    [keyed] = record(1)
    assert keyed.prev_hash == previous
    assert keyed.key_id == ID_1
    report = audit_verify()
    assert report.ok
    assert report.checked == 4
    assert report.legacy == 3
    assert any("3 legacy events" in note for note in report.notes)


# --- production settings --------------------------------------------------------------------------


def test_production_refuses_the_development_audit_key_and_a_borrowed_one():
    dev = _manage(
        "check",
        env={
            **PRODUCTION_ENV,
            "AUDIT_CHAIN_KEYS": "dev-only-audit-chain-key-do-not-use-in-production",
        },
    )
    assert dev.returncode != 0
    assert "development keys" in dev.stderr
    borrowed = _manage(
        "check", env={**PRODUCTION_ENV, "AUDIT_CHAIN_KEYS": PRODUCTION_ENV["SECRET_KEY"]}
    )
    assert borrowed.returncode != 0
    assert "AUDIT_CHAIN_KEYS must be keys of their own" in borrowed.stderr


def test_compose_keeps_the_checkpoints_on_a_volume_of_their_own_for_the_worker():
    import yaml

    root = Path(__file__).resolve().parents[2]
    compose = yaml.safe_load((root / "compose.yaml").read_text())
    example = dict(
        line.split("=", 1)
        for line in (root / "prod.env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    directory = str(Path(example["AUDIT_CHECKPOINT_PATH"]).parent)
    mounts = {m.split(":")[1]: m.split(":")[0] for m in compose["services"]["worker"]["volumes"]}
    assert mounts[directory] in compose["volumes"]
    for name in ("postgres", "redis", "web"):
        assert "volumes" not in compose["services"][name] or all(
            directory not in mount for mount in compose["services"][name]["volumes"]
        ), name
