"""The whole API against its OpenAPI document, with schemathesis, in process against the WSGI
application: for every operation, generated requests from an authenticated caller never get a
5xx, and every response has a documented status, content type, headers and body; and a valid
request gets the documented success response.

Path parameters are real: each request addresses the records of a populated case (see
test_access_matrix.build_scenario), so the handlers behind the lookups run too. Every request
runs in a savepoint that is rolled back, so each example starts from the same data.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from cases.services.keys import staff_token_issue
from reintegration.wsgi import application

from .test_access_matrix import (
    OPERATIONS,
    WRITE_METHODS,
    _body,
    _target,
    _url,
    build_scenario,
    expected_status,
)

# The examples and fuzzing phases only: the coverage phase's boundary cases multiply the
# requests per operation many times over, past this suite's time budget.
CONFIG = schemathesis.Config.from_dict(
    {"phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application, config=CONFIG)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
STAFF_PERSONA = "mona"  # sees every North case, manages the outbox, approves
PARTNER_PERSONA = "partner_x"

fuzz_schema = schemathesis.openapi.from_dict(schema.raw_schema, config=CONFIG)
fuzz_schema.app = application  # in process, as from_wsgi does


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
    """Throttling is tested elsewhere; here a few hundred requests a minute must all land."""
    rates = {"staff": "100000/min", "partner": "100000/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


@pytest.fixture
def callers(world, partners, keep_connection_open, generous_rates):
    scenario = build_scenario(world, partners)
    with transaction.atomic():
        staff = staff_token_issue(actor=getattr(world, STAFF_PERSONA), name="schemathesis")
    scenario.headers = {
        "staff": {"Authorization": f"Bearer {staff.plaintext}"},
        "partner": {"Authorization": f"Bearer {partners['x'][2]}"},
    }
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


def _call(case, headers: dict[str, str]):
    with transaction.atomic():
        response = case.call(headers=headers)
        transaction.set_rollback(True)
    return response


@fuzz_schema.parametrize()
@settings(
    max_examples=6,
    phases=[Phase.explicit, Phase.generate],
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_generated_requests_get_documented_responses_and_never_a_5xx(case, callers):
    path = case.operation.path
    if case.path_parameters:
        case.path_parameters, target = _real_parameters(callers, path)
        if case.headers and "If-Match" in case.headers:
            # A random version is only ever a 412 (test_records covers it): read the real one.
            target.refresh_from_db()
            case.headers["If-Match"] = f'"{target.version}"'
    response = _call(case, callers.headers[_side(path)])
    case.validate_response(response, checks=CHECKS)


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

    response = _call(case, callers.headers[_side(path)])

    assert response.status_code == expected_status(path, method, _persona(path), "in_scope"), (
        response.text[:300]
    )
    case.validate_response(response, checks=CHECKS)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_date_of_birth_that_is_not_a_date_is_a_400_naming_it(callers, method):
    """Found by the generated requests (PATCH with ``"date_of_birth": "6"``)."""
    if method == "POST":
        path, field = "/api/v1/cases/", "returnee.date_of_birth"
        body = _body(callers, path, method, "in_scope")
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
