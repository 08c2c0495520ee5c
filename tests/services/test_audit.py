"""The audit log: append-only in the app and in the database, hash-chained, verifiable."""

import itertools
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from cases.models import AppendOnlyError, AuditAction, AuditEvent
from cases.services.audit import GENESIS_HASH, audit_record, audit_verify


@pytest.fixture
def events(world):
    with transaction.atomic():
        return [
            audit_record(
                actor=world.alice,
                action=AuditAction.DEMO_SEED,
                object_type="case",
                object_id=f"C-TEST-{n:04d}",
                fields=["stage"],
                detail={"n": n},
            )
            for n in range(5)
        ]


def _disable_guard_and_run(sql, params):
    """Simulate someone with direct database access editing a row, inside this test's
    transaction (rolled back at its end, trigger included)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "ALTER TABLE cases_auditevent DISABLE TRIGGER cases_auditevent_no_update"
            )
        else:
            cursor.execute("DROP TRIGGER cases_auditevent_no_update")
        cursor.execute(sql, params)


def test_events_form_a_chain_from_the_genesis_hash(events):
    assert events[0].prev_hash == GENESIS_HASH
    for previous, current in itertools.pairwise(events):
        assert current.prev_hash == previous.hash
    report = audit_verify()
    assert report.ok
    assert report.checked == 5


def test_event_records_who_what_when_and_where(world, events):
    event = AuditEvent.objects.get(pk=events[0].pk)
    assert event.actor == world.alice
    assert event.actor_label == "user:alice"
    assert (event.request_id, event.ip) == ("test-request-0001", "192.0.2.10")
    assert event.at is not None


def test_the_app_refuses_to_update_or_delete_events(events):
    event = AuditEvent.objects.get(pk=events[0].pk)
    event.action = "something.else"
    with pytest.raises(AppendOnlyError):
        event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.all().delete()


def test_the_database_trigger_refuses_an_update(events):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE cases_auditevent SET action = %s WHERE id = %s", ["forged", events[0].pk]
        )
    assert AuditEvent.objects.get(pk=events[0].pk).action == AuditAction.DEMO_SEED


@pytest.mark.postgres
def test_the_database_trigger_refuses_a_delete_on_postgresql(events):
    if connection.vendor != "postgresql":
        pytest.skip("the DELETE trigger is PostgreSQL's; set DATABASE_URL to run it")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM cases_auditevent WHERE id = %s", [events[0].pk])
    assert AuditEvent.objects.filter(pk=events[0].pk).exists()


def test_verify_reports_the_first_event_whose_content_was_changed(events):
    _disable_guard_and_run(
        "UPDATE cases_auditevent SET object_id = %s WHERE id = %s", ["C-FORGED", events[2].pk]
    )
    report = audit_verify()
    assert report.first_broken_id == events[2].pk
    assert report.checked == 2
    assert "content" in report.problem


def test_verify_reports_a_removed_event_as_a_broken_link(events):
    _disable_guard_and_run("DELETE FROM cases_auditevent WHERE id = %s", [events[1].pk])
    report = audit_verify()
    assert report.first_broken_id == events[2].pk
    assert "previous-hash" in report.problem


def test_audit_verify_command_fails_loudly_on_a_broken_chain(events):
    out = StringIO()
    call_command("audit_verify", stdout=out)
    assert "intact: 5 events" in out.getvalue()
    _disable_guard_and_run(
        "UPDATE cases_auditevent SET detail = %s WHERE id = %s", ['{"n": 99}', events[3].pk]
    )
    with pytest.raises(CommandError, match=f"broken at event {events[3].pk}"):
        call_command("audit_verify", stdout=StringIO())


def test_audit_record_outside_a_transaction_is_refused(transactional_db):
    with pytest.raises(RuntimeError, match="inside a transaction"):
        audit_record(actor=None, action=AuditAction.DEMO_SEED, object_type="x", object_id="x")
    assert not AuditEvent.objects.exists()
