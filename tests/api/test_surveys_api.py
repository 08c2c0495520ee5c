"""The reintegration survey over the API: a case's surveys with their scores, recording one
(validated, audited, scoped, alerting on a fall), and the questions in the caller's language."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from cases import selectors
from cases.models import (
    AuditEvent,
    ContactOutcome,
    Notification,
    Stage,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
)

from .. import factories as f


def _url(case):
    return f"/api/v1/cases/{case.case_number}/surveys/"


QUESTIONS_URL = "/api/v1/survey-questions/"


def _questions(case):
    return selectors.survey_questions_for_programme(programme_id=case.programme_id)


def _answers(case, *, best=True, **overrides):
    out = {}
    for question in _questions(case):
        ranked = sorted(question.choices, key=lambda c: c["score"])
        out[question.code] = (ranked[-1] if best else ranked[0])["value"]
    out.update(overrides)
    return out


def _body(case, *, days_ago=0, **kwargs):
    taken_on = timezone.localdate() - datetime.timedelta(days=days_ago)
    return {"taken_on": taken_on.isoformat(), "answers": _answers(case, **kwargs)}


def _counts():
    return SurveyResponse.objects.count(), SurveyAnswer.objects.count()


@pytest.fixture
def case(make_case):
    return make_case(Stage.MONITORING)


def _question(programme, code):
    return SurveyQuestion.objects.create(
        programme=programme,
        code=code,
        dimension="social",
        texts={"en": f"{code} in English", "ar": f"{code} بالعربية"},
        choices=[
            {"value": "yes", "score": 1, "labels": {"en": "Yes", "ar": "نعم"}},
            {"value": "no", "score": 0, "labels": {"en": "No"}},
        ],
    )


# --- recording -------------------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["alice", "carol", "mona"])
def test_staff_of_the_case_record_a_survey_and_get_its_scores(api, case, world, persona):
    response = api(persona).post(_url(case), _body(case), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["overall_score"] == 100.0
    assert body["economic_score"] == body["social_score"] == body["psychosocial_score"] == 100.0
    assert body["recorded_by"] == persona
    assert body["contact"] is None
    assert {a["question"] for a in body["answers"]} == set(_answers(case))
    assert all(a["score"] == 1.0 for a in body["answers"])
    survey = SurveyResponse.objects.get(uuid=body["uuid"])
    assert survey.case == case
    assert AuditEvent.objects.filter(action="survey.record", object_id=body["uuid"]).exists()
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("persona", ["bob", "audrey", "xavier"])
def test_out_of_scope_staff_get_404_and_nothing_is_written(api, case, persona):
    client = api(persona)
    assert client.get(_url(case)).status_code == 404
    response = client.post(_url(case), _body(case), format="json")
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    assert _counts() == (0, 0)


def test_anonymous_callers_get_401(api, case):
    assert api().get(_url(case)).status_code == 401
    assert api().get(QUESTIONS_URL).status_code == 401


def test_a_missing_or_wrong_answer_is_a_400_naming_the_question(api, case):
    codes = list(_answers(case))
    answers = _answers(case, **{codes[1]: "made-up"})
    del answers[codes[0]]
    response = api("alice").post(
        _url(case),
        {"taken_on": timezone.localdate().isoformat(), "answers": answers},
        format="json",
    )
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {f"answers.{codes[0]}", f"answers.{codes[1]}"}
    assert _counts() == (0, 0)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"stage": "closed"}, "stage"),
        ({"taken_on": "2999-01-01"}, "taken_on"),
        ({"taken_on": "soon"}, "taken_on"),
        ({"answers": ["yes"]}, "answers"),
        ({"answers": {"econ_debt": 3}}, "answers.econ_debt"),
        ({"contact": "3f1c2a56-0000-4000-8000-000000000000"}, "contact"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(api, case, change, field):
    body = {**_body(case), **change}
    response = api("alice").post(_url(case), body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]
    assert _counts() == (0, 0)


def test_a_survey_at_a_held_contact_names_it(api, case, make_case):
    held = f.ContactFactory(case=case, outcome=ContactOutcome.MET, actual_date=timezone.localdate())
    other = f.ContactFactory(
        case=make_case(Stage.MONITORING),
        outcome=ContactOutcome.MET,
        actual_date=timezone.localdate(),
    )
    client = api("alice")
    refused = client.post(_url(case), {**_body(case), "contact": str(other.uuid)}, format="json")
    assert refused.status_code == 400
    assert "contact" in refused.json()["error"]["fields"]
    response = client.post(_url(case), {**_body(case), "contact": str(held.uuid)}, format="json")
    assert response.status_code == 201
    assert response.json()["contact"] == str(held.uuid)


def test_a_closed_case_is_a_409(api, make_case):
    closed = make_case(Stage.CLOSED)
    response = api("alice").post(_url(closed), _body(closed), format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "closed"
    assert _counts() == (0, 0)


def test_a_fall_recorded_through_the_api_tells_the_supervisor(api, case, world):
    client = api("alice")
    assert client.post(_url(case), _body(case, days_ago=14), format="json").status_code == 201
    fell = client.post(_url(case), _body(case, best=False), format="json")
    assert fell.status_code == 201
    note = Notification.objects.get()
    assert note.recipient == world.carol
    assert note.case_id == case.case_number
    assert note.detail == {"before": 100.0, "after": 0.0}


# --- listing -----------------------------------------------------------------------------------


def test_the_list_shows_every_survey_with_its_scores_newest_first(api, case, world):
    for days_ago, score in ((30, "80.00"), (10, "55.50")):
        SurveyResponse.objects.create(
            case=case,
            taken_on=timezone.localdate() - datetime.timedelta(days=days_ago),
            economic_score=Decimal(score),
            overall_score=Decimal(score),
            recorded_by=world.alice,
        )
    other = SurveyResponse.objects.create(
        case=f.CaseFactory(team=world.team_a),
        taken_on=timezone.localdate(),
        overall_score=Decimal("10"),
        recorded_by=world.alice,
    )
    response = api("carol").get(_url(case))
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["overall_score"] for r in results] == [55.5, 80.0]
    assert results[0]["social_score"] is None
    assert results[0]["economic_score"] == 55.5
    assert str(other.uuid) not in response.content.decode()


# --- the questions -------------------------------------------------------------------------


def test_questions_are_those_of_the_callers_programmes_in_the_order_asked(api, world):
    north = _question(world.north, "north_only")
    south = _question(world.south, "south_only")
    response = api("bob").get(QUESTIONS_URL)
    assert response.status_code == 200
    rows = response.json()
    uuids = [row["uuid"] for row in rows]
    assert str(north.uuid) in uuids
    assert str(south.uuid) not in uuids
    shared = SurveyQuestion.objects.filter(programme=None, is_active=True).count()
    assert len(rows) == shared + 1
    dimensions = [row["dimension"] for row in rows]
    assert dimensions == sorted(dimensions, key=["economic", "social", "psychosocial"].index)
    row = next(row for row in rows if row["code"] == "north_only")
    assert row["programme"] == str(world.north.uuid)
    assert row["text"] == "north_only in English"
    assert row["choices"][0] == {
        "value": "yes",
        "score": 1.0,
        "label": "Yes",
        "labels": {"en": "Yes", "ar": "نعم"},
    }
    assert api("xavier").get(QUESTIONS_URL).json().__len__() == shared + 1  # south_only


def test_inactive_questions_are_not_listed(api, world):
    dropped = SurveyQuestion.objects.filter(programme=None).first()
    assert dropped is not None
    SurveyQuestion.objects.filter(pk=dropped.pk).update(is_active=False)
    codes = [row["code"] for row in api("alice").get(QUESTIONS_URL).json()]
    assert dropped.code not in codes


def test_questions_come_in_the_callers_language_with_english_fallback(api, world):
    _question(world.north, "north_only")
    rows = api("alice").get(QUESTIONS_URL, HTTP_ACCEPT_LANGUAGE="ar").json()
    row = next(row for row in rows if row["code"] == "north_only")
    assert row["text"] == "north_only بالعربية"
    assert [c["label"] for c in row["choices"]] == ["نعم", "No"]  # no Arabic label: English
    shared = next(row for row in rows if row["code"] == "psy_safety")
    assert shared["text"] == shared["texts"]["ar"] != shared["texts"]["en"]
