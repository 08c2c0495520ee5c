"""The reintegration survey: recording one filled survey with its scores, and checking that a
question kept as data (texts and scored choices) is well formed.

The questions are rows (``SurveyQuestion``), modelled on IOM's Reintegration Sustainability
Survey, across three dimensions: economic, social and psychosocial. Each answer scores 0 to 1;
a dimension's score is the weighted mean of its answers' scores times 100, and the overall
score is the mean of the dimensions the survey has questions in.

A survey may be recorded while a case is open, at any stage: a baseline taken at intake or
in training is what makes a later fall visible. A closed case's records no longer change.
When the overall score falls by ``SURVEY_SCORE_DROP_ALERT`` points or more (default 10) from
the case's previous survey, the case's supervisors are notified (figures only, no answers).
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language

from cases import selectors
from cases.models import (
    AuditAction,
    Case,
    ContactOutcome,
    Membership,
    MonitoringContact,
    NotificationKind,
    Role,
    SurveyAnswer,
    SurveyDimension,
    SurveyQuestion,
    SurveyResponse,
)
from cases.selectors import CASE_ROLES, Actor

from .audit import audit_record
from .common import bump_case_version, lock_case, require_open, require_roles
from .notifications import NotificationSpec, notify_many

DEFAULT_DROP_ALERT = 10
FALLBACK_LANGUAGE = "en"
CHOICE_KEYS = frozenset({"value", "score", "labels"})
VALUE_MAX_LENGTH = SurveyAnswer._meta.get_field("value").max_length or 64
ANSWER_PLACES = Decimal("0.001")
SCORE_PLACES = Decimal("0.01")
HUNDRED = Decimal(100)

DIMENSION_FIELDS = {
    SurveyDimension.ECONOMIC: "economic_score",
    SurveyDimension.SOCIAL: "social_score",
    SurveyDimension.PSYCHOSOCIAL: "psychosocial_score",
}


def drop_alert_points() -> Decimal:
    """How many points the overall score must fall before the supervisors are told."""
    return Decimal(str(getattr(settings, "SURVEY_SCORE_DROP_ALERT", DEFAULT_DROP_ALERT)))


# --- texts in the user's language ---------------------------------------------------------------


def localised(texts: Mapping[str, Any] | None, language: str | None = None) -> str:
    """``texts`` in ``language`` (the active one by default): its exact code, then its base
    language (``ar`` for ``ar-iq``), then English, then whatever there is."""
    if not isinstance(texts, Mapping) or not texts:
        return ""
    language = (language or get_language() or FALLBACK_LANGUAGE).lower()
    for code in (language, language.split("-")[0], FALLBACK_LANGUAGE):
        value = texts.get(code)
        if isinstance(value, str) and value.strip():
            return value
    return next((str(v) for v in texts.values() if isinstance(v, str) and v.strip()), "")


# --- the shape of a question --------------------------------------------------------------------


def _score_of(raw: Any) -> Decimal | None:
    """A choice's score as a Decimal, or None when it is not a number from 0 to 1."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str, Decimal)):
        return None
    try:
        value = Decimal(str(raw))
    except ArithmeticError:
        return None
    if not value.is_finite() or value < 0 or value > 1:
        return None
    return value


def _texts_problems(texts: Any, what: str) -> list[str]:
    if not isinstance(texts, Mapping):
        return [f'{what} must be an object of language code → text, e.g. {{"en": "…"}}.']
    problems = []
    english = texts.get(FALLBACK_LANGUAGE)
    if not isinstance(english, str) or not english.strip():
        problems.append(f'{what} need an English text ("en").')
    if any(not isinstance(k, str) or not isinstance(v, str) for k, v in texts.items()):
        problems.append(f"{what}: every language code and text must be a string.")
    return problems


# Complexity exception: one check per rule a question must meet, each raising its own
# message for the admin form; they read best as the list the docstring gives.
def survey_question_check(*, texts: Any, choices: Any, weight: Any = 1) -> None:  # noqa: C901
    """Refuse a question that cannot be asked or scored: ``texts`` with an English wording,
    at least two choices each with a distinct ``value``, a ``score`` from 0 to 1 and
    ``labels`` with an English label; a weight above zero. Raises ``ValidationError`` per
    field (``texts``, ``choices``, ``weight``)."""
    errors: dict[str, list[str]] = {}
    text_problems = _texts_problems(texts, "The question's texts")
    if text_problems:
        errors["texts"] = text_problems
    choice_problems: list[str] = []
    if not isinstance(choices, list) or len(choices) < 2:
        choice_problems.append("Give at least two choices.")
    else:
        seen: set[str] = set()
        for number, choice in enumerate(choices, start=1):
            if not isinstance(choice, Mapping):
                choice_problems.append(
                    f"Choice {number} must be an object with value, score and labels."
                )
                continue
            unknown = sorted(set(choice) - CHOICE_KEYS)
            if unknown:
                choice_problems.append(f"Choice {number}: unknown key(s) {unknown}.")
            value = choice.get("value")
            if not isinstance(value, str) or not value.strip():
                choice_problems.append(f"Choice {number} needs a value (text).")
            elif len(value) > VALUE_MAX_LENGTH:
                choice_problems.append(
                    f"Choice {number}: the value is longer than {VALUE_MAX_LENGTH} characters."
                )
            elif value in seen:
                choice_problems.append(f"Choice {number}: the value {value!r} is used twice.")
            else:
                seen.add(value)
            if _score_of(choice.get("score")) is None:
                choice_problems.append(f"Choice {number}: the score must be a number from 0 to 1.")
            choice_problems += _texts_problems(choice.get("labels"), f"Choice {number}'s labels")
    if choice_problems:
        errors["choices"] = choice_problems
    try:
        weight_ok = weight is not None and Decimal(str(weight)) > 0
    except ArithmeticError:
        weight_ok = False
    if not weight_ok:
        errors["weight"] = ["The weight must be a number above zero."]
    if errors:
        raise ValidationError(errors)


# --- scoring -------------------------------------------------------------------------------------


def _choice_scores(question: SurveyQuestion) -> dict[str, Decimal]:
    """The question's choices as value → score (choices a broken row carries are skipped)."""
    out: dict[str, Decimal] = {}
    for choice in question.choices if isinstance(question.choices, list) else []:
        if not isinstance(choice, Mapping):
            continue
        score = _score_of(choice.get("score"))
        value = choice.get("value")
        if isinstance(value, str) and score is not None:
            out[value] = score.quantize(ANSWER_PLACES, rounding=ROUND_HALF_UP)
    return out


def survey_scores(
    scored: list[tuple[SurveyQuestion, Decimal]],
) -> tuple[dict[str, Decimal | None], Decimal]:
    """Per dimension the weighted mean of the answers' scores times 100 (``None`` for a dimension
    with no question), and overall the mean of the dimensions present; both to 2 places."""
    sums: dict[str, list[Decimal]] = {}
    for question, score in scored:
        weight = Decimal(question.weight)
        totals = sums.setdefault(question.dimension, [Decimal(0), Decimal(0)])
        totals[0] += weight * score
        totals[1] += weight
    dimensions: dict[str, Decimal | None] = {}
    for dimension in SurveyDimension.values:
        total, weights = sums.get(dimension, (Decimal(0), Decimal(0)))
        dimensions[dimension] = (
            (total / weights * HUNDRED).quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)
            if weights > 0
            else None
        )
    present = [value for value in dimensions.values() if value is not None]
    overall = (
        (sum(present, Decimal(0)) / len(present)).quantize(SCORE_PLACES, rounding=ROUND_HALF_UP)
        if present
        else Decimal(0)
    )
    return dimensions, overall


def _checked_answers(
    questions: list[SurveyQuestion], answers: Any
) -> list[tuple[SurveyQuestion, str, Decimal]]:
    """Every question answered with one of its choices; errors name ``answers.<code>``."""
    if not isinstance(answers, Mapping):
        raise ValidationError({"answers": "Must be an object of question code → chosen value."})
    if not questions:
        raise ValidationError({"answers": "No survey question is set up for this programme."})
    errors: dict[str, str] = {}
    by_code = {question.code: question for question in questions}
    for code in answers:
        if code not in by_code:
            errors[f"answers.{code}"] = "Not a question of this programme's survey."
    checked = []
    for question in questions:
        value = answers.get(question.code)
        scores = _choice_scores(question)
        if value is None or value == "":
            errors[f"answers.{question.code}"] = "Answer this question."
        elif not isinstance(value, str) or value not in scores:
            errors[f"answers.{question.code}"] = f"Choose one of: {', '.join(sorted(scores))}."
        else:
            checked.append((question, value, scores[value]))
    if errors:
        raise ValidationError(errors)
    return checked


def _checked_contact(case: Case, contact: MonitoringContact | None) -> MonitoringContact | None:
    if contact is None:
        return None
    if contact.case_id != case.pk:
        raise ValidationError({"contact": "This contact belongs to another case."})
    if contact.outcome != ContactOutcome.MET:
        raise ValidationError(
            {"contact": "A survey is taken at a contact that took place: record it as met first."}
        )
    if SurveyResponse.objects.filter(contact=contact).exists():
        raise ValidationError({"contact": "A survey was already recorded at this contact."})
    return contact


def _checked_date(taken_on: Any) -> datetime.date:
    if isinstance(taken_on, datetime.datetime) or not isinstance(taken_on, datetime.date):
        raise ValidationError({"taken_on": "Give the date the survey was taken (YYYY-MM-DD)."})
    if taken_on > timezone.localdate():
        raise ValidationError({"taken_on": "The survey cannot be dated in the future."})
    return taken_on


# --- recording ---------------------------------------------------------------------------------


@transaction.atomic
def survey_record(
    *,
    actor: Actor,
    case: Case,
    contact: MonitoringContact | None = None,
    taken_on: datetime.date,
    answers: Mapping[str, Any],
) -> SurveyResponse:
    """Record one filled survey on an open case: every active question of the case's
    programme answered with one of its choices. Stores the answers with their scores and the
    dimension and overall scores, audits, and tells the case's supervisors when the overall
    score fell by ``SURVEY_SCORE_DROP_ALERT`` points or more since the previous survey."""
    case = lock_case(case)
    require_roles(actor=actor, case=case, roles=CASE_ROLES, action="record a survey")
    require_open(case)
    taken_on = _checked_date(taken_on)
    contact = _checked_contact(case, contact)
    questions = selectors.survey_questions_for_programme(programme_id=case.programme_id)
    checked = _checked_answers(questions, answers)
    dimensions, overall = survey_scores([(q, score) for q, _value, score in checked])

    response = SurveyResponse(
        case=case,
        contact=contact,
        taken_on=taken_on,
        overall_score=overall,
        recorded_by=actor,
        **{DIMENSION_FIELDS[SurveyDimension(d)]: value for d, value in dimensions.items()},
    )
    response.save(force_insert=True)
    SurveyAnswer.objects.bulk_create(
        SurveyAnswer(response=response, question=question, value=value, score=score)
        for question, value, score in checked
    )
    bump_case_version(case)
    audit_record(
        actor=actor,
        action=AuditAction.SURVEY_RECORD,
        object_type="surveyresponse",
        object_id=str(response.uuid),
        case_number=case.case_number,
        fields=["answers", "taken_on", *(["contact"] if contact else [])],
        detail={"overall_score": str(overall), "questions": len(checked)},
    )
    _notify_if_fell(actor=actor, case=case, response=response)
    return response


def _previous(response: SurveyResponse) -> SurveyResponse | None:
    """The case's survey just before ``response`` in time (date, then order of recording)."""
    return (
        SurveyResponse.objects.filter(case_id=response.case_id)
        .filter(
            Q(taken_on__lt=response.taken_on) | Q(taken_on=response.taken_on, id__lt=response.pk)
        )
        .order_by("-taken_on", "-id")
        .first()
    )


def _notify_if_fell(*, actor: Actor, case: Case, response: SurveyResponse) -> None:
    previous = _previous(response)
    if previous is None:
        return
    before, after = Decimal(previous.overall_score), Decimal(response.overall_score)
    if before - after < drop_alert_points():
        return
    supervisors = (
        Membership.objects.active()
        .filter(role=Role.SUPERVISOR, team_id=case.team_id)
        .exclude(user_id=actor.pk)
        .values_list("user_id", flat=True)
        .distinct()
    )
    notify_many(
        NotificationSpec(
            key=f"score_fell:{response.uuid}:{user_id}",
            recipient_id=user_id,
            kind=NotificationKind.SCORE_FELL,
            case_id=case.case_number,
            contact_id=response.contact_id,
            detail={"before": float(before), "after": float(after)},
        )
        for user_id in supervisors
    )
