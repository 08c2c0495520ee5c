"""Staff case endpoints: scope, the error shape, versions, no identity fields, no mass
assignment."""

import datetime

import pytest
from rest_framework.test import APIClient

from cases.models import IDENTITY_FIELDS, AuditEvent, Case, Stage

from ..services.test_case_open import CONSENT, INTAKE, PERSON


def _json(data):
    return {k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in data.items()}


CREATE_BODY = {
    "returnee": _json(PERSON),
    "intake": _json(INTAKE),
    "consent": CONSENT,
}


@pytest.fixture
def cases(world, make_case):
    return {
        "a": make_case(Stage.SCREENING, team=world.team_a),
        "b": make_case(Stage.SCREENING, team=world.team_b, caseworker=world.bob),
    }


def _assert_no_identity(payload):
    text = str(payload)
    for name in IDENTITY_FIELDS:
        assert f"'{name}'" not in text
    for value in ("Omar", "al-Obeidi", "Hay al-Zahra"):
        assert value not in text


def test_list_is_scoped_paginated_and_carries_no_identity(api, world, cases):
    response = api("bob").get("/api/v1/cases/")
    assert response.status_code == 200
    assert [c["case_number"] for c in response.data["results"]] == [cases["b"].case_number]
    assert {"next", "previous", "results"} <= set(response.data)
    assert response["Cache-Control"] == "no-store"
    _assert_no_identity(response.data)


def test_detail_in_scope_has_etag_and_moves_out_of_scope_is_404(api, world, cases):
    ok = api("alice").get(f"/api/v1/cases/{cases['a'].case_number}/")
    assert ok.status_code == 200
    assert ok["ETag"] == '"1"'
    assert {m["to_stage"] for m in ok.data["moves"]} == {"training", "closed", "intake"}
    _assert_no_identity(ok.data)
    missing = api("alice").get(f"/api/v1/cases/{cases['b'].case_number}/")
    assert missing.status_code == 404
    assert missing.data == {"error": {"code": "not_found", "message": "Not found."}}


def test_anonymous_gets_401_and_partner_key_is_not_a_staff_credential(api, world, cases, partners):
    assert api().get("/api/v1/cases/").status_code == 401
    _partner, partner_client, _key = partners["x"]
    assert partner_client.get("/api/v1/cases/").status_code == 401


def test_staff_token_acts_as_its_user_and_is_refused_on_partner_endpoints(
    world, cases, staff_token
):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    response = client.get("/api/v1/cases/")
    assert [c["case_number"] for c in response.data["results"]] == [cases["a"].case_number]
    assert client.get("/api/v1/partner/referrals/").status_code == 401


def test_create_with_intake_returns_the_case_without_identity(api, world):
    body = {**CREATE_BODY, "team": str(world.team_a.uuid)}
    response = api("alice").post("/api/v1/cases/", body, format="json")
    assert response.status_code == 201, response.data
    assert response.data["stage"] == "intake"
    assert response.data["caseworker"] == "alice"
    _assert_no_identity({k: v for k, v in response.data.items() if k != "person"})
    assert "given_name" not in response.data["person"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"intake": {**CREATE_BODY["intake"], "referral_source": "rumour"}},
            "intake.referral_source",
        ),
        ({"returnee": {**CREATE_BODY["returnee"], "sex": "robot"}}, "returnee.sex"),
        ({"team": "not-a-uuid"}, "team"),
        ({"stage": "monitoring"}, "stage"),
        ({"intake": {**CREATE_BODY["intake"], "urgent_needs": ["jetpack"]}}, "intake.urgent_needs"),
    ],
)
def test_create_with_bad_input_names_the_field_and_writes_nothing(api, world, change, field):
    body = {**CREATE_BODY, "team": str(world.team_a.uuid), **change}
    response = api("alice").post("/api/v1/cases/", body, format="json")
    assert response.status_code == 400
    assert response.data["error"]["code"] == "invalid"
    assert field in response.data["error"]["fields"]
    assert Case.objects.count() == 0


def test_patch_needs_if_match_refuses_a_stale_one_and_cannot_set_the_stage(api, world, cases):
    url = f"/api/v1/cases/{cases['a'].case_number}/"
    client = api("alice")
    assert client.patch(url, {"household_size": 5}, format="json").status_code == 428
    ok = client.patch(url, {"household_size": 5}, format="json", HTTP_IF_MATCH='"1"')
    assert ok.status_code == 200
    assert ok["ETag"] == '"2"'
    assert ok.data["person"]["household_size"] == 5
    stale = client.patch(url, {"household_size": 6}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert stale.data["error"]["code"] == "stale_version"
    sneaky = client.patch(
        url, {"stage": "closed", "caseworker": "bob"}, format="json", HTTP_IF_MATCH='"2"'
    )
    assert sneaky.status_code == 400
    assert set(sneaky.data["error"]["fields"]) == {"stage", "caseworker"}
    case = Case.objects.get(pk=cases["a"].pk)
    assert (case.stage, case.caseworker, case.version) == (Stage.SCREENING, world.alice, 2)


def test_forbidden_move_is_409_with_reasons(api, world, cases):
    url = f"/api/v1/cases/{cases['a'].case_number}/transitions/"
    response = api("alice").post(url, {"to_stage": "training"}, format="json")
    assert response.status_code == 409
    assert response.data["error"]["code"] == "transition_not_allowed"
    assert response.data["error"]["reasons"]
    response = api("alice").post(url, {"to_stage": "graduated"}, format="json")
    assert response.status_code == 400
    assert "to_stage" in response.data["error"]["fields"]


def test_allowed_move_is_201_and_listed_in_the_history(api, world, cases):
    url = f"/api/v1/cases/{cases['a'].case_number}/transitions/"
    response = api("alice").post(
        url, {"to_stage": "intake", "reason": "Missing documents"}, format="json"
    )
    assert response.status_code == 201
    assert response["ETag"] == '"2"'
    history = api("alice").get(url)
    assert [(t["from_stage"], t["to_stage"]) for t in history.data] == [("screening", "intake")]


def test_reveal_needs_a_reason_and_is_audited(api, world, cases):
    url = f"/api/v1/cases/{cases['a'].case_number}/identity/reveal/"
    assert api("alice").post(url, {}, format="json").status_code == 400
    response = api("alice").post(url, {"reason": "Home visit tomorrow"}, format="json")
    assert response.status_code == 200
    assert response.data["given_name"] == "Omar"
    assert response["Cache-Control"] == "no-store"
    assert AuditEvent.objects.filter(action="identity.reveal", actor=world.alice).count() == 1
    assert api("bob").post(url, {"reason": "curious"}, format="json").status_code == 404


def test_lookup_by_national_id_is_a_scoped_audited_post(api, world, cases):
    national_id = cases["a"].returnee.national_id
    response = api("alice").post("/api/v1/cases/lookup/", {"national_id": national_id})
    assert [c["case_number"] for c in response.data["results"]] == [cases["a"].case_number]
    assert api("bob").post("/api/v1/cases/lookup/", {"national_id": national_id}).data == {
        "results": []
    }
    assert AuditEvent.objects.filter(action="identity.search").count() == 2
    assert api("alice").get("/api/v1/cases/lookup/").status_code == 405


def test_filters_by_stage_and_case_number_prefix(api, world, make_case, cases):
    monitoring = make_case(Stage.MONITORING, team=world.team_a)
    client = api("mona")
    by_stage = client.get("/api/v1/cases/", {"stage": "monitoring"})
    assert [c["case_number"] for c in by_stage.data["results"]] == [monitoring.case_number]
    prefix = monitoring.case_number[:6]
    by_number = client.get("/api/v1/cases/", {"case_number": prefix.lower()})
    assert monitoring.case_number in [c["case_number"] for c in by_number.data["results"]]
    bad = client.get("/api/v1/cases/", {"stage": "heaven"})
    assert bad.status_code == 400
    assert "stage" in bad.data["error"]["fields"]


def test_schema_is_served_and_docs_use_local_assets(api, world):
    schema = api().get("/api/schema/")
    assert schema.status_code == 200
    docs = api().get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower()
    assert "/static/drf_spectacular_sidecar/" in docs


def test_another_teams_uuid_and_a_made_up_one_answer_alike(api, world):
    import uuid

    answers = []
    for team_id in (world.team_x.uuid, uuid.uuid4()):
        body = {**CREATE_BODY, "team": str(team_id)}
        response = api("alice").post("/api/v1/cases/", body, format="json")
        answers.append((response.status_code, response.data))
    assert answers[0] == answers[1]
    assert answers[0][1]["error"]["fields"] == {"team": ["Unknown team."]}


def test_team_and_caseworker_filters_narrow_the_list_and_an_unknown_one_finds_nothing(
    api, world, make_case
):
    mine = make_case(Stage.TRAINING, team=world.team_a, caseworker=world.alice)
    other = make_case(Stage.TRAINING, team=world.team_b, caseworker=world.bob)
    client = api("mona")

    def numbers(params):
        response = client.get("/api/v1/cases/", params)
        assert response.status_code == 200
        return {c["case_number"] for c in response.data["results"]}

    assert numbers({"team": str(world.team_a.uuid)}) == {mine.case_number}
    assert numbers({"caseworker": "bob"}) == {other.case_number}
    assert numbers({"caseworker": "nobody"}) == set()
    assert numbers({"team": str(world.team_x.uuid)}) == set()  # exists, not in mona's scope


@pytest.mark.parametrize("offset", ["+20:00", "-23:30", "+03:00"])
def test_a_date_time_filter_with_any_valid_offset_is_compared_in_utc(api, world, make_case, offset):
    """PostgreSQL refuses offsets beyond ±15:59; the filter converts to UTC before asking."""
    case = make_case(Stage.INTAKE, team=world.team_a)
    opened = case.opened_at.astimezone(datetime.UTC)
    shift = datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:]))
    shift = shift if offset[0] == "+" else -shift
    before = (opened - datetime.timedelta(minutes=1)).astimezone(datetime.timezone(shift))
    after = (opened + datetime.timedelta(minutes=1)).astimezone(datetime.timezone(shift))
    client = api("mona")
    found = client.get("/api/v1/cases/", {"opened_after": before.isoformat()})
    assert found.status_code == 200
    assert case.case_number in [c["case_number"] for c in found.data["results"]]
    later = client.get("/api/v1/cases/", {"opened_after": after.isoformat()})
    assert later.status_code == 200
    assert case.case_number not in [c["case_number"] for c in later.data["results"]]


# --- bad input that must not slip through (issue #12, point 7) ---------------------------------

FROZEN_NOW = datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("section", "name", "value", "message"),
    [
        ("returnee", "given_name", "Maryam\x00", "Null characters are not allowed."),
        (
            "returnee",
            "family_name",
            "al-\x07Hamdani",
            "Control characters are not allowed: U+0007.",
        ),
        (
            "returnee",
            "given_name",
            "M" * 100_000,
            "Ensure this value has at most 200 characters (it has 100000).",
        ),
        ("intake", "notes", "Arrived\x1b", "Control characters are not allowed: U+001B."),
        (
            "intake",
            "return_date",
            "2099-01-01",
            "The date cannot be later than today (2026-11-20).",
        ),
        ("returnee", "date_of_birth", "1066-10-14", "The date cannot be earlier than 1900-01-01."),
    ],
)
def test_create_refuses_control_characters_overlong_text_and_impossible_dates(
    api, world, time_machine, section, name, value, message
):
    """The JSON API refuses what the CSV import and the pages refuse, with the same message,
    naming ``section.field``; nothing is written."""
    time_machine.move_to(FROZEN_NOW, tick=False)
    body = {**CREATE_BODY, "team": str(world.team_a.uuid)}
    body[section] = {**body[section], name: value}
    client = api("alice")
    before = (Case.objects.count(), AuditEvent.objects.count())
    response = client.post("/api/v1/cases/", body, format="json")
    assert response.status_code == 400, response.data
    assert response.data["error"]["code"] == "invalid"
    assert response.data["error"]["fields"] == {f"{section}.{name}": [message]}
    assert (Case.objects.count(), AuditEvent.objects.count()) == before


def test_patching_the_person_refuses_what_create_refuses(api, world, cases, time_machine):
    time_machine.move_to(FROZEN_NOW, tick=False)
    case = cases["a"]
    url = f"/api/v1/cases/{case.case_number}/"
    client = api("alice")
    events = AuditEvent.objects.count()
    for change, message in (
        ({"given_name": "Omar\x07"}, "Control characters are not allowed: U+0007."),
        ({"address": "a" * 5000}, "Ensure this value has at most 500 characters (it has 5000)."),
        ({"date_of_birth": "2099-01-01"}, "The date cannot be later than today (2026-11-20)."),
    ):
        response = client.patch(url, change, format="json", HTTP_IF_MATCH=f'"{case.version}"')
        assert response.status_code == 400, response.data
        assert response.data["error"]["fields"] == {name: [message] for name in change}
    case.refresh_from_db()
    assert (case.version, AuditEvent.objects.count()) == (1, events)
