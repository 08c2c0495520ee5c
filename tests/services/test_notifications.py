"""Notifications to staff: the jobs (missed contacts, escalation, flagged cases), the incident
hook, and the emails sent through the outbox exactly once, with back-off and a dead letter."""

from __future__ import annotations

import datetime
import smtplib

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import selectors
from cases.models import (
    AuditEvent,
    CaseFlag,
    CaseFlagKind,
    ContactOutcome,
    DeliveryAttempt,
    Notification,
    NotificationKind,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
    Role,
    Stage,
    ThreatContext,
)
from cases.services.errors import ActionNotAllowed, DomainError
from cases.services.notification_text import notification_email
from cases.services.notifications import (
    escalate_missed_contacts,
    notification_mark_all_read,
    notification_mark_read,
    notify_flagged_cases,
    notify_missed_contacts,
)
from cases.services.outbox import (
    NOT_SENT_INACTIVE,
    NOT_SENT_NO_ADDRESS,
    email_deliver,
    email_dispatch_due,
    outbox_event_replay,
)
from cases.services.outbox import emails as email_channel
from cases.services.records import incident_create
from cases.tasks import email_deliver_task, outbox_dispatch_task

from .. import factories as f
from ..conftest import case_at

TODAY = datetime.date(2026, 3, 16)
# Identity values of the person behind the case: none may appear in a notification or email.
NAME = {"given_name": "Zubaida", "family_name": "Qaraghuli", "phone": "+9647705550101"}


@pytest.fixture(autouse=True)
def _emails(settings, world):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.DEFAULT_FROM_EMAIL = "monitoring@reintegration.example"
    for name in ("alice", "bob", "carol", "mona", "xavier"):
        user = getattr(world, name)
        user.email = f"{name}@staff.example"
        user.save(update_fields=["email"])


def named_case(world, *, team=None, caseworker=None, stage=Stage.MONITORING):
    team = team or world.team_a
    if caseworker is None and team == world.team_a:
        caseworker = world.alice
    case = case_at(stage, team=team, caseworker=caseworker, supervisor=world.carol)
    person = case.returnee
    for name, value in NAME.items():
        setattr(person, name, value)
    person.save()
    return case


def missed(case, *, days_ago: int = 5, outcome=ContactOutcome.MISSED):
    return f.ContactFactory(
        case=case, planned_date=TODAY - datetime.timedelta(days=days_ago), outcome=outcome
    )


def notes(**filters):
    return list(Notification.objects.filter(**filters).order_by("id"))


def emails_of(note):
    return OutboxEvent.objects.filter(channel=OutboxChannel.EMAIL, notification=note)


def queries(run) -> int:
    with CaptureQueriesContext(connection) as captured:
        run()
    return len(captured)


# --- missed contacts ------------------------------------------------------------------------


def test_a_missed_contact_notifies_the_caseworker_once_with_one_email(world):
    case = named_case(world)
    contact = missed(case, days_ago=5)
    missed(case, days_ago=1, outcome=ContactOutcome.RESCHEDULED)  # only MISSED counts
    f.ContactFactory(case=case, planned_date=TODAY, outcome=ContactOutcome.PLANNED)

    assert notify_missed_contacts(today=TODAY) == 1

    (note,) = notes()
    assert note.key == f"contact_missed:{contact.uuid}:{world.alice.pk}"
    assert (note.recipient, note.kind, note.case_id) == (
        world.alice,
        NotificationKind.CONTACT_MISSED,
        case.case_number,
    )
    assert note.contact == contact
    assert note.detail == {"days_overdue": 5}
    assert emails_of(note).get().status == OutboxStatus.PENDING
    audit = AuditEvent.objects.get(action="notifications.contact_missed")
    assert audit.detail == {"notifications": 1, "cases": [case.case_number]}

    assert notify_missed_contacts(today=TODAY) == 0
    assert len(notes()) == 1
    assert OutboxEvent.objects.count() == 1
    assert AuditEvent.objects.filter(action="notifications.contact_missed").count() == 1


def test_without_an_active_caseworker_the_teams_supervisors_are_told(world):
    unassigned = named_case(world, caseworker=None)
    unassigned.caseworker = None
    unassigned.save(update_fields=["caseworker"])
    disabled = named_case(world, caseworker=world.ivan)
    first, second = missed(unassigned), missed(disabled)

    assert notify_missed_contacts(today=TODAY) == 2

    assert {(n.recipient, n.contact) for n in notes()} == {
        (world.carol, first),
        (world.carol, second),
    }


def test_closed_cases_and_contacts_already_told_are_left_alone(world):
    closed = named_case(world, stage=Stage.CLOSED)
    missed(closed)
    told = missed(named_case(world))
    Notification.objects.create(
        key="earlier",
        recipient=world.carol,
        kind=NotificationKind.CONTACT_MISSED,
        case=told.case,
        contact=told,
    )
    assert notify_missed_contacts(today=TODAY) == 0


def _grow(world, n: int, make) -> None:
    teams = (world.team_a, world.team_b, world.team_c)
    for i in range(n):
        team = teams[i % 3]
        # Team B has no caseworker here: those cases go to its overseers.
        make(named_case(world, team=team, caseworker=world.alice if team != world.team_b else None))


@pytest.mark.parametrize(
    ("make", "job"),
    [
        (lambda case: missed(case), lambda: notify_missed_contacts(today=TODAY)),
        (lambda case: missed(case, days_ago=20), lambda: escalate_missed_contacts(today=TODAY)),
    ],
    ids=["missed", "escalated"],
)
def test_the_query_count_does_not_grow_with_the_caseload(world, make, job):
    _grow(world, 3, make)
    small = queries(job)
    small_notes = Notification.objects.count()
    _grow(world, 20, make)
    large = queries(job)
    assert Notification.objects.count() - small_notes > 15  # the run really did more work
    assert large == small
    assert queries(job) <= 2  # a second run: one select, nothing to do


# --- escalation -----------------------------------------------------------------------------


def test_a_contact_missed_longer_than_the_programme_allows_goes_to_the_supervisors(world):
    case = named_case(world)
    world.north.escalate_after_days = 7
    world.north.save(update_fields=["escalate_after_days"])
    second_supervisor = f.UserFactory(username="sami")
    f.MembershipFactory(user=second_supervisor, role=Role.SUPERVISOR, team=world.team_a)
    old = missed(case, days_ago=8)
    missed(case, days_ago=7)  # exactly at the limit: not yet
    missed(case, days_ago=2)

    assert escalate_missed_contacts(today=TODAY) == 2

    assert {(n.recipient.username, n.key) for n in notes()} == {
        ("carol", f"contact_escalated:{old.uuid}:{world.carol.pk}"),
        ("sami", f"contact_escalated:{old.uuid}:{second_supervisor.pk}"),
    }
    assert all(n.detail == {"days_missed": 8} for n in notes())
    assert escalate_missed_contacts(today=TODAY) == 0
    assert OutboxEvent.objects.count() == 2


def test_a_contact_made_up_later_is_not_escalated(world):
    case = named_case(world)
    missed(case, days_ago=20)
    f.ContactFactory(
        case=case,
        planned_date=TODAY - datetime.timedelta(days=15),
        actual_date=TODAY - datetime.timedelta(days=15),
        outcome=ContactOutcome.MET,
    )
    assert escalate_missed_contacts(today=TODAY) == 0


def test_a_team_without_a_supervisor_escalates_to_the_programme_managers(world):
    case = named_case(world, team=world.team_b, caseworker=world.bob)
    missed(case, days_ago=30)
    assert escalate_missed_contacts(today=TODAY) == 1
    assert notes()[0].recipient == world.mona


def test_the_threshold_is_each_programmes_own(world):
    world.south.escalate_after_days = 30
    world.south.save(update_fields=["escalate_after_days"])
    f.MembershipFactory(user=f.UserFactory(username="sue"), role=Role.SUPERVISOR, team=world.team_x)
    south = named_case(world, team=world.team_x, caseworker=world.xavier)
    north = named_case(world)
    missed(south, days_ago=20)
    missed(north, days_ago=20)
    assert escalate_missed_contacts(today=TODAY) == 1
    assert notes()[0].case == north


# --- flagged cases --------------------------------------------------------------------------


def test_a_flagged_case_notifies_its_caseworker_once(world):
    case = named_case(world)
    threat = ThreatContext.objects.create(
        programme=world.north,
        districts=["Mosul"],
        kind="recruiter_activity",
        starts_on=TODAY,
        source="Field report",
    )
    flag = CaseFlag.objects.create(case=case, kind=CaseFlagKind.THREAT_CONTEXT, threat=threat)
    cleared_case = named_case(world)
    CaseFlag.objects.create(
        case=cleared_case,
        kind=CaseFlagKind.THREAT_CONTEXT,
        threat=threat,
        cleared_at=timezone.now(),
    )

    assert notify_flagged_cases() == 1
    (note,) = notes()
    assert note.key == f"threat_flag:{flag.uuid}:{world.alice.pk}"
    assert (note.kind, note.case, note.threat) == (NotificationKind.THREAT_CONTEXT, case, threat)
    assert notify_flagged_cases() == 0
    assert OutboxEvent.objects.count() == 1


def test_flagged_cases_cost_the_same_queries_for_three_cases_or_twenty_three(world):
    threat = ThreatContext.objects.create(
        programme=world.north,
        districts=["Mosul"],
        kind="recruiter_activity",
        starts_on=TODAY,
        source="Field report",
    )

    def flag(case):
        CaseFlag.objects.create(case=case, kind=CaseFlagKind.THREAT_CONTEXT, threat=threat)

    _grow(world, 3, flag)  # one per team, team B's without a caseworker
    few = queries(notify_flagged_cases)
    _grow(world, 20, flag)
    assert queries(notify_flagged_cases) == few
    assert Notification.objects.count() == 23


# --- incidents ------------------------------------------------------------------------------

INCIDENT = {"kind": "threat_received", "occurred_on": TODAY, "severity": "high"}


def test_an_incident_notifies_the_teams_supervisors_in_its_transaction(world):
    case = named_case(world)
    incident = incident_create(actor=world.alice, case=case, data=dict(INCIDENT))

    (note,) = notes()
    assert note.key == f"incident:{incident.uuid}:{world.carol.pk}"
    assert (note.recipient, note.kind, note.case) == (
        world.carol,
        NotificationKind.INCIDENT_RECORDED,
        case,
    )
    assert emails_of(note).count() == 1


def test_an_incident_refused_notifies_nobody(world):
    case = named_case(world)
    with pytest.raises(ValidationError):
        incident_create(actor=world.alice, case=case, data={**INCIDENT, "severity": "apocalyptic"})
    assert notes() == []
    assert OutboxEvent.objects.count() == 0


def test_the_supervisor_who_records_an_incident_is_not_told_about_it(world):
    case = named_case(world)
    incident_create(actor=world.carol, case=case, data=dict(INCIDENT))
    assert notes() == []


def test_an_incident_email_goes_out_when_the_change_commits(
    world, django_capture_on_commit_callbacks, eager_tasks
):
    case = named_case(world)
    with django_capture_on_commit_callbacks(execute=True):
        incident_create(actor=world.alice, case=case, data=dict(INCIDENT))
    (message,) = mail.outbox
    assert message.to == ["carol@staff.example"]
    assert case.case_number in message.subject
    assert emails_of(notes()[0]).get().status == OutboxStatus.DELIVERED


# --- the email ------------------------------------------------------------------------------


def _one_email(world, *, recipient=None) -> OutboxEvent:
    case = named_case(world)
    missed(case, days_ago=4)
    if recipient is not None:
        case.caseworker = recipient
        case.save(update_fields=["caseworker"])
    notify_missed_contacts(today=TODAY)
    return OutboxEvent.objects.get(channel=OutboxChannel.EMAIL)


def test_the_email_says_what_happened_with_the_case_number_and_link_and_no_identity(world):
    event = _one_email(world)
    assert event.notification is not None
    case_number = event.notification.case_id

    assert email_deliver(event_id=event.pk).status == OutboxStatus.DELIVERED

    (message,) = mail.outbox
    assert message.to == ["alice@staff.example"]
    assert message.from_email == "monitoring@reintegration.example"
    assert message.subject == f"Monitoring contact missed: case {case_number}"
    assert f"case {case_number} was missed; it was planned 4 days ago" in message.body
    assert f"/cases/{case_number}/" in message.body
    assert str(event.uuid) in message.extra_headers["Message-ID"]
    text = message.subject + message.body + str(message.message())
    for value in NAME.values():
        assert value not in text
    event.refresh_from_db()
    assert event.delivered_at is not None
    assert event.attempts == 0


def test_the_email_goes_to_the_address_the_recipient_has_when_it_is_sent(world):
    event = _one_email(world)
    world.alice.email = "alice.new@staff.example"
    world.alice.save(update_fields=["email"])
    email_deliver(event_id=event.pk)
    assert mail.outbox[0].to == ["alice.new@staff.example"]


def test_a_site_url_makes_the_link_absolute(world, settings):
    settings.SITE_URL = "https://cases.example.org/"
    event = _one_email(world)
    assert event.notification is not None
    email_deliver(event_id=event.pk)
    link = f"https://cases.example.org/cases/{event.notification.case_id}/"
    assert link in str(mail.outbox[0].body)


def test_delivering_twice_sends_once(world):
    event = _one_email(world)
    email_deliver(event_id=event.pk)
    assert email_deliver(event_id=event.pk).status == OutboxStatus.DELIVERED
    assert email_deliver_task.apply(args=[event.pk]).get() == OutboxStatus.DELIVERED
    assert email_dispatch_due() == 0
    assert len(mail.outbox) == 1
    assert DeliveryAttempt.objects.filter(event=event).count() == 1


class RacingBackend(LocmemBackend):
    """While the first worker is sending, a redelivered task and the dispatcher try too."""

    racers: list[int] = []

    def send_messages(self, messages):
        for event_id in list(RacingBackend.racers):
            RacingBackend.racers.remove(event_id)
            assert email_deliver(event_id=event_id).status == OutboxStatus.PENDING
            assert email_dispatch_due() == 0
        return super().send_messages(messages)


def test_a_redelivered_task_or_a_racing_dispatcher_does_not_send_a_claimed_email(world, settings):
    settings.EMAIL_BACKEND = f"{__name__}.RacingBackend"
    event = _one_email(world)
    RacingBackend.racers = [event.pk]

    assert email_deliver(event_id=event.pk).status == OutboxStatus.DELIVERED

    assert RacingBackend.racers == []  # the racers did run, while the send was under way
    assert len(mail.outbox) == 1


def test_a_recipient_without_an_address_is_settled_without_an_email(world):
    world.alice.email = ""
    world.alice.save(update_fields=["email"])
    event = _one_email(world)
    event = email_deliver(event_id=event.pk)
    assert (event.status, event.last_error) == (OutboxStatus.DELIVERED, NOT_SENT_NO_ADDRESS)
    assert mail.outbox == []
    assert not DeliveryAttempt.objects.filter(event=event).exists()


def test_a_disabled_recipient_gets_no_email(world):
    event = _one_email(world)
    world.alice.is_active = False
    world.alice.save(update_fields=["is_active"])
    event = email_deliver(event_id=event.pk)
    assert (event.status, event.last_error) == (OutboxStatus.DELIVERED, NOT_SENT_INACTIVE)
    assert mail.outbox == []


class FailingBackend(LocmemBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def test_a_failing_mail_server_backs_off_then_dead_letters(world, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    event = _one_email(world)

    before = timezone.now()
    event = email_deliver(event_id=event.pk)
    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 1)
    assert "SMTPServerDisconnected" in event.last_error
    assert before <= event.next_attempt_at <= before + datetime.timedelta(seconds=31)
    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() + datetime.timedelta(minutes=1)
    )
    assert email_dispatch_due() == 0  # not due yet: left alone

    for _ in range(2):
        OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
        email_dispatch_due()
    event.refresh_from_db()
    assert (event.status, event.attempts) == (OutboxStatus.DEAD, 3)
    assert DeliveryAttempt.objects.filter(event=event).count() == 3
    OutboxEvent.objects.filter(pk=event.pk).update(next_attempt_at=timezone.now())
    assert email_dispatch_due() == 0  # dead stays dead
    assert mail.outbox == []

    # Dead emails are visible to the managers of the case's programme, who can replay them.
    assert list(selectors.outbox_event_list(user=world.mona)) == [event]
    assert list(selectors.outbox_event_list(user=world.carol)) == []
    with pytest.raises(ActionNotAllowed):
        outbox_event_replay(event=event, actor=world.alice)
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    event = outbox_event_replay(event=event, actor=world.mona)
    assert (event.status, event.attempts) == (OutboxStatus.PENDING, 0)
    assert AuditEvent.objects.filter(action="outbox.replay", object_id=str(event.uuid)).exists()
    assert email_dispatch_due() == 1
    assert email_dispatch_due() == 0
    assert len(mail.outbox) == 1


def test_only_a_dead_email_can_be_replayed(world):
    event = _one_email(world)
    with pytest.raises(DomainError) as refused:
        outbox_event_replay(event=event, actor=world.mona)
    assert refused.value.code == "not_dead_lettered"


def test_a_dispatch_run_stops_after_failures_in_a_row(world, settings):
    settings.EMAIL_BACKEND = f"{__name__}.FailingBackend"
    for _ in range(8):
        missed(named_case(world))
    notify_missed_contacts(today=TODAY)
    assert email_dispatch_due() == 5
    assert OutboxEvent.objects.filter(attempts=0).count() == 3


def test_emails_of_other_programmes_are_not_in_a_managers_outbox_list(world):
    south = named_case(world, team=world.team_x, caseworker=world.xavier)
    missed(south)
    notify_missed_contacts(today=TODAY)
    assert OutboxEvent.objects.filter(channel=OutboxChannel.EMAIL).count() == 1
    assert list(selectors.outbox_event_list(user=world.mona)) == []


def test_the_tasks_call_the_services(world):
    event = _one_email(world)
    assert email_deliver_task.apply(args=[event.pk]).get() == OutboxStatus.DELIVERED
    missed(named_case(world))
    notify_missed_contacts(today=TODAY)
    assert outbox_dispatch_task.apply().get() == 1
    assert len(mail.outbox) == 2
    assert email_deliver_task.name == "cases.email_deliver"
    assert email_deliver_task.acks_late


def test_the_email_is_written_in_the_sites_language(world, settings, monkeypatch):
    seen = []
    real = notification_email

    def spy(note):
        from django.utils import translation

        seen.append(translation.get_language())
        return real(note)

    monkeypatch.setattr(email_channel, "notification_email", spy)
    settings.LANGUAGE_CODE = "ar"
    email_deliver(event_id=_one_email(world).pk)
    assert seen == ["ar"]


# --- reading --------------------------------------------------------------------------------


def test_marking_read_is_for_the_recipient_only_and_audited(world):
    event = _one_email(world)
    note = event.notification
    assert note is not None
    with pytest.raises(DomainError):
        notification_mark_read(actor=world.bob, notification=note)
    assert Notification.objects.get(pk=note.pk).read_at is None

    note = notification_mark_read(actor=world.alice, notification=note)
    first = note.read_at
    assert first is not None
    assert notification_mark_read(actor=world.alice, notification=note).read_at == first
    assert AuditEvent.objects.filter(action="notification.read").count() == 1


def test_marking_all_read_touches_only_the_actors_own(world):
    for _ in range(3):
        missed(named_case(world))
    bob_case = named_case(world, team=world.team_b, caseworker=world.bob)
    missed(bob_case)
    notify_missed_contacts(today=TODAY)

    assert notification_mark_all_read(actor=world.alice) == 3
    assert notification_mark_all_read(actor=world.alice) == 0
    assert Notification.objects.get(recipient=world.bob).read_at is None
    assert AuditEvent.objects.filter(action="notification.read_all").count() == 1
