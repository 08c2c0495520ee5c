"""Opening a case (person, consent and intake in one transaction) and assigning it."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone

from cases import crypto, selectors, validators
from cases.models import (
    IDENTITY_FIELDS,
    AuditAction,
    Case,
    IntakeRecord,
    Membership,
    Returnee,
    Role,
    Stage,
    Team,
    UrgentNeed,
)
from cases.models.cases import new_case_number
from cases.models.people import new_person_number
from cases.selectors import Actor

from .audit import audit_record
from .common import (
    bump_case_version,
    check_version,
    choices_list,
    insert_with_fresh_reference,
    lock_case,
    require_roles,
)
from .consent import consent_create

RETURNEE_PROFILE_FIELDS = (
    "sex",
    "year_of_birth",
    "nationality",
    "origin_district",
    "current_district",
    "household_size",
    "profession",
    "skills",
    "former_role",
    "detention_history",
    "return_pathway",
    "affiliation",
)
RETURNEE_INPUT_FIELDS = IDENTITY_FIELDS + RETURNEE_PROFILE_FIELDS
INTAKE_INPUT_FIELDS = (
    "return_date",
    "first_contact_date",
    "intake_date",
    "referral_source",
    "urgent_needs",
    "notes",
)


class FieldRules:
    """One model's field validation as ``full_clean`` runs it (conversion, choices, blank and
    null, validators, then the model's ``clean()``), plus the input rules every way in shares
    (``cases.validators``: no control characters, no text longer than its column, no date its
    field cannot be), compiled once and free of queries: the rows are new, so uniqueness is the
    database's to enforce, and the check constraints restate these rules. ``case_open`` applies
    it to one person, the bulk import to every row of a file, so both refuse exactly the same
    input with the same messages."""

    # Values of choice, date, number and yes/no fields repeat from row to row; their cleaned
    # form is remembered (a bounded number of them; never identity, which is free text).
    CACHE_SIZE = 4096

    def __init__(self, model: type[models.Model], names: Iterable[str], *, prefix: str) -> None:
        self.model = model
        self.prefix = prefix
        self.fields: dict[str, models.Field[Any, Any]] = {
            name: cast("models.Field[Any, Any]", model._meta.get_field(name)) for name in names
        }
        self.has_clean = model.clean is not models.Model.clean
        # ``clean()`` reads attributes only: it runs on a bare instance holding the defaults.
        self.defaults = {f.attname: f.get_default() for f in model._meta.concrete_fields}
        repeating = (models.DateField, models.IntegerField, models.BooleanField)
        self.cached = {
            name
            for name, field in self.fields.items()
            if field.choices or isinstance(field, repeating)
        }
        self.cache: dict[tuple[str, type, Any], Any] = {}
        # Checked on every value, never cached: whether a date is "in the future" depends on
        # the day it is checked.
        self.checks = {
            name: check
            for name, field in self.fields.items()
            if (check := validators.checker(field)) is not None
        }
        # A field left out takes its default, which full_clean would refuse for required ones.
        self.missing: dict[str, list[str]] = {}
        for name, field in self.fields.items():
            try:
                self._clean_one(field, field.get_default())
            except ValidationError as exc:
                self.missing[name] = exc.messages

    @staticmethod
    def _clean_one(field: Any, raw: Any) -> Any:
        if field.blank and raw in field.empty_values:
            return raw
        return field.clean(raw, None)

    def _clean_cached(self, name: str, field: Any, raw: Any) -> Any:
        if name not in self.cached:
            return self._clean_one(field, raw)
        key = (name, type(raw), raw)
        try:
            return self.cache[key]
        except KeyError:
            value = self._clean_one(field, raw)
            if len(self.cache) < self.CACHE_SIZE:
                self.cache[key] = value
            return value
        except TypeError:  # an unhashable value, such as a list
            return self._clean_one(field, raw)

    def clean(
        self,
        data: Mapping[str, Any],
        errors: dict[str, list[str]],
        *,
        today: datetime.date | None = None,
    ) -> dict[str, Any]:
        """The cleaned values of ``data``; every refusal goes into ``errors`` under
        ``prefix.field``. ``today`` (``timezone.localdate()`` if not given) decides which dates
        are in the future: an import reads the clock once for the whole file."""
        prefix = self.prefix
        for name, messages in self.missing.items():
            if name not in data:
                errors[f"{prefix}.{name}"] = messages
        cleaned: dict[str, Any] = {}
        today = today or timezone.localdate()
        for name, raw in data.items():
            field = self.fields.get(name)
            if field is None:
                errors[f"{prefix}.{name}"] = ["Unknown field."]
                continue
            try:
                value = self._clean_cached(name, field, raw)
            except ValidationError as exc:
                errors[f"{prefix}.{name}"] = exc.messages
                continue
            check = self.checks.get(name)
            problems = check(value, today) if check is not None and value is not None else None
            if problems:
                errors[f"{prefix}.{name}"] = problems
            else:
                cleaned[name] = value
        if self.has_clean:
            # As full_clean does, also when a field failed; that field is left at its default.
            instance = self.model.__new__(self.model)
            instance._state = models.base.ModelState()
            instance.__dict__.update(self.defaults)
            instance.__dict__.update(cleaned)
            try:
                instance.clean()
            except ValidationError as exc:
                found = (
                    exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
                )
                for name, messages in found.items():
                    errors[f"{prefix}.{name}"] = messages
        return cleaned


class NewCaseRules:
    """What a new person and their intake record must satisfy."""

    def __init__(self) -> None:
        self.returnee = FieldRules(Returnee, RETURNEE_INPUT_FIELDS, prefix="returnee")
        self.intake = FieldRules(IntakeRecord, INTAKE_INPUT_FIELDS, prefix="intake")
        self.needs: dict[tuple[Any, ...], list[str]] = {}  # accepted lists of urgent needs

    def _urgent_needs(self, value: Any) -> list[str]:
        key = tuple(value) if isinstance(value, (list, tuple)) else None
        if key is not None and key in self.needs:
            return list(self.needs[key])
        needs = choices_list(value, UrgentNeed, field="intake.urgent_needs")
        if key is not None and len(self.needs) < FieldRules.CACHE_SIZE:
            self.needs[key] = needs
        return list(needs)

    def check(
        self,
        *,
        returnee: Mapping[str, Any],
        intake: Mapping[str, Any],
        today: datetime.date | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, list[str]]]:
        """(person values, intake values, errors by ``section.field``)."""
        errors: dict[str, list[str]] = {}
        today = today or timezone.localdate()
        person = self.returnee.clean(returnee, errors, today=today)
        intake = dict(intake)
        if "urgent_needs" in intake:
            try:
                intake["urgent_needs"] = self._urgent_needs(intake["urgent_needs"])
            except ValidationError as exc:
                errors.update(exc.message_dict)
                del intake["urgent_needs"]
        record = self.intake.clean(intake, errors, today=today)
        return person, record, errors


NEW_CASE_RULES = NewCaseRules()
CASEWORKER_NOT_IN_TEAM = "The caseworker must be a caseworker of the team."


def _nested(errors: ValidationError, prefix: str) -> ValidationError:
    """Prefix field names so a caller can tell ``returnee.phone`` from ``intake.notes``."""
    if hasattr(errors, "error_dict"):
        return ValidationError(
            {f"{prefix}.{name}": messages for name, messages in errors.error_dict.items()}
        )
    return ValidationError({prefix: errors.messages})


def returnee_set_identity_indexes(returnee: Returnee) -> None:
    returnee.national_id_index = crypto.national_id_index(returnee.national_id or "")
    returnee.phone_index = crypto.phone_index(returnee.phone or "")


def _caseworker_for(*, actor: Actor, team: Team, caseworker: Any) -> Any:
    if caseworker is None:
        is_caseworker = Membership.objects.filter(
            user_id=actor.pk, team=team, role=Role.CASEWORKER
        ).exists()
        return actor if is_caseworker else None
    if not Membership.objects.filter(user=caseworker, team=team, role=Role.CASEWORKER).exists():
        raise ValidationError({"caseworker": CASEWORKER_NOT_IN_TEAM})
    return caseworker


@transaction.atomic
def case_open(
    *,
    actor: Actor,
    team: Team,
    returnee: dict[str, Any],
    intake: dict[str, Any],
    consent: dict[str, Any] | None = None,
    caseworker: Any = None,
) -> Case:
    """Register a person and open their case at intake. All or nothing."""
    if not selectors.teams_for_case_creation(user=actor).filter(pk=team.pk).exists():
        raise ValidationError({"team": "Unknown team."})
    person_values, intake_values, errors = NEW_CASE_RULES.check(returnee=returnee, intake=intake)
    if errors:
        raise ValidationError(errors)
    now = timezone.now()
    programme = team.site.programme

    person = Returnee(person_number=new_person_number(), **person_values)
    returnee_set_identity_indexes(person)
    insert_with_fresh_reference(person, field="person_number", make=new_person_number)

    case = Case(
        case_number=new_case_number(),
        returnee=person,
        programme=programme,
        team=team,
        caseworker=_caseworker_for(actor=actor, team=team, caseworker=caseworker),
        stage=Stage.INTAKE,
        stage_entered_at=now,
        opened_at=now,
    )
    insert_with_fresh_reference(case, field="case_number", make=new_case_number)
    IntakeRecord(case=case, recorded_by=actor, **intake_values).save(force_insert=True)

    set_fields = [name for name in RETURNEE_INPUT_FIELDS if name in returnee]
    audit_record(
        actor=actor,
        action=AuditAction.CASE_OPEN,
        object_type="case",
        object_id=case.case_number,
        case_number=case.case_number,
        fields=set_fields + [f"intake.{name}" for name in intake],
        detail={"team": str(team.uuid), "person": person.person_number},
    )
    if consent is not None:
        try:
            consent_create(actor=actor, case=case, **consent)
        except ValidationError as exc:
            raise _nested(exc, "consent") from None
        except TypeError:
            raise ValidationError({"consent": "Unknown consent field."}) from None
    return case


@transaction.atomic
def case_assign(
    *, actor: Actor, case: Case, caseworker: Any, expected_version: int | None = None
) -> Case:
    """Give the case to another caseworker of its team (supervisors and managers only)."""
    case = lock_case(case)
    require_roles(
        actor=actor,
        case=case,
        roles={Role.SUPERVISOR, Role.PROGRAMME_MANAGER},
        action="reassign cases",
    )
    check_version(case, expected_version)
    user_model = get_user_model()
    if not isinstance(caseworker, user_model):
        raise ValidationError({"caseworker": "Unknown caseworker."})
    if not Membership.objects.filter(
        user=caseworker, team=case.team_id, role=Role.CASEWORKER
    ).exists():
        raise ValidationError({"caseworker": "The caseworker must be a caseworker of the team."})
    previous = case.caseworker
    case.caseworker = caseworker
    bump_case_version(case, "caseworker")
    audit_record(
        actor=actor,
        action=AuditAction.CASE_ASSIGN,
        object_type="case",
        object_id=case.case_number,
        case_number=case.case_number,
        fields=["caseworker"],
        detail={
            "from": previous.get_username() if previous else "",
            "to": caseworker.get_username(),
        },
    )
    return case
