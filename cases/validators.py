"""The input rules every way in shares: the API, the pages, the CSV import and the services.

Text holds no NUL and no other control character (tabs and line breaks are text), and is no
longer than its column: a ``CharField``'s ``max_length``, or for free text (``TextField``, which
the database does not limit) the length set here. A date is neither before 1900 nor after
today when it records something that has happened (a birth, a return, a contact held, an
incident), and not more than ten years ahead when it may be planned (a contact, a course, a
support, a goal).

``value_errors`` checks one value of one model field; ``instance_errors`` a whole record. The
services call them (``FieldRules`` for a new case and each imported row, ``validated`` for every
other record), so every way in refuses the same input with the same message, naming the field.
"""

from __future__ import annotations

import datetime
import enum
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import MaxLengthValidator, ProhibitNullCharactersValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext as _

from cases.fields import EncryptedDateField

# Free text that the model does not limit: the length a person's record can reasonably need.
# (Set here rather than on the model fields: a TextField's max_length is not enforced by the
# database anyway, and this way no migration is needed to tighten or loosen it.)
TEXT_MAX_LENGTH = {
    "cases.returnee.given_name": 200,
    "cases.returnee.family_name": 200,
    "cases.returnee.aliases": 500,
    "cases.returnee.national_id": 64,
    "cases.returnee.phone": 32,
    "cases.returnee.address": 500,
}
# Any other free text: notes, reasons, descriptions, findings.
LONG_TEXT_MAX_LENGTH = 10_000

EARLIEST_DATE = datetime.date(1900, 1, 1)  # as a year of birth (Returnee.year_of_birth)
PLANNING_HORIZON_YEARS = 10


class DateKind(enum.Enum):
    HAPPENED = "happened"  # from EARLIEST_DATE to today
    PLANNED = "planned"  # from EARLIEST_DATE to PLANNING_HORIZON_YEARS ahead


DATE_KIND = {
    "cases.returnee.date_of_birth": DateKind.HAPPENED,
    "cases.consentrecord.given_at": DateKind.HAPPENED,
    "cases.intakerecord.return_date": DateKind.HAPPENED,
    "cases.intakerecord.first_contact_date": DateKind.HAPPENED,
    "cases.intakerecord.intake_date": DateKind.HAPPENED,
    "cases.screeningassessment.assessed_on": DateKind.HAPPENED,
    "cases.monitoringcontact.actual_date": DateKind.HAPPENED,
    "cases.incident.occurred_on": DateKind.HAPPENED,
    "cases.surveyresponse.taken_on": DateKind.HAPPENED,
    "cases.monitoringcontact.planned_date": DateKind.PLANNED,
    # Support can be arranged ahead: a job a partner reports that starts next month.
    "cases.supportprovision.provided_on": DateKind.PLANNED,
    "cases.trainingenrolment.start_date": DateKind.PLANNED,
    "cases.trainingenrolment.end_date": DateKind.PLANNED,
    "cases.plangoal.target_date": DateKind.PLANNED,
}

# C0 controls but tab, line feed and carriage return; DEL; C1 controls; lone surrogates (which
# JSON can carry and no database can store).
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_no_nul = ProhibitNullCharactersValidator()  # the message DRF's and Django's CharField give


def _key(field: models.Field[Any, Any]) -> str:
    return f"{field.model._meta.label_lower}.{field.name}"


def max_length_of(field: models.Field[Any, Any]) -> int | None:
    """The most characters ``field`` may hold, or None if it is not text."""
    if isinstance(field, EncryptedDateField):  # text in the database, a date to everyone else
        return None
    if not isinstance(field, (models.CharField, models.TextField)):
        return None
    if field.max_length is not None:
        return int(field.max_length)
    return TEXT_MAX_LENGTH.get(_key(field), LONG_TEXT_MAX_LENGTH)


def date_kind_of(field: models.Field[Any, Any]) -> DateKind | None:
    return DATE_KIND.get(_key(field))


def text_errors(value: str, *, max_length: int | None = None) -> list[str]:
    """Why ``value`` cannot be stored as text (no more than ``max_length`` characters)."""
    errors = []
    found = _CONTROL.search(value)
    if found is not None:
        if found.group() == "\x00":
            errors.append(str(_no_nul.message))
        else:
            code = f"U+{ord(found.group()):04X}"
            errors.append(_("Control characters are not allowed: %(code)s.") % {"code": code})
    if max_length is not None and len(value) > max_length:
        try:
            MaxLengthValidator(max_length)(value)
        except ValidationError as exc:
            errors.extend(exc.messages)
    return errors


def date_errors(
    value: datetime.date, kind: DateKind, *, today: datetime.date | None = None
) -> list[str]:
    """Why ``value`` cannot be a date of this ``kind``; "today" is ``timezone.localdate()``."""
    if isinstance(value, datetime.datetime):
        value = timezone.localdate(value) if timezone.is_aware(value) else value.date()
    if value < EARLIEST_DATE:
        return [
            _("The date cannot be earlier than %(earliest)s.")
            % {"earliest": EARLIEST_DATE.isoformat()}
        ]
    today = today or timezone.localdate()
    if kind is DateKind.HAPPENED and value > today:
        return [_("The date cannot be later than today (%(today)s).") % {"today": today}]
    if kind is DateKind.PLANNED:
        latest = _years_ahead(today, PLANNING_HORIZON_YEARS)
        if value > latest:
            return [
                _("The date cannot be more than %(years)s years ahead (later than %(latest)s).")
                % {"years": PLANNING_HORIZON_YEARS, "latest": latest.isoformat()}
            ]
    return []


def _years_ahead(day: datetime.date, years: int) -> datetime.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _json_errors(value: Any) -> list[str]:
    """Control characters anywhere in a JSON value (the keys and strings of answers, lists)."""
    if isinstance(value, str):
        return text_errors(value)
    items: Iterable[Any] = ()
    if isinstance(value, dict):
        items = [*value.keys(), *value.values()]
    elif isinstance(value, (list, tuple)):
        items = value
    for item in items:
        errors = _json_errors(item)
        if errors:
            return errors
    return []


Check = Callable[[Any, datetime.date], list[str]]


def checker(field: models.Field[Any, Any]) -> Check | None:
    """The rules of ``field`` as one function of (value, today), or None if it has none, so a
    caller checking many rows looks the field up once."""
    kind = date_kind_of(field)  # first: an encrypted date is stored as text
    if kind is not None:

        def check_date(value: Any, today: datetime.date) -> list[str]:
            if not isinstance(value, datetime.date):
                return []
            return date_errors(value, kind, today=today)

        return check_date
    if isinstance(field, models.JSONField):
        return lambda value, today: _json_errors(value)
    limit = max_length_of(field)
    if limit is None:
        return None
    # A CharField's own validators already refuse what is too long, in the same words.
    extra_limit = None if field.max_length is not None else limit

    def check_text(value: Any, today: datetime.date) -> list[str]:
        if not isinstance(value, str):
            return []
        return text_errors(value, max_length=extra_limit)

    return check_text


def value_errors(
    field: models.Field[Any, Any], value: Any, *, today: datetime.date | None = None
) -> list[str]:
    """Why ``value`` (already converted by the field) breaks the shared rules of ``field``."""
    check = checker(field)
    if check is None or value is None:
        return []
    return check(value, today or timezone.localdate())


def instance_errors(instance: models.Model, *, exclude: Iterable[str] = ()) -> dict[str, list[str]]:
    """The shared rules applied to every concrete field of ``instance`` but ``exclude``."""
    excluded = set(exclude)
    today = timezone.localdate()
    errors: dict[str, list[str]] = {}
    for field in instance._meta.concrete_fields:
        if field.name in excluded:
            continue
        problems = value_errors(field, getattr(instance, field.attname), today=today)
        if problems:
            errors[field.name] = problems
    return errors
