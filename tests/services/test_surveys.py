"""The reintegration survey: questions as data, scoring, validation, scope, audit, the alert
to supervisors when a score falls, and the selector behind the dashboard's "scores that fell"."""

from __future__ import annotations

import datetime
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone, translation

from cases import selectors
from cases.models import (
    AuditEvent,
    ContactOutcome,
    Notification,
    NotificationKind,
    OutboxEvent,
    Stage,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
)
from cases.services.errors import ActionNotAllowed, DomainError
from cases.services.surveys import localised, survey_question_check, survey_record

from .. import factories as f

TODAY = datetime.date(2026, 11, 20)


def questions(case):
    return selectors.survey_questions_for_programme(programme_id=case.programme_id)


def _pick(question, best: bool) -> str:
    ranked = sorted(question.choices, key=lambda c: c["score"])
    return (ranked[-1] if best else ranked[0])["value"]


def answers(case, *, best: bool = True, **overrides) -> dict[str, str]:
    """Every question answered with its best (or worst) choice, with ``overrides``."""
    out = {q.code: _pick(q, best) for q in questions(case)}
    out.update(overrides)
    return out


def answers_by_dimension(case, **best: bool) -> dict[str, str]:
    """``answers_by_dimension(case, economic=True, social=False, psychosocial=True)``."""
    return {q.code: _pick(q, best[q.dimension]) for q in questions(case)}


def record(case, actor, *, taken_on=TODAY, **kwargs):
    kwargs.setdefault("answers", answers(case))
    return survey_record(actor=actor, case=case, taken_on=taken_on, **kwargs)


@pytest.fixture(autouse=True)
def _today(monkeypatch):
    monkeypatch.setattr(timezone, "localdate", lambda *a, **k: TODAY)


@pytest.fixture
def case(make_case):
    return make_case(Stage.MONITORING)


def _counts():
    return (
        SurveyResponse.objects.count(),
        SurveyAnswer.objects.count(),
        AuditEvent.objects.count(),
        Notification.objects.count(),
    )


# --- the default questions ------------------------------------------------------------------


def test_default_questions_cover_three_dimensions_in_english_and_arabic(db):
    shared = list(SurveyQuestion.objects.filter(programme=None, is_active=True))
    assert 12 <= len(shared) <= 15
    assert {q.dimension for q in shared} == {"economic", "social", "psychosocial"}
    for question in shared:
        survey_question_check(texts=question.texts, choices=question.choices)
        assert question.texts["ar"]
        assert question.texts["en"]
        assert all(choice["labels"]["ar"] for choice in question.choices)
        scores = [choice["score"] for choice in question.choices]
        assert min(scores) == 0, question.code
        assert max(scores) == 1, question.code


def test_questions_are_asked_economic_then_social_then_psychosocial(case):
    dimensions = [q.dimension for q in questions(case)]
    assert dimensions == sorted(dimensions, key=["economic", "social", "psychosocial"].index)
    assert dimensions[0] == "economic"
    assert dimensions[-1] == "psychosocial"


def test_texts_show_in_the_users_language_with_english_as_fallback():
    texts = {"en": "Housing", "ar": "السكن"}
    assert localised(texts, "ar") == "السكن"
    assert localised(texts, "ar-iq") == "السكن"
    assert localised(texts, "fr") == "Housing"
    assert localised({"en": "Housing", "ar": ""}, "ar") == "Housing"
    with translation.override("ar"):
        assert localised(texts) == "السكن"


@pytest.mark.parametrize(
    ("texts", "choices", "weight", "field"),
    [
        ({"ar": "سؤال"}, None, 1, "texts"),
        ("Housing", None, 1, "texts"),
        (None, [{"value": "a", "score": 1, "labels": {"en": "A"}}], 1, "choices"),
        (None, [{"value": "a", "score": 1.5, "labels": {"en": "A"}}, None], 1, "choices"),
        (None, [{"value": "a", "score": -0.1, "labels": {"en": "A"}}, None], 1, "choices"),
        (None, [{"value": "a", "score": True, "labels": {"en": "A"}}, None], 1, "choices"),
        (None, [{"value": "a", "score": 1, "labels": {"ar": "أ"}}, None], 1, "choices"),
        (None, [{"value": "b", "score": 0, "labels": {"en": "B"}}, None], 1, "choices"),
        (
            None,
            [{"value": "a", "score": 1, "labels": {"en": "A"}, "colour": "red"}, None],
            1,
            "choices",
        ),
        (None, None, 0, "weight"),
    ],
)
def test_a_malformed_question_is_refused_naming_the_field(texts, choices, weight, field):
    good_choices = [
        {"value": "a", "score": 1, "labels": {"en": "A"}},
        {"value": "b", "score": 0, "labels": {"en": "B"}},
    ]
    if choices is not None and choices[-1] is None:
        choices = [choices[0], good_choices[1]]
    with pytest.raises(ValidationError) as caught:
        survey_question_check(
            texts=texts if texts is not None else {"en": "Q"},
            choices=choices if choices is not None else good_choices,
            weight=weight,
        )
    assert set(caught.value.message_dict) == {field}


def test_a_well_formed_question_passes():
    survey_question_check(
        texts={"en": "Q", "ar": "س"},
        choices=[
            {"value": "a", "score": 1, "labels": {"en": "A", "ar": "أ"}},
            {"value": "b", "score": "0.5", "labels": {"en": "B"}},
        ],
        weight=Decimal("0.5"),
    )


# --- scoring -------------------------------------------------------------------------------------


def test_best_answers_score_100_everywhere_and_are_stored(case, world):
    response = record(case, world.alice)
    response.refresh_from_db()
    assert response.overall_score == Decimal("100.00")
    assert response.economic_score == response.social_score == Decimal("100.00")
    assert response.psychosocial_score == Decimal("100.00")
    assert response.answers.count() == len(questions(case))
    assert set(response.answers.values_list("score", flat=True)) == {Decimal("1.000")}
    assert response.recorded_by == world.alice
    assert response.taken_on == TODAY


def test_overall_is_the_mean_of_the_dimension_scores(case, world):
    mixed = answers_by_dimension(case, economic=True, social=False, psychosocial=True)
    response = record(case, world.alice, answers=mixed)
    assert response.economic_score == Decimal("100.00")
    assert response.social_score == Decimal("0.00")
    assert response.overall_score == Decimal("66.67")


def test_a_dimension_score_is_the_weighted_mean_of_its_answers(case, world):
    economic = [q for q in questions(case) if q.dimension == "economic"]
    heavy = economic[0]
    SurveyQuestion.objects.filter(pk=heavy.pk).update(weight=Decimal(len(economic) - 1))
    chosen = answers(case)
    for question in economic[1:]:
        chosen[question.code] = _pick(question, best=False)
    response = record(case, world.alice, answers=chosen)
    # One question of weight n-1 at 1, n-1 questions of weight 1 at 0: half.
    assert response.economic_score == Decimal("50.00")


def test_a_programmes_own_question_replaces_the_shared_one_with_its_code(case, world):
    shared = questions(case)[0]
    SurveyQuestion.objects.create(
        programme=world.north,
        code=shared.code,
        dimension=shared.dimension,
        texts={"en": "Own wording"},
        choices=[
            {"value": "good", "score": 1, "labels": {"en": "Good"}},
            {"value": "bad", "score": 0, "labels": {"en": "Bad"}},
        ],
    )
    asked = questions(case)
    assert [q.texts["en"] for q in asked if q.code == shared.code] == ["Own wording"]
    with pytest.raises(ValidationError) as caught:
        record(case, world.alice, answers={**answers(case), shared.code: _pick(shared, True)})
    assert f"answers.{shared.code}" in caught.value.message_dict
    assert record(case, world.alice, answers={**answers(case), shared.code: "good"})


def test_another_programmes_question_is_not_asked(case, world):
    SurveyQuestion.objects.create(
        programme=world.south,
        code="south_only",
        dimension="social",
        texts={"en": "South"},
        choices=[
            {"value": "y", "score": 1, "labels": {"en": "Y"}},
            {"value": "n", "score": 0, "labels": {"en": "N"}},
        ],
    )
    assert "south_only" not in {q.code for q in questions(case)}
    assert record(case, world.alice)


def test_an_inactive_question_is_not_asked(case, world):
    dropped = questions(case)[-1]
    SurveyQuestion.objects.filter(pk=dropped.pk).update(is_active=False)
    chosen = answers(case)
    assert dropped.code not in chosen
    assert record(case, world.alice, answers=chosen).answers.count() == len(chosen)


# --- validation: nothing is written on a refusal ----------------------------------------------


@pytest.mark.parametrize("problem", ["missing", "unknown_value", "unknown_question", "empty"])
def test_bad_answers_are_refused_naming_the_question_and_nothing_is_written(case, world, problem):
    chosen = answers(case)
    first = next(iter(chosen))
    if problem == "missing":
        del chosen[first]
    elif problem == "unknown_value":
        chosen[first] = "not-a-choice"
    elif problem == "unknown_question":
        first = "no_such_question"
        chosen[first] = "yes"
    else:
        chosen[first] = ""
    before, version = _counts(), case.version
    with pytest.raises(ValidationError) as caught:
        record(case, world.alice, answers=chosen)
    assert f"answers.{first}" in caught.value.message_dict
    assert _counts() == before
    case.refresh_from_db()
    assert case.version == version


def test_answers_must_be_an_object(case, world):
    with pytest.raises(ValidationError) as caught:
        record(case, world.alice, answers=["a", "b"])
    assert "answers" in caught.value.message_dict


def test_a_survey_dated_in_the_future_is_refused(case, world):
    with pytest.raises(ValidationError) as caught:
        record(case, world.alice, taken_on=TODAY + datetime.timedelta(days=1))
    assert "taken_on" in caught.value.message_dict
    assert SurveyResponse.objects.count() == 0


def test_a_closed_case_takes_no_survey(make_case, world):
    closed = make_case(Stage.CLOSED)
    before = _counts()
    with pytest.raises(DomainError):
        record(closed, world.alice)
    assert _counts() == before


@pytest.mark.parametrize("stage", [Stage.INTAKE, Stage.TRAINING, Stage.MONITORING])
def test_an_open_case_takes_a_survey_at_any_stage(make_case, world, stage):
    assert record(make_case(stage), world.alice).overall_score == Decimal("100.00")


def test_the_contact_must_be_a_held_contact_of_the_case_without_a_survey(case, world, make_case):
    other = make_case(Stage.MONITORING)
    foreign = f.ContactFactory(case=other, outcome=ContactOutcome.MET, actual_date=TODAY)
    planned = f.ContactFactory(case=case)
    held = f.ContactFactory(case=case, outcome=ContactOutcome.MET, actual_date=TODAY)
    for contact in (foreign, planned):
        with pytest.raises(ValidationError) as caught:
            record(case, world.alice, contact=contact)
        assert "contact" in caught.value.message_dict
    response = record(case, world.alice, contact=held)
    assert response.contact == held
    with pytest.raises(ValidationError) as caught:
        record(case, world.alice, contact=held)
    assert "contact" in caught.value.message_dict
    assert SurveyResponse.objects.count() == 1


# --- who may record -----------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "carol", "mona"])
def test_caseworker_supervisor_and_manager_of_the_case_may_record(case, world, persona):
    assert record(case, getattr(world, persona)).recorded_by == getattr(world, persona)


@pytest.mark.parametrize("persona", ["bob", "audrey", "xavier", "root"])
def test_anyone_else_is_refused_and_nothing_is_written(case, world, persona):
    before = _counts()
    with pytest.raises(ActionNotAllowed):
        record(case, getattr(world, persona))
    assert _counts() == before


def test_recording_is_audited_without_the_answers(case, world):
    response = record(case, world.alice)
    event = AuditEvent.objects.get(action="survey.record")
    assert event.actor == world.alice
    assert event.case_number == case.case_number
    assert event.object_id == str(response.uuid)
    assert "answers" in event.fields
    # Scores only: the answers themselves stay in the survey's rows.
    assert event.detail == {"overall_score": "100.00", "questions": len(answers(case))}


def test_recording_bumps_the_case_version(case, world):
    version = case.version
    record(case, world.alice)
    case.refresh_from_db()
    assert case.version == version + 1


# --- the alert when a score falls -------------------------------------------------------------


def _fall(case, world, *, second):
    record(case, world.alice, taken_on=TODAY - datetime.timedelta(days=30))
    return record(case, world.alice, answers=second)


def test_a_fall_of_ten_points_or_more_tells_the_cases_supervisors_once(case, world):
    worse = answers_by_dimension(case, economic=False, social=True, psychosocial=True)
    response = _fall(case, world, second=worse)
    assert response.overall_score == Decimal("66.67")
    note = Notification.objects.get()
    assert note.recipient == world.carol  # supervisor of team A; not alice who recorded it
    assert note.kind == NotificationKind.SCORE_FELL
    assert note.key == f"score_fell:{response.uuid}:{world.carol.pk}"
    assert note.case_id == case.case_number
    assert note.detail == {"before": 100.0, "after": 66.67}
    assert OutboxEvent.objects.filter(channel="email", notification=note).count() == 1


def test_the_supervisor_recording_it_is_not_told_but_other_supervisors_are(case, world):
    other = f.UserFactory(username="sam")
    f.MembershipFactory(user=other, role="supervisor", team=world.team_a)
    record(case, world.carol, taken_on=TODAY - datetime.timedelta(days=30))
    record(case, world.carol, answers=answers(case, best=False))
    assert list(Notification.objects.values_list("recipient__username", flat=True)) == ["sam"]


def test_a_rise_or_a_small_fall_tells_nobody(case, world, settings):
    settings.SURVEY_SCORE_DROP_ALERT = 40
    worse = answers_by_dimension(case, economic=False, social=True, psychosocial=True)
    _fall(case, world, second=worse)  # 33.33 points: under the threshold set
    record(case, world.alice)  # and back up
    assert Notification.objects.count() == 0


def test_the_threshold_is_a_setting(case, world, settings):
    settings.SURVEY_SCORE_DROP_ALERT = 30
    worse = answers_by_dimension(case, economic=False, social=True, psychosocial=True)
    _fall(case, world, second=worse)
    assert Notification.objects.count() == 1


def test_the_first_survey_tells_nobody(case, world):
    record(case, world.alice, answers=answers(case, best=False))
    assert Notification.objects.count() == 0


def test_a_fall_is_measured_against_the_survey_before_it_in_time(case, world):
    record(case, world.alice, answers=answers(case, best=False), taken_on=TODAY)
    # An older survey recorded late: it is the earliest, so nothing fell before it.
    record(case, world.alice, taken_on=TODAY - datetime.timedelta(days=60))
    assert Notification.objects.count() == 0


# --- the dashboard's selector -------------------------------------------------------------------


def _scores(case, *values, user=None):
    for days_ago, value in zip(range(len(values), 0, -1), values, strict=True):
        SurveyResponse.objects.create(
            case=case,
            taken_on=TODAY - datetime.timedelta(days=days_ago),
            overall_score=Decimal(value),
            recorded_by=user or case.caseworker,
        )


def test_score_drops_lists_cases_whose_latest_score_fell(make_case, world):
    fell = make_case(Stage.MONITORING)
    rose = make_case(Stage.MONITORING)
    single = make_case(Stage.MONITORING)
    fell_less = make_case(Stage.TRAINING)
    _scores(fell, 30, 80, 55)
    _scores(rose, 80, 40, 60)
    _scores(single, 10)
    _scores(fell_less, 70, 65)
    # Cases with the scores annotated on them.
    rows: list[Any] = list(selectors.survey_score_drops(user=world.carol))
    assert [c.case_number for c in rows] == [fell.case_number, fell_less.case_number]
    assert rows[0].previous_score == Decimal("80.00")
    assert rows[0].latest_score == Decimal("55.00")
    assert rows[0].score_drop == Decimal("25.00")
    assert rows[0].latest_taken_on == TODAY - datetime.timedelta(days=1)


def test_score_drops_leave_out_closed_and_unsupervised_cases(make_case, world):
    closed = make_case(Stage.CLOSED)
    team_b = make_case(Stage.MONITORING, team=world.team_b, caseworker=world.bob)
    _scores(closed, 90, 10)
    _scores(team_b, 90, 10)
    assert list(selectors.survey_score_drops(user=world.carol)) == []
    assert [c.case_number for c in selectors.survey_score_drops(user=world.mona)] == [
        team_b.case_number
    ]
    assert list(selectors.survey_score_drops(user=world.alice)) == []  # supervises nothing


def test_score_drops_cost_two_queries_whatever_the_caseload(make_case, world):
    def measure():
        with CaptureQueriesContext(connection) as queries:
            rows = list(selectors.survey_score_drops(user=world.carol))
            shown = []
            for row in rows:
                assert row.caseworker is not None
                shown.append((row.team.name, row.caseworker.username))
        assert len(shown) == len(rows)
        return len(queries), len(rows)

    _scores(make_case(Stage.MONITORING), 90, 50)
    one = measure()
    for _ in range(10):
        _scores(make_case(Stage.MONITORING), 90, 50)
    many = measure()
    assert one[1] == 1
    assert many[1] == 11
    assert one[0] == many[0] == 2  # the supervised team ids, then the cases
