"""Django's error handlers (``handler400`` ... ``handler500`` in ``reintegration/urls.py``): what
a request gets when it fails outside a DRF view's own exception handling — an unknown route, a
request Django refuses (a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a bad Host), an exception in
a middleware (reading the session from a database that is down) or a bug.

Under /api/ the answer is always the API's JSON error shape (``cases.api.errors``), never an HTML
page. Elsewhere, people get a plain page (``cases/templates/errors/``) in their language, rendered
without the request's context: no database query, nothing about the user.

A database that cannot serve (``OperationalError``, ``InterfaceError``) is a 503 with
``Retry-After``, not a 500. With ``DEBUG`` on, Django shows its debug pages for 404 and 500
instead of these handlers, as it always does in development.
"""

from __future__ import annotations

import sys

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.views import defaults

from cases import context
from cases.api.errors import (
    BAD_REQUEST,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE,
    database_unavailable,
    error_json,
    server_error_message,
    too_large_message,
)
from cases.middleware import request_id_of


def is_api(request: HttpRequest) -> bool:
    path = request.path_info
    return path == "/api" or path.startswith("/api/")


def _page(status: int, template: str, **values: str) -> HttpResponse:
    # No request: no context processor runs, so the page reads nothing from the database.
    return HttpResponse(render_to_string(template, values), status=status)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        return error_json(413, "too_large", too_large_message())
    return error_json(400, "bad_request", BAD_REQUEST)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return defaults.permission_denied(request, exception)
    return error_json(403, "permission_denied", "You may not do this.")


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not is_api(request):
        return _page(404, "errors/404.html")
    return error_json(404, "not_found", "Not found.")


def server_error(request: HttpRequest) -> HttpResponse:
    """An exception nobody handled (Django logs it with its traceback, and the log line names
    the request id): 503 if the database cannot serve, else 500. Nothing of the exception is
    shown."""
    exc = sys.exc_info()[1]
    request_id = request_id_of(request) or context.new_request_id()
    response: HttpResponse
    if database_unavailable(exc):
        if is_api(request):
            response = error_json(503, "unavailable", UNAVAILABLE, request_id=request_id)
        else:
            response = _page(503, "errors/503.html")
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    elif is_api(request):
        response = error_json(
            500, "server_error", server_error_message(request_id), request_id=request_id
        )
    else:
        response = _page(500, "errors/500.html", request_id=request_id)
    # Set here too: the failure may have happened outside RequestContextMiddleware.
    response.setdefault("X-Request-ID", request_id)
    return response
