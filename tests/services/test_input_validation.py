"""One set of input rules for every way in: no NUL or other control character in any text,
nothing longer than its column holds, no date its field cannot be (a return, an intake, a birth
or a held contact after today; any date before 1900; a planned one more than ten years ahead).
``case_open``, the CSV import (service and command) and the record services refuse the same
input, name the field or the column, and write nothing. Time is frozen: "today" is 2026-11-20.

The API and the pages reach these services; their own tests (tests/api/test_cases.py,
tests/api/test_import.py, tests/api/test_records.py, tests/web/test_intake.py,
tests/web/test_records.py) check that the refusal comes back there naming the field."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from cases.models import (
    AuditEvent,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    PlanGoal,
    Returnee,
    ScreeningAssessment,
    Stage,
    SupportProvision,
    TrainingEnrolment,
)
from cases.services.approvals import plan_create
from cases.services.cases import case_open
from cases.services.consent import consent_create
from cases.services.identity import returnee_update
from cases.services.imports import ImportInvalid, returnees_import
from cases.services.records import (
    contact_create,
    contact_update,
    enrolment_create,
    incident_create,
    intake_update,
    screening_create,
    support_create,
)

from .test_case_open import CONSENT, INTAKE, PERSON
from .test_imports import as_csv, people

NOW = datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC)
TODAY = NOW.date()
TOMORROW = TODAY + datetime.timedelta(days=1)
IN_2099 = datetime.date(2099, 1, 1)
HASTINGS = datetime.date(1066, 10, 14)
ONE_MB = 1024 * 1024

NUL = "Null characters are not allowed."
BELL = "Control characters are not allowed: U+0007."
FUTURE = "The date cannot be later than today (2026-11-20)."
TOO_EARLY = "The date cannot be earlier than 1900-01-01."
TOO_FAR_AHEAD = "The date cannot be more than 10 years ahead (later than 2036-11-20)."
# The csv module stops reading a cell at 131,072 characters (csv.field_size_limit()).
CSV_CELL_LIMIT = 131_072


def at_most(limit: int, has: int | str) -> str:
    return f"Ensure this value has at most {limit} characters (it has {has})."


@pytest.fixture(autouse=True)
def frozen(time_machine):
    time_machine.move_to(NOW, tick=False)


def written() -> tuple[int, ...]:
    """Every row a new case is made of, and every audit event but the national-ID search
    that an import audits even when it refuses the file (tests/services/test_imports.py)."""
    return (
        Returnee.objects.count(),
        Case.objects.count(),
        IntakeRecord.objects.count(),
        ConsentRecord.objects.count(),
        AuditEvent.objects.exclude(action="identity.search").count(),
    )


# --- case_open ---------------------------------------------------------------------------------

OPEN_REFUSALS = [
    # (section, field, value, message)
    ("returnee", "given_name", "Maryam\x00", NUL),
    ("returnee", "family_name", "al-\x07Hamdani", BELL),
    ("returnee", "given_name", "M" * ONE_MB, at_most(200, ONE_MB)),
    ("returnee", "phone", "0" * 33, at_most(32, 33)),
    ("returnee", "date_of_birth", IN_2099, FUTURE),
    ("returnee", "date_of_birth", HASTINGS, TOO_EARLY),
    ("intake", "notes", "n" * ONE_MB, at_most(10_000, ONE_MB)),
    ("intake", "notes", "Arrived\x00", NUL),
    ("intake", "return_date", IN_2099, FUTURE),
    ("intake", "return_date", HASTINGS, TOO_EARLY),
    ("intake", "intake_date", TOMORROW, FUTURE),
]


@pytest.mark.parametrize(("section", "field", "value", "message"), OPEN_REFUSALS)
def test_case_open_refuses_naming_the_field_and_writes_nothing(
    world, section, field, value, message
):
    person, intake = dict(PERSON), dict(INTAKE)
    {"returnee": person, "intake": intake}[section][field] = value
    before = written()
    with pytest.raises(ValidationError) as error:
        case_open(
            actor=world.alice, team=world.team_a, returnee=person, intake=intake, consent=CONSENT
        )
    assert error.value.message_dict == {f"{section}.{field}": [message]}
    assert written() == before


def test_case_open_accepts_today_and_the_limits_themselves(world):
    person = {**PERSON, "given_name": "M" * 200, "date_of_birth": datetime.date(1900, 1, 1)}
    intake = {
        **INTAKE,
        "return_date": TODAY,
        "first_contact_date": TODAY,
        "intake_date": TODAY,
        "notes": "Line one\r\nline two\tindented",  # line breaks and tabs are text
    }
    case = case_open(actor=world.alice, team=world.team_a, returnee=person, intake=intake)
    assert case.intake.return_date == TODAY
    assert case.returnee.given_name == "M" * 200


# --- the CSV import: service and command -----------------------------------------------------

IMPORT_REFUSALS = [
    # (column, value, message)
    ("given_name", "Maryam\x00", NUL),
    ("family_name", "al-\x07Hamdani", BELL),
    # Past the csv module's cell limit: the column is still named, with its own limit.
    ("given_name", "M" * ONE_MB, at_most(200, f"more than {CSV_CELL_LIMIT}")),
    (
        "intake_notes",
        'said "no", then\nleft, ' * (ONE_MB // 20),
        at_most(10_000, "more than 131072"),
    ),
    ("address", "a" * 1000, at_most(500, 1000)),
    ("skills", "s" * ONE_MB, at_most(300, f"more than {CSV_CELL_LIMIT}")),
    ("consent_notes", "Agreed\x00", NUL),
    ("return_date", "2099-01-01", FUTURE),
    ("first_contact_date", "1066-10-14", TOO_EARLY),
    ("date_of_birth", "2099-01-01", FUTURE),
    ("consent_given_on", "1066-10-14", TOO_EARLY),
]


def import_refused(world, data: bytes) -> ImportInvalid:
    before = written()
    with pytest.raises(ImportInvalid) as error:
        returnees_import(actor=world.alice, team=world.team_a, data=data)
    assert written() == before
    return error.value


@pytest.mark.parametrize(("column", "value", "message"), IMPORT_REFUSALS)
def test_import_refuses_naming_the_row_and_column_and_writes_nothing(world, column, value, message):
    rows = people(3)
    rows[1][column] = value
    error = import_refused(world, as_csv(rows))
    assert [(e.row, e.field, e.message) for e in error.errors] == [(3, column, message)]


def test_an_oversized_cell_in_the_header_or_past_the_last_column_is_located(world):
    rows = people(2)
    header = list(rows[0])
    data = as_csv(rows, header)
    error = import_refused(world, data.replace(b"given_name", b"g" * ONE_MB, 1))
    position = header.index("given_name") + 1
    assert [(e.row, e.field) for e in error.errors] == [(1, f"column {position}")]
    extra = data.rstrip(b"\r\n") + b"," + b"x" * ONE_MB + b"\r\n"
    error = import_refused(world, extra)
    assert [(e.row, e.field) for e in error.errors] == [(3, f"column {len(header) + 1}")]
    assert "131072" in error.errors[0].message


def test_import_accepts_a_long_cell_under_the_column_limit(world):
    rows = people(2, intake_notes="n" * 10_000)
    result = returnees_import(actor=world.alice, team=world.team_a, data=as_csv(rows))
    assert result.created == 2


def test_command_prints_the_refusals_naming_the_column_and_writes_nothing(tmp_path, world):
    rows = people(4)
    rows[0]["given_name"] = "Maryam\x00"
    rows[1]["return_date"] = "2099-01-01"
    rows[3]["given_name"] = "M" * 1000
    path = tmp_path / "returnees.csv"
    path.write_bytes(as_csv(rows))
    err = io.StringIO()
    before = written()
    with pytest.raises(CommandError, match="Nothing was imported: 3 error"):
        call_command(
            "import_returnees", str(path), "--team", str(world.team_a.uuid), "--as", "alice",
            stderr=err,
        )  # fmt: skip
    assert err.getvalue().splitlines() == [
        f"row 2, given_name: {NUL}",
        f"row 3, return_date: {FUTURE}",
        f"row 5, given_name: {at_most(200, 1000)}",
    ]
    assert written() == before


def test_command_names_the_column_of_a_one_megabyte_cell(tmp_path, world):
    rows = people(2)
    rows[1]["given_name"] = "M" * ONE_MB
    path = tmp_path / "returnees.csv"
    path.write_bytes(as_csv(rows))
    err = io.StringIO()
    before = written()
    with pytest.raises(CommandError):
        call_command(
            "import_returnees", str(path), "--team", str(world.team_a.uuid), "--as", "alice",
            stderr=err,
        )  # fmt: skip
    assert err.getvalue().splitlines() == [
        f"row 3, given_name: {at_most(200, f'more than {CSV_CELL_LIMIT}')}"
    ]
    assert written() == before


# --- the records of a case ----------------------------------------------------------------------

SCREENING = {"assessed_on": TODAY, "risk_level": "low", "clearance_status": "pending"}
ENROLMENT = {"course": "Tailoring", "provider": "Mosul VTC", "start_date": TODAY}
SUPPORT = {"pillar": "livelihood", "kind": "Toolkit", "provided_on": TODAY}
INCIDENT = {"kind": "threat_received", "occurred_on": TODAY, "severity": "high"}

# (service, stage of the case, model written, valid data) ...
SCREEN = (screening_create, Stage.SCREENING, ScreeningAssessment, SCREENING)
ENROL = (enrolment_create, Stage.TRAINING, TrainingEnrolment, ENROLMENT)
SUPPLY = (support_create, Stage.TRAINING, SupportProvision, SUPPORT)
MEET = (contact_create, Stage.MONITORING, MonitoringContact, {"outcome": "met"})
PLAN = (contact_create, Stage.MONITORING, MonitoringContact, {"planned_date": TODAY})
REPORT = (incident_create, Stage.MONITORING, Incident, INCIDENT)
# ... then the field, the bad value and the message.
RECORD_REFUSALS = [
    (*SCREEN, "assessed_on", TOMORROW, FUTURE),
    (*SCREEN, "decision_reason", "ok\x00", NUL),
    (*SCREEN, "security_findings", "f" * ONE_MB, at_most(10_000, ONE_MB)),
    (*ENROL, "course", "Tailoring\x00", NUL),
    (*ENROL, "start_date", IN_2099, TOO_FAR_AHEAD),
    (*ENROL, "provider", "p" * ONE_MB, at_most(200, ONE_MB)),
    (*SUPPLY, "provided_on", IN_2099, TOO_FAR_AHEAD),
    (*SUPPLY, "notes", "\x1b[31mred", "Control characters are not allowed: U+001B."),
    (*MEET, "actual_date", IN_2099, FUTURE),
    (*PLAN, "planned_date", IN_2099, TOO_FAR_AHEAD),
    (*PLAN, "concerns", "\x00", NUL),
    (*REPORT, "occurred_on", IN_2099, FUTURE),
    (*REPORT, "description", "d" * ONE_MB, at_most(10_000, ONE_MB)),
]


@pytest.mark.parametrize(
    ("service", "stage", "model", "data", "field", "value", "message"), RECORD_REFUSALS
)
def test_record_create_refuses_naming_the_field_and_writes_nothing(
    world, make_case, service, stage, model, data, field, value, message
):
    case = make_case(stage)
    before = (model.objects.count(), AuditEvent.objects.count(), case.version)
    with pytest.raises(ValidationError) as error:
        # carol supervises the team: she may also write security findings.
        service(actor=world.carol, case=case, data={**data, field: value})
    assert error.value.message_dict == {field: [message]}
    case.refresh_from_db()
    assert (model.objects.count(), AuditEvent.objects.count(), case.version) == before


def test_record_updates_refuse_naming_the_field_and_write_nothing(world, make_case):
    case = make_case(Stage.MONITORING)
    contact = contact_create(actor=world.alice, case=case, data={"planned_date": TODAY})
    case.refresh_from_db()
    version, events = case.version, AuditEvent.objects.count()
    refusals: list[tuple[Callable[..., Any], dict[str, Any], dict[str, Any], str, str]] = [
        (intake_update, {}, {"return_date": IN_2099}, "return_date", FUTURE),
        (intake_update, {}, {"notes": "n\x00"}, "notes", NUL),
        (intake_update, {}, {"notes": "n" * ONE_MB}, "notes", at_most(10_000, ONE_MB)),
        (contact_update, {"contact": contact}, {"outcome": "met", "actual_date": TOMORROW},
         "actual_date", FUTURE),
        (returnee_update, {}, {"given_name": "Omar\x00"}, "given_name", NUL),
        (returnee_update, {}, {"address": "a" * ONE_MB}, "address", at_most(500, ONE_MB)),
        (returnee_update, {}, {"date_of_birth": IN_2099}, "date_of_birth", FUTURE),
    ]  # fmt: skip
    for service, extra, changes, field, message in refusals:
        with pytest.raises(ValidationError) as error:
            service(actor=world.alice, case=case, changes=changes, **extra)
        assert error.value.message_dict == {field: [message]}, service.__name__
    case.refresh_from_db()
    contact.refresh_from_db()
    assert (case.version, AuditEvent.objects.count()) == (version, events)
    assert (contact.outcome, contact.actual_date, contact.version) == ("planned", None, 1)
    assert IntakeRecord.objects.get(case=case).return_date == datetime.date(2026, 9, 1)
    assert "\x00" not in Returnee.objects.get(pk=case.returnee_id).given_name


def test_consent_refuses_control_characters_and_a_date_before_1900(world, make_case):
    case = make_case(Stage.INTAKE)
    before = (ConsentRecord.objects.count(), AuditEvent.objects.count())
    long_ago = datetime.datetime(1066, 10, 14, 12, tzinfo=datetime.UTC)
    for changes, field, message in (
        ({"notes": "Agreed\x00"}, "notes", NUL),
        ({"given_at": long_ago}, "given_at", TOO_EARLY),
    ):
        with pytest.raises(ValidationError) as error:
            consent_create(actor=world.alice, case=case, **CONSENT, **changes)
        assert error.value.message_dict == {field: [message]}
    assert (ConsentRecord.objects.count(), AuditEvent.objects.count()) == before


def test_planned_dates_may_lie_ahead_held_ones_may_not(world, make_case):
    """A planned contact, a course's start and end, support arranged ahead (a job that starts
    next month) and a plan's target date may be in the future, up to ten years."""
    case = make_case(Stage.TRAINING)
    ahead = TODAY.replace(year=TODAY.year + 10)
    enrolment = enrolment_create(
        actor=world.alice, case=case, data={**ENROLMENT, "start_date": ahead, "end_date": ahead}
    )
    assert enrolment.end_date == ahead
    support = support_create(actor=world.alice, case=case, data={**SUPPORT, "provided_on": ahead})
    assert support.provided_on == ahead
    plan_create(
        actor=world.alice,
        case=case,
        goals=[{"pillar": "livelihood", "goal": "A job", "target_date": ahead}],
    )
    assert PlanGoal.objects.get().target_date == ahead
    with pytest.raises(ValidationError) as error:
        plan_create(
            actor=world.alice,
            case=case,
            goals=[{"pillar": "livelihood", "goal": "A job", "target_date": IN_2099}],
        )
    assert error.value.message_dict == {"goals[0].target_date": [TOO_FAR_AHEAD]}
    monitored = make_case(Stage.MONITORING)
    contact = contact_create(actor=world.alice, case=monitored, data={"planned_date": ahead})
    assert contact.planned_date == ahead


def test_an_edit_is_not_refused_for_a_value_stored_before_the_rules(world, make_case):
    """The rules apply to what an update writes: notes stored longer than the limit today do
    not block changing the referral source, and changing the notes themselves is refused."""
    case = make_case(Stage.INTAKE)
    IntakeRecord.objects.filter(case=case).update(notes="n" * 20_000)
    record = intake_update(actor=world.alice, case=case, changes={"referral_source": "family"})
    assert (record.referral_source, record.version) == ("family", 2)
    with pytest.raises(ValidationError) as error:
        intake_update(actor=world.alice, case=case, changes={"notes": "m" * 20_000})
    assert error.value.message_dict == {"notes": [at_most(10_000, 20_000)]}
