"""Every delivery attempt is in the delivery log, one whose worker was killed mid-send too.

A real worker (``celery worker``, solo pool) sends a webhook to the partner's test server, which
holds the request until the test has killed the worker with SIGKILL. The worker's attempt is
already in the log then (``started``: it is committed before the send). Once the lease has run
out, a second worker gets the message back from Redis and sends the event again with the same
idempotency key, and the staff outbox API shows both attempts: the first abandoned, the second
delivered.
"""

from __future__ import annotations

import socket
import threading

import pytest
from django.db import transaction
from django.utils import timezone
from werkzeug import Response

from cases.models import DeliveryAttempt, DeliveryOutcome, FailedTask, OutboxEvent, OutboxStatus
from cases.services.outbox import outbox_enqueue, webhook_endpoint_register

from .. import factories as f
from ..web.conftest import verified_client
from .conftest import needs_redis_server, needs_shared_database, wait_until, worker_logs

pytestmark = [needs_redis_server, needs_shared_database, pytest.mark.django_db(transaction=True)]

# The worker's send timeout: far longer than the test takes to kill it once the request has
# arrived. With no margin, the lease is three of them (9 s), so the test waits seconds, not
# the production default's minute.
WORKER_ENV = {"WEBHOOK_TIMEOUT_SECONDS": "3", "OUTBOX_LEASE_MARGIN_SECONDS": "0"}


class HeldReceiver:
    """The partner's endpoint: it holds the first request until released, answers 200 to
    every one, and keeps the idempotency key of each."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.keys: list[str] = []

    def __call__(self, request) -> Response:
        self.keys.append(request.headers["X-Idempotency-Key"])
        if len(self.keys) == 1:
            self.arrived.set()
            self.release.wait(timeout=60)  # the sender is killed meanwhile
        return Response("ok", status=200)


@pytest.fixture
def receiver(httpserver, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the test server is on localhost
    held = HeldReceiver()
    httpserver.expect_request("/hook", method="POST").respond_with_handler(held)
    yield held
    held.release.set()  # never leave the server thread waiting


def test_a_worker_killed_mid_delivery_leaves_an_abandoned_attempt_and_the_retry_is_logged(
    world, celery_on_redis, redis_server, worker, httpserver, receiver
):
    partner = f.PartnerFactory(programme=world.north)
    webhook_endpoint_register(
        partner=partner, url=httpserver.url_for("/hook"), actor_label="partner:test"
    )
    with transaction.atomic():  # the task is published to Redis when this commits
        (event,) = outbox_enqueue(partner=partner, topic="referral.offered", payload={})

    first = worker(pool="solo", env=WORKER_ENV)
    assert receiver.arrived.wait(timeout=45), "the webhook reached the partner\n" + first.log()
    first.kill()  # mid-send: the partner has the request, the worker never sees the answer
    receiver.release.set()

    # The attempt was committed before the send, so the dead worker left it behind.
    (attempt,) = DeliveryAttempt.objects.filter(event=event)
    assert (attempt.number, attempt.outcome, attempt.finished_at) == (
        1,
        DeliveryOutcome.STARTED,
        None,
    )
    assert attempt.worker == f"{socket.gethostname()}:{first.pid}"
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 0)
    lease_ends = event.next_attempt_at

    # Until the lease runs out nobody may send the event again; then the message, never
    # acknowledged by the dead worker, comes back from Redis to the next worker.
    wait_until(
        lambda: timezone.now() > lease_ends,
        timeout=(lease_ends - timezone.now()).total_seconds() + 5,
        what="the lease running out",
    )
    second = worker(pool="solo", env=WORKER_ENV)
    wait_until(
        lambda: OutboxEvent.objects.get(pk=event.pk).status == OutboxStatus.DELIVERED,
        timeout=45,
        what=lambda: "the event delivered again\n" + worker_logs([first, second]),
    )

    # Sent twice, with the same idempotency key: at least once, as documented.
    assert receiver.keys == [str(event.uuid)] * 2

    response = verified_client(world.mona).get(f"/api/v1/outbox/{event.uuid}/")
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "delivered"
    abandoned, delivered = data["delivery_attempts"]
    assert (abandoned["number"], abandoned["outcome"], abandoned["status_code"]) == (
        1,
        "abandoned",
        None,
    )
    assert abandoned["worker"] == f"{socket.gethostname()}:{first.pid}"
    assert abandoned["finished_at"] is not None
    assert abandoned["duration_ms"] is None
    assert (delivered["number"], delivered["outcome"], delivered["status_code"]) == (
        2,
        "delivered",
        200,
    )
    assert delivered["worker"] == f"{socket.gethostname()}:{second.pid}"
    assert DeliveryAttempt.objects.get(event=event, number=1).finished_at == lease_ends
    assert not FailedTask.objects.exists()
