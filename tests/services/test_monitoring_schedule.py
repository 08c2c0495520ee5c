"""The monitoring schedule: cadence per programme and risk level, the plan a case gets and how it
follows recorded contacts, risk changes and threat contexts, and the jobs over whole caseloads
(plan ahead, mark missed, flag threats): set-based and idempotent."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import (
    AuditEvent,
    Case,
    CaseFlag,
    ContactOutcome,
    MonitoringCadence,
    MonitoringContact,
    Stage,
    ThreatContext,
)
from cases.services import monitoring
from cases.services.competition import threat_context_create, threat_context_end
from cases.services.monitoring import (
    Cadence,
    cadence_for,
    contacts_mark_missed,
    contacts_plan,
    monitoring_plan_all,
    threat_contexts_flag,
    with_cadence,
)
from cases.services.records import contact_create, contact_update, screening_update
from cases.services.workflow import case_transition

from .. import factories as f

TODAY = datetime.date(2027, 3, 1)
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_shipped_threats(db):
    """The shipped example threat context (Mosul, open-ended) would tighten every plan here;
    each test enters the threats it is about."""
    ThreatContext.objects.filter(programme=None).delete()


def _at(day: datetime.date) -> datetime.datetime:
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time(10)))


def _monitored(make_case, *, entered=TODAY, risk="medium", district="Mosul", team=None, **kw):
    """A case in monitoring since ``entered``, of a person living in ``district``, no contacts."""
    case = make_case(Stage.MONITORING, risk_level=risk, team=team, **kw)
    Case.objects.filter(pk=case.pk).update(stage_entered_at=_at(entered))
    case.returnee.current_district = district
    case.returnee.save(update_fields=["current_district"])
    case.refresh_from_db()
    return case


def _planned(case) -> list[datetime.date | None]:
    return list(
        MonitoringContact.objects.filter(case=case, outcome=ContactOutcome.PLANNED)
        .order_by("planned_date")
        .values_list("planned_date", flat=True)
    )


def _every(start: datetime.date, days: int, until: datetime.date) -> list[datetime.date]:
    dates, day = [], start
    while day <= until:
        dates.append(day)
        day += datetime.timedelta(days=days)
    return dates


def _threat(world, *, districts=("Sinjar",), starts_on=TODAY - 10 * DAY, ends_on=None, **kw):
    return ThreatContext.objects.create(
        programme=kw.pop("programme", world.north),
        districts=list(districts),
        kind="recruiter_activity",
        starts_on=starts_on,
        ends_on=ends_on,
        source="Field report",
        **kw,
    )


# --- cadence ---------------------------------------------------------------------------------


def test_cadence_defaults_by_risk_level(world):
    assert cadence_for(world.north, "high") == Cadence(7, 3, 12)
    assert cadence_for(world.north, "medium") == Cadence(14, 7, 12)
    assert cadence_for(world.north, "low") == Cadence(30, 14, 12)
    assert cadence_for(world.north, "") == Cadence(7, 3, 12)  # unknown risk: as high


def test_a_programmes_own_cadence_wins_over_the_default_in_that_programme_only(world):
    MonitoringCadence.objects.create(
        programme=world.north,
        risk_level="high",
        interval_days=5,
        threat_interval_days=2,
        duration_months=6,
    )
    assert cadence_for(world.north, "high") == (5, 2, 6)
    assert cadence_for(world.north, "medium") == (14, 7, 12)
    assert cadence_for(world.south, "high") == (7, 3, 12)


def test_with_cadence_gives_every_case_its_cadence_in_one_query(world, make_case):
    MonitoringCadence.objects.create(
        programme=world.north,
        risk_level="low",
        interval_days=21,
        threat_interval_days=10,
        duration_months=9,
    )
    north_low = make_case(Stage.MONITORING, risk_level="low")
    north_high = make_case(Stage.MONITORING, risk_level="high")
    south_low = make_case(Stage.MONITORING, risk_level="low", team=world.team_x)
    names = ("cadence_interval_days", "cadence_threat_interval_days", "cadence_duration_months")
    with CaptureQueriesContext(connection) as queries:
        got = {
            row[0]: row[1:]
            for row in with_cadence(Case.objects.all()).values_list("case_number", *names)
        }
    assert len(queries) == 1
    assert got[north_low.pk] == (21, 10, 9)
    assert got[north_high.pk] == (7, 3, 12)
    assert got[south_low.pk] == (30, 14, 12)


# --- the plan of one case --------------------------------------------------------------------


@pytest.mark.parametrize(("risk", "interval"), [("high", 7), ("medium", 14), ("low", 30)])
def test_entering_monitoring_plans_contacts_at_the_risk_levels_interval(
    world, make_case, risk, interval
):
    case = make_case(Stage.TRAINING, risk_level=risk)
    case.returnee.current_district = "Tel Keppe"
    case.returnee.save(update_fields=["current_district"])
    case_transition(actor=world.alice, case=case, to_stage=Stage.MONITORING)
    today = timezone.localdate()
    assert _planned(case) == _every(today + interval * DAY, interval, today + 90 * DAY)
    event = AuditEvent.objects.get(case_number=case.pk, action="contacts.plan")
    assert event.detail["created"] == len(_planned(case))
    assert event.detail["reason"] == "stage"


def test_the_plan_reaches_plan_ahead_days_and_stops_at_the_end_of_the_monitoring_period(
    world, make_case
):
    world.north.plan_ahead_days = 120
    world.north.save()
    MonitoringCadence.objects.create(
        programme=world.north,
        risk_level="medium",
        interval_days=14,
        threat_interval_days=7,
        duration_months=3,
    )
    case = _monitored(make_case, entered=TODAY)
    contacts_plan(case, today=TODAY)
    # 1 March + 3 months = 1 June: the last contact is on or before it.
    assert _planned(case) == _every(TODAY + 14 * DAY, 14, datetime.date(2027, 6, 1))

    other = _monitored(make_case, entered=TODAY, risk="low")
    contacts_plan(other, today=TODAY)
    assert _planned(other) == _every(TODAY + 30 * DAY, 30, TODAY + 120 * DAY)


def test_planning_twice_leaves_the_same_rows(world, make_case):
    case = _monitored(make_case)
    first = contacts_plan(case, today=TODAY)
    rows = list(MonitoringContact.objects.filter(case=case).values_list("pk", "planned_date"))
    events = AuditEvent.objects.count()
    second = contacts_plan(case, today=TODAY)
    assert first.created == 6
    assert (second.created, second.removed) == (0, 0)
    assert list(MonitoringContact.objects.filter(case=case).values_list("pk", "planned_date")) == (
        rows
    )
    assert AuditEvent.objects.count() == events  # nothing changed, nothing audited


def test_a_contact_overdue_since_the_last_one_is_planned_for_today(world, make_case):
    case = _monitored(make_case, entered=TODAY - 40 * DAY)
    contacts_plan(case, today=TODAY)
    assert _planned(case) == _every(TODAY, 14, TODAY + 90 * DAY)


def test_an_active_threat_in_the_persons_district_tightens_the_plan(world, make_case):
    _threat(world, districts=["Sinjar", "Tal Afar"])
    threatened = _monitored(make_case, district="Sinjar")
    elsewhere = _monitored(make_case, district="Mosul")
    contacts_plan(threatened, today=TODAY)
    contacts_plan(elsewhere, today=TODAY)
    assert _planned(threatened) == _every(TODAY + 7 * DAY, 7, TODAY + 90 * DAY)
    assert _planned(elsewhere) == _every(TODAY + 14 * DAY, 14, TODAY + 90 * DAY)


def test_a_threat_of_another_programme_does_not_apply_and_one_of_no_programme_does(
    world, make_case
):
    south_threat = _threat(world, programme=world.south)
    case = _monitored(make_case, district="Sinjar")
    contacts_plan(case, today=TODAY)
    assert _planned(case)[0] == TODAY + 14 * DAY
    ThreatContext.objects.filter(pk=south_threat.pk).update(programme=None)
    contacts_plan(case, today=TODAY)
    assert _planned(case) == _every(TODAY + 7 * DAY, 7, TODAY + 90 * DAY)


def test_the_plan_tightens_from_the_day_a_threat_starts_and_relaxes_after_it_ends(world, make_case):
    _threat(world, starts_on=TODAY + 38 * DAY, ends_on=TODAY + 58 * DAY)
    case = _monitored(make_case, district="Sinjar")
    contacts_plan(case, today=TODAY)
    # Every 14 days until the threat starts (day 38, sooner than the next regular contact:
    # a contact on its first day), every 7 while it lasts (45, 52; 59 is after its end), then
    # every 14 again.
    assert _planned(case) == [TODAY + days * DAY for days in (14, 28, 38, 45, 52, 66, 80)]


def test_a_recorded_contact_replans_the_rest_from_its_date(world, make_case):
    today = timezone.localdate()
    case = _monitored(make_case, entered=today - 10 * DAY)
    contacts_plan(case)
    assert _planned(case)[0] == today + 4 * DAY
    contact_create(
        actor=world.alice,
        case=case,
        data={"outcome": "met", "actual_date": today - DAY, "mode": "home_visit"},
    )
    assert _planned(case) == _every(today + 13 * DAY, 14, today + 90 * DAY)
    event = AuditEvent.objects.filter(case_number=case.pk, action="contacts.plan").last()
    assert event is not None
    assert event.detail["reason"] == "contact"
    assert event.actor == world.alice


def test_meeting_a_planned_contact_replans_from_the_day_it_took_place(world, make_case):
    today = timezone.localdate()
    case = _monitored(make_case, entered=today - 20 * DAY, risk="high")
    contacts_plan(case)
    first = MonitoringContact.objects.filter(case=case).order_by("planned_date").first()
    assert first is not None
    assert first.planned_date == today  # 7 days after entry was 13 days ago: due now
    contact_update(
        actor=world.alice,
        case=case,
        contact=first,
        changes={"outcome": "met", "actual_date": today - 2 * DAY},
    )
    assert _planned(case) == _every(today + 5 * DAY, 7, today + 90 * DAY)


def test_a_contact_planned_by_the_caseworker_is_kept_and_stands_in_for_the_generated_one(
    world, make_case
):
    today = timezone.localdate()
    case = _monitored(make_case, entered=today)
    contacts_plan(case)
    assert _planned(case)[:2] == [today + 14 * DAY, today + 28 * DAY]
    contact_create(actor=world.alice, case=case, data={"planned_date": today + 16 * DAY})
    # Within the grace days of the contact due on day 14, so it replaces it; the plan goes on
    # from the caseworker's date.
    assert _planned(case) == [today + 16 * DAY, *_every(today + 30 * DAY, 14, today + 90 * DAY)]


def test_a_change_of_risk_level_replans_at_the_new_cadence(world, make_case):
    today = timezone.localdate()
    case = _monitored(make_case, entered=today, risk="medium")
    contacts_plan(case)
    assert _planned(case)[0] == today + 14 * DAY
    screening = f.ScreeningFactory(case=case, assessed_by=world.carol, risk_level="medium")
    screening_update(
        actor=world.carol, case=case, assessment=screening, changes={"risk_level": "high"}
    )
    case.refresh_from_db()
    assert case.risk_level == "high"
    assert _planned(case) == _every(today + 7 * DAY, 7, today + 90 * DAY)
    event = AuditEvent.objects.filter(case_number=case.pk, action="contacts.plan").last()
    assert event is not None
    assert event.detail["reason"] == "risk_level"


def test_leaving_monitoring_drops_the_untouched_future_contacts_only(world, make_case):
    case = _monitored(make_case, entered=timezone.localdate())
    contacts_plan(case)
    kept = contact_create(
        actor=world.alice, case=case, data={"planned_date": timezone.localdate() + 3 * DAY}
    )
    f.ApprovalFactory(case=case, kind="closure", outcome="reintegrated", decided_by=world.carol)
    case_transition(actor=world.alice, case=case, to_stage=Stage.CLOSED)
    assert list(MonitoringContact.objects.filter(case=case)) == [kept]


# --- plan ahead for the whole caseload -------------------------------------------------------


def test_planning_ahead_fills_every_case_up_to_the_horizon_and_is_idempotent(world, make_case):
    fresh = _monitored(make_case, entered=TODAY)
    planned = _monitored(make_case, entered=TODAY - 60 * DAY, risk="low")
    contacts_plan(planned, today=TODAY - 60 * DAY)  # planned 60 days ago, up to 30 days ahead
    assert _planned(planned)[-1] == TODAY + 30 * DAY  # the latest
    training = make_case(Stage.TRAINING)

    created = monitoring_plan_all(today=TODAY)
    assert _planned(fresh) == _every(TODAY + 14 * DAY, 14, TODAY + 90 * DAY)
    assert _planned(planned) == _every(TODAY - 30 * DAY, 30, TODAY + 90 * DAY)
    assert not MonitoringContact.objects.filter(case=training).exists()
    assert created == 6 + 2
    event = AuditEvent.objects.get(action="contacts.plan_ahead")
    assert sorted(event.detail["cases"]) == sorted([fresh.pk, planned.pk])

    assert monitoring_plan_all(today=TODAY) == 0
    assert AuditEvent.objects.filter(action="contacts.plan_ahead").count() == 1
    # What the nightly extension made is what a re-plan wants: it changes nothing.
    assert contacts_plan(fresh, today=TODAY).cases == ()
    assert contacts_plan(planned, today=TODAY).cases == ()


def _seed(make_case, world, count, **kw):
    return [_monitored(make_case, caseworker=world.alice, **kw) for _ in range(count)]


@pytest.fixture
def short_plans(world):
    """Plans 30 days ahead, so 20 cases' new contacts fit in one INSERT even on SQLite (at most
    999 parameters a statement): the counts below then compare the statements per job, not
    the database's batch size (PostgreSQL takes 1,000 contacts a statement)."""
    world.north.plan_ahead_days = 30
    world.north.save()


def _queries(job, **kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        job(**kwargs)
    return len(captured)


def test_planning_ahead_costs_the_same_statements_for_1_case_or_20(world, make_case, short_plans):
    _seed(make_case, world, 1)
    one = _queries(monitoring_plan_all, today=TODAY)
    _seed(make_case, world, 20)
    twenty = _queries(monitoring_plan_all, today=TODAY)
    assert MonitoringContact.objects.count() == 21 * 2
    assert one == twenty


# --- missed contacts -------------------------------------------------------------------------


def test_contacts_past_their_date_and_grace_days_are_marked_missed_once(world, make_case):
    world.south.contact_grace_days = 0
    world.south.save()
    case = _monitored(make_case)
    within_grace = f.ContactFactory(case=case, planned_date=TODAY - 3 * DAY)
    past_grace = f.ContactFactory(case=case, planned_date=TODAY - 4 * DAY)
    met = f.ContactFactory(
        case=case, planned_date=TODAY - 9 * DAY, actual_date=TODAY - 9 * DAY, outcome="met"
    )
    south = _monitored(make_case, team=world.team_x)
    south_late = f.ContactFactory(case=south, planned_date=TODAY - DAY)
    closed = make_case(Stage.CLOSED)
    of_closed_case = f.ContactFactory(case=closed, planned_date=TODAY - 30 * DAY)

    assert contacts_mark_missed(today=TODAY) == 2
    outcomes = dict(MonitoringContact.objects.values_list("pk", "outcome"))
    assert outcomes == {
        within_grace.pk: "planned",
        past_grace.pk: "missed",
        met.pk: "met",
        south_late.pk: "missed",
        of_closed_case.pk: "planned",
    }
    past_grace.refresh_from_db()
    assert (past_grace.planned_date, past_grace.actual_date, past_grace.version) == (
        TODAY - 4 * DAY,
        None,
        2,
    )
    event = AuditEvent.objects.get(action="contacts.mark_missed")
    assert event.detail == {"cases": sorted([case.pk, south.pk]), "contacts": 2}
    assert event.actor_label == "system"

    assert contacts_mark_missed(today=TODAY) == 0
    assert AuditEvent.objects.filter(action="contacts.mark_missed").count() == 1
    past_grace.refresh_from_db()
    assert past_grace.version == 2


def test_marking_missed_costs_the_same_statements_for_1_case_or_20(world, make_case):
    for case in _seed(make_case, world, 1):
        f.ContactFactory(case=case, planned_date=TODAY - 10 * DAY)
    one = _queries(contacts_mark_missed, today=TODAY)
    for case in _seed(make_case, world, 20):
        f.ContactFactory(case=case, planned_date=TODAY - 10 * DAY)
    twenty = _queries(contacts_mark_missed, today=TODAY)
    assert MonitoringContact.objects.filter(outcome="missed").count() == 21
    assert one == twenty


# --- threat contexts -------------------------------------------------------------------------


def test_flagging_marks_open_cases_in_the_district_once_and_replans_them(world, make_case):
    threat = _threat(world, districts=["Sinjar"])
    monitored = _monitored(make_case, district="Sinjar")
    ThreatContext.objects.filter(pk=threat.pk).update(starts_on=TODAY + 365 * DAY)
    contacts_plan(monitored, today=TODAY)  # planned while the threat was not known: 14 days
    assert _planned(monitored)[0] == TODAY + 14 * DAY
    ThreatContext.objects.filter(pk=threat.pk).update(starts_on=TODAY - 10 * DAY)
    in_training = make_case(Stage.TRAINING)
    in_training.returnee.current_district = "Sinjar"
    in_training.returnee.save()
    elsewhere = _monitored(make_case, district="Mosul")
    closed = make_case(Stage.CLOSED)
    closed.returnee.current_district = "Sinjar"
    closed.returnee.save()
    _threat(world, districts=["Sinjar"], ends_on=TODAY - DAY)  # over: flags nobody

    assert threat_contexts_flag(today=TODAY) == 2
    flags = CaseFlag.objects.filter(cleared_at__isnull=True)
    assert sorted(flags.values_list("case_id", "threat_id")) == sorted(
        [(monitored.pk, threat.pk), (in_training.pk, threat.pk)]
    )
    assert not CaseFlag.objects.filter(case__in=[elsewhere, closed]).exists()
    assert _planned(monitored) == _every(TODAY + 7 * DAY, 7, TODAY + 90 * DAY)
    event = AuditEvent.objects.get(action="case_flags.threat_context")
    assert event.detail["flagged"] == sorted([monitored.pk, in_training.pk])
    assert event.detail["replanned"] == [monitored.pk]

    assert threat_contexts_flag(today=TODAY) == 0
    assert CaseFlag.objects.count() == 2
    assert AuditEvent.objects.filter(action="case_flags.threat_context").count() == 1


def test_flags_are_cleared_and_the_plan_relaxes_when_the_threat_ends(world, make_case):
    threat = _threat(world, districts=["Sinjar"])
    case = _monitored(make_case, district="Sinjar")
    threat_contexts_flag(today=TODAY)
    assert _planned(case)[0] == TODAY + 7 * DAY
    ThreatContext.objects.filter(pk=threat.pk).update(ends_on=TODAY)

    tomorrow = TODAY + DAY
    assert threat_contexts_flag(today=tomorrow) == 0
    flag = CaseFlag.objects.get(case=case, threat=threat)
    assert flag.cleared_at is not None
    assert _planned(case) == _every(TODAY + 14 * DAY, 14, tomorrow + 90 * DAY)
    assert threat_contexts_flag(today=tomorrow) == 0
    assert CaseFlag.objects.get(pk=flag.pk).cleared_at == flag.cleared_at


def test_a_person_who_moves_away_loses_the_flag_and_gets_it_again_on_return(world, make_case):
    threat = _threat(world, districts=["Sinjar"])
    case = _monitored(make_case, district="Sinjar")
    assert threat_contexts_flag(today=TODAY) == 1
    case.returnee.current_district = "Mosul"
    case.returnee.save()
    threat_contexts_flag(today=TODAY)
    assert CaseFlag.objects.get(case=case, threat=threat).cleared_at is not None
    case.returnee.current_district = "Sinjar"
    case.returnee.save()
    assert threat_contexts_flag(today=TODAY) == 1
    assert CaseFlag.objects.get(case=case, threat=threat).cleared_at is None


def test_flagging_costs_the_same_statements_for_1_case_or_20(world, make_case, short_plans):
    _threat(world, districts=["Sinjar"])
    _seed(make_case, world, 1, district="Sinjar")
    one = _queries(threat_contexts_flag, today=TODAY)
    _seed(make_case, world, 20, district="Sinjar")
    twenty = _queries(threat_contexts_flag, today=TODAY)
    assert CaseFlag.objects.count() == 21
    assert MonitoringContact.objects.count() == 21 * 4  # all re-planned every 7 days
    assert one == twenty


def test_entering_a_threat_context_replans_the_district_now_and_flags_after_commit(
    world, make_case, django_capture_on_commit_callbacks, monkeypatch
):
    today = timezone.localdate()
    case = _monitored(make_case, entered=today, district="Sinjar")
    contacts_plan(case)
    assert _planned(case)[0] == today + 14 * DAY
    queued = []
    monkeypatch.setattr(
        "cases.tasks.threat_contexts_flag_task.apply_async",
        lambda *args, **kwargs: queued.append(kwargs),
    )
    with django_capture_on_commit_callbacks(execute=True):
        threat = threat_context_create(
            actor=world.mona,
            programme=world.north,
            data={
                "districts": ["Sinjar"],
                "kind": "recruiter_activity",
                "starts_on": today,
                "source": "Field report",
            },
        )
    assert queued == [{"retry": False}]
    assert _planned(case) == _every(today + 7 * DAY, 7, today + 90 * DAY)
    event = AuditEvent.objects.get(action="contacts.replan")
    assert event.detail["cases"] == [case.pk]
    assert event.actor == world.mona

    with django_capture_on_commit_callbacks(execute=True):
        threat_context_end(actor=world.mona, threat=threat, ends_on=today)
    assert len(queued) == 2
    # It ends today: no contact falls while it is active, so the regular cadence is back.
    assert _planned(case) == _every(today + 14 * DAY, 14, today + 90 * DAY)


def test_a_broker_that_is_down_does_not_fail_entering_a_threat(
    world, django_capture_on_commit_callbacks, monkeypatch
):
    def refuse(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("cases.tasks.threat_contexts_flag_task.apply_async", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        threat_context_create(
            actor=world.mona,
            programme=world.north,
            data={
                "districts": ["Sinjar"],
                "kind": "recruiter_activity",
                "starts_on": timezone.localdate(),
                "source": "Field report",
            },
        )
    assert ThreatContext.objects.filter(programme=world.north).count() == 1


def test_monitoring_module_has_the_names_the_tasks_import():
    for name in ("monitoring_plan_all", "contacts_mark_missed", "threat_contexts_flag"):
        assert callable(getattr(monitoring, name))
