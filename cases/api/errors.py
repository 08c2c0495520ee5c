"""One error shape for every failure, with a machine-readable code:

    {"error": {"code": "invalid", "message": "...", "fields": {"intake.return_date": ["..."]}}}

400 invalid input (naming the fields; ``parse_error`` for a body that is not JSON or nests too
deep, ``bad_request`` for a request Django refuses), 401 unauthenticated, 403 a role that may not
act, 404 out of scope, missing or no such route, 409 a forbidden stage move or state conflict,
412 a stale version, 413 a body over the size limit (``too_large``), 428 a missing If-Match,
429 throttled. Nothing a client sends should reach a 500; a bug is a 500 ``server_error``
whose body quotes the request id (``X-Request-ID``) and nothing of the exception, whose
traceback is logged under that id. 503 ``unavailable`` with ``Retry-After``: the database
cannot serve now (down, restarting, unreachable).

Raised in a DRF view, an error is shaped by :func:`exception_handler`; raised anywhere else
(a middleware, Django's URL resolver, a plain view) by Django's error handlers in
``cases.error_handlers``, which answer JSON under /api/ with the bodies built here.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from cases.middleware import request_id_of
from cases.services.errors import (
    ActionNotAllowed,
    DomainError,
    StaleVersion,
    TransitionNotAllowed,
)


class PreconditionRequired(exceptions.APIException):
    status_code = 428
    default_detail = "Send the If-Match header with the ETag you read, so no change is lost."
    default_code = "precondition_required"


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The record changed since you read it."
    default_code = "stale_version"


def _fields(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Flatten DRF's nested error detail into ``{"a.b": [messages]}``."""
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors":
                name = prefix or "__all__"
            out.update(_fields(value, name))
        return out
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "__all__": [str(item) for item in detail]}
        out = {}
        for index, item in enumerate(detail):
            out.update(_fields(item, f"{prefix}[{index}]"))
        return out
    return {prefix or "__all__": [str(detail)]}


logger = logging.getLogger(__name__)

# How long a client should wait before it tries again while the database cannot serve: about
# what a failover or a restart of PostgreSQL takes.
RETRY_AFTER_SECONDS = 30

BAD_REQUEST = "The request was refused as malformed."
UNAVAILABLE = f"The service is temporarily unavailable; try again in {RETRY_AFTER_SECONDS} seconds."


def too_large_message() -> str:
    return f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes."


def server_error_message(request_id: str) -> str:
    return f"Something went wrong on our side. Quote request id {request_id} if you report it."


def database_unavailable(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the database cannot serve now (down, restarting, unreachable, the
    connection lost), a condition to wait out (503), rather than a bug in a query (500)."""
    return isinstance(exc, (OperationalError, InterfaceError))


def error_body(
    code: str,
    message: str,
    fields: dict[str, list[str]] | None = None,
    *,
    request_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    if request_id:
        body["request_id"] = request_id
    return {"error": body}


def error_response(
    status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    return Response(error_body(code, message, fields), status=status_code)


def error_json(
    status_code: int, code: str, message: str, *, request_id: str | None = None
) -> JsonResponse:
    """The error shape outside DRF (Django's error handlers), with no DRF renderer to need."""
    return JsonResponse(error_body(code, message, request_id=request_id), status=status_code)


def log_unavailable(exc: BaseException, request: HttpRequest) -> None:
    # One line, no traceback: an outage answers every request so, and the exception's text
    # (host, port, the server's complaint) is what an operator needs.
    logger.warning(
        "Database unavailable, answered 503: %s %s (%s: %s)",
        request.method,
        request.path,
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
    )


# Complexity exception: one flat branch per kind of error, in the order DRF meets them; split
# up, the mapping from exception to status would be harder to read, not easier.
def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:  # noqa: C901
    request = context.get("request")
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, "too_large", too_large_message())
    if isinstance(exc, SuspiciousOperation):
        return error_response(400, "bad_request", BAD_REQUEST)
    if database_unavailable(exc) and request is not None:
        django_request = getattr(request, "_request", request)
        log_unavailable(exc, django_request)
        return Response(
            error_body("unavailable", UNAVAILABLE, request_id=request_id_of(django_request)),
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DjangoValidationError):
        fields = (
            {k: [str(m) for m in v] for k, v in exc.message_dict.items()}
            if hasattr(exc, "error_dict")
            else {"__all__": [str(m) for m in exc.messages]}
        )
        return error_response(400, "invalid", "Some fields are not valid.", fields)
    if isinstance(exc, StaleVersion):
        return error_response(412, exc.code, exc.message)
    if isinstance(exc, TransitionNotAllowed):
        refused = error_response(409, exc.code, exc.message)
        refused.data["error"]["reasons"] = exc.reasons
        return refused
    if isinstance(exc, ActionNotAllowed):
        return error_response(403, exc.code, exc.message)
    if isinstance(exc, DomainError):
        if exc.code == "not_found":
            return error_response(404, "not_found", "Not found.")
        return error_response(409, exc.code, exc.message)
    if isinstance(exc, Http404):
        return error_response(404, "not_found", "Not found.")

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "error": {
                "code": "invalid",
                "message": "Some fields are not valid.",
                "fields": _fields(exc.detail),
            }
        }
        return response
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else exc.default_code
        if isinstance(exc, exceptions.NotFound):
            code = "not_found"
        response.data = {"error": {"code": code, "message": str(exc.detail)}}
    return response
