"""The whole-caseload jobs work in batches (issue #12, worker memory): marking missed contacts,
notifying and escalating them, notifying flagged cases, flagging threat contexts and planning
ahead go through the caseload ``batch`` rows at a time, each batch in its own transaction with
its own audit event. Every row is handled once whatever the batch size; a failure midway keeps
the batches done and the next run does the rest; each batch costs the same statements."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import (
    AuditEvent,
    CaseFlag,
    CaseFlagKind,
    ContactOutcome,
    MonitoringContact,
    Notification,
    Stage,
    ThreatContext,
)
from cases.services import monitoring, notifications
from cases.services.monitoring import (
    contacts_mark_missed,
    monitoring_plan_all,
    threat_contexts_flag,
)
from cases.services.notifications import (
    escalate_missed_contacts,
    notify_flagged_cases,
    notify_missed_contacts,
)

from .. import factories as f

TODAY = datetime.date(2027, 3, 1)
DAY = datetime.timedelta(days=1)
BATCH = 2


@pytest.fixture(autouse=True)
def _no_shipped_threats(db):
    ThreatContext.objects.filter(programme=None).delete()


def _cases(make_case, n, *, district="Mosul"):
    made = []
    for _ in range(n):
        case = make_case(Stage.MONITORING)
        case.returnee.current_district = district
        case.returnee.save(update_fields=["current_district"])
        made.append(case)
    return made


def _overdue(cases, *, outcome=ContactOutcome.PLANNED, days_ago=10):
    return [
        f.ContactFactory(case=case, planned_date=TODAY - days_ago * DAY, outcome=outcome)
        for case in cases
    ]


def _events(action):
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def _fail_on_call(monkeypatch, module, name, number):
    """``module.name`` raises on its ``number``-th call (a worker dying midway, say)."""
    original = getattr(module, name)
    calls = []

    def failing(*args, **kwargs):
        calls.append(1)
        if len(calls) == number:
            raise RuntimeError("stopped midway")
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, failing)


def _statements(job, **kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        job(**kwargs)
    return len(captured)


# --- marking missed ---------------------------------------------------------------------------


def test_marking_missed_goes_a_batch_at_a_time_each_with_its_audit_event(world, make_case):
    cases = _cases(make_case, 5)
    _overdue(cases)
    assert contacts_mark_missed(today=TODAY, batch=BATCH) == 5
    events = _events("contacts.mark_missed")
    assert [e.detail["contacts"] for e in events] == [2, 2, 1]
    assert sorted(n for e in events for n in e.detail["cases"]) == sorted(c.pk for c in cases)
    assert contacts_mark_missed(today=TODAY, batch=BATCH) == 0
    assert len(_events("contacts.mark_missed")) == 3


def test_marking_missed_stopped_midway_keeps_the_batches_done_and_the_next_run_does_the_rest(
    world, make_case, monkeypatch
):
    _overdue(_cases(make_case, 5))
    _fail_on_call(monkeypatch, monitoring.jobs, "audit_run", 2)
    with pytest.raises(RuntimeError):
        contacts_mark_missed(today=TODAY, batch=BATCH)
    missed = MonitoringContact.objects.filter(outcome=ContactOutcome.MISSED)
    assert missed.count() == 2  # the first batch, committed; the second rolled back
    monkeypatch.undo()
    assert contacts_mark_missed(today=TODAY, batch=BATCH) == 3
    assert missed.count() == 5


def test_marking_missed_costs_the_same_statements_for_every_batch(world, make_case):
    def with_contacts(n):
        _overdue(_cases(make_case, n))
        return _statements(contacts_mark_missed, today=TODAY, batch=BATCH)

    one_batch = with_contacts(2)
    two_batches = with_contacts(4)
    three_batches = with_contacts(6)
    assert three_batches - two_batches == two_batches - one_batch > 0


# --- notifying ------------------------------------------------------------------------------


def test_missed_contacts_are_notified_a_batch_at_a_time_once_each(world, make_case):
    cases = _cases(make_case, 5)
    _overdue(cases, outcome=ContactOutcome.MISSED)
    assert notify_missed_contacts(today=TODAY, batch=BATCH) == 5
    events = _events("notifications.contact_missed")
    assert [e.detail["notifications"] for e in events] == [2, 2, 1]
    assert notify_missed_contacts(today=TODAY, batch=BATCH) == 0
    assert Notification.objects.filter(recipient=world.alice).count() == 5


def test_notifying_stopped_midway_keeps_the_batches_done_and_tells_nobody_twice(
    world, make_case, monkeypatch
):
    _overdue(_cases(make_case, 5), outcome=ContactOutcome.MISSED)
    _fail_on_call(monkeypatch, notifications.jobs, "_audit_batch", 2)
    with pytest.raises(RuntimeError):
        notify_missed_contacts(today=TODAY, batch=BATCH)
    assert Notification.objects.count() == 2
    monkeypatch.undo()
    assert notify_missed_contacts(today=TODAY, batch=BATCH) == 3
    assert Notification.objects.count() == 5
    assert Notification.objects.values("contact").distinct().count() == 5


def test_escalations_go_a_batch_at_a_time(world, make_case):
    cases = _cases(make_case, 5)
    _overdue(cases, outcome=ContactOutcome.MISSED, days_ago=world.north.escalate_after_days + 1)
    _overdue(cases[:1], outcome=ContactOutcome.MISSED, days_ago=1)  # not yet
    assert escalate_missed_contacts(today=TODAY, batch=BATCH) == 5  # carol, once a contact
    events = _events("notifications.contact_escalated")
    assert [e.detail["notifications"] for e in events] == [2, 2, 1]
    assert escalate_missed_contacts(today=TODAY, batch=BATCH) == 0


def test_flagged_cases_are_notified_a_batch_at_a_time(world, make_case):
    threat = ThreatContext.objects.create(
        programme=world.north,
        districts=["Mosul"],
        kind="recruiter_activity",
        starts_on=TODAY,
        source="Field report",
    )
    for case in _cases(make_case, 5):
        CaseFlag.objects.create(case=case, kind=CaseFlagKind.THREAT_CONTEXT, threat=threat)
    assert notify_flagged_cases(batch=BATCH) == 5
    events = _events("notifications.threat_context")
    assert [e.detail["notifications"] for e in events] == [2, 2, 1]
    assert notify_flagged_cases(batch=BATCH) == 0


# --- threat flags and planning ahead ----------------------------------------------------------


def test_threat_flags_are_raised_and_cleared_a_range_of_cases_at_a_time(world, make_case):
    threat = ThreatContext.objects.create(
        programme=world.north,
        districts=["Sinjar"],
        kind="recruiter_activity",
        starts_on=TODAY - 10 * DAY,
        source="Field report",
    )
    flagged = _cases(make_case, 5, district="Sinjar")
    _cases(make_case, 2, district="Mosul")
    assert threat_contexts_flag(today=TODAY, batch=BATCH) == 5
    raised = _events("case_flags.threat_context")
    assert sorted(n for e in raised for n in e.detail["flagged"]) == sorted(c.pk for c in flagged)
    assert all(len(e.detail["flagged"]) <= BATCH for e in raised)
    assert threat_contexts_flag(today=TODAY, batch=BATCH) == 0

    ThreatContext.objects.filter(pk=threat.pk).update(ends_on=TODAY)
    assert threat_contexts_flag(today=TODAY + DAY, batch=BATCH) == 0
    assert not CaseFlag.objects.filter(cleared_at__isnull=True).exists()
    cleared = _events("case_flags.threat_context")[len(raised) :]
    assert sorted(n for e in cleared for n in e.detail["cleared"]) == sorted(c.pk for c in flagged)


def test_planning_ahead_in_batches_plans_the_same_as_in_one(world, make_case):
    cases = _cases(make_case, 5)
    created = monitoring_plan_all(today=TODAY, batch=BATCH)
    assert created > 0
    per_case = {c.pk: MonitoringContact.objects.filter(case=c).count() for c in cases}
    assert len(set(per_case.values())) == 1  # the same plan for the same cadence
    events = _events("contacts.plan_ahead")
    assert len(events) == 3
    assert sum(e.detail["created"] for e in events) == created
    assert monitoring_plan_all(today=TODAY, batch=BATCH) == 0
