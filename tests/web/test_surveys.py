"""Pages of the reintegration survey: filling it in (every persona, translated, keyboard-usable
radio groups, refusals that write nothing), the score over time in the monitoring tab and on
its own page, the supervisor dashboard's "scores that fell", and the questions' admin."""

from __future__ import annotations

import datetime
import json
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases import selectors
from cases.models import (
    AuditEvent,
    ContactOutcome,
    Role,
    Stage,
    SurveyAnswer,
    SurveyQuestion,
    SurveyResponse,
)
from tests import factories as f

from .conftest import verified_client

IN_SCOPE = ("alice", "carol", "mona")
OUT_OF_SCOPE = ("bob", "xavier", "audrey", "root")


def _questions(case):
    return selectors.survey_questions_for_programme(programme_id=case.programme_id)


def _form_data(case, *, best=True, skip=(), **extra):
    data = {"taken_on": timezone.localdate().isoformat(), "contact": ""}
    for question in _questions(case):
        if question.code in skip:
            continue
        ranked = sorted(question.choices, key=lambda c: c["score"])
        data[f"q-{question.code}"] = (ranked[-1] if best else ranked[0])["value"]
    data.update(extra)
    return data


def _new_url(case):
    return reverse("web:survey-new", args=[case.case_number])


def _scores_url(case):
    return reverse("web:survey-scores", args=[case.case_number])


def _tab_url(case):
    return reverse("web:case-tab", args=[case.case_number, "monitoring"])


def _scores(case, *values, user=None):
    """Surveys with these overall scores, one a week, the last one yesterday."""
    today = timezone.localdate()
    for weeks_ago, value in zip(range(len(values), 0, -1), values, strict=True):
        SurveyResponse.objects.create(
            case=case,
            taken_on=today - datetime.timedelta(days=7 * weeks_ago - 6),
            economic_score=Decimal(value),
            social_score=Decimal(value),
            psychosocial_score=Decimal(value),
            overall_score=Decimal(value),
            recorded_by=user or case.caseworker,
        )


def _counts():
    return SurveyResponse.objects.count(), SurveyAnswer.objects.count(), AuditEvent.objects.count()


@pytest.fixture
def case(make_case):
    return make_case(Stage.MONITORING)


# --- filling the survey ---------------------------------------------------------------------


@pytest.mark.parametrize("persona", IN_SCOPE)
def test_the_survey_form_shows_every_question_to_the_cases_staff(page, case, persona):
    response = page(persona).get(_new_url(case))
    assert response.status_code == 200
    html = response.content.decode()
    for question in _questions(case):
        assert question.texts["en"].replace("'", "&#x27;") in html
        assert f'name="q-{question.code}"' in html
    assert case.case_number in html
    assert "Omar" not in html  # never the person's name


@pytest.mark.parametrize("persona", OUT_OF_SCOPE)
@pytest.mark.parametrize("url", [_new_url, _scores_url])
def test_out_of_scope_staff_get_404(page, case, persona, url):
    client = page(persona)
    assert client.get(url(case)).status_code == 404
    before = _counts()
    assert client.post(_new_url(case), _form_data(case)).status_code == 404
    assert _counts() == before


def test_signed_out_visitors_go_to_the_login_page(client, case):
    response = client.get(_new_url(case))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_each_question_is_a_labelled_radio_group_in_its_dimension(page, case):
    html = page("alice").get(_new_url(case)).content.decode()
    for legend in ("Economic", "Social", "Psychosocial"):
        assert f"<legend>{legend}</legend>" in html
    question = _questions(case)[0]
    group = html.split(f'name="q-{question.code}"')[0].rsplit("<fieldset>", 1)[1]
    assert "<legend>" in group  # the question is the group's legend
    for index, choice in enumerate(question.choices):
        field_id = f"id_q-{question.code}_{index}"
        assert f'<label for="{field_id}">' in html
        assert re.search(
            rf'<input type="radio" name="q-{question.code}" value="{choice["value"]}"', html
        )
    assert html.count('type="radio"') == sum(len(q.choices) for q in _questions(case))
    assert 'type="date"' in html
    assert '<button type="submit">' in html


def test_the_survey_is_shown_in_arabic_to_an_arabic_speaker(page, case):
    client = page("alice")
    client.post(reverse("set_language"), {"language": "ar", "next": "/"})
    html = client.get(_new_url(case)).content.decode()
    question = _questions(case)[0]
    assert question.texts["ar"] in html
    assert question.choices[0]["labels"]["ar"] in html
    assert question.texts["en"] not in html


def test_a_question_without_arabic_falls_back_to_english(page, case):
    question = _questions(case)[0]
    SurveyQuestion.objects.filter(pk=question.pk).update(texts={"en": "Only in English"})
    client = page("alice")
    client.post(reverse("set_language"), {"language": "ar", "next": "/"})
    assert "Only in English" in client.get(_new_url(case)).content.decode()


def test_filling_the_survey_records_it_and_returns_to_the_monitoring_tab(page, case, world):
    client = page("alice")
    response = client.post(_new_url(case), _form_data(case))
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == _tab_url(case)
    survey = SurveyResponse.objects.get(case=case)
    assert survey.overall_score == Decimal("100.00")
    assert survey.recorded_by == world.alice
    assert survey.answers.count() == len(_questions(case))
    assert AuditEvent.objects.filter(action="survey.record", case_number=case.case_number).exists()
    follow = client.get(response["Location"])
    assert "The reintegration survey was recorded." in follow.content.decode()


def test_a_missing_answer_is_named_and_nothing_is_written(page, case):
    question = _questions(case)[3]
    client = page("alice")
    before = _counts()
    response = client.post(_new_url(case), _form_data(case, skip=[question.code]))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Nothing was saved" in html
    assert f'href="#id_q-{question.code}"' in html
    assert "Answer this question." in html
    assert _counts() == before


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("taken_on", "yesterday", "Give a date as YYYY-MM-DD."),
        ("taken_on", "2999-01-01", "The survey cannot be dated in the future."),
        ("contact", "not-a-contact", "Select a valid choice"),
    ],
)
def test_bad_input_is_refused_naming_the_field(page, case, field, value, message):
    client = page("alice")
    before = _counts()
    response = client.post(_new_url(case), _form_data(case, **{field: value}))
    assert response.status_code == 400
    html = response.content.decode()
    assert message in html
    assert f'href="#id_{field}"' in html
    assert _counts() == before


def test_a_value_not_among_the_choices_is_refused(page, case):
    question = _questions(case)[0]
    response = page("alice").post(
        _new_url(case), _form_data(case, **{f"q-{question.code}": "made-up"})
    )
    assert response.status_code == 400
    assert "Choose one of the answers given." in response.content.decode()
    assert SurveyResponse.objects.count() == 0


def test_the_survey_can_be_taken_at_a_held_contact(page, case):
    held = f.ContactFactory(case=case, outcome=ContactOutcome.MET, actual_date=timezone.localdate())
    f.ContactFactory(case=case)  # planned: not offered
    client = page("alice")
    html = client.get(_new_url(case) + f"?contact={held.uuid}").content.decode()
    assert re.search(rf'<option value="{held.uuid}" selected>', html)
    select = html.split('name="contact"')[1].split("</select>")[0]
    assert select.count("<option") == 2  # "not at a contact" and the held one
    response = client.post(_new_url(case), _form_data(case, contact=str(held.uuid)))
    assert response.status_code == 302
    assert SurveyResponse.objects.get(case=case).contact == held


def test_a_closed_case_takes_no_survey(page, make_case):
    closed = make_case(Stage.CLOSED)
    response = page("alice").post(_new_url(closed), _form_data(closed))
    assert response.status_code == 400
    assert "closed" in response.content.decode()
    assert SurveyResponse.objects.count() == 0


# --- the score over time ------------------------------------------------------------------------


def test_the_monitoring_tab_links_the_survey_and_shows_the_scores(page, case):
    _scores(case, 80, 55)
    html = page("alice").get(_tab_url(case)).content.decode()
    assert "Fill the reintegration survey" in html
    assert _new_url(case) in html
    assert 'id="chart-scores"' in html
    table = html.split('id="chart-scores-table"')[1].split("</table>")[0]
    assert "80" in table
    assert "55" in table
    for column in ("Overall", "Economic", "Social", "Psychosocial"):
        assert column in table


def test_the_monitoring_tab_without_surveys_says_so(page, case):
    html = page("alice").get(_tab_url(case)).content.decode()
    assert 'id="no-surveys"' in html
    assert 'id="chart-scores"' not in html


def test_a_closed_case_shows_its_scores_without_the_link(page, make_case):
    closed = make_case(Stage.CLOSED)
    _scores(closed, 40, 60)
    html = page("alice").get(_tab_url(closed)).content.decode()
    assert "Fill the reintegration survey" not in html
    assert 'id="chart-scores"' in html


@pytest.mark.parametrize("persona", IN_SCOPE)
def test_the_scores_page_lists_every_survey(page, case, persona):
    _scores(case, 70, 62.5, 90)
    html = page(persona).get(_scores_url(case)).content.decode()
    rows = html.split('id="survey-list"')[1].split("</table>")[0]
    assert rows.count("data-survey=") == 3
    assert "62.5" in rows
    assert "90" in rows


def test_pages_cost_the_same_queries_with_one_survey_or_ten(page, case):
    client = page("alice")

    def measure(url):
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        return len(queries)

    _scores(case, 50)
    one = (measure(_scores_url(case)), measure(_tab_url(case)))
    _scores(case, *range(10, 100, 10))
    ten = (measure(_scores_url(case)), measure(_tab_url(case)))
    assert SurveyResponse.objects.filter(case=case).count() == 10
    assert one == ten


# --- the supervisor dashboard --------------------------------------------------------------------


def test_the_dashboard_lists_cases_whose_score_fell(page, case, make_case, world):
    steady = make_case(Stage.MONITORING)
    team_b = make_case(Stage.MONITORING, team=world.team_b, caseworker=world.bob)
    _scores(case, 80, 55)
    _scores(steady, 50, 60)
    _scores(team_b, 90, 20)
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    table = html.split('id="score-drops"')[1].split("</table>")[0]
    assert case.case_number in table
    assert _scores_url(case) in table
    assert steady.case_number not in table
    assert team_b.case_number not in table  # carol does not supervise team B
    assert "80" in table
    assert "55" in table
    assert "25" in table
    html = page("mona").get(reverse("web:dashboard")).content.decode()
    table = html.split('id="score-drops"')[1].split("</table>")[0]
    assert team_b.case_number in table
    assert case.case_number in table


def test_the_dashboard_says_when_no_score_fell(page, case):
    _scores(case, 40, 60)
    html = page("carol").get(reverse("web:dashboard")).content.decode()
    assert 'id="score-drops-empty"' in html


def test_the_dashboard_costs_the_same_queries_with_one_falling_case_or_ten(page, make_case):
    client = page("carol")

    def measure():
        with CaptureQueriesContext(connection) as queries:
            assert client.get(reverse("web:dashboard")).status_code == 200
        return len(queries)

    _scores(make_case(Stage.MONITORING), 90, 40)
    one = measure()
    for _ in range(9):
        _scores(make_case(Stage.MONITORING), 90, 40)
    assert measure() == one


# --- the questions in the admin ----------------------------------------------------------------


@pytest.fixture
def admin_manager(admin_user, world):
    f.MembershipFactory(user=admin_user, role=Role.PROGRAMME_MANAGER, programme=world.north)
    return verified_client(admin_user)


def _admin_form(world, **changes):
    data = {
        "programme": world.north.pk,
        "code": "soc_water",
        "dimension": "social",
        "texts": json.dumps({"en": "Safe drinking water?", "ar": "مياه شرب آمنة؟"}),
        "choices": json.dumps(
            [
                {"value": "yes", "score": 1, "labels": {"en": "Yes", "ar": "نعم"}},
                {"value": "no", "score": 0, "labels": {"en": "No", "ar": "لا"}},
            ]
        ),
        "weight": "1",
        "order": "60",
        "is_active": "on",
    }
    data.update(changes)
    return data


def test_a_question_added_in_the_admin_is_audited(admin_manager, world):
    response = admin_manager.post(reverse("admin:cases_surveyquestion_add"), _admin_form(world))
    assert response.status_code == 302, response.content.decode()[:3000]
    question = SurveyQuestion.objects.get(code="soc_water")
    assert question.programme == world.north
    assert question.texts["ar"]
    assert AuditEvent.objects.filter(
        action="surveyquestion.create", object_id=str(question.uuid)
    ).exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "choices",
            json.dumps([{"value": "yes", "score": 1, "labels": {"en": "Yes"}}]),
            "at least two",
        ),
        (
            "choices",
            json.dumps(
                [
                    {"value": "yes", "score": 2, "labels": {"en": "Yes"}},
                    {"value": "no", "score": 0, "labels": {"en": "No"}},
                ]
            ),
            "from 0 to 1",
        ),
        ("texts", json.dumps({"ar": "سؤال"}), "English"),
    ],
)
def test_a_malformed_question_is_refused_in_the_admin(admin_manager, world, field, value, message):
    events = AuditEvent.objects.count()
    response = admin_manager.post(
        reverse("admin:cases_surveyquestion_add"), _admin_form(world, **{field: value})
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SurveyQuestion.objects.filter(code="soc_water").exists()
    assert AuditEvent.objects.count() == events


def test_a_manager_who_is_not_superuser_cannot_change_the_shared_questions(world):
    from django.contrib.auth.models import Permission

    manager = world.mona
    manager.user_permissions.set(Permission.objects.filter(codename__endswith="surveyquestion"))
    client = verified_client(manager)
    shared = SurveyQuestion.objects.filter(programme=None).first()
    assert shared is not None
    url = reverse("admin:cases_surveyquestion_change", args=[shared.pk])
    response = client.post(url, _admin_form(world, programme="", code=shared.code))
    assert response.status_code == 403
    shared.refresh_from_db()
    assert shared.code != "soc_water"
    assert shared.programme is None
