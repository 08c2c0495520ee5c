"""The notification page: each member of staff sees their own notifications only, newest first,
unread ones marked, can mark one or all read, and the navigation counts the unread ones."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditEvent, Notification, NotificationKind, Stage

LIST = reverse("web:notifications")
READ_ALL = reverse("web:notifications-read-all")
PERSONAS = ("alice", "bob", "carol", "mona", "audrey", "xavier")
NAME = "Zubaida Qaraghuli"


def read_url(note) -> str:
    return reverse("web:notification-read", args=[note.uuid])


def note_for(user, case, *, kind=NotificationKind.INCIDENT_RECORDED, minutes_ago=0, **extra):
    note = Notification.objects.create(
        key=f"test:{user.pk}:{case.pk}:{kind}:{minutes_ago}:{Notification.objects.count()}",
        recipient=user,
        kind=kind,
        case=case,
        **extra,
    )
    created = timezone.now() - datetime.timedelta(minutes=minutes_ago)
    Notification.objects.filter(pk=note.pk).update(created_at=created)
    note.created_at = created
    return note


@pytest.fixture
def notes(world, make_case):
    """One notification for each persona, each about a case of their own, the case's person
    named Zubaida Qaraghuli."""
    out = {}
    for persona in PERSONAS:
        team = {"bob": world.team_b, "xavier": world.team_x}.get(persona, world.team_a)
        caseworker = getattr(world, persona) if persona in ("bob", "xavier") else None
        case = make_case(Stage.MONITORING, team=team, caseworker=caseworker)
        case.returnee.given_name, case.returnee.family_name = NAME.split()
        case.returnee.save()
        out[persona] = note_for(getattr(world, persona), case)
    return out


@pytest.mark.parametrize("persona", PERSONAS)
def test_each_persona_sees_their_own_notifications_only(page, notes, persona):
    response = page(persona).get(LIST)

    assert response.status_code == 200
    html = response.content.decode()
    own = notes[persona]
    assert f'id="notification-{own.uuid}"' in html
    assert f"An incident was recorded on case {own.case_id}." in html
    assert f'href="/cases/{own.case_id}/"' in html
    for other, note in notes.items():
        if other != persona:
            assert str(note.uuid) not in html
            assert note.case_id not in html
    assert "Zubaida" not in html
    assert "Qaraghuli" not in html


def test_the_list_is_newest_first_and_marks_the_unread(page, world, make_case):
    case = make_case(Stage.MONITORING)
    old = note_for(world.alice, case, minutes_ago=30, read_at=timezone.now())
    new = note_for(world.alice, case, kind=NotificationKind.CONTACT_MISSED, minutes_ago=1)

    response = page("alice").get(LIST)

    html = response.content.decode()
    assert [note for note, _message in response.context["rows"]] == [new, old]
    assert html.index(str(new.uuid)) < html.index(str(old.uuid))
    assert f'class="card notification unread" id="notification-{new.uuid}"' in html
    assert f'class="card notification" id="notification-{old.uuid}"' in html
    assert read_url(new) in html
    assert read_url(old) not in html
    assert "1 unread notification." in html


def test_only_unread_on_request(page, world, make_case):
    case = make_case(Stage.MONITORING)
    read = note_for(world.alice, case, read_at=timezone.now())
    unread = note_for(world.alice, case)
    html = page("alice").get(LIST, {"unread": "1"}).content.decode()
    assert str(unread.uuid) in html
    assert str(read.uuid) not in html


def test_marking_one_read_redirects_back_and_is_audited(page, notes, world):
    note = notes["alice"]
    response = page("alice").post(read_url(note), {"next": f"{LIST}?page=1"})

    assert response.status_code == 302
    assert response.url == f"{LIST}?page=1"
    note.refresh_from_db()
    assert note.read_at is not None
    assert AuditEvent.objects.filter(
        action="notification.read", object_id=str(note.uuid), actor=world.alice
    ).exists()


def test_a_next_to_another_site_is_ignored(page, notes):
    response = page("alice").post(read_url(notes["alice"]), {"next": "https://evil.example/"})
    assert response.url == LIST


@pytest.mark.parametrize("persona", ["bob", "carol", "mona", "audrey", "xavier"])
def test_another_users_notification_is_a_404_and_stays_unread(page, notes, persona):
    response = page(persona).post(read_url(notes["alice"]))
    assert response.status_code == 404
    assert Notification.objects.get(pk=notes["alice"].pk).read_at is None
    assert not AuditEvent.objects.filter(action="notification.read").exists()


def test_an_unknown_notification_is_a_404(page, notes):
    url = reverse("web:notification-read", args=["00000000-0000-4000-8000-000000000000"])
    assert page("alice").post(url).status_code == 404


def test_reading_needs_a_post(page, notes):
    assert page("alice").get(read_url(notes["alice"])).status_code == 405
    assert page("alice").get(READ_ALL).status_code == 405
    assert Notification.objects.get(pk=notes["alice"].pk).read_at is None


def test_mark_all_read_touches_only_ones_own(page, notes, world, make_case):
    note_for(world.alice, make_case(Stage.MONITORING))
    response = page("alice").post(READ_ALL, follow=True)

    assert response.redirect_chain == [(LIST, 302)]
    assert "2 notifications marked as read." in response.content.decode()
    assert not Notification.objects.filter(recipient=world.alice, read_at__isnull=True).exists()
    assert Notification.objects.filter(read_at__isnull=True).count() == len(PERSONAS) - 1


def test_anonymous_visitors_are_sent_to_the_login_page(notes):
    client = Client()
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]
    response = client.post(read_url(notes["alice"]))
    assert response.status_code == 302
    assert reverse("web:login") in response["Location"]
    assert Notification.objects.get(pk=notes["alice"].pk).read_at is None


def test_the_navigation_counts_the_unread(page, world, make_case):
    client = page("alice")
    case = make_case(Stage.MONITORING)
    html = client.get(reverse("web:caseload")).content.decode()
    assert f'href="{LIST}"' in html
    assert "unread</span></span>" not in html

    for _ in range(3):
        note_for(world.alice, case)
    note_for(world.alice, case, read_at=timezone.now())
    note_for(world.bob, case)
    html = client.get(reverse("web:caseload")).content.decode()
    assert '<span class="badge">3<span class="visually-hidden"> unread</span></span>' in html


def test_the_page_costs_the_same_queries_with_one_notification_or_twenty(page, world, make_case):
    client = page("alice")
    case = make_case(Stage.MONITORING)
    note_for(world.alice, case)
    client.get(LIST)  # warm the session

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(LIST).status_code == 200
        return len(captured)

    one = count()
    for i in range(19):
        note_for(world.alice, make_case(Stage.MONITORING), minutes_ago=i)
    assert count() == one


def test_more_than_a_page_is_paginated(page, world, make_case):
    case = make_case(Stage.MONITORING)
    for i in range(51):
        note_for(world.alice, case, minutes_ago=i)
    client = page("alice")
    first = client.get(LIST)
    assert len(first.context["rows"]) == 50
    assert 'rel="next"' in first.content.decode()
    assert len(client.get(LIST, {"page": 2}).context["rows"]) == 1


def test_the_page_is_translated(page, notes):
    client = page("alice")
    client.post(reverse("set_language"), {"language": "ar", "next": "/"})
    html = client.get(LIST).content.decode()
    assert 'dir="rtl"' in html
