"""The import as its callers start it: check the whole file (each row, repeated national IDs,
people already registered), then write every row or, if any is wrong, nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from cases import selectors
from cases.models import AuditAction, Membership, Returnee, Role, Team
from cases.selectors import Actor

from ..audit import audit_record
from ..errors import DomainError
from .reading import RowError, _Check, _header, _records, max_bytes, max_rows
from .rows import _RowCheck
from .writing import _existing, _write

_REGISTERED = "A person with this national ID is already registered."


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
