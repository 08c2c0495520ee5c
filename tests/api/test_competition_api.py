"""The competition lens over the API: a case's findings, a caseload's summary (JSON and CSV),
scoped by the selectors, with a query count independent of the caseload's size."""

import csv
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cases.models import Stage

from .. import factories as f
from ..conftest import case_at

SUMMARY = "/api/v1/competition/summary/"


def _url(case):
    return f"/api/v1/cases/{case.case_number}/competition/"


def test_caseworker_in_scope_gets_the_findings_and_score(api, make_case):
    case = make_case(Stage.INTAKE)  # intake 11 days after return: slower than repentance
    response = api("alice").get(_url(case))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["case_number"] == case.case_number
    assert body["attention_score"] > 0
    speed = [x for x in body["findings"] if x["code"] == "speed.intake"]
    assert speed
    assert speed[0]["dimension"] == "speed"
    assert speed[0]["competing_stage"] == "repentance"
    assert speed[0]["evidence"]["days"] == 11
    assert set(speed[0]) == {
        "dimension",
        "stage",
        "competing_stage",
        "severity",
        "code",
        "sentence",
        "evidence",
    }
    assert response["Cache-Control"] == "no-store"


@pytest.mark.parametrize("persona", ["bob", "audrey"])
def test_caseworker_of_other_team_and_auditor_get_404_for_a_case(api, make_case, persona):
    case = make_case(Stage.INTAKE)
    response = api(persona).get(_url(case))
    assert response.status_code == 404


def test_a_teams_summary_shows_only_its_own_cases(api, world, make_case):
    mine = make_case(Stage.INTAKE)
    theirs = case_at(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    body = api("bob").get(SUMMARY).json()
    intake = next(s for s in body["stages"] if s["stage"] == "intake")
    assert body["cases"] == 1
    assert intake["cases"] == 1
    numbers = [c["case_number"] for c in intake["top_cases"]]
    assert numbers == [theirs.case_number]
    assert mine.case_number not in str(body)


def test_a_manager_filters_by_team_and_stage(api, world, make_case):
    make_case(Stage.INTAKE)
    make_case(Stage.MONITORING)
    case_at(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    client = api("mona")
    assert client.get(SUMMARY).json()["cases"] == 3
    assert client.get(SUMMARY, {"team": str(world.team_a.uuid)}).json()["cases"] == 2
    body = client.get(SUMMARY, {"team": str(world.team_a.uuid), "stage": "intake"}).json()
    assert body["cases"] == 1
    assert [s["stage"] for s in body["stages"]] == ["intake"]
    assert client.get(SUMMARY, {"programme": str(world.south.uuid)}).json()["cases"] == 0


def test_an_auditor_sees_an_empty_summary(api, make_case):
    make_case(Stage.INTAKE)
    body = api("audrey").get(SUMMARY).json()
    assert body["cases"] == 0
    assert all(not s["top_cases"] for s in body["stages"])


def test_a_bad_filter_is_a_400_naming_the_field(api):
    response = api("mona").get(SUMMARY, {"team": "not-a-uuid"})
    assert response.status_code == 400
    assert "team" in response.json()["error"]["fields"]


def test_anonymous_gets_401_in_json_even_when_asking_for_csv(api):
    response = api().get(SUMMARY, {"format": "csv"})
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("how", ["query", "accept"])
def test_csv_has_the_header_one_row_per_stage_and_no_identity(api, make_case, how):
    case = make_case(Stage.INTAKE)
    person = case.returnee
    person.given_name, person.family_name = "Zubaida", "Qaraghuli"
    person.national_id, person.phone = "1987-1104-5521", "+9647705550101"
    person.save()
    client = api("alice")
    if how == "query":
        response = client.get(SUMMARY, {"format": "csv"})
    else:
        response = client.get(SUMMARY, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/csv")
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["stage", "competing_stage", "cases"]
    assert "missing_livelihood" in rows[0]
    assert "top_cases" in rows[0]
    assert [r[0] for r in rows[1:]] == ["intake", "screening", "training", "monitoring"]
    assert case.case_number in rows[1][rows[0].index("top_cases")]
    for value in ("Zubaida", "Qaraghuli", "1987-1104-5521", "+9647705550101"):
        assert value not in text


def test_summary_query_count_does_not_grow_with_the_caseload(api, world):
    client = api("carol")

    def make(n):
        for i in range(n):
            stage = (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)[i % 4]
            case = case_at(stage, team=world.team_a, caseworker=world.alice)
            f.ContactFactory(case=case, recorded_by=world.alice)

    make(4)
    client.get(SUMMARY)  # warm-up (session, throttle)
    with CaptureQueriesContext(connection) as small:
        assert client.get(SUMMARY).json()["cases"] == 4
    make(16)
    with CaptureQueriesContext(connection) as large:
        assert client.get(SUMMARY).json()["cases"] == 20
    assert len(small.captured_queries) == len(large.captured_queries)
