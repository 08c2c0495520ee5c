"""The new-case wizard: four validated steps and a review, one ``case_open`` at the end, and
state between steps sealed in the session."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.sessions.models import Session
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from cases import crypto
from cases.models import AuditEvent, Case, ConsentRecord, IntakeRecord, Membership, Returnee
from cases.web.views.intake import SESSION_KEY

START = reverse("web:intake-start")
CONSENT = reverse("web:intake-consent")
INTAKE = reverse("web:intake-record")
NEEDS = reverse("web:intake-needs")
REVIEW = reverse("web:intake-review")
CANCEL = reverse("web:intake-cancel")
WIZARD_URLS = (START, CONSENT, INTAKE, NEEDS, REVIEW)

GIVEN_NAME = "Zaynabqx"
NATIONAL_ID = "NID-77731-QXZ"


def _day(days_ago: int) -> str:
    return (timezone.localdate() - datetime.timedelta(days=days_ago)).isoformat()


def person_data(world, **changes):
    data = {
        "team": str(world.team_a.uuid),
        "given_name": GIVEN_NAME,
        "family_name": "Haddadqx",
        "national_id": NATIONAL_ID,
        "date_of_birth": "1991-04-02",
        "phone": "+964 770 123 4567",
        "address": "Street 4, Mosul",
        "sex": "female",
        "year_of_birth": "1991",
        "current_district": "Mosul",
        "household_size": "5",
        "profession": "teaching",
        "former_role": "none",
        "detention_history": "on",
        "return_pathway": "camp_repatriation",
        "affiliation": "family_member",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


CONSENT_DATA = {"legal_basis": "consent", "scope": ["programme_records", "statistics"]}
NEEDS_DATA = {"urgent_needs": ["shelter", "documents"]}


def intake_data(**changes):
    data = {
        "return_date": _day(20),
        "first_contact_date": _day(10),
        "intake_date": _day(2),
        "referral_source": "camp_authority",
        "notes": "Arrived with two children.",
    }
    data.update(changes)
    return data


def row_counts():
    return {
        model.__name__: model.objects.count()
        for model in (Case, Returnee, IntakeRecord, ConsentRecord, AuditEvent)
    }


def walk_to_review(client, world):
    for url, data in (
        (START, person_data(world)),
        (CONSENT, CONSENT_DATA),
        (INTAKE, intake_data()),
        (NEEDS, NEEDS_DATA),
    ):
        response = client.post(url, {**data, "nav": "next"})
        assert response.status_code == 302, response.content.decode()[-2000:]
    return client


def stored_session_data(client) -> str:
    return Session.objects.get(session_key=client.session.session_key).session_data


def test_full_wizard_creates_exactly_one_case_with_its_records(page, world):
    client = walk_to_review(page("alice"), world)
    before = row_counts()

    response = client.post(REVIEW, {"nav": "create"})

    case = Case.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("web:case-detail", args=[case.case_number])
    after = row_counts()
    for model in ("Case", "Returnee", "IntakeRecord", "ConsentRecord"):
        assert after[model] == before[model] + 1, model
    assert AuditEvent.objects.filter(action="case.open").count() == 1
    assert AuditEvent.objects.filter(action="case.open").get().case_number == case.case_number
    assert (case.team, case.caseworker, case.stage) == (world.team_a, world.alice, "intake")
    person = case.returnee
    assert (person.given_name, person.national_id) == (GIVEN_NAME, NATIONAL_ID)
    assert person.date_of_birth == datetime.date(1991, 4, 2)
    assert (person.profession, person.detention_history, person.household_size) == (
        "teaching",
        True,
        5,
    )
    assert person.national_id_index == crypto.national_id_index(NATIONAL_ID)
    assert case.intake.urgent_needs == ["shelter", "documents"]
    assert case.intake.referral_source == "camp_authority"
    consent = person.consents.get()
    assert (consent.legal_basis, consent.scope) == ("consent", ["programme_records", "statistics"])
    assert SESSION_KEY not in client.session


def test_the_case_file_link_never_carries_the_name(page, world):
    client = walk_to_review(page("alice"), world)
    response = client.post(REVIEW, {"nav": "create"}, follow=False)
    assert GIVEN_NAME not in response["Location"]
    assert NATIONAL_ID not in response["Location"]


def test_pressing_create_twice_opens_one_case(page, world):
    client = walk_to_review(page("alice"), world)
    client.post(REVIEW, {"nav": "create"})
    again = client.post(REVIEW, {"nav": "create"})
    assert again.status_code == 302
    assert again["Location"] == START
    assert Case.objects.count() == 1


def test_review_shows_what_will_be_created_to_the_person_who_typed_it(page, world):
    client = walk_to_review(page("alice"), world)
    response = client.get(REVIEW)
    body = response.content.decode()
    assert response.status_code == 200
    shown = (GIVEN_NAME, NATIONAL_ID, "Team A — Mosul", "Camp repatriation", "Teaching")
    for text in (*shown, "Shelter"):
        assert text in body, text
    assert "Keeping programme records" in body
    assert "<dt>Consent given on</dt>\n    <dd>Today</dd>" in body
    assert "no-store" in response["Cache-Control"]
    assert Case.objects.count() == 0


def test_the_session_never_holds_identity_in_plaintext(page, world):
    client = page("alice")
    client.post(START, {**person_data(world), "nav": "next"})
    walk_to_review(client, world)
    client.get(REVIEW)

    raw = stored_session_data(client)
    decoded = Session.objects.get(session_key=client.session.session_key).get_decoded()
    for secret in (GIVEN_NAME, NATIONAL_ID, "770 123 4567", "Street 4"):
        assert secret not in raw
        assert secret not in str(decoded)
    # What is there is sealed with the project's field encryption, and opens to the typed data.
    assert decoded[SESSION_KEY].startswith(crypto.TOKEN_PREFIX)
    assert GIVEN_NAME in crypto.decrypt(decoded[SESSION_KEY])


def test_a_step_that_fails_validation_keeps_nothing_in_plaintext_either(page, world):
    client = page("alice")
    client.post(START, {**person_data(world, return_pathway=""), "nav": "next"})
    decoded = Session.objects.get(session_key=client.session.session_key).get_decoded()
    assert GIVEN_NAME not in str(decoded)


@pytest.mark.parametrize(
    ("url", "bad", "label"),
    [
        (START, {"return_pathway": None}, "Return pathway"),
        (START, {"year_of_birth": "1800"}, "Year of birth"),
        (START, {"sex": "robot"}, "Sex"),
        (START, {"date_of_birth": "not-a-date"}, "Date of birth"),
        (START, {"team": "00000000-0000-0000-0000-000000000000"}, "Team"),
        (START, {"skills": "x" * 301}, "Skills"),
        (CONSENT, {"scope": []}, "What the consent covers"),
        (CONSENT, {"legal_basis": "whim"}, "Legal basis"),
        (CONSENT, {"given_on": _day(-3)}, "Consent given on"),
        (INTAKE, {"first_contact_date": _day(1), "intake_date": _day(5)}, "Date of intake"),
        (INTAKE, {"return_date": ""}, "Date of return or release"),
        (INTAKE, {"referral_source": "rumour"}, "Referred by"),
        (NEEDS, {"urgent_needs": ["pony"]}, "Urgent needs"),
    ],
)
def test_bad_input_at_each_step_names_the_field_and_writes_nothing(page, world, url, bad, label):
    client = page("alice")
    steps = [
        (START, person_data(world)),
        (CONSENT, CONSENT_DATA),
        (INTAKE, intake_data()),
        (NEEDS, NEEDS_DATA),
    ]
    for step_url, data in steps:
        if step_url == url:
            break
        client.post(step_url, {**data, "nav": "next"})
    good = dict(steps)[url]
    data = {**good, **bad}
    data = {key: value for key, value in data.items() if value is not None}
    before = row_counts()

    response = client.post(url, {**data, "nav": "next"})

    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="errorlist"' in body
    assert f"{label}:" in body
    assert row_counts() == before
    assert client.get(REVIEW).status_code == 302  # the review stays out of reach


def test_steps_cannot_be_skipped(page, world):
    client = page("alice")
    assert client.get(REVIEW)["Location"] == START
    assert client.get(NEEDS)["Location"] == START
    client.post(START, {**person_data(world), "nav": "next"})
    assert client.get(INTAKE)["Location"] == CONSENT


def test_back_returns_to_the_previous_step_and_keeps_what_was_typed(page, world):
    client = page("alice")
    client.post(START, {**person_data(world), "nav": "next"})
    client.post(CONSENT, {**CONSENT_DATA, "nav": "next"})

    back = client.post(INTAKE, {"return_date": _day(30), "nav": "back"})

    assert back.status_code == 302
    assert back["Location"] == CONSENT
    consent_page = client.get(CONSENT).content.decode()
    assert 'value="statistics" id="id_scope_4" checked' in consent_page
    intake_page = client.get(INTAKE).content.decode()
    assert f'value="{_day(30)}"' in intake_page  # the half-filled step kept its draft


def test_step_pages_work_with_plain_forms_and_real_labels(page, world):
    body = page("alice").get(START).content.decode()
    assert '<form method="post"' in body
    assert '<label for="id_given_name">' in body
    assert '<label for="id_team">' in body
    assert 'name="nav" value="next"' in body
    # "Next" comes first, so Enter in a field moves forward rather than back.
    client = page("alice")
    client.post(START, {**person_data(world), "nav": "next"})
    consent_page = client.get(CONSENT).content.decode()
    assert consent_page.index('value="next"') < consent_page.index('value="back"')


def test_team_choice_offers_only_the_teams_the_user_may_open_cases_in(page, world):
    alice_page = page("alice").get(START).content.decode()
    assert str(world.team_a.uuid) in alice_page
    assert str(world.team_c.uuid) in alice_page
    assert str(world.team_b.uuid) not in alice_page
    mona_page = page("mona").get(START).content.decode()
    for team in (world.team_a, world.team_b, world.team_c):
        assert str(team.uuid) in mona_page
    assert str(world.team_x.uuid) not in mona_page


def test_a_team_out_of_scope_is_refused(page, world):
    client = page("alice")
    response = client.post(
        START, {**person_data(world, team=str(world.team_x.uuid)), "nav": "next"}
    )
    assert response.status_code == 200
    assert "Team:" in response.content.decode()


@pytest.mark.parametrize("persona", ["audrey", "root"])
@pytest.mark.parametrize("url", [*WIZARD_URLS, CANCEL])
def test_persona_without_a_team_to_open_cases_in_gets_404(page, world, persona, url):
    client = page(persona)
    assert client.get(url).status_code == (405 if url == CANCEL else 404)
    assert client.post(url, {**person_data(world), "nav": "next"}).status_code == 404
    assert Case.objects.count() == 0


def test_anonymous_is_sent_to_login(client):
    response = client.get(START)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_cancel_clears_the_wizard(page, world):
    client = page("alice")
    client.post(START, {**person_data(world), "nav": "next"})
    assert SESSION_KEY in client.session

    response = client.post(CANCEL)

    assert response.status_code == 302
    assert response["Location"] == reverse("web:caseload")
    assert SESSION_KEY not in client.session
    assert GIVEN_NAME not in client.get(START).content.decode()
    assert Case.objects.count() == 0


def test_a_membership_lost_before_the_end_sends_the_user_back_to_the_team(page, world):
    client = walk_to_review(page("alice"), world)
    Membership.objects.filter(user=world.alice, team=world.team_a).delete()
    before = row_counts()

    response = client.post(REVIEW, {"nav": "create"})

    assert response.status_code == 302
    assert response["Location"] == START
    assert "Team:" in client.get(START).content.decode()
    assert row_counts() == before


@pytest.mark.parametrize(
    ("field", "step_url", "label"),
    [
        ("returnee.national_id", START, "National ID number"),
        ("team", START, "Team"),
        ("consent.scope", CONSENT, "What the consent covers"),
        ("consent.given_at", CONSENT, "Consent given on"),
        ("intake.referral_source", INTAKE, "Referred by"),
        ("intake.urgent_needs", NEEDS, "Urgent needs"),
    ],
)
def test_a_refusal_by_case_open_goes_back_to_the_step_that_owns_the_field(
    page, world, monkeypatch, field, step_url, label
):
    def refuse(**kwargs):
        raise ValidationError({field: ["Refused by the service."]})

    monkeypatch.setattr("cases.web.views.intake.case_open", refuse)
    client = walk_to_review(page("alice"), world)
    before = row_counts()

    response = client.post(REVIEW, {"nav": "create"})

    assert response.status_code == 302
    assert response["Location"] == step_url
    body = client.get(step_url).content.decode()
    assert f"{label}: Refused by the service." in body
    assert row_counts() == before
    # Shown once; submitting the step again clears it and the wizard goes on.
    assert "Refused by the service." not in client.get(step_url).content.decode()


def test_a_refusal_late_in_case_open_rolls_everything_back(page, world, monkeypatch):
    """The consent is written last: refusing it must undo the person, case and intake too."""

    def refuse_consent(**kwargs):
        raise ValidationError({"scope": ["Refused at the last moment."]})

    monkeypatch.setattr("cases.services.cases.consent_create", refuse_consent)
    client = walk_to_review(page("alice"), world)
    before = row_counts()

    response = client.post(REVIEW, {"nav": "create"})

    assert response["Location"] == CONSENT
    assert row_counts() == before
    assert "Refused at the last moment." in client.get(CONSENT).content.decode()


def test_the_wizard_is_keyboard_and_no_js_friendly_through_to_review(page, world):
    client = walk_to_review(page("alice"), world)
    body = client.get(REVIEW).content.decode()
    assert '<button type="submit" name="nav" value="create">' in body
    assert 'aria-current="step"' in body


# --- bad input that must not slip through (issue #12, point 7) ---------------------------------


@pytest.mark.parametrize(
    ("url", "bad", "label", "message"),
    [
        (START, {"given_name": "Zaynab\x00"}, "Given name", "Null characters are not allowed."),
        (
            START,
            {"family_name": "Haddad\x07"},
            "Family name",
            "Control characters are not allowed: U+0007.",
        ),
        (
            START,
            {"given_name": "Z" * 1024 * 1024},
            "Given name",
            "Ensure this value has at most 200 characters (it has 1048576).",
        ),
        (
            START,
            {"date_of_birth": "2099-01-01"},
            "Date of birth",
            "The date cannot be later than today (2026-11-20).",
        ),
        (
            INTAKE,
            {"return_date": "2099-01-01"},
            "Date of return or release",
            "The date cannot be later than today (2026-11-20).",
        ),
        (
            INTAKE,
            {"first_contact_date": "1066-10-14"},
            "Date of first contact",
            "The date cannot be earlier than 1900-01-01.",
        ),
        (
            INTAKE,
            {"notes": "Arrived\x1b"},
            "Intake notes",
            "Control characters are not allowed: U+001B.",
        ),
    ],
)
def test_the_step_refuses_what_case_open_would_naming_the_field(
    page, world, time_machine, url, bad, label, message
):
    """Each step applies the rules ``case_open`` applies, so the refusal is shown on the field
    when the step is sent, not at the end; nothing is written."""
    time_machine.move_to(datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC), tick=False)
    client = page("alice")
    steps = [(START, person_data(world)), (CONSENT, CONSENT_DATA), (INTAKE, intake_data())]
    for step_url, data in steps:
        if step_url == url:
            break
        assert client.post(step_url, {**data, "nav": "next"}).status_code == 302
    before = row_counts()

    response = client.post(url, {**dict(steps)[url], **bad, "nav": "next"})

    assert response.status_code == 200
    assert f"{label}: {message}" in response.content.decode()
    assert row_counts() == before
    assert client.get(REVIEW).status_code == 302  # the review stays out of reach
