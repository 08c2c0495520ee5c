"""Importing returnees from CSV: every row checked as a single new case is, then all written
in one transaction (identity encrypted, indexed and audited), or nothing at all."""

from __future__ import annotations

import csv
import datetime
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases import crypto
from cases.models import AuditEvent, Case, ConsentRecord, IntakeRecord, Returnee, Stage
from cases.services.audit import audit_verify
from cases.services.cases import case_open
from cases.services.errors import DomainError
from cases.services.identity import case_find_by_identifier, identity_reveal
from cases.services.imports import (
    REQUIRED_COLUMNS,
    ImportInvalid,
    ImportTooLarge,
    import_team,
    returnees_import,
)

from .test_case_open import CONSENT, INTAKE, PERSON


def _cell(value) -> str:
    if isinstance(value, list):
        return "; ".join(value)
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# The person, intake and consent of tests/services/test_case_open.py, as one CSV row.
ROW: dict[str, str] = {
    **{name: _cell(value) for name, value in PERSON.items()},
    **{name: _cell(value) for name, value in INTAKE.items()},
    "detention_history": "no",
    "intake_notes": "",
    "consent_legal_basis": CONSENT["legal_basis"],
    "consent_scope": ";".join(CONSENT["scope"]),
    "consent_given_on": "2026-10-06",
    "caseworker": "",
}


def people(count: int, **changes: str) -> list[dict[str, str]]:
    """``count`` valid rows, each person with their own national ID and phone."""
    return [
        {
            **ROW,
            "national_id": f"NID-{index:06d}",
            "phone": f"+96477{index:08d}",
            "given_name": f"Person {index}",
            **changes,
        }
        for index in range(count)
    ]


def as_csv(rows: list[dict[str, str]], header: list[str] | None = None) -> bytes:
    out = io.StringIO()
    header = header or list(dict.fromkeys(name for row in rows for name in row))
    writer = csv.DictWriter(out, fieldnames=header, restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Returnee, Case, IntakeRecord, ConsentRecord))


def refused(world, data: bytes, actor=None) -> ImportInvalid:
    before = counts()
    with pytest.raises(ImportInvalid) as error:
        returnees_import(actor=actor or world.alice, team=world.team_a, data=data)
    assert counts() == before
    return error.value


def test_every_row_becomes_a_case_at_intake_with_intake_and_consent(world):
    result = returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(5)))
    assert (result.rows, result.created, result.dry_run) == (5, 5, False)
    assert counts() == (5, 5, 5, 5)
    records = (Returnee, IntakeRecord, ConsentRecord)
    assert {r.uuid.version for model in records for r in model.objects.all()} == {4}
    cases = Case.objects.select_related("returnee", "intake").order_by("returnee_id")
    assert sorted(c.case_number for c in cases) == sorted(result.case_numbers)
    for index, case in enumerate(cases):
        assert case.stage == Stage.INTAKE
        assert (case.team, case.programme, case.caseworker) == (
            world.team_a,
            world.north,
            world.alice,
        )
        assert case.returnee.given_name == f"Person {index}"
        assert case.intake.urgent_needs == ["documents", "shelter"]
        assert case.intake.recorded_by == world.alice
        consent = case.returnee.consents.get()
        assert consent.scope == ["programme_records", "share_with_partners"]
        assert consent.given_at.date() == datetime.date(2026, 10, 6)
        assert case.case_number.startswith("C-")
        assert case.returnee.person_number.startswith("P-")
    # Case numbers come back in the order of the file's rows.
    by_name = {c.returnee.given_name: c.case_number for c in cases}
    assert result.case_numbers == [by_name[f"Person {i}"] for i in range(5)]


def test_identity_is_encrypted_at_rest_and_round_trips(world):
    returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1, **ROW)))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT given_name, family_name, date_of_birth, national_id, phone, address "
            "FROM cases_returnee"
        )
        raw = cursor.fetchone()
    plain = ("Maryam", "al-Hamdani", "1994-03-02", "1994-0302-7781", "0770 123 4567")
    for stored, value in zip(raw, plain, strict=False):
        assert stored.startswith(crypto.TOKEN_PREFIX)
        assert value not in stored
    case = Case.objects.get()
    identity = identity_reveal(actor=world.alice, case=case, reason="Checking the import")
    assert identity == {
        "given_name": "Maryam",
        "family_name": "al-Hamdani",
        "aliases": "",
        "date_of_birth": datetime.date(1994, 3, 2),
        "national_id": "1994-0302-7781",
        "phone": "0770 123 4567",
        "address": "Hay al-Tahrir, Mosul",
    }


def test_identity_is_sealed_under_the_first_key_as_any_save_is(world, settings):
    old_key, new_key = settings.FIELD_ENCRYPTION_KEYS[0], crypto.generate_key()
    settings.FIELD_ENCRYPTION_KEYS = [new_key, old_key]
    returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1, **ROW)))
    with connection.cursor() as cursor:
        cursor.execute("SELECT national_id, date_of_birth FROM cases_returnee")
        national_id, date_of_birth = cursor.fetchone()
    settings.FIELD_ENCRYPTION_KEYS = [new_key]  # the old key retired: still readable
    assert crypto.decrypt(national_id) == "1994-0302-7781"
    assert crypto.decrypt(date_of_birth) == "1994-03-02"
    assert Returnee.objects.get().date_of_birth == datetime.date(1994, 3, 2)


def test_an_imported_person_is_found_by_national_id_and_by_phone(world):
    returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1, **ROW)))
    case = Case.objects.get()
    # Found however the identifier is typed, as for a case opened one by one.
    assert list(case_find_by_identifier(actor=world.alice, national_id="19940302 7781")) == [case]
    assert list(case_find_by_identifier(actor=world.alice, phone="+964 770 123 4567")) == [case]


def test_imported_and_opened_one_by_one_store_the_same_values(world):
    returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1, **ROW)))
    imported = Case.objects.select_related("returnee", "intake").get()
    opened = case_open(actor=world.alice, team=world.team_a, returnee=PERSON, intake=INTAKE)
    opened = Case.objects.select_related("returnee", "intake").get(pk=opened.pk)
    skip = {"id", "uuid", "person_number", "created_at", "updated_at", "case", "case_id"}

    def values(instance):
        return {
            f.attname: getattr(instance, f.attname)
            for f in instance._meta.concrete_fields
            if f.attname not in skip
        }

    assert values(imported.returnee) == values(opened.returnee)
    assert values(imported.intake) == values(opened.intake)
    assert (imported.stage, imported.caseworker_id, imported.version) == (
        opened.stage,
        opened.caseworker_id,
        opened.version,
    )


def test_one_bad_row_among_many_writes_nothing_and_every_error_is_listed(world):
    rows = people(20)
    rows[5]["sex"] = "robot"
    rows[11]["return_date"] = "2026-13-01"
    rows[11]["referral_source"] = "rumour"
    rows[11]["urgent_needs"] = "jetpack"
    rows[14]["intake_date"] = "2026-10-01"  # before the first contact
    rows[17]["year_of_birth"] = "1700"
    rows[17]["consent_scope"] = ""
    rows[19]["return_pathway"] = ""
    error = refused(world, as_csv(rows))
    found = {(e.row, e.field) for e in error.errors}
    assert found == {
        (7, "sex"),
        (13, "return_date"),
        (13, "referral_source"),
        (13, "urgent_needs"),
        (16, "intake_date"),
        (19, "year_of_birth"),
        (19, "consent_scope"),
        (21, "return_pathway"),
    }
    assert error.total == len(error.errors) == 8
    assert [e.row for e in error.errors] == sorted(e.row for e in error.errors)
    messages = {(e.row, e.field): e.message for e in error.errors}
    assert messages[(16, "intake_date")] == "The intake cannot come before the first contact."
    assert messages[(19, "consent_scope")] == "Say what the consent covers."
    assert "8 error(s) in 5 row(s)" in error.message


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("date_of_birth", "02/03/1994"),
        ("household_size", "many"),
        ("detention_history", "perhaps"),
        ("former_role", "wizard"),
        ("affiliation", "none"),
        ("consent_legal_basis", "whim"),
        ("consent_given_on", "yesterday"),
        ("caseworker", "bob"),  # a caseworker of team B, not A
        ("caseworker", "nobody"),
        ("nationality", "x" * 65),
        ("skills", "y" * 301),
    ],
)
def test_each_field_is_checked_as_a_single_case_is(world, column, value):
    rows = people(4)
    rows[1][column] = rows[3][column] = value  # a value refused once is refused again
    error = refused(world, as_csv(rows))
    assert [(e.row, e.field) for e in error.errors] == [(3, column), (5, column)]
    assert error.errors[0].message == error.errors[1].message


def test_consent_cannot_be_given_in_the_future(world):
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    error = refused(world, as_csv(people(2, consent_given_on=tomorrow)))
    assert {(e.row, e.field, e.message) for e in error.errors} == {
        (2, "consent_given_on", "Consent cannot be given in the future."),
        (3, "consent_given_on", "Consent cannot be given in the future."),
    }


def test_an_identity_value_never_appears_in_an_error(world):
    rows = people(1, date_of_birth="1994-02-30-secret")
    error = refused(world, as_csv(rows))
    assert [(e.field, e.message) for e in error.errors] == [
        ("date_of_birth", "Give a date as YYYY-MM-DD.")
    ]


def test_a_national_id_repeated_in_the_file_is_refused_however_typed(world):
    rows = people(4)
    rows[0]["national_id"] = "1994-0302-7781"
    rows[3]["national_id"] = "19940302 7781"
    error = refused(world, as_csv(rows))
    assert [(e.row, e.field, e.message) for e in error.errors] == [
        (5, "national_id", "Row 2 has the same national ID.")
    ]


def test_a_national_id_already_registered_is_refused_even_in_another_programme(world):
    case_open(
        actor=world.alice,
        team=world.team_a,
        returnee={"national_id": "A-1", "return_pathway": "surrender"},
        intake={
            "return_date": datetime.date(2026, 10, 1),
            "first_contact_date": datetime.date(2026, 10, 1),
            "intake_date": datetime.date(2026, 10, 1),
            "referral_source": "self",
        },
    )
    south = as_csv(people(1, national_id="B-2"))
    returnees_import(actor=world.xavier, team=world.team_x, data=south)
    rows = people(4)
    rows[1]["national_id"] = "a 1"  # as case_open registered it, typed differently
    rows[3]["national_id"] = "b2"  # registered in programme South, out of alice's sight
    error = refused(world, as_csv(rows))
    registered = "A person with this national ID is already registered."
    assert [(e.row, e.field, e.message) for e in error.errors] == [
        (3, "national_id", registered),
        (5, "national_id", registered),
    ]


def test_the_duplicate_search_is_audited_without_the_values_even_when_refused(world):
    rows = people(2)
    rows[1]["sex"] = "robot"
    refused(world, as_csv(rows))
    event = AuditEvent.objects.get()
    assert (event.action, event.actor, event.object_id) == (
        "identity.search",
        world.alice,
        "national_id",
    )
    assert event.detail == {"import": True, "searched": 2, "matches": 0}
    assert "NID-" not in str(event.content())


def test_header_must_name_known_columns_each_once_with_the_required_ones(world):
    rows = [{**ROW, "favourite_colour": "blue"}]
    header = [name for name in rows[0] if name != "return_date"] + ["sex"]
    data = as_csv([{k: v for k, v in rows[0].items() if k in header}], header=header)
    error = refused(world, data)
    assert {(e.row, e.field, e.message) for e in error.errors} == {
        (1, "favourite_colour", "Unknown column."),
        (1, "sex", "This column appears more than once."),
        (1, "return_date", "This column is required."),
    }


def test_required_columns_are_those_case_open_and_the_wizard_require(world):
    assert set(REQUIRED_COLUMNS) == {
        "return_pathway",
        "return_date",
        "first_contact_date",
        "intake_date",
        "referral_source",
        "consent_legal_basis",
        "consent_scope",
    }
    minimal = {name: ROW[name] for name in REQUIRED_COLUMNS}
    result = returnees_import(actor=world.alice, team=world.team_a, data=as_csv([minimal]))
    person = Case.objects.get(pk=result.case_numbers[0]).returnee
    assert (person.sex, person.profession, person.national_id_index) == ("unknown", "none", "")


def test_file_level_problems_name_row_zero(world):
    for data, text in (
        (b"", "The file is empty"),
        (as_csv(people(1))[: as_csv(people(1)).index(b"\n") + 1], "no rows"),
        ("sex\r\nf\xe9minin\r\n".encode("latin-1"), "not UTF-8"),
    ):
        error = refused(world, data)
        assert [(e.row, e.field) for e in error.errors] == [(0, "file")]
        assert text in error.errors[0].message


def test_a_cell_too_large_to_read_is_named_by_its_row_and_column(world):
    """The csv module refuses a cell over 131,072 characters; that is the cell's fault, not the
    file's (tests/services/test_input_validation.py has more)."""
    error = refused(world, as_csv(people(2, intake_notes="n" * 200_000)))
    assert [(e.row, e.field, e.message) for e in error.errors] == [
        (
            2,
            "intake_notes",
            "Ensure this value has at most 10000 characters (it has more than 131072).",
        )
    ]


def test_a_row_with_the_wrong_number_of_cells_is_refused(world):
    data = as_csv(people(2)) + b"only,three,cells\r\n"
    error = refused(world, data)
    assert [(e.row, e.field) for e in error.errors] == [(4, "row")]


def test_blank_lines_and_a_byte_order_mark_are_tolerated(world):
    data = b"\xef\xbb\xbf" + as_csv(people(2)) + b"\r\n,,,\r\n"
    assert returnees_import(actor=world.alice, team=world.team_a, data=data).created == 2


def test_caseworker_column_assigns_and_empty_means_as_case_open_does(world):
    rows = people(2)
    rows[1]["caseworker"] = "alice"
    returnees_import(actor=world.mona, team=world.team_a, data=as_csv(rows))
    assert sorted(Case.objects.values_list("caseworker__username", flat=True), key=str) == [
        None,
        "alice",
    ]


def test_team_where_the_actor_may_not_open_cases_is_not_found(world):
    assert import_team(actor=world.bob, team_uuid=world.team_a.uuid) is None
    assert import_team(actor=world.audrey, team_uuid=world.team_a.uuid) is None
    assert import_team(actor=world.alice, team_uuid="not-a-uuid") is None
    assert import_team(actor=world.alice, team_uuid=world.team_a.uuid) == world.team_a
    with pytest.raises(DomainError) as error:
        returnees_import(actor=world.bob, team=world.team_a, data=as_csv(people(1)))
    assert error.value.code == "not_found"
    assert counts() == (0, 0, 0, 0)


def test_dry_run_checks_everything_and_writes_nothing(world):
    result = returnees_import(
        actor=world.alice, team=world.team_a, data=as_csv(people(3)), dry_run=True
    )
    assert (result.rows, result.created, result.case_numbers) == (3, 0, [])
    assert counts() == (0, 0, 0, 0)
    assert list(AuditEvent.objects.values_list("action", flat=True)) == ["identity.search"]
    rows = people(3)
    rows[2]["sex"] = "robot"
    with pytest.raises(ImportInvalid):
        returnees_import(actor=world.alice, team=world.team_a, data=as_csv(rows), dry_run=True)


def test_the_import_is_audited_once_with_actor_team_fields_and_case_numbers(world):
    result = returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(3)))
    search, event = AuditEvent.objects.order_by("id")
    assert (search.action, event.action) == ("identity.search", "case.import")
    assert (event.actor, event.actor_label) == (world.alice, "user:alice")
    assert (event.object_type, event.object_id) == ("team", str(world.team_a.uuid))
    assert event.detail == {
        "team": str(world.team_a.uuid),
        "rows": 3,
        "case_numbers": result.case_numbers,
    }
    assert {"national_id", "sex", "intake.return_date", "consent.scope"} <= set(event.fields)
    assert (event.request_id, event.ip) == ("test-request-0001", "192.0.2.10")
    for audited in (search, event):
        content = str(audited.content())
        assert "Person 0" not in content
        assert "NID-" not in content
        assert "+96477" not in content
    assert audit_verify().ok


def test_queries_do_not_grow_with_the_number_of_rows(world):
    def statements(count: int) -> list[str]:
        rows = people(count)
        for row in rows:
            row["national_id"] += f"-{count}"
        data = as_csv(rows)
        with CaptureQueriesContext(connection) as queries:
            returnees_import(actor=world.alice, team=world.team_a, data=data)
        return [q["sql"].split(" ")[0] for q in queries.captured_queries]

    one = statements(1)
    twenty = statements(20)
    assert len(one) == len(twenty), (one, twenty)


def test_row_and_size_limits(world, settings):
    settings.IMPORT_MAX_ROWS = 3
    with pytest.raises(ImportTooLarge):
        returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(4)))
    assert returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(3))).created
    settings.IMPORT_MAX_BYTES = 100
    with pytest.raises(ImportTooLarge):
        returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1)))


def test_a_case_or_person_number_already_taken_is_redrawn(world, monkeypatch):
    first = returnees_import(actor=world.alice, team=world.team_a, data=as_csv(people(1)))
    taken_case = first.case_numbers[0]
    taken_person = Returnee.objects.get().person_number
    # The first draw of two holds a number in use; only that one is drawn again.
    draws = {
        "C": [[taken_case, "C-FRESH-00001"], ["C-FRESH-00002"]],
        "P": [[taken_person, "P-FRESH-00001"], ["P-FRESH-00002"]],
    }

    def fake(prefix, count, length=10):
        drawn = draws[prefix].pop(0)
        assert len(drawn) == count
        return drawn

    monkeypatch.setattr("cases.services.imports.writing.random_references", fake)
    result = returnees_import(
        actor=world.alice, team=world.team_a, data=as_csv(people(2, national_id=""))
    )
    assert sorted(result.case_numbers) == ["C-FRESH-00001", "C-FRESH-00002"]
    assert set(Returnee.objects.values_list("person_number", flat=True)) == {
        taken_person,
        "P-FRESH-00001",
        "P-FRESH-00002",
    }


# --- the command -------------------------------------------------------------------------------


def run_command(tmp_path, world, rows, *args):
    path = tmp_path / "returnees.csv"
    path.write_bytes(as_csv(rows))
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "import_returnees",
        str(path),
        "--team",
        str(world.team_a.uuid),
        *args,
        stdout=out,
        stderr=err,
    )
    return out.getvalue(), err.getvalue()


def test_command_imports_as_the_named_account(tmp_path, world):
    out, _err = run_command(tmp_path, world, people(3), "--as", "alice", "-v", "2")
    numbers = set(Case.objects.values_list("case_number", flat=True))
    assert len(numbers) == 3
    assert numbers <= set(out.split())
    assert "Imported 3 returnees into Team A" in out
    event = AuditEvent.objects.get(action="case.import")
    assert event.actor == world.alice
    assert event.request_id.startswith("cli-")


def test_command_prints_every_error_and_fails_writing_nothing(tmp_path, world):
    rows = people(3)
    rows[0]["sex"] = "robot"
    rows[2]["return_date"] = ""
    err = io.StringIO()
    path = tmp_path / "returnees.csv"
    path.write_bytes(as_csv(rows))
    with pytest.raises(CommandError, match="Nothing was imported: 2 error"):
        call_command(
            "import_returnees",
            str(path),
            "--team",
            str(world.team_a.uuid),
            "--as",
            "alice",
            stderr=err,
        )
    assert err.getvalue().splitlines() == [
        "row 2, sex: Value 'robot' is not a valid choice.",
        "row 4, return_date: This field cannot be null.",
    ]
    assert counts() == (0, 0, 0, 0)


def test_command_dry_run_writes_nothing(tmp_path, world):
    out, _err = run_command(tmp_path, world, people(3), "--as", "alice", "--dry-run")
    assert "All 3 rows are valid; nothing was written." in out
    assert counts() == (0, 0, 0, 0)


@pytest.mark.parametrize("username", ["bob", "nobody", "ivan"])
def test_command_refuses_a_team_the_account_cannot_open_cases_in(tmp_path, world, username):
    with pytest.raises(CommandError):
        run_command(tmp_path, world, people(1), "--as", username)
    assert counts() == (0, 0, 0, 0)
