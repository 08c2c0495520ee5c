"""Opening a case: person, consent and intake in one transaction, or nothing at all."""

import datetime
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from cases.models import (
    AuditEvent,
    Case,
    ConsentRecord,
    IntakeRecord,
    Returnee,
    Stage,
)
from cases.services.cases import case_assign, case_open
from cases.services.errors import ActionNotAllowed, StaleVersion

PERSON: dict[str, Any] = {
    "given_name": "Maryam",
    "family_name": "al-Hamdani",
    "date_of_birth": datetime.date(1994, 3, 2),
    "national_id": "1994-0302-7781",
    "phone": "0770 123 4567",
    "address": "Hay al-Tahrir, Mosul",
    "sex": "female",
    "year_of_birth": 1994,
    "current_district": "Mosul",
    "profession": "medicine",
    "return_pathway": "camp_repatriation",
}
INTAKE: dict[str, Any] = {
    "return_date": datetime.date(2026, 10, 1),
    "first_contact_date": datetime.date(2026, 10, 5),
    "intake_date": datetime.date(2026, 10, 6),
    "referral_source": "camp_authority",
    "urgent_needs": ["documents", "shelter"],
}
CONSENT: dict[str, Any] = {
    "legal_basis": "consent",
    "scope": ["programme_records", "share_with_partners"],
}


def _counts():
    return (
        Returnee.objects.count(),
        Case.objects.count(),
        IntakeRecord.objects.count(),
        ConsentRecord.objects.count(),
        AuditEvent.objects.count(),
    )


def test_caseworker_opens_a_case_at_intake_assigned_to_themselves(world):
    case = case_open(
        actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE, consent=CONSENT
    )
    case.refresh_from_db()
    assert case.stage == Stage.INTAKE
    assert case.caseworker == world.alice
    assert case.programme == world.north
    assert case.case_number.startswith("C-")
    assert case.intake.urgent_needs == ["documents", "shelter"]
    assert case.returnee.consents.get().scope == CONSENT["scope"]
    actions = list(
        AuditEvent.objects.filter(case_number=case.case_number).values_list("action", flat=True)
    )
    assert actions == ["case.open", "consent.create"]


def test_case_number_is_random_not_derived_from_identity_or_sequence(world):
    first = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    second = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    assert first.case_number != second.case_number
    assert "1994" not in first.case_number
    assert "MARYAM" not in first.case_number.upper()


def test_audit_event_names_the_fields_but_holds_no_identity_value(world):
    case = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    event = AuditEvent.objects.get(action="case.open")
    assert "given_name" in event.fields
    assert "national_id" in event.fields
    serialised = str(event.content())
    for value in ("Maryam", "al-Hamdani", "1994-0302-7781", "0770", "Tahrir"):
        assert value not in serialised
    assert event.object_id == case.case_number
    assert (event.request_id, event.ip) == ("test-request-0001", "192.0.2.10")


@pytest.mark.parametrize(
    ("section", "change", "field"),
    [
        ("returnee", {"sex": "robot"}, "returnee.sex"),
        ("returnee", {"return_pathway": ""}, "returnee.return_pathway"),
        ("returnee", {"year_of_birth": 1700}, "returnee.year_of_birth"),
        ("returnee", {"favourite_colour": "blue"}, "returnee.favourite_colour"),
        ("intake", {"referral_source": "rumour"}, "intake.referral_source"),
        ("intake", {"urgent_needs": ["jetpack"]}, "intake.urgent_needs"),
        ("intake", {"intake_date": datetime.date(2026, 10, 1)}, "intake.intake_date"),
        ("consent", {"legal_basis": "whim"}, "consent.legal_basis"),
        ("consent", {"scope": []}, "consent.scope"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(world, section, change, field):
    data: dict[str, dict[str, Any]] = {
        "returnee": dict(PERSON),
        "intake": dict(INTAKE),
        "consent": dict(CONSENT),
    }
    data[section].update(change)
    before = _counts()
    with pytest.raises(ValidationError) as error:
        case_open(actor=world.alice, team=world.team_a, **data)
    assert field in error.value.message_dict
    assert _counts() == before


def test_team_outside_the_actors_scope_is_refused_as_unknown(world):
    before = _counts()
    with pytest.raises(ValidationError) as error:
        case_open(actor=world.bob, team=world.team_a, returnee=PERSON, intake=INTAKE)
    assert error.value.message_dict == {"team": ["Unknown team."]}
    assert _counts() == before


def test_manager_opens_a_case_in_any_team_of_the_programme_unassigned(world):
    case = case_open(actor=world.mona, team=world.team_b, returnee=PERSON, intake=INTAKE)
    assert case.caseworker is None


def test_supervisor_reassigns_to_a_caseworker_of_the_team(world):
    case = case_open(actor=world.alice, team=world.team_c, returnee=PERSON, intake=INTAKE)
    case_assign(actor=world.carol, case=case, caseworker=world.alice, expected_version=1)
    with pytest.raises(ValidationError) as error:
        case_assign(actor=world.carol, case=case, caseworker=world.bob)
    assert "caseworker" in error.value.message_dict
    with pytest.raises(StaleVersion):
        case_assign(actor=world.carol, case=case, caseworker=world.alice, expected_version=1)


def test_caseworker_cannot_reassign(world):
    case = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    with pytest.raises(ActionNotAllowed):
        case_assign(actor=world.alice, case=case, caseworker=world.alice)


def test_a_case_number_already_taken_is_redrawn_not_a_failure(world, monkeypatch):
    first = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    draws = iter([first.case_number, "C-FRESH-00001"])
    monkeypatch.setattr("cases.services.cases.new_case_number", lambda: next(draws))
    second = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    assert second.case_number == "C-FRESH-00001"
    assert Case.objects.count() == 2
