"""Reading the import's CSV file: its limits, its columns (which are required, how much each
holds), the header row, and the records, with the row and column of what cannot be read."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

from cases import validators
from cases.models import ConsentRecord, IntakeRecord, Returnee

from ..cases import INTAKE_INPUT_FIELDS, NEW_CASE_RULES, RETURNEE_INPUT_FIELDS

if TYPE_CHECKING:
    from .rows import _Person

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


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


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
