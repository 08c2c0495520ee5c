"""The notifications API (own only, cursor pages, the unread filter, marking read) and the dead
notification emails in the staff outbox, with their replay."""

from __future__ import annotations

import datetime

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import (
    AuditEvent,
    Notification,
    NotificationKind,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
    Stage,
)
from cases.services.notifications import notify_missed_contacts
from cases.services.outbox import email_dispatch_due

from .. import factories as f

LIST = "/api/v1/notifications/"
PERSONAS = ("alice", "bob", "carol", "mona", "audrey", "xavier")


def read_url(note) -> str:
    return f"{LIST}{note.uuid}/read/"


def note_for(user, case, *, minutes_ago=0, **extra):
    note = Notification.objects.create(
        key=f"test:{Notification.objects.count()}:{user.pk}",
        recipient=user,
        kind=NotificationKind.CONTACT_MISSED,
        case=case,
        detail={"days_overdue": 4},
        **extra,
    )
    Notification.objects.filter(pk=note.pk).update(
        created_at=timezone.now() - datetime.timedelta(minutes=minutes_ago)
    )
    return note


@pytest.fixture
def notes(world, make_case):
    out = {}
    for persona in PERSONAS:
        team = {"bob": world.team_b, "xavier": world.team_x}.get(persona, world.team_a)
        caseworker = getattr(world, persona) if persona in ("bob", "xavier") else None
        case = make_case(Stage.MONITORING, team=team, caseworker=caseworker)
        out[persona] = note_for(getattr(world, persona), case)
    return out


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_lists_only_their_own(api, notes, persona):
    response = api(persona).get(LIST)

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    (row,) = response.json()["results"]
    own = notes[persona]
    assert row == {
        "uuid": str(own.uuid),
        "kind": "contact_missed",
        "case_number": own.case_id,
        "message": (
            f"A monitoring contact on case {own.case_id} was missed; it was planned 4 days ago."
        ),
        "detail": {"days_overdue": 4},
        "created_at": row["created_at"],
        "read_at": None,
    }


def test_the_unread_filter(api, world, make_case):
    case = make_case(Stage.MONITORING)
    read = note_for(world.alice, case, read_at=timezone.now())
    unread = note_for(world.alice, case)
    client = api("alice")

    def uuids(params):
        response = client.get(LIST, params)
        assert response.status_code == 200
        return [row["uuid"] for row in response.json()["results"]]

    assert uuids({"unread": "true"}) == [str(unread.uuid)]
    assert uuids({"unread": "false"}) == [str(read.uuid)]
    assert set(uuids({})) == {str(read.uuid), str(unread.uuid)}


def test_a_bad_filter_is_a_400_naming_it(api, notes):
    response = api("alice").get(LIST, {"unread": "perhaps"})
    assert response.status_code == 400
    assert "unread" in response.json()["error"]["fields"]


def test_pages_are_cursor_pages_newest_first(api, world, make_case):
    case = make_case(Stage.MONITORING)
    made = [note_for(world.alice, case, minutes_ago=i) for i in range(5)]
    client = api("alice")

    first = client.get(LIST, {"page_size": 3}).json()
    assert [row["uuid"] for row in first["results"]] == [str(n.uuid) for n in made[:3]]
    assert "cursor=" in first["next"]
    second = client.get(first["next"]).json()
    assert [row["uuid"] for row in second["results"]] == [str(n.uuid) for n in made[3:]]


def test_marking_read(api, notes, world):
    note = notes["alice"]
    response = api("alice").post(read_url(note))

    assert response.status_code == 200
    assert response.json()["read_at"] is not None
    note.refresh_from_db()
    assert note.read_at is not None
    assert AuditEvent.objects.filter(action="notification.read", actor=world.alice).count() == 1
    again = api("alice").post(read_url(note))
    assert again.status_code == 200
    assert again.json()["read_at"] == response.json()["read_at"]
    assert AuditEvent.objects.filter(action="notification.read").count() == 1


@pytest.mark.parametrize("persona", ["bob", "carol", "mona", "audrey", "xavier"])
def test_another_users_notification_is_a_404(api, notes, persona):
    response = api(persona).post(read_url(notes["alice"]))
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert Notification.objects.get(pk=notes["alice"].pk).read_at is None


def test_anonymous_and_partners_are_refused(api, notes, partners):
    partner_client = partners["x"][1]
    for client in (api(), partner_client):
        assert client.get(LIST).status_code == 401
        assert client.post(read_url(notes["alice"])).status_code == 401
    assert Notification.objects.get(pk=notes["alice"].pk).read_at is None


def test_a_personal_token_reads_its_owners_notifications(notes, staff_token):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    rows = client.get(LIST).json()["results"]
    assert [row["uuid"] for row in rows] == [str(notes["alice"].uuid)]


def test_the_list_costs_the_same_queries_for_two_or_thirty(api, world, make_case):
    case = make_case(Stage.MONITORING)
    client = api("alice")
    for i in range(2):
        note_for(world.alice, case, minutes_ago=i)
    client.get(LIST)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    two = count()
    for i in range(28):
        note_for(world.alice, make_case(Stage.MONITORING), minutes_ago=10 + i)
    assert count() == two


# --- dead notification emails in the staff outbox ---------------------------------------------


class DownBackend:
    def __init__(self, *args, **kwargs):
        pass

    def open(self):
        return False

    def close(self):
        pass

    def send_messages(self, messages):
        raise ConnectionRefusedError("mail server down")


@pytest.fixture
def dead_email(world, make_case, settings):
    """A notification email to alice about a team-A case that failed for good."""
    world.alice.email = "alice@staff.example"
    world.alice.save(update_fields=["email"])
    settings.EMAIL_BACKEND = f"{__name__}.DownBackend"
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    case = make_case(Stage.MONITORING)
    f.ContactFactory(case=case, planned_date=datetime.date(2026, 3, 1), outcome="missed")
    notify_missed_contacts(today=datetime.date(2026, 3, 16))
    assert email_dispatch_due() == 1
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    event = OutboxEvent.objects.get(channel=OutboxChannel.EMAIL)
    assert event.status == OutboxStatus.DEAD
    return event


def test_programme_managers_see_dead_emails_about_their_programmes_cases(api, dead_email):
    response = api("mona").get("/api/v1/outbox/", {"status": "dead"})

    assert response.status_code == 200
    (row,) = response.json()["results"]
    assert row["uuid"] == str(dead_email.uuid)
    assert row["channel"] == "email"
    assert row["partner"] is None
    assert row["case_number"] == dead_email.notification.case_id
    assert row["recipient"] == "alice"
    assert "ConnectionRefusedError" in row["last_error"]


@pytest.mark.parametrize("persona", ["alice", "bob", "carol", "audrey", "xavier"])
def test_no_one_else_sees_or_replays_them(api, dead_email, persona):
    client = api(persona)
    assert client.get("/api/v1/outbox/").json()["results"] == []
    response = client.post(f"/api/v1/outbox/{dead_email.uuid}/replay/")
    assert response.status_code == 404
    dead_email.refresh_from_db()
    assert dead_email.status == OutboxStatus.DEAD


def test_a_replayed_email_is_sent_once(
    api, dead_email, django_capture_on_commit_callbacks, eager_tasks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = api("mona").post(f"/api/v1/outbox/{dead_email.uuid}/replay/")

    assert response.status_code == 200
    assert response.json()["status"] in (OutboxStatus.PENDING, OutboxStatus.DELIVERED)
    dead_email.refresh_from_db()
    assert dead_email.status == OutboxStatus.DELIVERED  # queued on commit, sent eagerly
    assert [m.to for m in mail.outbox] == [["alice@staff.example"]]
    assert email_dispatch_due() == 0
    assert len(mail.outbox) == 1
