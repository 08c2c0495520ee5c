"""The staff outbox API: one event's detail lists every delivery attempt, one abandoned by a
dead worker included, for a manager of the partner's programme only."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cases.models import (
    DeliveryAttempt,
    DeliveryOutcome,
    OutboxEvent,
    OutboxStatus,
    WebhookEndpoint,
)
from cases.services.outbox import ABANDONED_ERROR

from .. import factories as f

STARTED = datetime.datetime(2026, 3, 2, 9, 0, tzinfo=datetime.UTC)
LEASE = datetime.timedelta(seconds=60)


@pytest.fixture
def event(world):
    """A North partner's event: the first worker died mid-send, the second delivered it."""
    partner = f.PartnerFactory(programme=world.north)
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url="https://hooks.example.org/x", secret="s3cret"
    )
    event = OutboxEvent.objects.create(
        topic="referral.offered",
        partner=partner,
        endpoint=endpoint,
        payload={"event": "referral.offered", "case_number": "C-7KQ2-XM4P"},
        next_attempt_at=STARTED + LEASE,
        status=OutboxStatus.DELIVERED,
        delivered_at=STARTED + LEASE,
    )
    DeliveryAttempt.objects.create(
        event=event,
        number=1,
        started_at=STARTED,
        finished_at=STARTED + LEASE,
        outcome=DeliveryOutcome.ABANDONED,
        error=ABANDONED_ERROR,
        worker="worker-1:101",
    )
    DeliveryAttempt.objects.create(
        event=event,
        number=2,
        started_at=STARTED + LEASE,
        finished_at=STARTED + LEASE,
        outcome=DeliveryOutcome.DELIVERED,
        status_code=200,
        worker="worker-2:202",
        duration_ms=35,
    )
    return event


def test_the_detail_lists_every_delivery_attempt_oldest_first(api, event):
    response = api("mona").get(f"/api/v1/outbox/{event.uuid}/")

    assert response.status_code == 200
    data = response.json()
    assert (data["uuid"], data["status"]) == (str(event.uuid), "delivered")
    assert data["delivery_attempts"] == [
        {
            "number": 1,
            "started_at": "2026-03-02T09:00:00Z",
            "finished_at": "2026-03-02T09:01:00Z",
            "outcome": "abandoned",
            "status_code": None,
            "error": ABANDONED_ERROR,
            "worker": "worker-1:101",
            "duration_ms": None,
        },
        {
            "number": 2,
            "started_at": "2026-03-02T09:01:00Z",
            "finished_at": "2026-03-02T09:01:00Z",
            "outcome": "delivered",
            "status_code": 200,
            "error": "",
            "worker": "worker-2:202",
            "duration_ms": 35,
        },
    ]
    assert "payload" not in data
    assert "C-7KQ2-XM4P" not in response.content.decode()
    assert response["Cache-Control"] == "no-store"


def test_an_outbox_event_is_404_to_anyone_but_a_manager_of_its_programme(api, world, event):
    for persona in ("alice", "carol", "audrey", "xavier", "root"):
        assert api(persona).get(f"/api/v1/outbox/{event.uuid}/").status_code == 404, persona
    assert api().get(f"/api/v1/outbox/{event.uuid}/").status_code == 401
    assert api("mona").get("/api/v1/outbox/not-a-uuid/").status_code == 404


def test_the_list_keeps_to_the_events_and_leaves_the_attempts_to_the_detail(api, event):
    (listed,) = api("mona").get("/api/v1/outbox/").json()["results"]

    assert listed["uuid"] == str(event.uuid)
    assert "delivery_attempts" not in listed


def test_a_send_in_progress_shows_as_started(api, event):
    DeliveryAttempt.objects.create(
        event=event,
        number=3,
        started_at=timezone.now(),
        worker="worker-3:303",
    )

    attempts = api("mona").get(f"/api/v1/outbox/{event.uuid}/").json()["delivery_attempts"]

    assert [(a["number"], a["outcome"], a["finished_at"]) for a in attempts][-1] == (
        3,
        "started",
        None,
    )
