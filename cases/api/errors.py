"""One error shape for every failure, with a machine-readable code:

    {"error": {"code": "invalid", "message": "...", "fields": {"intake.return_date": ["..."]}}}

400 invalid input (naming the fields), 401 unauthenticated, 403 a role that may not act,
404 out of scope or missing, 409 a forbidden stage move or state conflict, 412 a stale
version, 428 a missing If-Match, 429 throttled. Nothing a client sends should reach a 500.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

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


def error_response(
    status_code: int, code: str, message: str, fields: dict[str, list[str]] | None = None
) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return Response({"error": body}, status=status_code)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
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
