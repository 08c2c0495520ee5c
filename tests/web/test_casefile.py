"""The case file: every tab for every persona, the security section and the history tab for
supervisors only, the audited identity reveal, the two-lane timeline, the stage moves, and
query counts that do not grow with the records."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import (
    AuditAction,
    AuditEvent,
    Case,
    Incident,
    MonitoringContact,
    PlanGoal,
    Referral,
    ReintegrationPlan,
    ScreeningAssessment,
    Stage,
    StageTransition,
    SupportProvision,
    TrainingEnrolment,
)
from cases.services.audit import audit_record
from cases.services.workflow import case_transition
from tests import factories as f

TABS = {
    # tab: text that only that tab's records put on the page
    "intake": "Camp authority",
    "screening": "Meets the programme",
    "plan": "Open a tailoring shop",
    "training": "Tailoring course",
    "support": "Sewing machine",
    "monitoring": "Worried about his cousin",
    "incidents": "Threatening phone call",
    "referrals": "Hope for Mosul",
    "approvals": "Screening decision",
    "consent": "Signed at the camp",
    "history": "identity.reencrypt",
}
IN_SCOPE = ("alice", "carol", "mona")
OUT_OF_SCOPE = ("bob", "xavier", "audrey", "root")
IDENTITY_VALUES = ("Omar", "al-Obeidi", "Hay al-Zahra")
SECRET = "Cousin is a known facilitator"


def _today():
    return timezone.localdate()


@pytest.fixture
def full_case(world, make_case):
    """A team-A case in monitoring with one record of every kind."""
    case = make_case(Stage.MONITORING)
    ScreeningAssessment.objects.filter(case=case).update(security_findings="")
    screening = ScreeningAssessment.objects.get(case=case)
    screening.security_findings = SECRET
    screening.save(update_fields=["security_findings"])
    plan = ReintegrationPlan.objects.create(case=case, created_by=world.alice)
    PlanGoal.objects.create(plan=plan, pillar="livelihood", goal="Open a tailoring shop")
    TrainingEnrolment.objects.create(
        case=case, course="Tailoring course", provider="Vocational centre", start_date=_today()
    )
    SupportProvision.objects.create(
        case=case,
        pillar="livelihood",
        kind="Sewing machine",
        provided_on=_today(),
        recorded_by=world.alice,
    )
    f.ContactFactory(
        case=case,
        planned_date=_today() - datetime.timedelta(days=3),
        concerns="Worried about his cousin",
    )
    Incident.objects.create(
        case=case,
        kind="threat_received",
        occurred_on=_today(),
        severity="high",
        description="Threatening phone call",
        recorded_by=world.alice,
    )
    Referral.objects.create(
        case=case,
        partner=f.PartnerFactory(programme=world.north, name="Hope for Mosul"),
        service="livelihood",
        created_by=world.alice,
    )
    consent = case.returnee.consents.get()
    consent.notes = "Signed at the camp"
    consent.save(update_fields=["notes"])
    with transaction.atomic():
        audit_record(
            actor=world.alice,
            action=AuditAction.IDENTITY_REENCRYPT,
            object_type="case",
            object_id=case.case_number,
            case_number=case.case_number,
        )
    return case


def _tab_url(case, tab):
    return reverse("web:case-tab", args=[case.case_number, tab])


def _detail_url(case):
    return reverse("web:case-detail", args=[case.case_number])


def _text(response):
    return response.content.decode()


def _assert_no_identity(html):
    for value in IDENTITY_VALUES:
        assert value not in html


# --- every tab and persona --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "tab"),
    [
        (persona, tab)
        for persona in IN_SCOPE
        for tab in sorted(TABS)
        # A caseworker has no history tab (tested below).
        if not (persona == "alice" and tab == "history")
    ],
)
def test_in_scope_staff_see_each_tab_with_its_records(page, full_case, tab, persona):
    response = page(persona).get(_tab_url(full_case, tab))
    assert response.status_code == 200
    html = _text(response)
    assert TABS[tab] in html
    assert full_case.case_number in html
    _assert_no_identity(html)


@pytest.mark.parametrize("tab", sorted(TABS))
@pytest.mark.parametrize("persona", OUT_OF_SCOPE)
def test_out_of_scope_staff_get_404_on_every_tab(page, full_case, tab, persona):
    assert page(persona).get(_tab_url(full_case, tab)).status_code == 404


@pytest.mark.parametrize("persona", OUT_OF_SCOPE)
def test_out_of_scope_staff_get_404_on_the_case_file(page, full_case, persona):
    assert page(persona).get(_detail_url(full_case)).status_code == 404


@pytest.mark.parametrize("tab", sorted(TABS))
def test_anonymous_visitors_are_sent_to_login(client, full_case, tab):
    url = _tab_url(full_case, tab)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
    assert "next=" in response["Location"]


def test_anonymous_visitors_cannot_reveal_or_move(client, full_case):
    for name in ("web:case-reveal", "web:case-move"):
        response = client.post(reverse(name, args=[full_case.case_number]), {"reason": "x"})
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("web:login"))
    assert not AuditEvent.objects.filter(action="identity.reveal").exists()


def test_unknown_tab_and_unknown_case_are_404(page, full_case):
    client = page("carol")
    assert client.get(_tab_url(full_case, "secrets")).status_code == 404
    assert client.get(reverse("web:case-detail", args=["C-NOSUC-HCASE"])).status_code == 404


# --- header -----------------------------------------------------------------------------------


def test_header_shows_the_case_but_never_the_person(page, world, full_case):
    Case.objects.filter(pk=full_case.pk).update(
        stage_entered_at=timezone.now() - datetime.timedelta(days=12)
    )
    html = _text(page("alice").get(_detail_url(full_case)))
    header = html.split('class="card casefile-header"', 1)[1].split("</section>", 1)[0]
    assert full_case.case_number in header
    assert "Post-release monitoring" in header
    assert "Medium" in header
    assert "Team A" in header
    assert "alice" in header
    assert "12 days (since" in header
    assert "1 overdue" in header
    _assert_no_identity(html)
    assert full_case.returnee.national_id not in html
    assert full_case.returnee.phone not in html


def test_header_shows_the_next_planned_contact(page, full_case):
    next_day = _today() + datetime.timedelta(days=9)
    f.ContactFactory(case=full_case, planned_date=next_day)
    f.ContactFactory(case=full_case, planned_date=next_day + datetime.timedelta(days=5))
    html = _text(page("alice").get(_detail_url(full_case)))
    from django.utils.formats import date_format

    header = html.split('class="card casefile-header"', 1)[1].split("</section>", 1)[0]
    assert date_format(next_day, "DATE_FORMAT") in header
    assert date_format(next_day + datetime.timedelta(days=5), "DATE_FORMAT") not in header


# --- screening security section and history ---------------------------------------------------


@pytest.mark.parametrize("persona", ["carol", "mona"])
def test_supervisors_and_managers_see_the_security_findings(page, full_case, persona):
    html = _text(page(persona).get(_tab_url(full_case, "screening")))
    assert "Security findings" in html
    assert SECRET in html


def test_caseworker_sees_no_trace_of_the_security_section(page, full_case):
    html = _text(page("alice").get(_tab_url(full_case, "screening")))
    assert "Meets the programme" in html
    assert SECRET not in html
    assert "Security findings" not in html
    assert "security-findings" not in html


def test_history_tab_is_404_for_a_caseworker_and_not_offered(page, full_case):
    client = page("alice")
    assert client.get(_tab_url(full_case, "history")).status_code == 404
    html = _text(client.get(_detail_url(full_case)))
    assert _tab_url(full_case, "history") not in html


def test_history_tab_lists_the_case_audit_events_for_a_supervisor(page, full_case, make_case):
    other = make_case(Stage.INTAKE)
    with transaction.atomic():
        audit_record(
            actor=None,
            action=AuditAction.OUTBOX_REPLAY,
            object_type="case",
            object_id=other.case_number,
            case_number=other.case_number,
        )
    client = page("carol")
    html = _text(client.get(_tab_url(full_case, "history")))
    assert "identity.reencrypt" in html
    assert "outbox.replay" not in html
    assert _tab_url(full_case, "history") in _text(client.get(_detail_url(full_case)))


# --- tabs: links to the record forms, htmx ----------------------------------------------------


def test_tabs_link_to_the_record_forms(page, full_case):
    client = page("alice")
    number = full_case.case_number
    expected = {
        "screening": [reverse("web:record-new", args=[number, "screening"])],
        "plan": [reverse("web:record-new", args=[number, "plan"])],
        "training": [
            reverse("web:record-new", args=[number, "enrolment"]),
            reverse(
                "web:record-edit",
                args=[number, "enrolment", TrainingEnrolment.objects.get(case=full_case).uuid],
            ),
        ],
        "support": [reverse("web:record-new", args=[number, "support"])],
        "monitoring": [
            reverse("web:record-new", args=[number, "contact"]),
            reverse(
                "web:record-edit",
                args=[number, "contact", MonitoringContact.objects.get(case=full_case).uuid],
            ),
        ],
        "incidents": [reverse("web:record-new", args=[number, "incident"])],
        "referrals": [reverse("web:record-new", args=[number, "referral"])],
        "approvals": [reverse("web:record-new", args=[number, "approval"])],
        "consent": [reverse("web:record-new", args=[number, "consent"])],
        "intake": [
            reverse("web:record-edit", args=[number, "intake", full_case.intake.uuid]),
            reverse("web:record-edit", args=[number, "person", full_case.returnee.uuid]),
        ],
    }
    for tab, links in expected.items():
        html = _text(client.get(_tab_url(full_case, tab)))
        for link in links:
            assert f'href="{link}"' in html, (tab, link)


def test_open_consents_and_referrals_link_to_their_withdraw_pages(page, full_case):
    from django.urls import NoReverseMatch

    number = full_case.case_number
    client = page("alice")
    for tab, name, record in (
        ("consent", "web:consent-withdraw", full_case.returnee.consents.get()),
        ("referrals", "web:referral-withdraw", Referral.objects.get(case=full_case)),
    ):
        try:
            url = reverse(name, args=[number, record.uuid])
        except NoReverseMatch:  # the record pages do not offer it (yet)
            continue
        assert f'href="{url}"' in _text(client.get(_tab_url(full_case, tab)))


def test_a_closed_case_offers_no_add_or_edit_links(page, make_case):
    case = make_case(Stage.CLOSED)
    client = page("alice")
    for tab in ("intake", "screening", "monitoring", "consent"):
        html = _text(client.get(_tab_url(case, tab)))
        assert "/records/" not in html


def test_monitoring_tab_highlights_overdue_contacts(page, full_case):
    f.ContactFactory(case=full_case, planned_date=_today() + datetime.timedelta(days=4))
    html = _text(page("alice").get(_tab_url(full_case, "monitoring")))
    assert html.count('class="overdue"') == 1
    assert "Overdue" in html


def test_tab_links_swap_the_panel_with_htmx_and_work_without_it(page, full_case):
    client = page("alice")
    html = _text(client.get(_detail_url(full_case)))
    url = _tab_url(full_case, "training")
    assert f'href="{url}" hx-get="{url}"' in html
    assert 'hx-push-url="true"' in html

    partial = client.get(url, headers={"HX-Request": "true"})
    assert partial.status_code == 200
    body = _text(partial)
    assert "<html" not in body
    assert body.lstrip().startswith('<div id="case-tabs">')
    assert "Tailoring course" in body
    assert "HX-Request" in partial["Vary"]

    restore = client.get(url, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in _text(restore)


def test_default_tab_follows_the_stage(page, full_case, make_case):
    client = page("alice")
    assert 'data-tab="monitoring"' in _text(client.get(_detail_url(full_case)))
    intake_case = make_case(Stage.INTAKE)
    assert 'data-tab="intake"' in _text(client.get(_detail_url(intake_case)))


# --- identity reveal --------------------------------------------------------------------------


def _reveal(client, case, reason):
    return client.post(reverse("web:case-reveal", args=[case.case_number]), {"reason": reason})


def test_reveal_with_a_reason_shows_the_identity_once_and_audits_it(page, world, full_case):
    client = page("alice")
    before = AuditEvent.objects.filter(action="identity.reveal").count()
    response = _reveal(client, full_case, "Planning a home visit next week")
    assert response.status_code == 200
    html = _text(response)
    for value in IDENTITY_VALUES:
        assert value in html
    assert "no-store" in response["Cache-Control"]
    assert 'hx-history="false"' in html
    # Tabs of the revealed page are plain links: leaving it reloads without the identity.
    assert "hx-get" not in html

    events = AuditEvent.objects.filter(action="identity.reveal")
    assert events.count() == before + 1
    event = events.latest("id")
    assert event.actor == world.alice
    assert event.case_number == full_case.case_number
    assert event.detail["reason"] == "Planning a home visit next week"

    session_values = " ".join(str(v) for v in client.session.values())
    for value in IDENTITY_VALUES:
        assert value not in session_values
    for url in (_detail_url(full_case), _tab_url(full_case, "intake")):
        _assert_no_identity(_text(client.get(url)))


@pytest.mark.parametrize("reason", ["", "   ", "abc"])
def test_reveal_without_a_real_reason_is_refused_and_not_audited(page, full_case, reason):
    client = page("alice")
    before = AuditEvent.objects.count()
    response = _reveal(client, full_case, reason)
    assert response.status_code == 400
    assert response.context["reveal_form"].errors["reason"]
    html = _text(response)
    assert 'class="errorlist' in html
    _assert_no_identity(html)
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("persona", OUT_OF_SCOPE)
def test_reveal_out_of_scope_is_404_and_not_audited(page, full_case, persona):
    response = _reveal(page(persona), full_case, "Planning a home visit next week")
    assert response.status_code == 404
    assert not AuditEvent.objects.filter(action="identity.reveal").exists()


def test_reveal_by_get_goes_back_to_the_case_file(page, full_case):
    url = reverse("web:case-reveal", args=[full_case.case_number])
    response = page("alice").get(url)
    assert response.status_code == 302
    assert response["Location"] == _detail_url(full_case)
    assert page("bob").get(url).status_code == 404


# --- timeline ---------------------------------------------------------------------------------


def _cell(html, attribute, value):
    """The inside of one timeline cell, found by its data attribute."""
    start = html.index(f'{attribute}="{value}"')
    end = html.find('<div class="step', start)
    return html[start : end if end != -1 else None]


def _at(day):
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def test_timeline_has_two_lanes_with_stage_dates_and_competing_stages(page, world, full_case):
    from django.utils.formats import date_format

    entered_screening = _today() - datetime.timedelta(days=60)
    entered_training = _today() - datetime.timedelta(days=40)
    entered_monitoring = _today() - datetime.timedelta(days=10)
    for source, target, day in (
        (Stage.INTAKE, Stage.SCREENING, entered_screening),
        (Stage.SCREENING, Stage.TRAINING, entered_training),
        (Stage.TRAINING, Stage.MONITORING, entered_monitoring),
    ):
        StageTransition.objects.create(
            case=full_case, from_stage=source, to_stage=target, at=_at(day), by=world.alice
        )
    html = _text(page("alice").get(_detail_url(full_case)))
    timeline = html.split('class="timeline"', 1)[1]
    assert timeline.index("Programme") < timeline.index("Competing pipeline")
    assert timeline.count('class="lane-head"') == 2

    def short(day):
        return date_format(day, "SHORT_DATE_FORMAT")

    screening = _cell(timeline, "data-stage", "screening")
    assert short(entered_screening) in screening
    assert short(entered_training) in screening
    assert "20 days" in screening
    training = _cell(timeline, "data-stage", "training")
    assert short(entered_training) in training
    assert short(entered_monitoring) in training
    monitoring = _cell(timeline, "data-stage", "monitoring")
    assert "current" in timeline.split('data-stage="monitoring"')[0].rsplit("<div", 1)[1]
    assert short(entered_monitoring) in monitoring

    assert "Repentance (Tawba) registration" in _cell(
        timeline, "data-competing-stage", "repentance"
    )
    assert timeline.count('data-competing-stage="sharia_institute"') == 2
    assert "Post-repentance monitoring" in _cell(
        timeline, "data-competing-stage", "post_repentance_monitoring"
    )


def _competing_cells(html):
    """Competing-lane cells in order: intake, screening, training, monitoring."""
    timeline = html.split('class="timeline"', 1)[1]
    return re.split(r'<div class="step competing"', timeline)[1:]


def test_a_closed_case_shows_its_outcome_and_no_findings(page, make_case):
    case = make_case(Stage.CLOSED)
    html = _text(page("alice").get(_detail_url(case)))
    closed = _cell(html.split('class="timeline"', 1)[1], "data-stage", "closed")
    assert "Outcome: Reintegrated" in closed
    assert 'class="finding"' not in html
    assert "The case is closed" in html


def test_findings_sit_at_the_stage_they_concern_with_severity_badges(page, full_case):
    # Intake came 11 days after return (factory dates): slower than the 7-day repentance
    # benchmark; one planned contact is overdue during monitoring.
    html = _text(page("alice").get(_detail_url(full_case)))
    intake, screening, training, monitoring = _competing_cells(html)[:4]
    assert 'data-code="speed.intake"' in intake
    assert "badge-medium" in intake
    assert "7 days" in intake  # the repentance benchmark
    assert 'data-code="contact.missed"' in monitoring
    assert 'data-code="contact.missed"' not in intake + screening + training
    assert 'data-code="speed.intake"' not in monitoring
    assert "Speed" in intake
    assert "Contact" in monitoring


def test_offer_findings_name_the_pillar_at_the_competing_stage(page, full_case):
    SupportProvision.objects.filter(case=full_case).delete()
    html = _text(page("alice").get(_detail_url(full_case)))
    intake = _competing_cells(html)[0]
    assert 'data-code="offer.' in intake


# --- stage moves ------------------------------------------------------------------------------


def _move(client, case, to_stage, *, version=None, seen=None, reason=""):
    return client.post(
        reverse("web:case-move", args=[case.case_number]),
        {
            "to_stage": to_stage,
            "seen_stage": seen or case.stage,
            "version": case.version if version is None else version,
            "reason": reason,
        },
    )


def test_the_page_offers_allowed_moves_and_says_why_others_are_refused(page, make_case):
    case = make_case(Stage.SCREENING)  # no screening recorded yet
    html = _text(page("alice").get(_detail_url(case)))
    moves = html.split('class="card casefile-moves"', 1)[1].split("</section>", 1)[0]
    assert "Move back to Intake" in moves
    assert f'name="version" value="{case.version}"' in moves
    assert "No screening assessment has been recorded." in moves
    assert "Closing needs a closure approved by a supervisor." in moves
    assert 'value="training"' not in moves  # refused: no button for it


def test_a_successful_move_writes_a_transition_and_redirects(page, world, make_case):
    case = make_case(Stage.INTAKE)
    response = _move(page("alice"), case, Stage.SCREENING)
    assert response.status_code == 302
    assert response["Location"] == _detail_url(case)
    case.refresh_from_db()
    assert case.stage == Stage.SCREENING
    transition = StageTransition.objects.get(case=case)
    assert (transition.from_stage, transition.to_stage, transition.by) == (
        Stage.INTAKE,
        Stage.SCREENING,
        world.alice,
    )
    assert AuditEvent.objects.filter(action="case.transition", case_number=case.case_number)


def test_a_move_from_a_stale_page_is_refused_and_writes_nothing(page, world, make_case):
    case = make_case(Stage.INTAKE)
    seen_version = case.version
    case_transition(actor=world.carol, case=case, to_stage=Stage.SCREENING)
    case.refresh_from_db()
    client = page("alice")
    transitions = StageTransition.objects.count()
    events = AuditEvent.objects.count()

    response = _move(client, case, Stage.CLOSED, version=seen_version, seen=Stage.INTAKE)
    assert response.status_code == 409
    html = _text(response)
    assert "Someone else changed this case" in html
    message = html.split("Someone else changed this case", 1)[1].split("</div>", 1)[0]
    assert "Intake" in message
    assert "Screening" in message
    assert StageTransition.objects.count() == transitions
    assert AuditEvent.objects.count() == events
    assert Case.objects.get(pk=case.pk).stage == Stage.SCREENING


def test_a_stale_page_at_the_same_stage_says_the_records_changed(page, world, make_case):
    case = make_case(Stage.INTAKE)
    seen_version = case.version
    Case.objects.filter(pk=case.pk).update(version=seen_version + 1)
    response = _move(page("alice"), case, Stage.SCREENING, version=seen_version)
    assert response.status_code == 409
    assert "it is still at Intake" in _text(response)
    assert not StageTransition.objects.filter(case=case).exists()


def test_a_move_back_without_a_reason_is_refused_and_writes_nothing(page, make_case):
    case = make_case(Stage.SCREENING)
    version = case.version
    response = _move(page("alice"), case, Stage.INTAKE, reason="  ")
    assert response.status_code == 400
    assert response.context["move_form"].errors["reason"]
    assert 'class="errorlist' in _text(response)
    assert not StageTransition.objects.filter(case=case).exists()
    case.refresh_from_db()
    assert (case.stage, case.version) == (Stage.SCREENING, version)


def test_a_move_back_with_a_reason_is_recorded_with_it(page, make_case):
    case = make_case(Stage.SCREENING)
    response = _move(page("alice"), case, Stage.INTAKE, reason="Consent form was unsigned")
    assert response.status_code == 302
    assert StageTransition.objects.get(case=case).reason == "Consent form was unsigned"


def test_a_refused_move_shows_the_workflow_reasons_and_writes_nothing(page, make_case):
    case = make_case(Stage.SCREENING)
    response = _move(page("alice"), case, Stage.TRAINING)
    assert response.status_code == 409
    html = _text(response)
    assert "was refused" in html
    assert "No screening assessment has been recorded." in html
    assert not StageTransition.objects.filter(case=case).exists()


@pytest.mark.parametrize("persona", OUT_OF_SCOPE)
def test_moves_out_of_scope_are_404_and_write_nothing(page, make_case, persona):
    case = make_case(Stage.INTAKE)
    assert _move(page(persona), case, Stage.SCREENING).status_code == 404
    assert not StageTransition.objects.filter(case=case).exists()
    case.refresh_from_db()
    assert case.stage == Stage.INTAKE


def test_a_tampered_move_form_is_a_400(page, make_case):
    case = make_case(Stage.INTAKE)
    response = _move(page("alice"), case, "heaven")
    assert response.status_code == 400
    assert "The move could not be read" in _text(response)
    assert not StageTransition.objects.filter(case=case).exists()


# --- query counts -----------------------------------------------------------------------------


def _queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


def _add_contact(world, case, i):
    f.ContactFactory(case=case, concerns=f"c{i}", recorded_by=world.alice)


def _add_enrolment(world, case, i):
    referral = Referral.objects.filter(case=case).first() or Referral.objects.create(
        case=case,
        partner=f.PartnerFactory(programme=world.north),
        service="vocational_training",
        created_by=world.alice,
    )
    TrainingEnrolment.objects.create(
        case=case, course=f"Course {i}", provider="P", start_date=_today(), referral=referral
    )


@pytest.mark.parametrize(
    ("tab", "add"), [("monitoring", _add_contact), ("training", _add_enrolment)]
)
def test_case_file_queries_do_not_grow_with_its_records(page, world, make_case, tab, add):
    one, ten = make_case(Stage.MONITORING), make_case(Stage.MONITORING)
    add(world, one, 0)
    for i in range(10):
        add(world, ten, i)
    client = page("carol")
    for url_of in (lambda c: _tab_url(c, tab), _detail_url):
        client.get(url_of(one))  # warm the session and per-process caches
        assert _queries(client, url_of(one)) == _queries(client, url_of(ten))


@pytest.mark.parametrize("tab", sorted(TABS))
def test_the_case_file_never_reads_identity_columns(page, full_case, tab):
    client = page("carol")
    with CaptureQueriesContext(connection) as queries:
        assert client.get(_tab_url(full_case, tab)).status_code == 200
    sql = " ".join(query["sql"] for query in queries.captured_queries)
    for column in ("given_name", "family_name", "national_id", "phone", "address"):
        assert column not in sql
