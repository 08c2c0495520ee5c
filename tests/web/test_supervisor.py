"""The supervisor pages (dashboard, approval queue, workload, reassignment) per persona, what the
dashboard shows and draws, and query counts that do not grow with the caseload."""

from __future__ import annotations

import datetime
import re
import xml.etree.ElementTree as ET
from types import SimpleNamespace

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import (
    ApprovalKind,
    ApprovalStatus,
    CompetitionSnapshot,
    ContactOutcome,
    Incident,
    Role,
    Stage,
)
from cases.services.competition import competition_snapshot_take
from cases.web.charts import LABEL_WIDTH, PAD, WIDTH
from tests import factories as f

SVG = "{http://www.w3.org/2000/svg}"
NOT_SUPERVISORS = ["alice", "bob", "xavier", "audrey", "root"]


def svg(html: str, chart_id: str) -> ET.Element:
    """The chart ``chart_id`` in a page, parsed (so the test reads what a browser draws)."""
    match = re.search(rf'<svg [^>]*id="{chart_id}".*?</svg>', html, re.S)
    assert match, f"no chart {chart_id}"
    return ET.fromstring(match.group(0))  # noqa: S314 - our own page, in a test


def table(html: str, table_id: str) -> str:
    """The table ``table_id`` in a page, as HTML."""
    match = re.search(rf'<table id="{table_id}">.*?</table>', html, re.S)
    assert match, f"no table {table_id}"
    return match.group(0)


def bar_values(element: ET.Element) -> list[str]:
    return [
        rect.attrib["data-value"]
        for rect in element.iter(f"{SVG}rect")
        if "bar" in rect.get("class", "")
    ]


def overdue_contact(case, days: int = 5):
    return f.ContactFactory(
        case=case,
        planned_date=timezone.localdate() - datetime.timedelta(days=days),
        outcome=ContactOutcome.PLANNED,
    )


def requested(case, *, by, kind=ApprovalKind.CLOSURE):
    return f.ApprovalFactory(
        case=case,
        kind=kind,
        status=ApprovalStatus.REQUESTED,
        outcome="reintegrated",
        requested_by=by,
        decided_by=None,
        decided_at=None,
    )


def incident(case, *, days_ago: int, severity: str, by):
    return Incident.objects.create(
        case=case,
        kind="threat_received",
        occurred_on=timezone.localdate() - datetime.timedelta(days=days_ago),
        severity=severity,
        recorded_by=by,
    )


@pytest.fixture
def cases(world, make_case):
    """Team A: a training case and a high-risk monitoring case with two overdue contacts;
    team C: an intake case; team B: a monitoring case with an overdue contact, an approval
    and an incident (never shown to carol)."""
    a_training = make_case(Stage.TRAINING)
    a_monitoring = make_case(Stage.MONITORING, risk_level="high")
    overdue_contact(a_monitoring, days=9)
    overdue_contact(a_monitoring, days=3)
    c_intake = make_case(Stage.INTAKE, team=world.team_c, caseworker=world.alice)
    b_monitoring = make_case(Stage.MONITORING, team=world.team_b, caseworker=world.bob)
    overdue_contact(b_monitoring)
    a_approval = requested(a_training, by=world.alice)
    b_approval = requested(b_monitoring, by=world.bob)
    incident(a_monitoring, days_ago=4, severity="high", by=world.alice)
    incident(c_intake, days_ago=10, severity="low", by=world.alice)
    incident(a_monitoring, days_ago=45, severity="critical", by=world.alice)  # too old
    incident(b_monitoring, days_ago=2, severity="critical", by=world.bob)
    return SimpleNamespace(
        a_training=a_training,
        a_monitoring=a_monitoring,
        c_intake=c_intake,
        b_monitoring=b_monitoring,
        a_approval=a_approval,
        b_approval=b_approval,
    )


PAGES = ["web:dashboard", "web:approval-queue", "web:workload"]


# --- who may open the pages -------------------------------------------------------------------


@pytest.mark.parametrize("route", PAGES)
@pytest.mark.parametrize("persona", NOT_SUPERVISORS)
def test_anyone_who_supervises_no_team_gets_404(page, cases, route, persona):
    assert page(persona).get(reverse(route)).status_code == 404


@pytest.mark.parametrize("persona", NOT_SUPERVISORS)
def test_reassign_and_decide_pages_are_404_for_non_supervisors(page, cases, persona):
    client = page(persona)
    assert client.get(reverse("web:reassign", args=[cases.a_training.pk])).status_code == 404
    url = reverse("web:approval-decide", args=[cases.a_approval.uuid])
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("route", PAGES)
def test_anonymous_visitors_go_to_the_login_page(world, route):
    response = Client().get(reverse(route))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


@pytest.mark.parametrize("route", PAGES)
def test_a_team_outside_the_supervised_set_is_404(page, cases, world, route):
    client = page("carol")
    assert client.get(reverse(route), {"team": str(world.team_b.uuid)}).status_code == 404
    assert client.get(reverse(route), {"team": str(world.team_x.uuid)}).status_code == 404
    assert client.get(reverse(route), {"team": "not-a-uuid"}).status_code == 404
    assert client.get(reverse(route), {"team": str(world.team_a.uuid)}).status_code == 200


@pytest.mark.parametrize("route", PAGES)
def test_carol_sees_teams_a_and_c_and_nothing_of_team_b(page, cases, route):
    response = page("carol").get(reverse(route))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Team A" in html
    assert "Team C" in html
    assert cases.b_monitoring.case_number not in html
    assert "bob" not in html


@pytest.mark.parametrize("route", PAGES)
def test_mona_sees_every_north_team(page, cases, route):
    response = page("mona").get(reverse(route))
    assert response.status_code == 200
    html = response.content.decode()
    for team in ("Team A", "Team B", "Team C"):
        assert team in html
    assert "Team X" not in html


def test_pages_carry_no_identity(page, cases):
    returnee = cases.a_training.returnee
    for route in PAGES:
        html = page("mona").get(reverse(route)).content.decode()
        for value in (returnee.given_name, returnee.family_name, returnee.national_id):
            assert value not in html


# --- the dashboard ----------------------------------------------------------------------------


def test_dashboard_counts_the_caseload_by_stage_in_bars_and_table(page, cases):
    response = page("carol").get(reverse("web:dashboard"))
    html = response.content.decode()
    chart = svg(html, "chart-caseload")
    assert chart.get("role") == "img"
    assert chart.findtext(f"{SVG}title") == "Open cases by stage"
    # intake, screening, training, monitoring: C's intake case, A's two
    assert bar_values(chart) == ["1", "0", "1", "1"]
    assert response.context["by_stage"][Stage.INTAKE] == 1
    caseload = table(html, "chart-caseload-table")
    assert re.search(r"Intake</th><td class=\"num\">1</td>", caseload)
    assert re.search(r"Post-release monitoring</th><td class=\"num\">1</td>", caseload)
    assert '<span class="big" id="open-total">3</span>' in html


def test_mona_counts_team_b_too_and_the_team_parameter_narrows(page, cases, world):
    client = page("mona")
    chart = svg(client.get(reverse("web:dashboard")).content.decode(), "chart-caseload")
    assert bar_values(chart) == ["1", "0", "1", "2"]
    only_b = client.get(reverse("web:dashboard"), {"team": str(world.team_b.uuid)})
    assert bar_values(svg(only_b.content.decode(), "chart-caseload")) == ["0", "0", "0", "1"]
    assert cases.a_training.case_number not in only_b.content.decode()


def test_dashboard_lists_overdue_contacts_and_their_cases(page, cases):
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    assert '<span class="big" id="overdue-total">2</span>' in html
    listing = table(html, "overdue-cases")
    assert cases.a_monitoring.case_number in listing
    assert cases.a_training.case_number not in listing
    assert reverse("web:case-detail", args=[cases.a_monitoring.pk]) in listing


def test_dashboard_counts_waiting_approvals_and_links_the_queue(page, cases):
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    assert '<span class="big" id="approvals-waiting">1</span>' in html
    assert reverse("web:approval-queue") in html


def test_dashboard_counts_incidents_of_the_last_30_days_by_severity(page, cases):
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    chart = svg(html, "chart-incidents")
    # low, medium, high, critical: the 45-day-old and team B's critical ones are left out
    assert bar_values(chart) == ["1", "0", "1", "0"]
    assert '<span class="big" id="incident-total">2</span>' in html


def test_dashboard_draws_the_competition_summary_per_stage(page, cases):
    response = page("carol").get(reverse("web:dashboard"))
    html = response.content.decode()
    summary = response.context["summary"]
    intake = next(s for s in summary.stages if s.stage == Stage.INTAKE)
    speed = svg(html, "chart-speed")
    values = bar_values(speed)
    # the intake case: 11 days from return to intake against the 7-day repentance benchmark
    assert values[:2] == [str(intake.median_days), str(intake.benchmark_days)]
    assert intake.median_days == 11
    assert intake.benchmark_days == 7
    pillars = svg(html, "chart-pillars")
    cells = [r.get("data-value") for r in pillars.iter(f"{SVG}rect") if r.get("class") == "cell"]
    assert len(cells) == 4 * 5
    assert cells[0] == f"{intake.pillar_missing_share['security']:.3f}"
    exposure = svg(html, "chart-exposure")
    assert bar_values(exposure)[:2] == [str(intake.exposure_profile), str(intake.exposure_threat)]
    for chart_id in ("chart-speed", "chart-pillars", "chart-exposure"):
        element = svg(html, chart_id)
        assert element.get("role") == "img"
        assert element.findtext(f"{SVG}title")
        assert f'<table id="{chart_id}-table">' in html


def test_dashboard_lists_the_cases_to_look_at_first_with_the_reasons(page, cases):
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    listing = table(html, "attention-list")
    assert reverse("web:case-detail", args=[cases.c_intake.pk]) in listing
    assert "Intake came 11 days after return" in listing
    assert "2 planned contacts missed or overdue." in listing
    assert reverse("web:reassign", args=[cases.a_monitoring.pk]) in listing


def _snapshot(team, day, stage, **data):
    base = {
        "cases": 0,
        "median_days": None,
        "benchmark_days": None,
        "contact_shortfall": 0,
        "contacts_missed": 0,
        "exposure_profile": 0,
        "exposure_threat": 0,
    }
    CompetitionSnapshot.objects.create(
        team=team, day=day, stage=stage, data={**base, **data}, taken_at=timezone.now()
    )


def test_trend_adds_up_the_supervised_teams_snapshots_per_day(page, world):
    today = timezone.localdate()
    yesterday = today - datetime.timedelta(days=1)
    _snapshot(world.team_a, yesterday, Stage.INTAKE, cases=3, contacts_missed=1)
    _snapshot(world.team_c, yesterday, Stage.INTAKE, cases=2)
    _snapshot(world.team_a, today, Stage.MONITORING, cases=4, contact_shortfall=2)
    _snapshot(world.team_b, today, Stage.MONITORING, cases=50)  # not carol's
    _snapshot(world.team_a, today - datetime.timedelta(days=40), Stage.INTAKE, cases=7)
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    chart = svg(html, "chart-trend")
    points = [(c.get("class"), c.get("data-value")) for c in chart.iter(f"{SVG}circle")]
    open_cases = [value for css, value in points if css == "point series-0"]
    assert open_cases == ["5", "4"]  # yesterday A + C, today A; team B's 50 left out
    missed = [value for css, value in points if css == "point series-2"]
    assert missed == ["1", "0"]
    assert chart.get("role") == "img"
    # the 40-day-old snapshot shows on the 90-day view only
    ninety = page("carol").get(reverse("web:dashboard"), {"days": "90"}).content.decode()
    ninety_values = [
        c.get("data-value")
        for c in svg(ninety, "chart-trend").iter(f"{SVG}circle")
        if c.get("class") == "point series-0"
    ]
    assert "7" in ninety_values
    assert "7" not in open_cases


def test_trend_days_over_benchmark_weighs_teams_by_cases(page, world):
    today = timezone.localdate()
    _snapshot(world.team_a, today, Stage.INTAKE, cases=3, median_days=10, benchmark_days=7)
    _snapshot(world.team_c, today, Stage.INTAKE, cases=1, median_days=3, benchmark_days=7)
    response = page("carol").get(reverse("web:dashboard"))
    chart = svg(response.content.decode(), "chart-trend-speed")
    intake = [
        c.get("data-value") for c in chart.iter(f"{SVG}circle") if "series-0" in c.attrib["class"]
    ]
    assert intake == ["1.2"]  # (3 * 3 + 1 * -4) / 4


def test_trend_reads_the_snapshots_the_nightly_task_takes(page, cases):
    competition_snapshot_take()
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    values = [
        c.get("data-value")
        for c in svg(html, "chart-trend").iter(f"{SVG}circle")
        if c.get("class") == "point series-0"
    ]
    assert values == ["3"]


def test_without_snapshots_the_trend_says_so(page, cases):
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    assert 'id="trend-empty"' in html


def test_in_arabic_the_bars_grow_from_the_right(page, cases):
    client = page("carol")
    client.cookies["language"] = "ar"
    html = client.get(reverse("web:dashboard")).content.decode()
    assert 'dir="rtl"' in html
    chart = svg(html, "chart-caseload")
    assert chart.get("direction") == "rtl"
    start = WIDTH - PAD - LABEL_WIDTH - 8
    for rect in chart.iter(f"{SVG}rect"):
        if "bar" in rect.get("class", ""):
            assert float(rect.attrib["x"]) + float(rect.attrib["width"]) == pytest.approx(start)
    english = svg(page("carol").get(reverse("web:dashboard")).content.decode(), "chart-caseload")
    assert english.get("direction") == "ltr"
    for rect in english.iter(f"{SVG}rect"):
        if "bar" in rect.get("class", ""):
            assert float(rect.attrib["x"]) == pytest.approx(PAD + LABEL_WIDTH + 8)


def test_the_dashboard_stays_small(page, cases, world):
    for day in range(90):
        _snapshot(
            world.team_a, timezone.localdate() - datetime.timedelta(days=day), "intake", cases=day
        )
    response = page("mona").get(reverse("web:dashboard"), {"days": "90"})
    assert len(response.content) < 300_000


# --- no query per case ------------------------------------------------------------------------


def _grow(world, make_case, n):
    """``n`` more cases of every kind the pages count, in teams A and C."""
    for index in range(n):
        team = world.team_a if index % 2 else world.team_c
        case = make_case(
            [Stage.INTAKE, Stage.TRAINING, Stage.MONITORING][index % 3],
            team=team,
            caseworker=world.alice,
        )
        overdue_contact(case)
        incident(case, days_ago=1, severity="medium", by=world.alice)
        requested(case, by=world.alice)


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    return len(captured)


@pytest.mark.parametrize(
    ("route", "params"),
    [
        ("web:dashboard", {}),
        ("web:approval-queue", {}),
        ("web:workload", {}),
        ("web:workload", {"caseworker": "alice"}),
    ],
)
def test_query_count_does_not_grow_with_the_caseload(page, world, make_case, route, params):
    f.MembershipFactory(
        user=f.UserFactory(username="dora"), role=Role.CASEWORKER, team=world.team_a
    )
    _grow(world, make_case, 1)
    competition_snapshot_take()
    client = page("carol")
    client.get(reverse(route), params)  # warm the session and any cache
    one = _queries(client, reverse(route), params)
    _grow(world, make_case, 19)
    competition_snapshot_take()
    twenty = _queries(client, reverse(route), params)
    assert twenty == one
