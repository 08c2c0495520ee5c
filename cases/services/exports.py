"""CSV export of the cases a user may see: pseudonymous columns only, streamed chunk by chunk so
memory stays flat at any caseload, and audited once per export before the first row leaves."""

from __future__ import annotations

import csv
import datetime
import io
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from cases import selectors
from cases.filters import CaseFilterSet
from cases.models import AuditAction, Case, ContactOutcome, MonitoringContact
from cases.models.querysets import local_today, overdue_condition
from cases.selectors import Actor

from .audit import audit_record

EXPORT_ACTION = AuditAction.CASE_EXPORT
DEFAULT_CHUNK_SIZE = 2000

# Read straight from the case row and its single-valued relations, in this order, each with
# the kind of cell it makes. Nothing here is an encrypted identity column: ``values_list``
# selects these columns and no others.
_CASE_COLUMNS = (
    ("case_number", "case_number", "text"),
    ("person_number", "returnee__person_number", "text"),
    ("programme", "programme__name", "text"),
    ("site", "team__site__name", "text"),
    ("team", "team__name", "text"),
    ("caseworker", "caseworker__username", "text"),
    ("stage", "stage", "text"),
    ("stage_entered_at", "stage_entered_at", "moment"),
    ("risk_level", "risk_level", "text"),
    ("opened_at", "opened_at", "moment"),
    ("closed_at", "closed_at", "moment"),
    ("outcome", "outcome", "text"),
    ("sex", "returnee__sex", "text"),
    ("age_band", "returnee__year_of_birth", "age"),
    ("current_district", "returnee__current_district", "text"),
    ("return_pathway", "returnee__return_pathway", "text"),
    ("return_date", "intake__return_date", "day"),
    ("intake_date", "intake__intake_date", "day"),
)
# Per case, from one grouped query over the monitoring contacts of each chunk of cases.
_CONTACT_COLUMNS = (
    ("contacts_planned", "number"),
    ("contacts_met", "number"),
    ("contacts_missed", "number"),
    ("contacts_overdue", "number"),
    ("last_met_date", "day"),
)
EXPORT_COLUMNS: tuple[str, ...] = tuple(column[0] for column in (*_CASE_COLUMNS, *_CONTACT_COLUMNS))
_NO_CONTACTS = (0, 0, 0, 0, None)

# Years of age (by year of birth) at the start of each band. Bands, not the year itself: with
# sex and district a birth year narrows a person down more than reporting needs.
_AGE_BANDS = ((50, "50+"), (35, "35-49"), (25, "25-34"), (18, "18-24"), (0, "0-17"))

# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# Excel opens a UTF-8 CSV as UTF-8 (Arabic, Kurdish and all) only if it starts with a BOM.
BOM = "\ufeff"


@dataclass(frozen=True)
class CaseExport:
    """An export ready to stream: ``chunks`` yields the CSV's UTF-8 bytes, header first."""

    filename: str
    rows: int
    filters: dict[str, Any]
    chunks: Iterator[bytes]


def case_export_csv(
    *,
    actor: Actor,
    params: Mapping[str, Any],
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    today: datetime.date | None = None,
) -> CaseExport:
    """The actor's cases filtered by ``params`` (the case list's filters), as a CSV stream.

    Bad filters raise ``ValidationError`` naming the field before anything is written. The
    audit event (filters, row count) is committed here, before the first row is produced: an
    export cut short has still been recorded. The count is of the cases when the export began.
    """
    if chunk_size < 1:
        raise ValueError("chunk_size must be at least 1.")
    filterset = CaseFilterSet(data=params, queryset=selectors.case_list(user=actor))
    if not filterset.is_valid():
        raise ValidationError(
            {
                name: [str(message) for message in errors]
                for name, errors in filterset.errors.items()
            }
        )
    filters = _filters_used(filterset.form.cleaned_data)
    cases = filterset.qs.order_by()
    today = today or local_today()
    filename = f"cases-{timezone.localdate().isoformat()}.csv"
    with transaction.atomic():
        rows = cases.count()
        audit_record(
            actor=actor,
            action=EXPORT_ACTION,
            object_type="case_export",
            object_id=filename,
            fields=list(EXPORT_COLUMNS),
            detail={"filters": filters, "rows": rows, "format": "csv"},
        )
    return CaseExport(
        filename=filename,
        rows=rows,
        filters=filters,
        chunks=_stream(cases, chunk_size=chunk_size, today=today),
    )


def _filters_used(cleaned: Mapping[str, Any]) -> dict[str, Any]:
    """The filters the export applied, as JSON values. Only the filter set's own fields: a
    stray query parameter (which might carry anything) never reaches the audit log."""
    used: dict[str, Any] = {}
    for name, value in cleaned.items():
        if value is None or value == "" or value == []:
            continue
        if isinstance(value, (list, tuple)):
            used[name] = sorted(str(item) for item in value)
        elif isinstance(value, bool):
            used[name] = value
        elif isinstance(value, (datetime.date, datetime.datetime)):
            used[name] = value.isoformat()
        else:
            used[name] = str(value)
    return used


@contextmanager
def _read_snapshot() -> Iterator[None]:
    """On PostgreSQL, one read-only repeatable-read transaction for the whole export: the
    server-side cursor lives in it (no WITH HOLD copy of the result at the start) and every
    chunk's counts see the same data as its rows. Under SQLite, where this project's settings
    make every transaction take the write lock, the export reads in autocommit instead."""
    if connection.vendor != "postgresql":
        yield
        return
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                # The export reads every row: plan for the whole result (hash joins and one
                # sort), not for the first tenth of it as cursors are by default.
                cursor.execute("SET LOCAL cursor_tuple_fraction = 1.0")
        yield


def _stream(cases: QuerySet[Case], *, chunk_size: int, today: datetime.date) -> Iterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_COLUMNS)
    yield (BOM + _drain(out)).encode("utf-8")
    case_cells = _formatters([kind for _, _, kind in _CASE_COLUMNS], today=today)
    contact_cells = _formatters([kind for _, kind in _CONTACT_COLUMNS], today=today)
    with _read_snapshot():
        rows = (
            cases.order_by("-opened_at", "case_number")
            .values_list(*(source for _, source, _ in _CASE_COLUMNS))
            .iterator(chunk_size=chunk_size)
        )
        try:
            for chunk in _batched(rows, chunk_size):
                counts = _contact_counts([row[0] for row in chunk], today=today)
                for row in chunk:
                    contacts = counts.get(row[0], _NO_CONTACTS)
                    writer.writerow(
                        [cell(value) for cell, value in zip(case_cells, row, strict=True)]
                        + [cell(value) for cell, value in zip(contact_cells, contacts, strict=True)]
                    )
                yield _drain(out).encode("utf-8")
        finally:
            rows.close()  # type: ignore[attr-defined]  # a generator


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def _batched(rows: Iterable[tuple[Any, ...]], size: int) -> Iterator[list[tuple[Any, ...]]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def _contact_counts(case_numbers: list[str], *, today: datetime.date) -> dict[str, tuple[Any, ...]]:
    """Planned, met, missed and overdue contacts and the last met date, for a chunk of cases,
    in one grouped query."""
    planned = Q(outcome=ContactOutcome.PLANNED)
    met = Q(outcome=ContactOutcome.MET)
    grouped = (
        MonitoringContact.objects.filter(case_id__in=case_numbers)
        .order_by()
        .values("case_id")
        .annotate(
            planned=Count("pk", filter=planned),
            met=Count("pk", filter=met),
            missed=Count("pk", filter=Q(outcome=ContactOutcome.MISSED)),
            overdue=Count("pk", filter=overdue_condition(today)),
            last_met=Max("actual_date", filter=met),
        )
        .values_list("case_id", "planned", "met", "missed", "overdue", "last_met")
    )
    return {case_id: tuple(rest) for case_id, *rest in grouped}


def _formatters(kinds: list[str], *, today: datetime.date) -> list[Callable[[Any], Any]]:
    """One function per column that turns a database value into its cell: blanks for nulls,
    ISO 8601 dates and times (in the site's time zone), age bands, and text that a spreadsheet
    cannot run as a formula."""
    zone = timezone.get_current_timezone()

    def text(value: str | None) -> str:
        if not value:
            return ""
        return "'" + value if value.startswith(_FORMULA_STARTS) else value

    def moment(value: datetime.datetime | None) -> str:
        return "" if value is None else value.astimezone(zone).isoformat(timespec="seconds")

    def day(value: datetime.date | None) -> str:
        return "" if value is None else value.isoformat()

    def age(year_of_birth: int | None) -> str:
        if year_of_birth is None:
            return ""
        years = today.year - year_of_birth
        return next((band for start, band in _AGE_BANDS if years >= start), "")

    def number(value: int) -> int:
        return value

    by_kind: dict[str, Callable[[Any], Any]] = {
        "text": text,
        "moment": moment,
        "day": day,
        "age": age,
        "number": number,
    }
    return [by_kind[kind] for kind in kinds]
