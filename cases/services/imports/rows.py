"""One row of the import: its cells turned into checked values by the rules a single case is
opened with, or its errors by row and column."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from cases import crypto
from cases.models import ConsentRecord, Returnee
from cases.selectors import Actor

from ..cases import CASEWORKER_NOT_IN_TEAM, NEW_CASE_RULES
from ..consent import consent_build
from .reading import _COLUMN_OF, _YES_NO, Column, _Check


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
