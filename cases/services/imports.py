"""All-or-nothing import of returnees, each with a case at intake, from a CSV file.

Every row is checked first by the rules a single case is opened with (``NEW_CASE_RULES`` and
``consent_build``, as ``case_open`` applies them), and national IDs are checked for repeats in
the file and against everyone registered (through the blind index). One bad row and nothing is
written: the caller gets every error with its row and column. Otherwise all rows are written in
one transaction by bulk inserts (COPY on PostgreSQL), identity encrypted and indexed as for a
single case, and audited as a whole, as ``cases.bulkload`` asks of its callers: one
``case.import`` event naming the actor, the team, the fields written, the row count and every
new case number. (An event per case, as ``case_open`` writes, made imports about a third
slower: the audit table's many indexes are the costliest insert of all.)

The file: UTF-8 (a byte-order mark is fine), comma-separated, one header row; column names are
matched without regard to case or surrounding spaces, in any order.

* Required columns: return_pathway, return_date, first_contact_date, intake_date,
  referral_source, consent_legal_basis, consent_scope.
* Identity, optional, encrypted at rest: given_name, family_name, aliases, date_of_birth,
  national_id, phone, address.
* Profile, optional: sex, year_of_birth, nationality, origin_district, current_district,
  household_size, profession, skills, former_role, detention_history, affiliation.
* Intake, optional: urgent_needs, intake_notes. Consent, optional: consent_given_on (empty for
  today), consent_notes.
* caseworker, optional: the username of a caseworker of the team; empty means the importer if
  they are a caseworker of the team, else unassigned (as ``case_open`` does).

Dates are YYYY-MM-DD; choices take their stored values (``camp_repatriation``); lists
(urgent_needs, consent_scope) are separated by ``;``; detention_history is yes/no, true/false or
1/0. An empty cell is a value left out. A cell holds no more than its column (the input rules
of ``cases.validators``, which name the column) and never more than the csv module reads
(131,072 characters): such a cell is refused by its row and column, and the file is read no
further. Rows are numbered as a spreadsheet shows them: the header is row 1, the first person
row 2; row 0 is the file as a whole. At most 50,000 rows and 20 MB (settings IMPORT_MAX_ROWS,
IMPORT_MAX_BYTES).
"""

from __future__ import annotations

import csv
import datetime
import io
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone

from cases import crypto, selectors, validators
from cases.bulkload import BulkLoader, Row
from cases.fields import EncryptedTextField
from cases.models import (
    AuditAction,
    Case,
    ConsentRecord,
    IntakeRecord,
    Membership,
    Returnee,
    Role,
    Team,
)
from cases.models.people import random_references
from cases.selectors import Actor

from .audit import audit_record
from .cases import (
    CASEWORKER_NOT_IN_TEAM,
    INTAKE_INPUT_FIELDS,
    NEW_CASE_RULES,
    RETURNEE_INPUT_FIELDS,
)
from .consent import consent_build
from .errors import DomainError

DEFAULT_MAX_ROWS = 50_000
DEFAULT_MAX_BYTES = 20 * 1024 * 1024
# Every error is counted; this many are listed, so a wrong file cannot make a huge answer.
MAX_LISTED_ERRORS = 10_000


def max_rows() -> int:
    return int(getattr(settings, "IMPORT_MAX_ROWS", DEFAULT_MAX_ROWS))


def max_bytes() -> int:
    return int(getattr(settings, "IMPORT_MAX_BYTES", DEFAULT_MAX_BYTES))


@dataclass(frozen=True)
class Column:
    name: str
    section: str  # returnee, intake, consent or case
    field: str
    kind: str = "text"  # text, list (";"-separated) or yes/no


def _columns() -> dict[str, Column]:
    list_fields = {"urgent_needs"}
    columns = [
        Column(name, "returnee", name, "yes/no" if name == "detention_history" else "text")
        for name in RETURNEE_INPUT_FIELDS
    ]
    columns += [
        Column(
            "intake_notes" if name == "notes" else name,
            "intake",
            name,
            "list" if name in list_fields else "text",
        )
        for name in INTAKE_INPUT_FIELDS
    ]
    columns += [
        Column("consent_legal_basis", "consent", "legal_basis"),
        Column("consent_scope", "consent", "scope", "list"),
        Column("consent_given_on", "consent", "given_at"),
        Column("consent_notes", "consent", "notes"),
        Column("caseworker", "case", "caseworker"),
    ]
    return {column.name: column for column in columns}


COLUMNS = _columns()


def _column_max_lengths() -> dict[str, int]:
    """The most characters each text column holds, as its model field defines it."""
    model_of = {"returnee": Returnee, "intake": IntakeRecord, "consent": ConsentRecord}
    limits = {}
    for column in COLUMNS.values():
        model = model_of.get(column.section)
        field = model._meta.get_field(column.field) if model is not None else None
        limit = validators.max_length_of(field) if isinstance(field, models.Field) else None
        if limit is not None:
            limits[column.name] = limit
    return limits


COLUMN_MAX_LENGTH = _column_max_lengths()
# The fields case_open refuses to leave out, and the consent the intake wizard asks for.
REQUIRED_COLUMNS = (
    *(name for name in RETURNEE_INPUT_FIELDS if name in NEW_CASE_RULES.returnee.missing),
    *(name for name in INTAKE_INPUT_FIELDS if name in NEW_CASE_RULES.intake.missing),
    "consent_legal_basis",
    "consent_scope",
)
_COLUMN_OF = {(c.section, c.field): c.name for c in COLUMNS.values()}
_YES_NO = {
    **dict.fromkeys(("yes", "y", "true", "t", "1"), True),
    **dict.fromkeys(("no", "n", "false", "f", "0"), False),
}
_REGISTERED = "A person with this national ID is already registered."


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


class ImportInvalid(DomainError):
    """The file was refused; nothing was written. ``errors`` lists at most MAX_LISTED_ERRORS
    of the ``total``."""

    code = "invalid"

    def __init__(self, errors: list[RowError], total: int) -> None:
        rows = len({error.row for error in errors})
        message = (
            f"Nothing was imported: {total} error(s) in {rows} row(s). Correct them and send "
            "the whole file again."
        )
        if total > len(errors):
            message += f" The first {len(errors)} errors are listed."
        super().__init__(message)
        self.errors = errors
        self.total = total


class ImportTooLarge(DomainError):
    code = "too_large"


@dataclass(frozen=True)
class ImportResult:
    rows: int
    created: int
    case_numbers: list[str]
    dry_run: bool


@dataclass
class _Person:
    """One valid row, ready to write."""

    row: int
    returnee: dict[str, Any]
    intake: dict[str, Any]
    consent: ConsentRecord
    caseworker_id: int | None
    national_id_index: str
    phone_index: str


@dataclass
class _Check:
    """The outcome of checking a file: valid rows, and the errors of the others."""

    people: list[_Person] = field(default_factory=list)
    fields: list[str] = field(default_factory=list)  # what the rows set, as case_open names it
    errors: list[RowError] = field(default_factory=list)
    total_errors: int = 0
    rows: int = 0

    def refuse(self, row: int, name: str, message: str) -> None:
        self.total_errors += 1
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append(RowError(row, name, message))


def import_team(*, actor: Actor, team_uuid: Any) -> Team | None:
    """The team, if ``actor`` may open cases in it; else None (answered as not found)."""
    try:
        return selectors.teams_for_case_creation(user=actor).filter(uuid=team_uuid).first()
    except ValidationError:  # not a uuid at all
        return None


def returnees_import(
    *, actor: Actor, team: Team, data: bytes, dry_run: bool = False
) -> ImportResult:
    """Check every row of the CSV ``data``, then write them all or, if any row is wrong,
    nothing (``ImportInvalid`` lists the errors). ``dry_run`` checks without writing."""
    if not selectors.teams_for_case_creation(user=actor).filter(pk=team.pk).exists():
        raise DomainError("Not found.", code="not_found")
    if len(data) > max_bytes():
        raise ImportTooLarge(f"The file is larger than {max_bytes() // (1024 * 1024)} MB.")
    check = _check_file(actor=actor, team=team, data=data)
    if check.errors:
        raise ImportInvalid(check.errors, check.total_errors)
    if dry_run:
        return ImportResult(rows=check.rows, created=0, case_numbers=[], dry_run=True)
    with transaction.atomic():
        case_numbers = _write(actor=actor, team=team, people=check.people, fields=check.fields)
    return ImportResult(
        rows=check.rows, created=len(case_numbers), case_numbers=case_numbers, dry_run=False
    )


# --- checking ----------------------------------------------------------------------------------


class _Lines:
    """The file's lines as the csv reader takes them, remembering where each one ends, so the
    record being read can be found again if the reader refuses it."""

    def __init__(self, text: str) -> None:
        self.lines = iter(io.StringIO(text, newline=""))
        self.offset = 0  # where the next line begins

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self.lines)
        self.offset += len(line)
        return line


def _records(data: bytes, check: _Check, header: list[str]) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of each non-empty row, the header first. ``header`` is filled in by
    the caller once it has read the first row, to name the column of a cell too large to read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        check.refuse(0, "file", f"The file is not UTF-8 text (byte {exc.start}).")
        return
    lines = _Lines(text)
    reader = csv.reader(lines)
    number = 0
    while True:
        start = lines.offset
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            index = _oversized_cell(text, start) if "field limit" in str(exc) else None
            if index is None:
                check.refuse(
                    0, "file", f"The file is not valid CSV (line {reader.line_num}): {exc}."
                )
            else:
                # The reader cannot go on past such a cell: this error is the last one.
                _refuse_oversized(check, number + 1, index, header if number else [])
            return
        number += 1
        if "".join(cells).strip():
            yield number, cells


def _oversized_cell(text: str, start: int) -> int | None:
    """The position of the first cell of the record at ``start`` that is longer than the csv
    module reads (``csv.field_size_limit()``), reading it as the reader does (the default,
    "excel", dialect: commas, double quotes doubled inside quoted cells); None if none is."""
    limit = csv.field_size_limit()
    index = length = 0
    quoted = False
    at_cell_start = True
    position, end = start, len(text)
    while position < end:
        char = text[position]
        position += 1
        if quoted:
            if char == '"':
                if text.startswith('"', position):
                    position += 1
                    length += 1
                else:
                    quoted = False
            else:
                length += 1
        elif char == '"' and at_cell_start:
            quoted = True
        elif char == ",":
            index, length, at_cell_start = index + 1, 0, True
            continue
        elif char in "\r\n":
            return None
        else:
            length += 1
        at_cell_start = False
        if length > limit:
            return index
    return None


def _refuse_oversized(check: _Check, row: int, index: int, header: list[str]) -> None:
    """Refuse a cell too large to read, naming its column and, if it has one, the column's
    own limit (far below the csv module's)."""
    size = csv.field_size_limit()
    name = header[index] if index < len(header) and header[index] else f"column {index + 1}"
    limit = COLUMN_MAX_LENGTH.get(name)
    if limit is None:
        check.refuse(row, name, f"A cell holds at most {size} characters.")
    else:
        check.refuse(
            row,
            name,
            f"Ensure this value has at most {limit} characters (it has more than {size}).",
        )


def _header(number: int, cells: list[str], check: _Check) -> list[Column]:
    names = [cell.strip().lower() for cell in cells]
    for name in sorted({name for name in names if names.count(name) > 1}):
        check.refuse(number, name, "This column appears more than once.")
    for name in names:
        if name not in COLUMNS:
            check.refuse(number, name or "(empty)", "Unknown column.")
    for name in REQUIRED_COLUMNS:
        if name not in names:
            check.refuse(number, name, "This column is required.")
    return [COLUMNS[name] for name in names if name in COLUMNS]


def _check_file(*, actor: Actor, team: Team, data: bytes) -> _Check:
    check = _Check()
    header: list[str] = []
    records = _records(data, check, header)
    first = next(records, None)
    if first is None:
        if not check.errors:
            check.refuse(
                0, "file", "The file is empty: it needs a header row and a row per person."
            )
        return check
    columns = _header(*first, check)
    if check.errors:
        return check
    header[:] = [column.name for column in columns]
    check.fields = sorted(
        c.field if c.section in ("returnee", "case") else f"{c.section}.{c.field}" for c in columns
    )
    caseworkers = dict(
        Membership.objects.filter(team=team, role=Role.CASEWORKER).values_list(
            "user__username", "user_id"
        )
    )
    row_check = _RowCheck(actor=actor, columns=columns, caseworkers=caseworkers)
    limit = max_rows()
    seen_national_ids: dict[str, int] = {}
    for number, cells in records:
        check.rows += 1
        if check.rows > limit:
            raise ImportTooLarge(f"The file has more than {limit} rows; split it.")
        person, national_id_index = row_check.check(number, cells, check)
        if national_id_index:
            first_row = seen_national_ids.setdefault(national_id_index, number)
            if first_row != number:
                check.refuse(number, "national_id", f"Row {first_row} has the same national ID.")
        if person is not None:
            check.people.append(person)
    if check.rows == 0 and not check.errors:
        check.refuse(0, "file", "The file has a header but no rows.")
    _refuse_registered(actor=actor, seen=seen_national_ids, check=check)
    check.errors.sort(key=lambda error: error.row)
    return check


class _RowCheck:
    """Turns one row's cells into checked values, by the single-case rules."""

    def __init__(self, *, actor: Actor, columns: list[Column], caseworkers: dict[str, int]):
        self.actor = actor
        self.columns = columns
        self.caseworkers = caseworkers
        # No caseworker named: the importer if they work the team's cases, as case_open does.
        self.default_caseworker = actor.pk if actor.pk in caseworkers.values() else None
        self.consent_dates: dict[str, datetime.datetime | None] = {}
        self.consents: dict[tuple[str, tuple[str, ...], str, str], Any] = {}
        # consent_build checks a consent of a person; it is written with the imported one.
        self.placeholder = Returnee()
        # One "today" for the whole file: which dates are in the future.
        self.today = timezone.localdate()

    def check(self, number: int, cells: list[str], check: _Check) -> tuple[_Person | None, str]:
        """The row's person if it is valid, and its national ID's blind index either way."""
        if len(cells) != len(self.columns):
            check.refuse(
                number,
                "row",
                f"This row has {len(cells)} cells; the header has {len(self.columns)}.",
            )
            return None, ""
        sections: dict[str, dict[str, Any]] = {
            "returnee": {},
            "intake": {},
            "consent": {},
            "case": {},
        }
        for column, cell in zip(self.columns, cells, strict=True):
            value: Any = cell.strip()
            if not value:
                continue
            if column.kind == "list":
                value = [part.strip() for part in value.split(";") if part.strip()]
            elif column.kind == "yes/no":
                value = _YES_NO.get(value.lower(), value)
            sections[column.section][column.field] = value
        errors_before = check.total_errors
        person, intake, errors = NEW_CASE_RULES.check(
            returnee=sections["returnee"], intake=sections["intake"], today=self.today
        )
        for key, messages in errors.items():
            section, _dot, name = key.partition(".")
            for message in messages:
                check.refuse(number, _COLUMN_OF.get((section, name), key), message)
        consent = self._consent(number, sections["consent"], check)
        caseworker_id = self.default_caseworker
        username = sections["case"].get("caseworker")
        if username:
            caseworker_id = self.caseworkers.get(username)
            if caseworker_id is None:
                check.refuse(number, "caseworker", CASEWORKER_NOT_IN_TEAM)
        national_id_index = crypto.national_id_index(sections["returnee"].get("national_id", ""))
        if consent is None or check.total_errors > errors_before:
            return None, national_id_index
        valid = _Person(
            row=number,
            returnee=person,
            intake=intake,
            consent=consent,
            caseworker_id=caseworker_id,
            national_id_index=national_id_index,
            phone_index=crypto.phone_index(person.get("phone", "")),
        )
        return valid, national_id_index

    def _consent(self, number: int, values: dict[str, Any], check: _Check) -> ConsentRecord | None:
        given_on = values.get("given_at", "")
        scope = values.get("scope", [])
        key = (values.get("legal_basis", ""), tuple(scope), given_on, values.get("notes", ""))
        # A file repeats a handful of consents: each distinct one is checked once.
        if key not in self.consents:
            self.consents[key] = self._consent_build(key, scope)
        outcome = self.consents[key]
        if isinstance(outcome, ConsentRecord):
            return outcome
        for name, message in outcome:
            check.refuse(number, name, message)
        return None

    def _consent_build(
        self, key: tuple[str, tuple[str, ...], str, str], scope: list[str]
    ) -> ConsentRecord | list[tuple[str, str]]:
        legal_basis, _scope, given_on, notes = key
        errors: list[tuple[str, str]] = []
        given_at = None
        try:
            given_at = self._given_at(given_on)
        except ValueError:
            errors.append(("consent_given_on", "Give a date as YYYY-MM-DD."))
        try:
            record = consent_build(
                actor=self.actor,
                returnee=self.placeholder,
                legal_basis=legal_basis,
                scope=scope,
                given_at=given_at,
                notes=notes,
                per_row_queries=False,
            )
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                column = _COLUMN_OF.get(("consent", name), name)
                errors += [(column, message) for message in messages]
        return errors or record

    def _given_at(self, given_on: str) -> datetime.datetime | None:
        """None (the service's "now") for today or no date; midday of an earlier day, as the
        intake wizard records it."""
        if given_on not in self.consent_dates:
            day = datetime.date.fromisoformat(given_on) if given_on else None
            if day is None or day == timezone.localdate():
                self.consent_dates[given_on] = None
            else:
                self.consent_dates[given_on] = timezone.make_aware(
                    datetime.datetime.combine(day, datetime.time(12))
                )
        return self.consent_dates[given_on]


def _existing(model: type[models.Model], name: str, values: Iterable[str]) -> set[str]:
    """Which of ``values`` rows of ``model`` already hold in column ``name``: one query."""
    values = list(values)
    if not values:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter, however many values (an IN list would be one per value).
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        assert field.column
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(field.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)", [values])  # noqa: S608
            return {row[0] for row in cursor.fetchall()}
    found: set[str] = set()
    size = connection.features.max_query_params or 10_000
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        manager = model._default_manager
        found.update(manager.filter(**{f"{name}__in": chunk}).values_list(name, flat=True))
    return found


def _refuse_registered(*, actor: Actor, seen: dict[str, int], check: _Check) -> None:
    """National IDs already registered, found through the blind index. Like any search by
    identifier it is audited, also when the import is then refused or only a dry run."""
    if not seen:
        return
    registered = _existing(Returnee, "national_id_index", seen)
    for index in registered:
        check.refuse(seen[index], "national_id", _REGISTERED)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action=AuditAction.IDENTITY_SEARCH,
            object_type="returnee",
            object_id="national_id",
            fields=["national_id"],
            detail={"import": True, "searched": len(seen), "matches": len(registered)},
        )


# --- writing -----------------------------------------------------------------------------------


def _fresh_references(prefix: str, count: int, model: type[models.Model], name: str) -> list[str]:
    """``count`` new random references that no row of ``model`` holds yet, in the order drawn
    (sorting them would let their order tell the order of the file's rows)."""
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        drawn = [r for r in random_references(prefix, count - len(chosen)) if r not in chosen]
        taken = _existing(model, name, drawn)
        chosen.update((reference, None) for reference in drawn if reference not in taken)
    return list(chosen)


def _uuids(count: int) -> Iterator[str]:
    """``count`` random (version 4) uuids, as text, from one draw of random bytes."""
    data = bytearray(secrets.token_bytes(16 * count))
    for start in range(0, 16 * count, 16):
        data[start + 6] = data[start + 6] & 0x0F | 0x40  # version 4
        data[start + 8] = data[start + 8] & 0x3F | 0x80  # RFC 4122 variant
    text = data.hex()
    for start in range(0, 32 * count, 32):
        h = text[start : start + 32]
        yield f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _SealingLoader(BulkLoader):
    """Seals identity exactly as ``EncryptedTextField`` does (``cases.crypto.encrypt``: the
    first configured key, the ``enc1:`` prefix), through one Fernet instance for the whole
    import instead of a key-list lookup per value."""

    def _preparer(self, field: models.Field[Any, Any]) -> Callable[[Any], Any]:
        if not isinstance(field, EncryptedTextField):
            return super()._preparer(field)
        fernet = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
        to_plain = field.to_plain

        def seal(value: Any) -> Any:
            if value is None or value == "":
                return value
            token = fernet.encrypt(to_plain(value).encode("utf-8")).decode("ascii")
            return crypto.TOKEN_PREFIX + token

        return seal


def _write(*, actor: Actor, team: Team, people: list[_Person], fields: list[str]) -> list[str]:
    count = len(people)
    loader = _SealingLoader()
    person_ids = loader.reserve_ids(Returnee, count)
    person_numbers = _fresh_references("P", count, Returnee, "person_number")
    case_numbers = _fresh_references("C", count, Case, "case_number")
    uuids = _uuids(3 * count)
    now = timezone.now()
    team_uuid = str(team.uuid)
    programme_id = team.site.programme_id
    returnees: list[Row] = []
    cases: list[Row] = []
    intakes: list[Row] = []
    consents: list[Row] = []
    for person, person_id, person_number, case_number in zip(
        people, person_ids, person_numbers, case_numbers, strict=True
    ):
        returnees.append(
            {
                **person.returnee,
                "id": person_id,
                "uuid": next(uuids),
                "person_number": person_number,
                "national_id_index": person.national_id_index,
                "phone_index": person.phone_index,
                "created_at": now,
                "updated_at": now,
            }
        )
        cases.append(
            {
                "case_number": case_number,
                "returnee_id": person_id,
                "programme_id": programme_id,
                "team_id": team.pk,
                "caseworker_id": person.caseworker_id,
                "stage_entered_at": now,
                "opened_at": now,
                "updated_at": now,
            }
        )
        intakes.append(
            {
                **person.intake,
                "uuid": next(uuids),
                "case_id": case_number,
                "recorded_by_id": actor.pk,
                "updated_at": now,
            }
        )
        consent = person.consent
        consents.append(
            {
                "uuid": next(uuids),
                "returnee_id": person_id,
                "legal_basis": consent.legal_basis,
                "scope": consent.scope,
                "given_at": consent.given_at,
                "recorded_by_id": actor.pk,
                "notes": consent.notes,
            }
        )
    for model, rows in (
        (Returnee, returnees),
        (Case, cases),
        (IntakeRecord, intakes),
        (ConsentRecord, consents),
    ):
        loader.insert(model, rows)
    # One event for the file, as BulkLoader's callers audit a load (see the module docstring).
    audit_record(
        actor=actor,
        action=AuditAction.CASE_IMPORT,
        object_type="team",
        object_id=team_uuid,
        fields=fields,
        detail={"team": team_uuid, "rows": count, "case_numbers": case_numbers},
    )
    return case_numbers
