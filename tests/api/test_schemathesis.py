"""The whole API against its OpenAPI document, with schemathesis and every check it has, in
process against the WSGI application, for a staff token and a partner key: requests the
document calls valid (positive) and invalid (negative), from its examples, its boundaries (the
coverage phase: every enum value, every length limit, each required field left out, a
parameter given twice, an undocumented method) and fuzzing. No 5xx; every response has a
documented status, content type, headers and body; a valid request is accepted and an invalid
one refused; a missing required header and an undocumented method are refused.

What the document cannot say, the requests are made to respect, each rule stated in the
document's text and tested on its own elsewhere:

- path parameters and references in bodies name real records of a populated case (see
  test_access_matrix.build_scenario), so the handlers behind the lookups run too;
- dates fall between 1900 and today, which the validation rules allow for any date
  (``cases/validators.py``; JSON Schema cannot compare a date with today);
- in requests valid otherwise, the rules the document gives in words are kept: rules across
  fields (a rejection says why, a closure names its outcome, an amount its currency, each
  kind of progress report its own fields), dates that follow another (an end after its start,
  a revision after the version it replaces), what the record already holds (a contact met
  needs its date) and the clock (a token expires later). ``anyOf`` could state some of them,
  but turns a request into a union of partial models in generated clients
  (tests/test_partner_quickstart.py generates one).

Every request runs in a savepoint that is rolled back, so each example starts from the same data.
"""

from __future__ import annotations

import datetime
import inspect
import re
from collections.abc import Callable
from typing import Any

import pytest
import schemathesis
import time_machine
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from django.test import override_settings
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as REGISTERED_CHECKS
from schemathesis.checks import load_all_checks, not_a_server_error
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    object_level_authorization,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
    use_after_free,
)

from cases.models import ConsentScope
from cases.selectors import survey_questions_for_programme
from cases.services.keys import staff_token_issue
from cases.validators import EARLIEST_DATE
from reintegration.wsgi import application

from .. import conftest as personas
from .. import factories as f
from ..conftest import FROZEN_NOW
from . import conftest as api_personas
from .test_access_matrix import (
    FAST_HASHERS,
    OPERATIONS,
    WRITE_METHODS,
    _body,
    _target,
    _url,
    build_scenario,
    expected_status,
)

TODAY = FROZEN_NOW.date()

# Every check schemathesis 4 has. Three of them judge sequences of requests (a resource read
# after its DELETE, one read after its POST, one identity reading another's object) and find
# nothing to judge in single requests: they run here all the same, so a stateful run or a
# second identity added to this test is judged by them at once. Object-level authorization is
# the access matrix's subject (tests/api/test_access_matrix.py: every operation, every persona,
# in and out of scope). ``max_response_time`` is not a check of the document: it is a time
# limit, and timings on a shared CI machine under xdist say nothing about the server.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
]

CONFIG = schemathesis.Config.from_dict(
    {
        # Valid and invalid requests alike.
        "generation": {"mode": "all"},
        "phases": {
            # Each parameter also given twice: the server answers 400, not the last value.
            "coverage": {"generate-duplicate-query-parameters": True},
            # Sequences of requests are not run: see the checks above.
            "stateful": {"enabled": False},
        },
        "checks": {
            # A missing If-Match is 428 Precondition Required, the status RFC 6585 made for it.
            "missing_required_header": {"expected-statuses": [400, 401, 403, 406, 415, 422, 428]},
        },
    }
)

# Dates between 1900 and today are valid for every date field of the API; the text of each
# field in the document says which may be later (planned dates, up to ten years ahead).
schemathesis.openapi.format("date", st.dates(EARLIEST_DATE, TODAY).map(datetime.date.isoformat))
schemathesis.openapi.format(
    "date-time",
    st.datetimes(
        datetime.datetime(EARLIEST_DATE.year, 1, 2),
        datetime.datetime.combine(TODAY, datetime.time()),
    ).map(lambda moment: moment.isoformat() + "Z"),
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)
fuzz_schema = schemathesis.openapi.from_dict(schema.raw_schema, config=CONFIG)
fuzz_schema.app = application  # in process, as from_wsgi does

STAFF_PERSONA = "mona"  # sees every North case, manages the outbox, approves
PARTNER_PERSONA = "partner_x"


@pytest.fixture
def keep_connection_open():
    """Django closes "old" connections when a request starts and finishes, which would close
    the test's transaction under it; its own test client disconnects the handler likewise."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture
def generous_rates(settings):
    """Throttling is tested elsewhere; here thousands of requests a minute must all land. No
    rate at all, so that they are not counted either: the counts live in the cache, which on
    Redis the other xdist workers share, whose users have the same ids."""
    rates = {"staff": None, "partner": None}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture(scope="module")
def scenario(django_db_setup, django_db_blocker):
    """Built once for the module (in each worker), at the suite's fixed instant, inside a
    transaction rolled back at its end; each test runs in a savepoint inside it (``db``), and
    each request in one more. Building two fully recorded cases per test would cost more than
    the requests."""
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(PASSWORD_HASHERS=FAST_HASHERS), time_machine.travel(FROZEN_NOW):
            world = inspect.unwrap(personas.world)(db=None)
            partners = inspect.unwrap(api_personas.partners)(world)
            built = build_scenario(world, partners)
            # Whether a referral may share identity fields depends on consent on file: with
            # it, every field the document lists may be shared.
            f.ConsentFactory(
                returnee=built.in_scope.case.returnee,
                recorded_by=world.alice,
                scope=[ConsentScope.SHARE_IDENTITY_WITH_PARTNERS],
            )
            staff = staff_token_issue(actor=getattr(world, STAFF_PERSONA), name="schemathesis")
        built.headers = {
            "staff": {"Authorization": f"Bearer {staff.plaintext}"},
            "partner": {"Authorization": f"Bearer {partners['x'][2]}"},
        }
        yield built
        transaction.set_rollback(True)


@pytest.fixture
def callers(scenario, db, keep_connection_open, generous_rates):
    return scenario


def _side(path: str) -> str:
    return "partner" if path.startswith("/api/v1/partner/") else "staff"


def _persona(path: str) -> str:
    return PARTNER_PERSONA if _side(path) == "partner" else STAFF_PERSONA


def _real_parameters(scenario, path: str) -> tuple[dict[str, str], Any]:
    """Path parameters naming real in-scope records, and the record the path addresses."""
    target = _target(scenario, path, "in_scope", _persona(path))
    real = _url(scenario, path, "in_scope", target).strip("/").split("/")
    template = path.strip("/").split("/")
    parameters = {
        name[1:-1]: value for name, value in zip(template, real, strict=True) if name[0] == "{"
    }
    return parameters, target


# --- what the document states in words: references, order of dates, stored state, the clock --

Body = dict[str, Any]
Repair = Callable[[Body, Any, Any], None]
ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _is_date(value: Any) -> bool:
    return isinstance(value, str) and bool(ISO_DATE.match(value))


def _refer(body: Body, name: str, real: str) -> None:
    """A well-formed reference (a uuid, a username) becomes one to a real record, which a
    random one never is; a malformed one is left for the server to refuse."""
    value = body.get(name)
    well_formed = UUID.match(real) and isinstance(value, str) and UUID.match(value)
    username = not UUID.match(real) and isinstance(value, str) and value.strip()
    if (well_formed or username) and not (isinstance(value, str) and CONTROL.search(value)):
        body[name] = real


def _references(scenario: Any) -> dict[tuple[str, str], dict[str, str]]:
    """The body fields that name records, per operation, and the real record for each."""
    inside = scenario.in_scope
    programme = {"programme": str(inside.programme.uuid)}
    return {
        ("POST", "/api/v1/cases/"): {
            "team": str(scenario.world.team_a.uuid),
            "caseworker": scenario.world.alice.username,
        },
        ("POST", "/api/v1/cases/{case_number}/assign/"): {
            "caseworker": scenario.world.alice.username
        },
        ("POST", "/api/v1/cases/{case_number}/approvals/"): {
            "screening": str(inside.records["screenings"].uuid),
            "plan": str(inside.records["plans"].uuid),
        },
        ("POST", "/api/v1/cases/{case_number}/referrals/"): {
            "partner": str(scenario.partner_x.uuid)
        },
        ("POST", "/api/v1/competition/benchmarks/"): programme,
        ("POST", "/api/v1/competition/profiles/"): programme,
        ("POST", "/api/v1/competition/threats/"): programme,
    }


def _in_order(body: Body, first: str | None, then: str, *, floor: str | None = None) -> None:
    """``then`` no earlier than ``first`` in the body, else than ``floor`` (the stored date it
    must follow)."""
    earliest = body[first] if first and _is_date(body.get(first)) else floor
    if earliest and _is_date(body.get(then)) and body[then] < earliest:
        body[then] = earliest


def _new_case(body: Body, scenario: Any, target: Any) -> None:
    if isinstance(body.get("intake"), dict):
        _in_order(body["intake"], "first_contact_date", "intake_date")


def _intake_change(body: Body, scenario: Any, target: Any) -> None:
    first, intake = (getattr(target, n).isoformat() for n in ("first_contact_date", "intake_date"))
    if _is_date(body.get("first_contact_date")) and not _is_date(body.get("intake_date")):
        body["first_contact_date"] = min(body["first_contact_date"], intake)
    _in_order(body, "first_contact_date", "intake_date", floor=first)


def _contact_change(body: Body, scenario: Any, target: Any) -> None:
    # The contact on file is planned, without an actual date: one that was met, or that loses
    # its planned date, needs the actual date in the same change.
    held = body.get("outcome") == "met"
    undated = "planned_date" in body and body["planned_date"] is None
    if (held or undated) and body.get("actual_date") is None:
        body["actual_date"] = TODAY.isoformat()


def _enrolment_change(body: Body, scenario: Any, target: Any) -> None:
    _in_order(body, "start_date", "end_date", floor=target.start_date.isoformat())


def _screening(body: Body, scenario: Any, target: Any) -> None:
    # Questions are text without control characters; JSON Schema 3.0 has no words for keys.
    if isinstance(body.get("answers"), dict):
        body["answers"] = {CONTROL.sub("", key): value for key, value in body["answers"].items()}


def _survey(body: Body, scenario: Any, target: Any) -> None:
    # Every active question of the programme, with one of its choices; the contact (if any)
    # must be a held one of the case without a survey: none here.
    if isinstance(body.get("answers"), dict):
        questions = survey_questions_for_programme(programme_id=scenario.in_scope.case.programme_id)
        body["answers"] = {question.code: question.choices[0]["value"] for question in questions}
    if isinstance(body.get("contact"), str):
        body["contact"] = None


def _after_stored(field: str, stored: str) -> Repair:
    def repair(body: Body, scenario: Any, target: Any) -> None:
        day = getattr(target, stored)
        if _is_date(body.get(field)) and body[field] <= day.isoformat():
            body[field] = (day + datetime.timedelta(days=1)).isoformat()

    return repair


def _token(body: Body, scenario: Any, target: Any) -> None:
    if isinstance(body.get("expires_at"), str):
        body["expires_at"] = (FROZEN_NOW + datetime.timedelta(days=30)).isoformat()


def _filled(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _give(body: Body, name: str, value: Any, *, unless: Callable[[Any], bool] = _filled) -> None:
    if not unless(body.get(name)):
        body[name] = value


def _decision(body: Body, scenario: Any, target: Any) -> None:
    if body.get("approve") is False:
        _give(body, "comment", "Not yet: the plan has no livelihood goal.")


def _approval(body: Body, scenario: Any, target: Any) -> None:
    inside = scenario.in_scope.records
    kind = body.get("kind")
    if kind == "screening_decision":
        _give(body, "screening", str(inside["screenings"].uuid))
    elif kind == "reintegration_plan":
        _give(body, "plan", str(inside["plans"].uuid))
    elif kind == "closure":
        _give(body, "outcome", "reintegrated")


def _new_contact(body: Body, scenario: Any, target: Any) -> None:
    if body.get("planned_date") is None and body.get("actual_date") is None:
        body["planned_date"] = TODAY.isoformat()
    if body.get("outcome") == "met" and body.get("actual_date") is None:
        body["actual_date"] = TODAY.isoformat()


def _support(body: Body, scenario: Any, target: Any) -> None:
    if body.get("amount") is not None:
        _give(body, "currency", "IQD")


def _progress(body: Body, scenario: Any, target: Any) -> None:
    kind = body.get("kind")
    if kind == "attendance":
        _give(body, "attendance_percent", 80, unless=lambda value: isinstance(value, int))
    elif kind == "completion":
        _give(body, "completed", True, unless=lambda value: isinstance(value, bool))
        _give(body, "end_date", TODAY.isoformat(), unless=_is_date)
    elif kind == "certificate":
        _give(body, "certificate", "CERT-1")
    elif kind == "job_placement":
        _give(body, "employer", "Mosul Bakery")
        _give(body, "start_date", TODAY.isoformat(), unless=_is_date)
        if "monthly_income" in body:
            _give(body, "currency", "IQD")
    # The referral has no enrolment yet: the one reported on starts on start_date or today.
    _in_order(body, "start_date", "end_date", floor=TODAY.isoformat())


RULES: dict[tuple[str, str], Repair] = {
    ("POST", "/api/v1/cases/"): _new_case,
    ("PATCH", "/api/v1/cases/{case_number}/intake/"): _intake_change,
    ("POST", "/api/v1/cases/{case_number}/enrolments/"): lambda body, scenario, target: _in_order(
        body, "start_date", "end_date"
    ),
    ("PATCH", "/api/v1/cases/{case_number}/enrolments/{uuid}/"): _enrolment_change,
    ("PATCH", "/api/v1/cases/{case_number}/contacts/{uuid}/"): _contact_change,
    ("POST", "/api/v1/cases/{case_number}/screenings/"): _screening,
    ("PATCH", "/api/v1/cases/{case_number}/screenings/{uuid}/"): _screening,
    ("POST", "/api/v1/cases/{case_number}/surveys/"): _survey,
    ("POST", "/api/v1/tokens/"): _token,
    ("POST", "/api/v1/competition/threats/"): lambda body, scenario, target: _in_order(
        body, "starts_on", "ends_on"
    ),
    ("POST", "/api/v1/competition/benchmarks/{uuid}/revise/"): _after_stored(
        "valid_from", "valid_from"
    ),
    ("POST", "/api/v1/competition/threats/{uuid}/end/"): lambda body, scenario, target: _in_order(
        body, None, "ends_on", floor=target.starts_on.isoformat()
    ),
    ("POST", "/api/v1/cases/{case_number}/approvals/"): _approval,
    ("POST", "/api/v1/cases/{case_number}/approvals/{uuid}/decision/"): _decision,
    ("POST", "/api/v1/cases/{case_number}/contacts/"): _new_contact,
    ("POST", "/api/v1/cases/{case_number}/support/"): _support,
    ("POST", "/api/v1/partner/referrals/{uuid}/progress/"): _progress,
}


def _prepare(case, scenario) -> None:
    path = case.operation.path
    meta = case.meta
    positive = meta is None or meta.generation.mode.is_positive
    target = None
    # A path parameter generated invalid stays so (the server must answer 404); a valid one
    # becomes a real record's, which a random value never is.
    if case.path_parameters and not (meta and meta.is_negative_at(ParameterLocation.PATH)):
        case.path_parameters, target = _real_parameters(scenario, path)
        if case.headers and "If-Match" in case.headers:
            # A random version is only ever a 412 (test_records covers it): read the real one.
            target.refresh_from_db()
            case.headers["If-Match"] = f'"{target.version}"'
    if not isinstance(case.body, dict) or (target is None and "{" in path):
        return
    for name, real in _references(scenario).get((case.method, path), {}).items():
        _refer(case.body, name, real)
    # The rules in words only for requests that are valid otherwise: an invalid one must be
    # refused whatever else it holds.
    rule = RULES.get((case.method, path))
    if positive and rule is not None:
        rule(case.body, scenario, target)


def _call(case, headers: dict[str, str]):
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    return response


def test_every_check_schemathesis_has_is_run():
    """A schemathesis upgrade that adds a check fails here until the check is considered."""
    load_all_checks()
    assert {check.__name__ for check in CHECKS} == set(REGISTERED_CHECKS.get_all_names())


@fuzz_schema.parametrize()
@settings(
    max_examples=6,
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_documented_responses(case, callers):
    _prepare(case, callers)
    headers = callers.headers[_side(case.operation.path)]
    response = _call(case, headers)
    # The headers are passed on so that ``ignored_auth`` knows the credentials are the test's
    # own, and checks that the operation refuses the request without them or with wrong ones.
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op[1]} {op[0]}")
def test_valid_request_gets_the_documented_success_response(callers, operation):
    path, method = operation
    parameters, target = _real_parameters(callers, path)
    kwargs: dict[str, Any] = {"path_parameters": parameters}
    if method in WRITE_METHODS:
        body = _body(callers, path, method, "in_scope")
        if body is not None:
            kwargs.update(body=body, media_type="application/json")
    if method == "PATCH":
        target.refresh_from_db()
        kwargs["headers"] = {"If-Match": f'"{target.version}"'}
    case = schema.make_case(operation=schema[path][method], **kwargs)

    headers = callers.headers[_side(path)]
    response = _call(case, headers)

    assert response.status_code == expected_status(path, method, _persona(path), "in_scope"), (
        response.text[:300]
    )
    case.validate_response(response, checks=CHECKS, headers=headers)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_date_of_birth_that_is_not_a_date_is_a_400_naming_it(callers, method):
    """Found by the generated requests (PATCH with ``"date_of_birth": "6"``)."""
    if method == "POST":
        path, field = "/api/v1/cases/", "returnee.date_of_birth"
        body = _body(callers, path, method, "in_scope")
        assert body is not None
        body = {**body, "returnee": {**body["returnee"], "date_of_birth": "6"}}
        kwargs: dict[str, Any] = {}
    else:
        path, field = "/api/v1/cases/{case_number}/", "date_of_birth"
        body = {"date_of_birth": "6"}
        kwargs = {
            "path_parameters": {"case_number": callers.in_scope.case.case_number},
            "headers": {"If-Match": f'"{callers.in_scope.case.version}"'},
        }
    operation = schema[path][method]
    case = schema.make_case(operation=operation, body=body, media_type="application/json", **kwargs)

    response = _call(case, callers.headers["staff"])

    assert response.status_code == 400, response.text[:300]
    assert field in response.json()["error"]["fields"]


# --- what the generated requests found, each on its own ----------------------------------------


def _client(callers, side: str = "staff"):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=callers.headers[side]["Authorization"])
    return client


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": 5}, "name"),  # DRF would store "5"
        ({"name": "ok", "expires_at": 1798761600}, "expires_at"),
        ({"name": "tab\x0bulation"}, "name"),  # a control character the document refuses
    ],
)
def test_a_value_the_document_refuses_is_a_400_naming_it(callers, body, field):
    response = _client(callers).post("/api/v1/tokens/", body, format="json")

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["error"]["fields"]) == [field]


def test_a_yes_or_no_that_is_neither_is_a_400(callers):
    case = callers.in_scope.case
    approval = callers.in_scope.records["approvals"]
    url = f"/api/v1/cases/{case.case_number}/approvals/{approval.uuid}/decision/"

    response = _client(callers).post(url, {"approve": "yes"}, format="json")

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["error"]["fields"]) == ["approve"]


@pytest.mark.parametrize(
    "query",
    ["overdue=maybe", "page_size=0", "page_size=201", "page_size=ten", "district=a&district=b"],
)
def test_a_query_the_document_refuses_is_a_400(callers, query):
    response = _client(callers).get(f"/api/v1/cases/?{query}")

    assert response.status_code == 400, response.content[:300]
    assert list(response.json()["error"]["fields"]) == [query.split("=")[0]]


def test_a_parameter_sent_empty_is_not_sent_and_a_list_filter_may_repeat(callers):
    query = "team=&overdue=&page_size=&stage=screening&stage=intake"

    response = _client(callers).get(f"/api/v1/cases/?{query}")

    assert response.status_code == 200, response.content[:300]
    numbers = [row["case_number"] for row in response.json()["results"]]
    assert callers.in_scope.case.case_number in numbers


def test_every_request_body_refuses_what_it_does_not_list_and_errors_are_json():
    """The document says what StrictMixin and the error handler do, for every operation."""
    components = schema.raw_schema["components"]["schemas"]
    for path, item in schema.raw_schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            json_body = content.get("application/json", {}).get("schema", {})
            if "$ref" in json_body:
                name = json_body["$ref"].rsplit("/", 1)[-1]
                assert components[name]["additionalProperties"] is False, (method, path)
            for code, response in operation["responses"].items():
                if code[0] in "45":
                    assert list(response["content"]) == ["application/json"], (method, path, code)
            assert {"400", "401", "404", "406", "429", "500", "503"} <= set(operation["responses"])
