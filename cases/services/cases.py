"""Opening a case (person, consent and intake in one transaction) and assigning it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from cases import crypto, selectors
from cases.models import (
    IDENTITY_FIELDS,
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
    check_version,
    choices_list,
    insert_with_fresh_reference,
    lock_case,
    only_fields,
    require_roles,
    validated,
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
        raise ValidationError({"caseworker": "The caseworker must be a caseworker of the team."})
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
    only_fields(returnee, RETURNEE_INPUT_FIELDS, prefix="returnee")
    only_fields(intake, INTAKE_INPUT_FIELDS, prefix="intake")
    now = timezone.now()
    programme = team.site.programme

    person = Returnee(person_number=new_person_number(), **returnee)
    try:
        validated(person, exclude=["national_id_index", "phone_index", "person_number"])
    except ValidationError as exc:
        raise _nested(exc, "returnee") from None
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

    intake_data = dict(intake)
    intake_data["urgent_needs"] = choices_list(
        intake_data.get("urgent_needs", []), UrgentNeed, field="intake.urgent_needs"
    )
    record = IntakeRecord(case=case, recorded_by=actor, **intake_data)
    try:
        validated(record, exclude=["case"])
    except ValidationError as exc:
        raise _nested(exc, "intake") from None
    record.save(force_insert=True)

    set_fields = [name for name in RETURNEE_INPUT_FIELDS if name in returnee]
    audit_record(
        actor=actor,
        action="case.open",
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
    case.version += 1
    case.save(update_fields=["caseworker", "version", "updated_at"])
    audit_record(
        actor=actor,
        action="case.assign",
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
