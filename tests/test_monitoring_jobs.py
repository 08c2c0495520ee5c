"""The monitoring jobs as beat runs them (eager tasks here), and the cadence in the admin:
audited, scoped to the programmes a manager runs, and re-planning that programme's cases."""

from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import (
    AuditEvent,
    Case,
    CaseFlag,
    MonitoringCadence,
    MonitoringContact,
    Role,
    Stage,
    ThreatContext,
)
from cases.services.monitoring import contacts_plan
from cases.tasks import contacts_mark_missed_task, monitoring_plan_task, threat_contexts_flag_task

from .factories import ContactFactory, MembershipFactory
from .web.conftest import verified_client

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_shipped_threats(db):
    ThreatContext.objects.filter(programme=None).delete()


@pytest.fixture
def manager(admin_user, world):
    """The admin account, as a manager of programme North."""
    MembershipFactory(user=admin_user, role=Role.PROGRAMME_MANAGER, programme=world.north)
    return verified_client(admin_user)


def _planned(case) -> list[datetime.date | None]:
    return list(
        MonitoringContact.objects.filter(case=case, outcome="planned")
        .order_by("planned_date")
        .values_list("planned_date", flat=True)
    )


def test_adding_a_cadence_in_the_admin_is_audited_and_replans_the_programmes_cases(
    manager, admin_user, world, make_case
):
    today = timezone.localdate()
    north = make_case(Stage.MONITORING, risk_level="high")
    south = make_case(Stage.MONITORING, risk_level="high", team=world.team_x)
    contacts_plan(north)
    contacts_plan(south)
    response = manager.post(
        reverse("admin:cases_monitoringcadence_add"),
        {
            "programme": world.north.pk,
            "risk_level": "high",
            "interval_days": 10,
            "threat_interval_days": 5,
            "duration_months": 6,
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert MonitoringCadence.objects.get(programme=world.north).interval_days == 10
    event = AuditEvent.objects.get(action="monitoringcadence.create")
    assert event.actor == admin_user
    assert _planned(north)[:2] == [today + 10 * DAY, today + 20 * DAY]
    assert _planned(south)[:2] == [today + 7 * DAY, today + 14 * DAY]
    replan = AuditEvent.objects.get(action="contacts.replan")
    assert replan.detail["cases"] == [north.pk]
    assert replan.detail["reason"] == "cadence"


def test_a_threat_interval_longer_than_the_interval_is_refused(manager, world):
    response = manager.post(
        reverse("admin:cases_monitoringcadence_add"),
        {
            "programme": world.north.pk,
            "risk_level": "low",
            "interval_days": 10,
            "threat_interval_days": 20,
            "duration_months": 6,
        },
    )
    assert response.status_code == 200
    assert not MonitoringCadence.objects.exists()


def test_another_programmes_cadence_is_not_found_by_its_manager(manager, world):
    cadence = MonitoringCadence.objects.create(
        programme=world.south,
        risk_level="low",
        interval_days=20,
        threat_interval_days=10,
        duration_months=6,
    )
    url = reverse("admin:cases_monitoringcadence_change", args=[cadence.pk])
    assert manager.get(url).status_code == 404
    listing = manager.get(reverse("admin:cases_monitoringcadence_changelist"))
    assert listing.status_code == 200


def test_the_programme_admin_edits_the_monitoring_settings(manager, world):
    page = manager.get(reverse("admin:cases_programme_change", args=[world.north.pk]))
    body = page.content.decode()
    for name in ("contact_grace_days", "escalate_after_days", "plan_ahead_days"):
        assert f'name="{name}"' in body


def test_the_plan_task_plans_ahead_once(world, make_case):
    case = make_case(Stage.MONITORING, risk_level="low")
    assert monitoring_plan_task.apply().get() == 3
    assert monitoring_plan_task.apply().get() == 0
    assert len(_planned(case)) == 3


def test_the_missed_task_marks_then_hands_over_to_the_notifier(world, make_case, monkeypatch):
    calls = []
    monkeypatch.setattr("cases.tasks.notify_missed_contacts", lambda **kw: calls.append(kw))
    case = make_case(Stage.MONITORING)
    ContactFactory(case=case, planned_date=timezone.localdate() - 10 * DAY)
    assert contacts_mark_missed_task.apply().get() == 1
    assert calls == [{}]
    assert MonitoringContact.objects.get(case=case).outcome == "missed"


def test_the_flag_task_flags_then_hands_over_to_the_notifier(world, make_case, monkeypatch):
    calls = []
    monkeypatch.setattr("cases.tasks.notify_flagged_cases", lambda **kw: calls.append(kw))
    ThreatContext.objects.create(
        programme=world.north,
        districts=["Mosul"],
        kind="anchor_point",
        starts_on=timezone.localdate(),
        source="Field report",
    )
    case = make_case(Stage.MONITORING)
    assert Case.objects.get(pk=case.pk).returnee.current_district == "Mosul"
    assert threat_contexts_flag_task.apply().get() == 1
    assert calls == [{}]
    assert CaseFlag.objects.filter(case=case, cleared_at__isnull=True).count() == 1
