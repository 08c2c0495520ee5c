"""Every API error in the project's JSON shape, never an HTML page:

    {"error": {"code": ..., "message": ..., "fields": {...}}}

A body over the size limit is 413, JSON nested too deep is 400, an unknown route under /api/ is
404, a bug is 500 with the request id and no traceback. Pages keep answering HTML. The database
going down (503) is tested against a real PostgreSQL in ``tests/reliability``.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from .error_urls import SECRET

pytestmark = pytest.mark.django_db

# A partner action that reads its body before it looks the referral up.
PARTNER_DECLINE = f"/api/v1/partner/referrals/{uuid.uuid4()}/decline/"


def _error(response, status: int, code: str) -> dict[str, Any]:
    """The error body of ``response``, after checking it is JSON in the project's shape."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str), error
    assert error["message"], error
    return error


@pytest.fixture
def staff_api(staff_token) -> APIClient:
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    return client


# --- 413: a body over the size limit -------------------------------------------------------


def test_a_json_body_over_the_size_limit_is_413_in_the_json_shape(staff_api, partners, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"intake": {"notes": "x" * 2000}})
    error = _error(
        staff_api.post("/api/v1/cases/", body, content_type="application/json"), 413, "too_large"
    )
    assert "1000 bytes" in error["message"]

    _, partner, _ = partners["x"]
    response = partner.post(
        PARTNER_DECLINE, json.dumps({"reason": "x" * 2000}), content_type="application/json"
    )
    _error(response, 413, "too_large")


def test_a_body_under_the_limit_is_still_read(staff_api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = staff_api.post("/api/v1/cases/", {"intake": {}}, format="json")
    _error(response, 400, "invalid")  # validated, not refused for its size


# --- 400: JSON nested thousands of levels deep ---------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
        '{"a":' * 50_000 + "1" + "}" * 50_000,
        '{"intake": ' + "[" * 200 + "]" * 200 + "}",  # shallow enough to parse, still too deep
    ],
    ids=["arrays-100k", "objects-50k", "arrays-200"],
)
def test_json_nested_too_deep_is_400_naming_the_problem(staff_api, partners, body):
    error = _error(
        staff_api.post("/api/v1/cases/", body, content_type="application/json"),
        400,
        "parse_error",
    )
    assert "nested" in error["message"]
    assert "levels" in error["message"]

    _, partner, _ = partners["x"]
    response = partner.post(PARTNER_DECLINE, body, content_type="application/json")
    _error(response, 400, "parse_error")


def test_ordinary_nesting_is_parsed_and_validated(staff_api):
    nested = {"intake": {"notes": [["x"]]}, "returnee": {"a": {"b": {"c": {"d": 1}}}}}
    response = staff_api.post("/api/v1/cases/", nested, format="json")
    _error(response, 400, "invalid")  # the fields are wrong; the nesting was fine


# --- 404: an unknown route under /api/ -----------------------------------------------------


@pytest.mark.parametrize(
    "path",
    ["/api", "/api/", "/api/nope/", "/api/v1/nope/", "/api/v1/partner/nope/", "/api/v2/cases/"],
)
def test_an_unknown_api_route_is_404_in_the_json_shape(staff_api, path):
    assert _error(staff_api.get(path), 404, "not_found")["message"] == "Not found."
    _error(staff_api.post(path, {"a": 1}, format="json"), 404, "not_found")
    _error(APIClient().get(path), 404, "not_found")  # anonymous too


def test_an_unknown_page_stays_an_html_page(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content


# --- 400: a request Django refuses before any view -----------------------------------------


def test_a_disallowed_host_under_the_api_is_400_in_the_json_shape(staff_api, settings):
    settings.ALLOWED_HOSTS = ["reintegration.example"]
    _error(staff_api.get("/api/v1/me/", HTTP_HOST="attacker.example"), 400, "bad_request")


# --- 500: a bug ----------------------------------------------------------------------------


def _configured_log_line(record: logging.LogRecord) -> str:
    """``record`` as the project's console handler (settings.LOGGING) writes it."""
    handler = next(h for h in logging.getLogger().handlers if type(h) is logging.StreamHandler)
    assert handler.filter(record)
    return handler.format(record)


@pytest.mark.urls("tests.api.error_urls")
@pytest.mark.parametrize("path", ["/api/v1/test-failure/", "/api/test-plain-failure/"])
def test_an_unhandled_exception_is_500_json_with_the_request_id_and_no_traceback(path, caplog):
    client = Client(raise_request_exception=False)
    response = client.get(path, HTTP_X_REQUEST_ID="req-failure-0001")
    error = _error(response, 500, "server_error")
    assert response["X-Request-ID"] == "req-failure-0001"
    assert error["request_id"] == "req-failure-0001"
    assert "req-failure-0001" in error["message"]
    assert SECRET.encode() not in response.content
    assert b"Traceback" not in response.content
    assert b"RuntimeError" not in response.content

    # The traceback is in the server's log, on a line that carries the request id.
    logged = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert logged, [r.getMessage() for r in caplog.records]
    line = _configured_log_line(logged[-1])
    assert "req-failure-0001" in line
    assert "Traceback" in line
    assert SECRET in line


@pytest.mark.urls("tests.api.error_urls")
def test_a_request_without_an_id_gets_one_in_the_500_body(caplog):
    response = Client(raise_request_exception=False).get("/api/v1/test-failure/")
    error = _error(response, 500, "server_error")
    assert len(response["X-Request-ID"]) == 32
    assert error["request_id"] == response["X-Request-ID"]


@pytest.mark.urls("tests.api.error_urls")
def test_a_page_that_fails_is_a_plain_html_500_without_a_traceback(caplog):
    response = Client(raise_request_exception=False).get(
        "/test-failure/", HTTP_X_REQUEST_ID="req-page-failure-1"
    )
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert SECRET.encode() not in response.content
    assert b"Traceback" not in response.content
    assert b"req-page-failure-1" in response.content  # a reference to quote to the helpdesk


def test_every_api_view_that_takes_json_parses_it_with_the_depth_guard():
    """A view that sets its own ``parser_classes`` must keep the guard (cases/api/parsers.py)."""
    from django.urls import URLPattern, URLResolver, get_resolver

    from cases.api.parsers import JSONParser

    def views(patterns):
        for entry in patterns:
            if isinstance(entry, URLResolver):
                yield from views(entry.url_patterns)
            elif isinstance(entry, URLPattern) and hasattr(entry.callback, "cls"):
                yield entry.callback.cls

    checked = 0
    for view in views(get_resolver().url_patterns):
        for parser in view.parser_classes:
            if "json" in parser.media_type:
                assert issubclass(parser, JSONParser), (view, parser)
                checked += 1
    assert checked > 20
