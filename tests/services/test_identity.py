"""Identity fields: encrypted at rest, found by blind index, read only with a reason, rotatable."""

import datetime

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.db import connection

from cases import crypto
from cases.models import AuditEvent, Returnee, Stage
from cases.services.errors import ActionNotAllowed, StaleVersion
from cases.services.identity import (
    case_find_by_identifier,
    identity_reencrypt,
    identity_reveal,
    returnee_update,
)

from .. import factories as f

IDENTITY_VALUES = {
    "given_name": "Zainab",
    "family_name": "al-Rawi",
    "aliases": "Umm Yusuf",
    "national_id": "NIN 4471-2290",
    "phone": "+964 770 555 0101",
    "address": "Street 9, Hay al-Nur",
}


def _raw_row(returnee):
    columns = [*IDENTITY_VALUES, "date_of_birth"]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM cases_returnee WHERE id = %s",  # noqa: S608
            [returnee.pk],
        )
        return dict(zip(columns, cursor.fetchone(), strict=True))


@pytest.fixture
def person(world, make_case):
    case = make_case(Stage.SCREENING)
    returnee = case.returnee
    for name, value in IDENTITY_VALUES.items():
        setattr(returnee, name, value)
    returnee.date_of_birth = datetime.date(1988, 7, 4)
    returnee.national_id_index = crypto.national_id_index(returnee.national_id)
    returnee.phone_index = crypto.phone_index(returnee.phone)
    returnee.save()
    return case


def test_raw_columns_hold_no_plaintext(person):
    raw = _raw_row(person.returnee)
    for name, value in IDENTITY_VALUES.items():
        assert raw[name].startswith(crypto.TOKEN_PREFIX)
        assert value not in raw[name]
        assert value.split()[0] not in raw[name]
    assert "1988" not in raw["date_of_birth"]


def test_encrypted_values_read_back_decrypted(person):
    returnee = Returnee.objects.get(pk=person.returnee_id)
    assert returnee.given_name == "Zainab"
    assert returnee.date_of_birth == datetime.date(1988, 7, 4)


def test_a_tampered_ciphertext_fails_to_decrypt(person):
    token = _raw_row(person.returnee)["given_name"]
    tampered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(tampered)


def test_encrypted_fields_refuse_lookups_that_cannot_work(person):
    from django.core.exceptions import FieldError

    with pytest.raises(FieldError):
        list(Returnee.objects.filter(given_name__icontains="Zain"))


@pytest.mark.parametrize(
    ("kwargs"),
    [
        {"national_id": "nin4471 2290"},  # spacing and case differ
        {"phone": "0770 555 0101"},  # local format of the same number
        {"phone": "00964-770-555-0101"},
    ],
)
def test_blind_index_finds_the_person_from_a_differently_written_value(world, person, kwargs):
    matches = case_find_by_identifier(actor=world.alice, **kwargs)
    assert list(matches) == [person]


def test_blind_index_search_is_scoped_and_audited_without_the_value(world, person):
    assert list(case_find_by_identifier(actor=world.bob, national_id="NIN 4471-2290")) == []
    event = AuditEvent.objects.filter(action="identity.search").last()
    assert event is not None
    assert event.actor == world.bob
    assert "4471" not in str(event.content())
    assert event.detail == {"matches": []}


def test_blind_index_column_holds_no_plaintext_and_depends_on_the_key(person, settings):
    returnee = Returnee.objects.get(pk=person.returnee_id)
    assert "4471" not in returnee.national_id_index
    settings.BLIND_INDEX_KEY = "another-key"
    assert crypto.national_id_index("NIN 4471-2290") != returnee.national_id_index


def test_search_needs_exactly_one_identifier(world):
    with pytest.raises(ValidationError) as error:
        case_find_by_identifier(actor=world.alice)
    assert "national_id" in error.value.message_dict


def test_reveal_needs_a_reason_and_writes_an_audit_event(world, person):
    with pytest.raises(ValidationError) as error:
        identity_reveal(actor=world.alice, case=person, reason="")
    assert "reason" in error.value.message_dict
    assert not AuditEvent.objects.filter(action="identity.reveal").exists()

    identity = identity_reveal(actor=world.alice, case=person, reason="Home visit tomorrow")
    assert identity["given_name"] == "Zainab"
    event = AuditEvent.objects.get(action="identity.reveal")
    assert (event.actor, event.case_number) == (world.alice, person.case_number)
    assert event.detail == {"reason": "Home visit tomorrow"}
    assert "Zainab" not in str(event.content())


def test_auditor_cannot_reveal_identity(world, person):
    with pytest.raises(ActionNotAllowed):
        identity_reveal(actor=world.audrey, case=person, reason="Just curious")


def test_identity_update_refreshes_the_blind_index_and_logs_field_names_only(world, person):
    returnee_update(
        actor=world.alice,
        case=person,
        changes={"phone": "+964 781 000 2222", "household_size": 6},
        expected_version=1,
    )
    assert list(case_find_by_identifier(actor=world.alice, phone="0781 000 2222")) == [person]
    assert list(case_find_by_identifier(actor=world.alice, phone="0770 555 0101")) == []
    event = AuditEvent.objects.get(action="returnee.update")
    assert event.fields == ["household_size", "phone"]
    assert "2222" not in str(event.content())
    with pytest.raises(StaleVersion):
        returnee_update(
            actor=world.alice, case=person, changes={"address": "x"}, expected_version=1
        )


def test_key_rotation_keeps_every_record_readable(world, person, settings):
    others = [f.ReturneeFactory(given_name=f"Person {n}") for n in range(5)]
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]

    count = identity_reencrypt(actor=None, batch_size=2)
    assert count >= 6

    # Only the new key remains: everything must still decrypt.
    settings.FIELD_ENCRYPTION_KEYS = [new_key]
    assert Returnee.objects.get(pk=person.returnee_id).given_name == "Zainab"
    assert sorted(r.given_name for r in Returnee.objects.filter(pk__in=[o.pk for o in others])) == [
        f"Person {n}" for n in range(5)
    ]
    assert AuditEvent.objects.filter(action="identity.reencrypt").exists()


def test_values_written_under_an_old_key_need_that_key_until_rotated(person, settings):
    settings.FIELD_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        Returnee.objects.get(pk=person.returnee_id)


def test_changing_the_blind_index_key_and_rotating_reindexes_everyone(world, person, settings):
    settings.BLIND_INDEX_KEY = "a-brand-new-blind-index-key"
    assert list(case_find_by_identifier(actor=world.alice, phone="0770 555 0101")) == []
    identity_reencrypt(actor=None)
    assert list(case_find_by_identifier(actor=world.alice, phone="0770 555 0101")) == [person]
