"""The record forms of the case file: every new and edit page for every persona, saves that
write one row and one audit event through the services, and bad input that writes nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from cases.models import (
    Approval,
    ApprovalKind,
    AuditEvent,
    ConsentRecord,
    ConsentScope,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Referral,
    ReintegrationPlan,
    ScreeningAssessment,
    Stage,
    SupportProvision,
    TrainingEnrolment,
)
from tests import factories as f
from tests.conftest import FROZEN_NOW

OUT_OF_SCOPE = ("bob", "xavier", "audrey", "root")
IN_SCOPE = ("alice", "carol", "mona")
# The day every test starts on (tests/conftest.py): a record dated after it is refused.
TODAY = FROZEN_NOW.date()


# --- helpers ------------------------------------------------------------------------------------


class _RecordFormParser(HTMLParser):
    """What a browser would submit from the page's record form, as it was rendered."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, list[str]] = {}
        self.found = False
        self._in_form = False
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def _add(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and "record-form" in (a.get("class") or ""):
            self._in_form = self.found = True
        if not self._in_form:
            return
        name = a.get("name")
        if tag == "input" and name:
            kind = a.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self._add(name, a.get("value") or "on")
            elif kind not in ("submit", "button"):
                self._add(name, a.get("value") or "")
        elif tag == "select" and name:
            self._select, self._options = name, []
        elif tag == "option" and self._select:
            self._options.append((a.get("value") or "", "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "form":
            self._in_form = False
        elif tag == "select" and self._select:
            chosen = [value for value, selected in self._options if selected]
            self._add(self._select, (chosen or [self._options[0][0]])[0])
            self._select = None
        elif tag == "textarea" and self._textarea:
            self._add(self._textarea, "".join(self._text).removeprefix("\n"))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)


def form_values(response) -> dict[str, list[str]]:
    parser = _RecordFormParser()
    parser.feed(response.content.decode())
    assert parser.found, "the page has no record form"
    return parser.values


def new_url(case, kind):
    return reverse("web:record-new", args=[case.case_number, kind])


def edit_url(case, kind, uuid):
    return reverse("web:record-edit", args=[case.case_number, kind, uuid])


def tab_url(case, tab):
    return reverse("web:case-tab", args=[case.case_number, tab])


def audit_count():
    return AuditEvent.objects.count()


def last_audit():
    return AuditEvent.objects.order_by("-id").first()


def plan_data(goals):
    """The plan page's POST: five rows, one per pillar, the given ones filled in."""
    pillars = ["security", "livelihood", "basic_services", "psychosocial", "community"]
    data = {
        "goals-TOTAL_FORMS": "5",
        "goals-INITIAL_FORMS": "0",
        "goals-MIN_NUM_FORMS": "0",
        "goals-MAX_NUM_FORMS": "20",
    }
    for index, pillar in enumerate(pillars):
        data[f"goals-{index}-pillar"] = pillar
        data[f"goals-{index}-goal"] = ""
        data[f"goals-{index}-planned_service"] = ""
        data[f"goals-{index}-target_date"] = ""
    for index, goal in goals.items():
        for name, value in goal.items():
            data[f"goals-{index}-{name}"] = value
    return data


@pytest.fixture
def partner(world):
    return f.PartnerFactory(programme=world.north, name="Mosul Legal Aid")


@pytest.fixture
def screening_case(make_case, world, partner):
    """A team-A case in screening, with an assessment to approve and consent to share."""
    case = make_case(Stage.SCREENING)
    case.screening = f.ScreeningFactory(case=case, assessed_by=world.alice)
    f.ConsentFactory(
        returnee=case.returnee,
        recorded_by=world.alice,
        scope=[ConsentScope.PROGRAMME_RECORDS, ConsentScope.SHARE_WITH_PARTNERS],
    )
    return case


def _valid_new(kind, case, partner):
    valid = {
        "screening": {
            "assessed_on": TODAY.isoformat(),
            "clearance_status": "cleared",
            "risk_level": "high",
            "needs": ["livelihood", "family"],
            "answers": "Family support: strong\nEmployment: none",
            "decision": "admit",
            "decision_reason": "Meets the criteria",
            "judicial_status": "no_proceedings",
            "compliance": "not_applicable",
        },
        "plan": plan_data({0: {"goal": "Protection plan agreed"}, 1: {"goal": "Job"}}),
        "enrolment": {
            "course": "Welding",
            "provider": "Mosul VTC",
            "start_date": TODAY.isoformat(),
            "status": "enrolled",
        },
        "support": {
            "pillar": "livelihood",
            "kind": "Toolkit",
            "provided_on": TODAY.isoformat(),
            "amount": "150.00",
            "currency": "usd",
        },
        "contact": {"planned_date": (TODAY + datetime.timedelta(days=7)).isoformat()}
        | {"outcome": "planned", "mode": "phone"},
        "incident": {
            "kind": "threat_received",
            "occurred_on": TODAY.isoformat(),
            "severity": "high",
            "description": "Threat by phone",
        },
        "consent": {"legal_basis": "consent", "scope": ["statistics", "share_with_authorities"]},
        "approval": lambda: {
            "kind": ApprovalKind.SCREENING_DECISION,
            "screening": str(case.screening.uuid),
            "note": "Please review",
        },
        "referral": lambda: {
            "partner": str(partner.uuid),
            "service": "legal_aid",
            "shared_fields": ["sex", "needs"],
            "note": "Needs a lawyer",
        },
    }[kind]
    return valid() if callable(valid) else valid


# kind → (model rows to count, audit action, tab)
NEW_KINDS = {
    "screening": (ScreeningAssessment, "screening.create", "screening"),
    "plan": (ReintegrationPlan, "plan.create", "plan"),
    "enrolment": (TrainingEnrolment, "enrolment.create", "training"),
    "support": (SupportProvision, "support.create", "support"),
    "contact": (MonitoringContact, "contact.create", "monitoring"),
    "incident": (Incident, "incident.create", "incidents"),
    "consent": (ConsentRecord, "consent.create", "consent"),
    "approval": (Approval, "approval.request", "approvals"),
    "referral": (Referral, "referral.create", "referrals"),
}
# A field each new page shows.
NEW_FIELD = {
    "screening": "assessed_on",
    "plan": "goals-0-goal",
    "enrolment": "course",
    "support": "provided_on",
    "contact": "planned_date",
    "incident": "occurred_on",
    "consent": "legal_basis",
    "approval": "kind",
    "referral": "partner",
}


# --- who sees the pages -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(NEW_KINDS))
def test_new_record_pages_by_persona(kind, page, client, screening_case, partner):
    url = new_url(screening_case, kind)
    for name in IN_SCOPE:
        response = page(name).get(url)
        assert response.status_code == 200, name
        body = response.content.decode()
        assert screening_case.case_number in body
        assert f'name="{NEW_FIELD[kind]}"' in body
        assert response["Cache-Control"].startswith("max-age=0")
    for name in OUT_OF_SCOPE:
        assert page(name).get(url).status_code == 404, name
        data = _valid_new(kind, screening_case, partner)
        assert page(name).post(url, data).status_code == 404, name
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login") + "?next=")


@pytest.fixture
def records(world, make_case):
    """A team-A training case with one record of each editable kind."""
    case = make_case(Stage.TRAINING)
    approved = case.screenings.get()  # its decision was approved: it can no longer change
    return {
        "case": case,
        "intake": case.intake,
        "approved_screening": approved,
        "screening": f.ScreeningFactory(case=case, assessed_by=world.alice),
        "enrolment": TrainingEnrolment.objects.create(
            case=case, course="Carpentry", provider="Mosul VTC", start_date=TODAY
        ),
        "contact": f.ContactFactory(case=case, planned_date=TODAY),
        "person": case.returnee,
    }


# A value each edit page shows, pre-filled, for the in-scope personas.
EDIT_SHOWS = {
    "intake": 'value="2026-09-12"',
    "screening": "Meets the programme&#x27;s criteria",
    "enrolment": 'value="Carpentry"',
    "contact": f'value="{TODAY.isoformat()}"',
    "person": 'name="reason"',
}


@pytest.mark.parametrize("kind", sorted(EDIT_SHOWS))
def test_edit_record_pages_by_persona(kind, page, client, records):
    case, record = records["case"], records[kind]
    url = edit_url(case, kind, record.uuid)
    for name in IN_SCOPE:
        response = page(name).get(url)
        assert response.status_code == 200, name
        assert EDIT_SHOWS[kind] in response.content.decode(), name
    outsiders = {name: page(name) for name in OUT_OF_SCOPE}
    before = audit_count()
    for name, outsider in outsiders.items():
        assert outsider.get(url).status_code == 404, name
        assert outsider.post(url, {"reason": "Checking the phone"}).status_code == 404, name
    assert audit_count() == before
    response = client.get(url)
    assert response.status_code == 302
    assert response.url.startswith(reverse("web:login") + "?next=")


def test_unknown_kinds_and_foreign_records_are_404(page, records, make_case):
    alice, case = page("alice"), records["case"]
    assert alice.get(new_url(case, "horoscope")).status_code == 404
    assert alice.get(edit_url(case, "horoscope", records["intake"].uuid)).status_code == 404
    # A kind that exists, with the uuid of another kind's record, or of another case's record.
    assert alice.get(edit_url(case, "enrolment", records["contact"].uuid)).status_code == 404
    other = make_case(Stage.INTAKE)
    assert alice.get(edit_url(other, "intake", records["intake"].uuid)).status_code == 404
    assert alice.get(edit_url(other, "person", records["person"].uuid)).status_code == 404
    # Intake and person have no "new" page: cases are opened by the intake wizard.
    assert alice.get(new_url(case, "intake")).status_code == 404


# --- saving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(NEW_KINDS))
def test_saving_a_new_record_writes_one_row_and_one_audit_event(
    kind, page, screening_case, partner, world
):
    model, action, tab = NEW_KINDS[kind]
    alice = page("alice")
    rows, events = model._default_manager.count(), audit_count()

    response = alice.post(new_url(screening_case, kind), _valid_new(kind, screening_case, partner))

    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == tab_url(screening_case, tab)
    assert model._default_manager.count() == rows + 1
    assert audit_count() == events + 1
    event = last_audit()
    assert event.action == action
    assert event.case_number == screening_case.case_number
    assert event.actor_id == world.alice.pk


def test_new_records_keep_what_was_entered(page, screening_case, partner, world):
    alice = page("alice")
    for kind in ("screening", "plan", "support", "consent", "referral"):
        alice.post(new_url(screening_case, kind), _valid_new(kind, screening_case, partner))
    screening = ScreeningAssessment.objects.filter(case=screening_case).latest()
    assert screening.answers == {"Family support": "strong", "Employment": "none"}
    assert screening.needs == ["livelihood", "family"]
    assert screening.assessed_by == world.alice
    screening_case.refresh_from_db()
    assert screening_case.risk_level == "high"
    plan = ReintegrationPlan.objects.get(case=screening_case)
    assert sorted(plan.goals.values_list("pillar", "goal")) == [
        ("livelihood", "Job"),
        ("security", "Protection plan agreed"),
    ]
    support = SupportProvision.objects.get(case=screening_case)
    assert (support.amount, support.currency) == (Decimal(150), "USD")
    consent = ConsentRecord.objects.filter(returnee=screening_case.returnee).latest("given_at")
    assert consent.scope == ["statistics", "share_with_authorities"]
    referral = Referral.objects.get(case=screening_case)
    assert (referral.partner, referral.shared_fields) == (partner, ["sex", "needs"])


def test_a_successful_save_says_so_on_the_next_page(page, screening_case, partner):
    alice = page("alice")
    alice.post(new_url(screening_case, "incident"), _valid_new("incident", screening_case, None))
    stored = [str(m) for m in alice.get(new_url(screening_case, "incident")).context["messages"]]
    assert stored == ["Incident saved."]


def test_consent_given_on_an_earlier_day_is_dated_that_day(page, screening_case):
    day = TODAY - datetime.timedelta(days=3)
    data = {"legal_basis": "vital_interest", "scope": ["statistics"], "given_at": str(day)}
    assert page("alice").post(new_url(screening_case, "consent"), data).status_code == 302
    consent = ConsentRecord.objects.get(legal_basis="vital_interest")
    assert consent.given_at.date() == day


EDITS = {
    # kind → (field, new value, audit action, tab, how to read the stored value)
    "intake": ("notes", "Needs a birth certificate", "intake.update", "intake"),
    "screening": ("risk_level", "low", "screening.update", "screening"),
    "enrolment": ("attendance_percent", "80", "enrolment.update", "training"),
    "contact": ("outcome", "missed", "contact.update", "monitoring"),
}


@pytest.mark.parametrize("kind", sorted(EDITS))
def test_editing_a_record_writes_the_change_and_one_audit_event(kind, page, records, world):
    field, value, action, tab = EDITS[kind]
    case, record = records["case"], records[kind]
    alice = page("alice")
    url = edit_url(case, kind, record.uuid)
    data = form_values(alice.get(url))
    assert data["version"] == [str(record.version)]
    data[field] = [value]
    events = audit_count()

    response = alice.post(url, data)

    assert response.status_code == 302, response.content.decode()[:3000]
    assert response.url == tab_url(case, tab)
    record.refresh_from_db()
    assert str(getattr(record, field)) == value
    assert record.version == 2
    assert audit_count() == events + 1
    assert last_audit().action == action
    assert field in last_audit().fields


def test_saving_an_edit_form_unchanged_writes_nothing(page, records):
    alice, case = page("alice"), records["case"]
    for kind in ("intake", "screening", "enrolment", "contact"):
        url = edit_url(case, kind, records[kind].uuid)
        events = audit_count()
        response = alice.post(url, form_values(alice.get(url)))
        assert response.status_code == 302, kind
        assert audit_count() == events, kind
        records[kind].refresh_from_db()
        assert records[kind].version == 1, kind


def test_recording_a_met_contact_needs_its_date_and_records_who(page, records, world):
    case, contact = records["case"], records["contact"]
    url = edit_url(case, "contact", contact.uuid)
    alice = page("alice")
    data = form_values(alice.get(url))
    data["outcome"] = ["met"]
    response = alice.post(url, data)
    assert response.status_code == 400
    assert "Date it took place" in response.content.decode()
    contact.refresh_from_db()
    assert contact.outcome == "planned"

    data["actual_date"] = [TODAY.isoformat()]
    data["mode"] = ["home_visit"]
    assert alice.post(url, data).status_code == 302
    contact.refresh_from_db()
    assert (contact.outcome, contact.actual_date, contact.mode) == ("met", TODAY, "home_visit")
    assert contact.recorded_by == world.alice


# --- bad input ----------------------------------------------------------------------------------

BAD_INPUT = [
    # (kind, changes to the valid data, the label the error names)
    ("screening", {"assessed_on": ""}, "Assessed on"),
    ("screening", {"assessed_on": "2026-13-45"}, "Assessed on"),
    ("screening", {"risk_level": "extreme"}, "Risk level"),
    ("screening", {"needs": ["livelihood", "astrology"]}, "Needs"),
    ("screening", {"answers": "just a sentence"}, "Assessment answers"),
    ("plan", {"goals-0-goal": "", "goals-1-goal": ""}, "A plan needs at least one goal."),
    ("plan", {"goals-0-pillar": "weather"}, "Goal 1, Pillar"),
    ("plan", {"goals-2-target_date": "tomorrow", "goals-2-goal": "x"}, "Goal 3, Target date"),
    ("enrolment", {"end_date": "2000-01-01"}, "End date"),
    ("enrolment", {"course": ""}, "Course"),
    ("enrolment", {"status": "graduated"}, "Status"),
    ("support", {"currency": ""}, "Currency"),
    ("support", {"amount": "-5"}, "Amount"),
    ("contact", {"planned_date": ""}, "Planned date"),
    ("contact", {"outcome": "met"}, "Date it took place"),
    ("incident", {"kind": "gossip"}, "Kind of incident"),
    ("incident", {"occurred_on": "31/12/2026"}, "Occurred on"),
    ("consent", {"scope": []}, "What the consent covers"),
    ("consent", {"given_at": (TODAY + datetime.timedelta(days=2)).isoformat()}, "Given on"),
    ("approval", {"screening": ""}, "Screening assessment"),
    ("approval", {"kind": "promotion"}, "What needs approval"),
    ("referral", {"partner": "00000000-0000-0000-0000-000000000000"}, "Partner organisation"),
    ("referral", {"shared_fields": ["national_id"]}, "Fields shared with the partner"),
]


@pytest.mark.parametrize(("kind", "changes", "named"), BAD_INPUT)
def test_bad_input_is_refused_naming_the_field_and_writes_nothing(
    kind, changes, named, page, screening_case, partner
):
    model = NEW_KINDS[kind][0]
    data = {**_valid_new(kind, screening_case, partner), **changes}
    alice = page("alice")
    rows, events = model._default_manager.count(), audit_count()

    response = alice.post(new_url(screening_case, kind), data)

    assert response.status_code == 400
    body = response.content.decode()
    summary = body.split('id="errors"', 1)[1].split("</div>", 1)[0]
    assert named in summary
    assert model._default_manager.count() == rows
    assert audit_count() == events


def test_bad_input_keeps_what_was_typed(page, screening_case):
    data = {**_valid_new("incident", screening_case, None), "occurred_on": "someday"}
    data["description"] = "A car followed him home"
    response = page("alice").post(new_url(screening_case, "incident"), data)
    assert response.status_code == 400
    values = form_values(response)
    assert values["description"] == ["A car followed him home"]
    assert values["severity"] == ["high"]


def test_refusals_of_the_services_are_shown_and_write_nothing(page, make_case, world, partner):
    alice = page("alice")
    at_intake = make_case(Stage.INTAKE)
    closed = make_case(Stage.CLOSED)
    cases = [
        # Screening is recorded in screening only.
        (at_intake, "screening", "Screening is recorded while the case is in screening."),
        # A closed case's records no longer change.
        (closed, "contact", "The case is closed"),
        # Sharing needs the person's consent to share.
        (at_intake, "referral", "has not consented to sharing with partner NGOs"),
    ]
    for case, kind, message in cases:
        case.screening = None
        model = NEW_KINDS[kind][0]
        rows, events = model._default_manager.count(), audit_count()
        response = alice.post(new_url(case, kind), _valid_new(kind, case, partner))
        assert response.status_code == 400, kind
        assert message in response.content.decode(), kind
        assert (model._default_manager.count(), audit_count()) == (rows, events), kind


def test_a_closed_case_says_so_before_anything_is_typed(page, make_case):
    response = page("alice").get(new_url(make_case(Stage.CLOSED), "incident"))
    assert "This case is closed" in response.content.decode()


def test_a_second_request_of_the_same_kind_is_refused(page, screening_case, partner):
    alice = page("alice")
    data = _valid_new("approval", screening_case, partner)
    assert alice.post(new_url(screening_case, "approval"), data).status_code == 302
    events = audit_count()
    response = alice.post(new_url(screening_case, "approval"), data)
    assert response.status_code == 400
    assert "already waiting for a decision" in response.content.decode()
    assert Approval.objects.filter(case=screening_case).count() == 1
    assert audit_count() == events


def test_edit_refusals_write_nothing(page, records, world):
    """A screening sent for approval is locked; the message says what to do instead."""
    case, screening = records["case"], records["approved_screening"]
    url = edit_url(case, "screening", screening.uuid)
    alice = page("alice")
    data = form_values(alice.get(url))
    data["risk_level"] = ["high"]
    events = audit_count()
    response = alice.post(url, data)
    assert response.status_code == 400
    assert "record a new assessment" in response.content.decode()
    screening.refresh_from_db()
    assert (screening.risk_level, screening.version, audit_count()) == ("medium", 1, events)


# --- security findings ------------------------------------------------------------------------


def test_security_findings_are_offered_to_supervisors_only(page, screening_case):
    url = new_url(screening_case, "screening")
    assert 'name="security_findings"' in page("carol").get(url).content.decode()
    assert 'name="security_findings"' in page("mona").get(url).content.decode()
    body = page("alice").get(url).content.decode()
    assert 'name="security_findings"' not in body
    assert "Security findings" not in body


def test_a_caseworker_posting_security_findings_is_refused(page, screening_case):
    data = {**_valid_new("screening", screening_case, None), "security_findings": "Informant"}
    alice = page("alice")
    rows, events = ScreeningAssessment.objects.count(), audit_count()
    response = alice.post(new_url(screening_case, "screening"), data)
    assert response.status_code == 400
    assert "Your role does not allow you to set “Security findings”." in response.content.decode()
    assert "Informant" not in response.content.decode()
    assert (ScreeningAssessment.objects.count(), audit_count()) == (rows, events)


def test_a_supervisor_records_security_findings(page, screening_case):
    data = {**_valid_new("screening", screening_case, None), "security_findings": "Informant"}
    assert page("carol").post(new_url(screening_case, "screening"), data).status_code == 302
    saved = ScreeningAssessment.objects.filter(case=screening_case).latest()
    assert saved.security_findings == "Informant"


def test_a_caseworker_edits_a_screening_without_seeing_or_losing_its_findings(
    page, make_case, world
):
    case = make_case(Stage.SCREENING)
    screening = f.ScreeningFactory(
        case=case, assessed_by=world.carol, security_findings="Named by a detainee"
    )
    url = edit_url(case, "screening", screening.uuid)
    assert "Named by a detainee" in page("carol").get(url).content.decode()
    alice = page("alice")
    response = alice.get(url)
    assert "Named by a detainee" not in response.content.decode()
    data = form_values(response)
    data["decision_reason"] = ["Updated after the interview"]
    assert alice.post(url, data).status_code == 302
    screening.refresh_from_db()
    assert screening.security_findings == "Named by a detainee"
    assert screening.decision_reason == "Updated after the interview"


# --- the page itself ----------------------------------------------------------------------------


def test_every_field_has_a_label_and_dates_are_date_inputs(page, records):
    import re

    alice, case = page("alice"), records["case"]
    urls = [new_url(case, kind) for kind in NEW_KINDS] + [
        edit_url(case, kind, records[kind].uuid) for kind in EDITS
    ]
    for url in urls:
        body = alice.get(url).content.decode()
        form = body.split('class="card record-form"', 1)[1].split("</form>", 1)[0]
        ids = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|checkbox)")[^>]*id="([^"]+)"', form
        )
        assert ids, url
        for field_id in ids:
            assert f'for="{field_id}"' in form, (url, field_id)
        for name in re.findall(r'name="([a-z_]*(?:date|_on))"', form):
            assert re.search(rf'type="date" name="{name}"', form), (url, name)


def test_choices_are_labelled_in_the_page_language(page, screening_case):
    alice = page("alice")
    alice.post(reverse("set_language"), {"language": "ar", "next": "/"})
    body = alice.get(new_url(screening_case, "incident")).content.decode()
    assert 'dir="rtl"' in body
    assert 'value="threat_received"' in body


def test_choice_lists_cost_the_same_queries_with_one_record_or_ten(page, screening_case, world):
    def queries(kind):
        with CaptureQueriesContext(connection) as captured:
            assert alice.get(new_url(screening_case, kind)).status_code == 200
        return len(captured)

    alice = page("alice")
    ReintegrationPlan.objects.create(case=screening_case, created_by=world.alice)
    one = {kind: queries(kind) for kind in ("approval", "referral")}
    for _ in range(9):
        f.PartnerFactory(programme=world.north)
        f.ScreeningFactory(case=screening_case, assessed_by=world.alice)
        plan = ReintegrationPlan.objects.create(case=screening_case, created_by=world.alice)
        plan.goals.create(pillar="security", goal="Protection")
    ten = {kind: queries(kind) for kind in ("approval", "referral")}
    assert one == ten


def test_the_pages_never_show_the_persons_identity(page, records):
    alice, case = page("alice"), records["case"]
    person = records["person"]
    urls = [new_url(case, kind) for kind in NEW_KINDS] + [
        edit_url(case, kind, records[kind].uuid) for kind in EDIT_SHOWS
    ]
    for url in urls:
        body = alice.get(url).content.decode()
        for value in (person.given_name, person.family_name, person.national_id, person.phone):
            assert value not in body, (url, value)


def test_intake_edit_refuses_an_intake_before_the_first_contact(page, records):
    case, intake = records["case"], records["intake"]
    url = edit_url(case, "intake", intake.uuid)
    alice = page("alice")
    data = form_values(alice.get(url))
    data["intake_date"] = ["2026-09-01"]
    events = audit_count()
    response = alice.post(url, data)
    assert response.status_code == 400
    assert "The intake cannot come before the first contact." in response.content.decode()
    intake.refresh_from_db()
    assert (intake.intake_date, intake.version, audit_count()) == (
        datetime.date(2026, 9, 12),
        1,
        events,
    )
    assert IntakeRecord.objects.filter(case=case).count() == 1


# --- bad input that must not slip through (issue #12, point 7) ---------------------------------


@pytest.mark.parametrize(
    ("kind", "changes", "label", "message"),
    [
        ("incident", {"occurred_on": "2099-01-01"}, "Occurred on", "later than today"),
        ("incident", {"description": "Threat\x07"}, "Description", "Control characters"),
        ("incident", {"description": "d" * 20_000}, "Description", "at most 10000 characters"),
        ("contact", {"planned_date": "2099-01-01"}, "Planned date", "more than 10 years ahead"),
        ("support", {"provided_on": "2099-01-01"}, "Provided on", "more than 10 years ahead"),
        ("screening", {"assessed_on": "2026-11-21"}, "Assessed on", "later than today"),
        ("enrolment", {"course": "Welding\x1b"}, "Course", "Control characters"),
    ],
)
def test_what_the_services_refuse_is_shown_on_the_field_and_writes_nothing(
    kind, changes, label, message, page, screening_case, partner, time_machine
):
    time_machine.move_to(datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC), tick=False)
    model = NEW_KINDS[kind][0]
    valid = _valid_new(kind, screening_case, partner)
    for name, value in valid.items():
        if name.endswith(("_date", "_on")) and value:
            valid[name] = "2026-11-20"
    alice = page("alice")
    rows, events = model._default_manager.count(), audit_count()

    response = alice.post(new_url(screening_case, kind), {**valid, **changes})

    assert response.status_code == 400
    body = response.content.decode()
    summary = body.split('id="errors"', 1)[1].split("</div>", 1)[0]
    assert label in summary
    assert message in summary
    assert (model._default_manager.count(), audit_count()) == (rows, events)
