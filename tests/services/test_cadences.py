"""A programme's monitoring cadences, written through their services from any caller (the admin
is one): each change audited, and the programme's cases in monitoring re-planned with it."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from cases.models import AuditEvent, MonitoringCadence, MonitoringContact, Stage, ThreatContext
from cases.services import monitoring
from cases.services.cadences import cadence_save, cadences_delete
from cases.services.monitoring import contacts_plan

DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _no_shipped_threats(db):
    ThreatContext.objects.filter(programme=None).delete()


def _planned(case) -> list[datetime.date | None]:
    return list(
        MonitoringContact.objects.filter(case=case, outcome="planned")
        .order_by("planned_date")
        .values_list("planned_date", flat=True)
    )


def _cadence(programme, risk_level="high", interval=10, threat_interval=5) -> MonitoringCadence:
    return MonitoringCadence(
        programme=programme,
        risk_level=risk_level,
        interval_days=interval,
        threat_interval_days=threat_interval,
        duration_months=6,
    )


@pytest.fixture
def monitored(world, make_case):
    """A high-risk case in monitoring in each programme, each with the default plan (7 days)."""
    north = make_case(Stage.MONITORING, risk_level="high")
    south = make_case(Stage.MONITORING, risk_level="high", team=world.team_x)
    contacts_plan(north)
    contacts_plan(south)
    return north, south


def test_saving_a_cadence_replans_only_its_programmes_cases(world, monitored):
    north, south = monitored
    today = timezone.localdate()
    cadence_save(
        actor=world.mona,
        cadence=_cadence(world.north),
        changed_fields=["programme", "risk_level", "interval_days"],
    )
    assert _planned(north)[:2] == [today + 10 * DAY, today + 20 * DAY]
    assert _planned(south)[:2] == [today + 7 * DAY, today + 14 * DAY]
    created = AuditEvent.objects.get(action="monitoringcadence.create")
    assert created.actor == world.mona
    replan = AuditEvent.objects.get(action="contacts.replan")
    assert replan.actor == world.mona
    assert replan.detail["cases"] == [north.pk]
    assert replan.detail["reason"] == "cadence"


def test_changing_a_cadence_is_audited_with_its_fields_and_replans_again(world, monitored):
    north, _ = monitored
    today = timezone.localdate()
    cadence = _cadence(world.north)
    cadence_save(actor=world.mona, cadence=cadence, changed_fields=["interval_days"])
    cadence.interval_days = 20
    cadence_save(actor=world.mona, cadence=cadence, changed_fields=["interval_days"])
    assert _planned(north)[:2] == [today + 20 * DAY, today + 40 * DAY]
    updated = AuditEvent.objects.get(action="monitoringcadence.update")
    assert updated.fields == ["interval_days"]
    assert AuditEvent.objects.filter(action="contacts.replan").count() == 2


def test_deleting_cadences_falls_back_to_the_default_with_one_replan(world, monitored):
    north, south = monitored
    today = timezone.localdate()
    cadence_save(actor=world.mona, cadence=_cadence(world.north), changed_fields=[])
    cadence_save(actor=world.root, cadence=_cadence(world.south), changed_fields=[])
    before = AuditEvent.objects.order_by("-id").values_list("id", flat=True).first()

    cadences_delete(actor=world.root, cadences=MonitoringCadence.objects.all())

    assert not MonitoringCadence.objects.exists()
    assert AuditEvent.objects.filter(action="monitoringcadence.delete").count() == 2
    replan = AuditEvent.objects.get(action="contacts.replan", id__gt=before)
    assert sorted(replan.detail["cases"]) == sorted([north.pk, south.pk])
    assert _planned(north)[:2] == _planned(south)[:2] == [today + 7 * DAY, today + 14 * DAY]


def test_a_failed_replan_leaves_the_cadence_unsaved(world, monitored, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("re-plan failed")

    monkeypatch.setattr(monitoring, "cases_replan", broken)
    with pytest.raises(RuntimeError):
        cadence_save(actor=world.mona, cadence=_cadence(world.north), changed_fields=[])
    assert not MonitoringCadence.objects.exists()
    assert not AuditEvent.objects.filter(action="monitoringcadence.create").exists()
