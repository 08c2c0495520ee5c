"""Partner webhook delivery through the outbox, against a real HTTP receiver (pytest-httpserver):
signing, retries with back-off, the dead letter and its replay, the beat dispatcher, SSRF checks,
and an outbox that survives a broker outage."""

from __future__ import annotations

import contextlib
import datetime
import json
import logging
import os
import shutil
import socket
import subprocess
import threading
import time
from collections import Counter

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from werkzeug import Request, Response

from cases.models import (
    AuditAction,
    AuditEvent,
    DeliveryAttempt,
    DeliveryOutcome,
    OutboxEvent,
    OutboxStatus,
    WebhookEndpoint,
)
from cases.services.audit import audit_record
from cases.services.errors import ActionNotAllowed, DomainError
from cases.services.outbox import (
    ABANDONED_ERROR,
    BACKOFF_CAP_SECONDS,
    LATE_NOTE,
    USER_AGENT,
    AttemptOutcome,
    outbox_claim,
    outbox_enqueue,
    outbox_event_replay,
    outbox_lease,
    outbox_record_attempt,
    webhook_backoff,
    webhook_deliver,
    webhook_dispatch_due,
    webhook_endpoint_register,
    webhook_endpoint_remove,
    webhook_sign,
    webhook_url_check,
    webhook_verify,
)
from cases.tasks import webhook_deliver_task, webhook_dispatch_task

from .. import factories as f

PAYLOAD = {"referral": "9b0c7d7e-0000-4000-8000-000000000001", "case_number": "C-7KQ2-XM4P"}


@pytest.fixture
def receiver(httpserver, settings):
    """The partner's server, on localhost: allowed only because private addresses are on."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    return httpserver


@pytest.fixture
def partner(db):
    return f.PartnerFactory()


def register(partner, url: str) -> tuple[WebhookEndpoint, str]:
    return webhook_endpoint_register(partner=partner, url=url, actor_label="partner:test")


def enqueue(partner, topic: str = "referral.offered") -> list[OutboxEvent]:
    with transaction.atomic():
        return outbox_enqueue(partner=partner, topic=topic, payload=dict(PAYLOAD))


def make_due(event: OutboxEvent) -> None:
    OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())


def requests_to(server, path: str = "/hook") -> list[Request]:
    return [request for request, _response in server.log if request.path == path]


def spare_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- Delivery ----------------------------------------------------------------------------


def test_delivery_is_signed_and_carries_the_event_uuid_as_idempotency_key(partner, receiver):
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    _endpoint, secret = register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    event = webhook_deliver(event_id=event.pk)

    (request,) = requests_to(receiver)
    body = request.get_data()
    assert webhook_verify(secret=secret, header=request.headers["X-Signature"], body=body)
    assert request.headers["X-Idempotency-Key"] == str(event.uuid)
    assert request.headers["X-Event-Topic"] == "referral.offered"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT
    assert json.loads(body) == {**PAYLOAD, "event": "referral.offered", "event_id": str(event.uuid)}
    assert body == json.dumps(json.loads(body), separators=(",", ":"), sort_keys=True).encode()
    assert event.status == OutboxStatus.DELIVERED
    assert event.delivered_at is not None
    (delivery,) = DeliveryAttempt.objects.filter(event=event)
    assert delivery.status_code == 200
    assert delivery.error == ""


def test_a_500_leaves_the_event_pending_with_a_backoff_in_bounds(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("down", status=500)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    before = timezone.now()

    event = webhook_deliver(event_id=event.pk)

    after = timezone.now()
    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    assert event.last_error == "HTTP 500"
    assert before < event.next_attempt_at <= after + datetime.timedelta(seconds=30)
    (delivery,) = DeliveryAttempt.objects.filter(event=event)
    assert delivery.status_code == 500
    assert delivery.duration_ms is not None
    assert delivery.duration_ms >= 0


def test_a_retry_that_is_not_due_yet_is_left_alone(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("down", status=500)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() + datetime.timedelta(minutes=5)
    )

    event = webhook_deliver(event_id=event.pk)

    assert requests_to(receiver) == []
    assert event.attempts == 0
    assert not DeliveryAttempt.objects.exists()


def test_an_unreachable_receiver_is_a_failed_attempt_not_a_crash(partner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    register(partner, f"http://127.0.0.1:{spare_port()}/hook")  # nothing listens there
    (event,) = enqueue(partner)

    event = webhook_deliver(event_id=event.pk)

    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    assert event.last_error.startswith("ConnectError")
    (delivery,) = DeliveryAttempt.objects.filter(event=event)
    assert delivery.status_code is None
    assert delivery.error == event.last_error


def test_a_redirect_is_not_followed_and_counts_as_a_failure(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data(
        "", status=302, headers={"Location": receiver.url_for("/elsewhere")}
    )
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    event = webhook_deliver(event_id=event.pk)

    assert requests_to(receiver, "/elsewhere") == []
    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    assert "302" in event.last_error


def test_after_the_last_attempt_the_event_is_dead_lettered(partner, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.expect_request("/hook", method="POST").respond_with_data("down", status=503)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    for _ in range(3):
        make_due(event)
        event = webhook_deliver(event_id=event.pk)

    assert event.status == OutboxStatus.DEAD
    assert event.attempts == 3
    assert DeliveryAttempt.objects.filter(event=event, status_code=503).count() == 3
    make_due(event)
    assert webhook_deliver(event_id=event.pk).status == OutboxStatus.DEAD
    assert len(requests_to(receiver)) == 3


def test_backoff_doubles_from_30_seconds_up_to_6_hours(monkeypatch):
    monkeypatch.setattr("cases.services.outbox.core.random.uniform", lambda low, high: high)
    ceilings = [webhook_backoff(attempts=n).total_seconds() for n in (1, 2, 3, 10, 11, 50, 5000)]
    assert ceilings == [30, 60, 120, 15360, BACKOFF_CAP_SECONDS, BACKOFF_CAP_SECONDS, 6 * 3600]
    monkeypatch.undo()
    for n in range(1, 15):
        assert 0 <= webhook_backoff(attempts=n).total_seconds() <= min(30 * 2 ** (n - 1), 6 * 3600)


# --- The delivery log: every attempt ------------------------------------------------------

THIS_WORKER = f"{socket.gethostname()}:{os.getpid()}"


def test_each_attempt_is_logged_with_its_number_outcome_status_and_worker(partner, receiver):
    receiver.expect_ordered_request("/hook", method="POST").respond_with_data("no", status=500)
    receiver.expect_ordered_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    webhook_deliver(event_id=event.pk)
    make_due(event)
    event = webhook_deliver(event_id=event.pk)

    assert event.status == OutboxStatus.DELIVERED
    failed, delivered = DeliveryAttempt.objects.filter(event=event)
    assert (failed.number, failed.outcome, failed.status_code, failed.error) == (
        1,
        DeliveryOutcome.FAILED,
        500,
        "HTTP 500",
    )
    assert (delivered.number, delivered.outcome, delivered.status_code, delivered.error) == (
        2,
        DeliveryOutcome.DELIVERED,
        200,
        "",
    )
    for attempt in (failed, delivered):
        assert attempt.finished_at is not None
        assert attempt.started_at <= attempt.finished_at
        assert attempt.duration_ms is not None
        assert attempt.worker == THIS_WORKER


def test_a_receiver_that_does_not_answer_in_time_is_a_timeout(partner, receiver, settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 0.2
    release = threading.Event()

    def too_slow(request):
        release.wait(timeout=30)  # until the sender has given up
        return Response("late")

    receiver.expect_request("/hook", method="POST").respond_with_handler(too_slow)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    try:
        event = webhook_deliver(event_id=event.pk)
    finally:
        release.set()

    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    (attempt,) = DeliveryAttempt.objects.filter(event=event)
    assert attempt.outcome == DeliveryOutcome.TIMEOUT
    assert attempt.status_code is None
    assert attempt.error.startswith("ReadTimeout")


def test_an_attempt_whose_worker_died_is_abandoned_when_its_lease_runs_out(
    partner, receiver, settings
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    lease = outbox_lease(send_timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    start = timezone.now()

    with time_machine.travel(start, tick=False):
        # A worker claims the event, which commits its attempt, and dies before the send.
        _event, claim = outbox_claim(event.pk, lease=lease, prepare=lambda event: event.uuid)
    assert claim is not None
    (first,) = DeliveryAttempt.objects.filter(event=event)
    assert (first.number, first.outcome, first.finished_at) == (1, DeliveryOutcome.STARTED, None)

    with time_machine.travel(start + lease - datetime.timedelta(seconds=1), tick=False):
        webhook_deliver(event_id=event.pk)  # a redelivered task: the lease still holds
        webhook_dispatch_due()
    assert requests_to(receiver) == []
    assert DeliveryAttempt.objects.count() == 1

    with time_machine.travel(start + lease + datetime.timedelta(seconds=1), tick=False):
        event = webhook_deliver(event_id=event.pk)

    # The abandoned attempt counts as a failed one.
    assert event.status == OutboxStatus.DELIVERED
    assert event.attempts == 1
    abandoned, delivered = DeliveryAttempt.objects.filter(event=event)
    assert (abandoned.number, abandoned.outcome) == (1, DeliveryOutcome.ABANDONED)
    assert abandoned.finished_at == start + lease  # when its lease ran out
    assert abandoned.duration_ms is None
    assert abandoned.status_code is None
    assert abandoned.error == ABANDONED_ERROR
    assert (delivered.number, delivered.outcome, delivered.status_code) == (
        2,
        DeliveryOutcome.DELIVERED,
        200,
    )
    assert [r.headers["X-Idempotency-Key"] for r in requests_to(receiver)] == [str(event.uuid)]

    # Not dead after all, only slower than its lease: its late outcome still goes in the log,
    # and the event, delivered already, stays as it is.
    outbox_record_attempt(
        attempt_id=claim.attempt_id, outcome=AttemptOutcome(ok=True, error="", duration_ms=5)
    )
    abandoned.refresh_from_db()
    assert (abandoned.outcome, abandoned.error) == (DeliveryOutcome.DELIVERED, LATE_NOTE)
    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.DELIVERED


def test_a_message_that_kills_every_worker_ends_dead_after_the_attempts_allowed(
    partner, receiver, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 2
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    lease = outbox_lease(send_timeout=settings.WEBHOOK_TIMEOUT_SECONDS)
    moment = timezone.now()
    for _ in range(2):  # each worker claims it and dies before it can report
        with time_machine.travel(moment, tick=False):
            _event, claim = outbox_claim(event.pk, lease=lease, prepare=lambda event: event.uuid)
        assert claim is not None
        moment += lease + datetime.timedelta(seconds=1)

    with time_machine.travel(moment, tick=False):
        event, claim = outbox_claim(event.pk, lease=lease, prepare=lambda event: event.uuid)

    assert claim is None  # dead-lettered, not handed to a third worker
    assert (event.status, event.attempts, event.last_error) == (
        OutboxStatus.DEAD,
        2,
        ABANDONED_ERROR,
    )
    assert list(DeliveryAttempt.objects.filter(event=event).values_list("outcome", flat=True)) == [
        DeliveryOutcome.ABANDONED,
        DeliveryOutcome.ABANDONED,
    ]
    assert requests_to(receiver) == []

    # The second worker was only slow: its late success still delivers the event.
    outbox_record_attempt(
        attempt_id=DeliveryAttempt.objects.get(event=event, number=2).pk,
        outcome=AttemptOutcome(ok=True, error="", duration_ms=5),
    )
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.DELIVERED, 2)


# --- Dead letter and replay --------------------------------------------------------------


@pytest.fixture
def dead_event(world, receiver, settings):
    """A North partner's event that failed its only attempt."""
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    partner = f.PartnerFactory(programme=world.north)
    receiver.expect_oneshot_request("/hook", method="POST").respond_with_data("no", status=500)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    event = webhook_deliver(event_id=event.pk)
    assert event.status == OutboxStatus.DEAD
    return event


def test_replay_makes_it_pending_and_dispatch_then_delivers_it_once(
    world, dead_event, receiver, django_capture_on_commit_callbacks
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        event = outbox_event_replay(event=dead_event, actor=world.mona)

    assert len(callbacks) == 1  # delivery is queued once the replay commits
    assert (event.status, event.attempts, event.last_error) == (OutboxStatus.PENDING, 0, "")
    assert event.next_attempt_at <= timezone.now()
    audit = AuditEvent.objects.get(action="outbox.replay")
    assert audit.actor == world.mona
    assert audit.object_id == str(event.uuid)
    assert audit.detail["previous_attempts"] == 1

    assert webhook_dispatch_due() == 1
    assert webhook_dispatch_due() == 0

    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED
    assert [r.headers["X-Idempotency-Key"] for r in requests_to(receiver)] == [str(event.uuid)] * 2
    assert list(event.deliveries.values_list("status_code", flat=True)) == [500, 200]


def test_attempts_are_numbered_on_across_a_replay(world, dead_event, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")

    outbox_event_replay(event=dead_event, actor=world.mona)
    webhook_dispatch_due()

    outcomes = DeliveryAttempt.objects.filter(event=dead_event).values_list("number", "outcome")
    assert list(outcomes) == [(1, DeliveryOutcome.FAILED), (2, DeliveryOutcome.DELIVERED)]


def test_replay_is_for_managers_of_the_partners_programme_only(world, dead_event):
    for outsider in (world.alice, world.carol, world.audrey):
        with pytest.raises(ActionNotAllowed):
            outbox_event_replay(event=dead_event, actor=outsider)
    dead_event.refresh_from_db()
    assert dead_event.status == OutboxStatus.DEAD
    assert not AuditEvent.objects.filter(action="outbox.replay").exists()


def test_only_a_dead_lettered_event_can_be_replayed(world, receiver):
    partner = f.PartnerFactory(programme=world.north)
    register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)
    with pytest.raises(DomainError) as refused:
        outbox_event_replay(event=event, actor=world.mona)
    assert refused.value.code == "not_dead_lettered"


# --- Dispatcher --------------------------------------------------------------------------


def test_dispatch_sends_only_pending_events_that_are_due(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    due, later, delivered, dead = (enqueue(partner)[0] for _ in range(4))
    an_hour = datetime.timedelta(hours=1)
    OutboxEvent.objects.filter(pk=due.pk).update(next_attempt_at=timezone.now() - an_hour)
    OutboxEvent.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() + an_hour)
    OutboxEvent.objects.filter(pk=delivered.pk).update(
        status=OutboxStatus.DELIVERED, delivered_at=timezone.now()
    )
    OutboxEvent.objects.filter(pk=dead.pk).update(status=OutboxStatus.DEAD, attempts=8)

    assert webhook_dispatch_due() == 1

    assert [r.headers["X-Idempotency-Key"] for r in requests_to(receiver)] == [str(due.uuid)]
    assert OutboxEvent.objects.get(pk=later.pk).status == OutboxStatus.PENDING


def test_dispatch_sends_oldest_first_up_to_the_limit(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    events = [enqueue(partner)[0] for _ in range(3)]
    for minutes, event in zip((1, 3, 2), events, strict=True):
        OutboxEvent.objects.filter(pk=event.pk).update(
            next_attempt_at=timezone.now() - datetime.timedelta(minutes=minutes)
        )

    assert webhook_dispatch_due(limit=2) == 2

    sent = [r.headers["X-Idempotency-Key"] for r in requests_to(receiver)]
    assert sent == [str(events[1].uuid), str(events[2].uuid)]


def test_the_tasks_call_the_services(partner, receiver):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    first, second = enqueue(partner)[0], enqueue(partner)[0]

    # ``apply`` runs in this process whatever the broker, so this holds on both test setups.
    assert webhook_deliver_task.apply(args=[first.pk]).get() == OutboxStatus.DELIVERED
    assert webhook_dispatch_task.apply().get() == 1

    assert OutboxEvent.objects.get(pk=second.pk).status == OutboxStatus.DELIVERED
    assert webhook_deliver_task.name == "cases.webhook_deliver"
    assert webhook_deliver_task.acks_late
    assert webhook_dispatch_task.name == "cases.webhook_dispatch"
    assert webhook_dispatch_task.acks_late


# --- Endpoints and the outbox ------------------------------------------------------------


def test_register_returns_the_secret_once_stores_it_encrypted_and_audits(partner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    endpoint, secret = register(partner, "https://93.184.216.34/hooks/reintegration")

    assert len(secret) >= 43
    assert WebhookEndpoint.objects.get(pk=endpoint.pk).secret == secret
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secret FROM {WebhookEndpoint._meta.db_table}")  # noqa: S608
        (stored,) = cursor.fetchone()
    assert secret not in stored
    audit = AuditEvent.objects.get(action="webhook.register")
    assert audit.actor_label == "partner:test"
    assert audit.actor is None
    assert (audit.object_type, audit.object_id, audit.fields) == (
        "webhook",
        str(endpoint.uuid),
        ["url"],
    )


def test_register_refuses_a_bad_url_and_writes_nothing(partner, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError) as refused:
        register(partner, "https://169.254.169.254/latest/meta-data")
    assert "url" in refused.value.message_dict
    assert not WebhookEndpoint.objects.exists()
    assert not AuditEvent.objects.exists()


def test_remove_deactivates_audits_and_dead_letters_what_was_pending(partner, receiver):
    endpoint, _secret = register(partner, receiver.url_for("/hook"))
    (event,) = enqueue(partner)

    webhook_endpoint_remove(endpoint=endpoint, actor_label="partner:test")

    assert not WebhookEndpoint.objects.get(pk=endpoint.pk).is_active
    assert AuditEvent.objects.filter(action="webhook.remove", object_id=str(endpoint.uuid)).exists()
    event = webhook_deliver(event_id=event.pk)
    assert event.status == OutboxStatus.DEAD
    assert "removed" in event.last_error
    assert requests_to(receiver) == []


def test_registering_a_removed_url_again_revives_it_with_a_new_secret(partner, receiver):
    url = receiver.url_for("/hook")
    endpoint, old_secret = register(partner, url)
    webhook_endpoint_remove(endpoint=endpoint, actor_label="partner:test")

    again, new_secret = register(partner, url)

    assert again.pk == endpoint.pk
    assert again.is_active
    assert new_secret != old_secret
    with pytest.raises(ValidationError):
        register(partner, url)


def test_enqueue_writes_one_event_per_active_endpoint_and_queues_after_commit(
    partner, receiver, django_capture_on_commit_callbacks
):
    first, _ = register(partner, receiver.url_for("/a"))
    second, _ = register(partner, receiver.url_for("/b"))
    removed, _ = register(partner, receiver.url_for("/c"))
    webhook_endpoint_remove(endpoint=removed, actor_label="partner:test")
    register(f.PartnerFactory(), receiver.url_for("/other-partner"))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events = enqueue(partner)

    assert Counter(e.endpoint_id for e in events) == Counter([first.pk, second.pk])
    assert OutboxEvent.objects.count() == 2
    assert all(e.payload["event_id"] == str(e.uuid) for e in OutboxEvent.objects.all())
    assert len(callbacks) == 1
    assert requests_to(receiver) == []  # nothing is sent before the change commits


@pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="tasks run eagerly only without REDIS_URL"
)
def test_on_the_embedded_default_committing_the_change_sends_the_event(
    transactional_db, partner, receiver
):
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))

    (event,) = enqueue(partner)  # the commit runs the queued task in-process

    assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.DELIVERED
    assert len(requests_to(receiver)) == 1


# --- URL checks --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://93.184.216.34/hook",  # plain http
        "ftp://93.184.216.34/hook",
        "https://127.0.0.1/hook",
        "https://localhost:8443/hook",
        "https://10.20.30.40/hook",
        "https://192.168.1.5/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://100.64.0.1/hook",  # carrier-grade NAT space
        "https://0.0.0.0/hook",
        "https://224.0.0.1/hook",
        "https://[::1]/hook",
        "https://[::ffff:127.0.0.1]/hook",
        "https://[fe80::1]/hook",
        "https://user:pass@93.184.216.34/hook",
        "https:///hook",
        "not a url",
    ],
)
def test_url_check_refuses_without_private_addresses(settings, url):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    with pytest.raises(ValidationError) as refused:
        webhook_url_check(url)
    assert list(refused.value.message_dict) == ["url"]


def test_url_check_accepts_a_public_https_address(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    webhook_url_check("https://93.184.216.34/hooks/reintegration")
    webhook_url_check("https://93.184.216.34:8443/hooks")


def test_url_check_allows_http_and_local_addresses_only_when_told(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    webhook_url_check("http://127.0.0.1:8000/hook")
    webhook_url_check("http://localhost/hook")
    with pytest.raises(ValidationError):
        webhook_url_check("ftp://127.0.0.1/hook")


def test_an_address_refused_at_delivery_time_is_a_failed_attempt(partner, receiver, settings):
    register(partner, receiver.url_for("/hook"))  # accepted while private addresses were on
    (event,) = enqueue(partner)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False  # as if DNS now pointed inside

    event = webhook_deliver(event_id=event.pk)

    assert requests_to(receiver) == []
    assert event.status == OutboxStatus.PENDING
    assert event.attempts == 1
    assert event.last_error.startswith("Refused before sending")
    (delivery,) = DeliveryAttempt.objects.filter(event=event)
    assert delivery.status_code is None
    assert delivery.error == event.last_error


# --- Signatures --------------------------------------------------------------------------

SECRET = "s3cret-for-tests"
BODY = b'{"event":"referral.offered","event_id":"x"}'


def test_a_signature_verifies_within_the_tolerance():
    now = int(time.time())
    header = webhook_sign(secret=SECRET, timestamp=now, body=BODY)
    assert header.startswith(f"t={now},v1=")
    assert webhook_verify(secret=SECRET, header=header, body=BODY)
    assert webhook_verify(secret=SECRET, header=header, body=BODY, now=now + 299)


def test_verification_rejects_a_tampered_body_a_wrong_secret_and_a_stale_timestamp():
    now = int(time.time())
    header = webhook_sign(secret=SECRET, timestamp=now, body=BODY)
    assert not webhook_verify(secret=SECRET, header=header, body=BODY.replace(b"x", b"y"))
    assert not webhook_verify(secret="another-secret", header=header, body=BODY)
    assert not webhook_verify(secret=SECRET, header=header, body=BODY, now=now + 301)
    assert not webhook_verify(secret=SECRET, header=header, body=BODY, now=now - 301)
    stale = webhook_sign(secret=SECRET, timestamp=now - 3600, body=BODY)
    assert not webhook_verify(secret=SECRET, header=stale, body=BODY)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=now,v1=abc", "t=1700000000", "garbage"])
def test_verification_rejects_a_malformed_header(header):
    assert not webhook_verify(secret=SECRET, header=header, body=BODY, now=1_700_000_000)


# --- Broker outage -----------------------------------------------------------------------


def _start_redis(binary: str, port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(  # noqa: S603 - a fixed argument list, no shell
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return process
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    process.wait()
    raise RuntimeError(f"redis-server did not start on port {port}")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is not None and process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def _use_broker(app, url: str) -> None:
    """Point Celery's producers at ``url``: they are pooled per broker, so drop the pools."""
    app.conf.broker_url = url
    app._pool = None
    app.amqp._producer_pool = None


@pytest.mark.redis
@pytest.mark.skipif(
    not (os.environ.get("REDIS_URL") and shutil.which("redis-server")),
    reason="needs REDIS_URL (a real broker, not eager tasks) and a redis-server binary",
)
def test_a_broker_outage_delays_delivery_but_loses_nothing(
    transactional_db, partner, receiver, settings, caplog
):
    from reintegration.celery import app

    assert not app.conf.task_always_eager
    receiver.expect_request("/hook", method="POST").respond_with_data("ok")
    register(partner, receiver.url_for("/hook"))
    port = spare_port()
    broker_url = f"redis://127.0.0.1:{port}/0"
    original_broker_url = app.conf.broker_url
    binary = shutil.which("redis-server")
    assert binary is not None
    process = None
    try:
        process = _start_redis(binary, port)
        settings.CELERY_BROKER_URL = broker_url
        _use_broker(app, broker_url)
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1)  # it really is the broker in use
        _stop(process)  # the broker goes down before the change commits

        with (
            caplog.at_level(logging.WARNING, logger="cases.services.queue"),
            transaction.atomic(),
        ):
            audit_record(actor=None, action=AuditAction.DEMO_SEED, object_type="x", object_id="1")
            (event,) = outbox_enqueue(
                partner=partner, topic="referral.offered", payload=dict(PAYLOAD)
            )

        # The change and its event committed; the failed queueing was only logged.
        assert AuditEvent.objects.filter(action=AuditAction.DEMO_SEED).exists()
        assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.PENDING
        assert f"outbox event {event.pk}: delivery not started now" in caplog.text
        assert requests_to(receiver) == []

        process = _start_redis(binary, port)  # the broker is back; beat runs the dispatcher
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1)

        assert webhook_dispatch_due() == 1
        assert webhook_dispatch_due() == 0
        assert [r.headers["X-Idempotency-Key"] for r in requests_to(receiver)] == [str(event.uuid)]
        assert OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.DELIVERED
    finally:
        _stop(process)
        _use_broker(app, original_broker_url)
