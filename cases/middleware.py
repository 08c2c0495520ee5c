"""Per-request context for the audit log and the logs (request id, client address), and the
absolute cap on a session's lifetime."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from . import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9\-]{8,64}$")
_SESSION_STARTED = "session_started_at"


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. Behind ``TRUSTED_PROXY_COUNT`` proxies it is the entry that the
    outermost trusted proxy appended to X-Forwarded-For; entries to its left are whatever the
    client sent and are never trusted."""
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [p.strip() for p in request.headers.get("X-Forwarded-For", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= proxies:
            return str(forwarded[-proxies])
    return request.META.get("REMOTE_ADDR") or None


def request_id_of(request: HttpRequest) -> str:
    """The id of ``request`` (``RequestContextMiddleware``), or ``""`` before it has one."""
    return str(getattr(request, "request_id", "") or context.current().request_id)


class RequestContextMiddleware:
    """The request's id (the client's ``X-Request-ID`` if well formed, else a new one) and
    address, bound for the audit log and the logs while the request is served, and sent back
    as ``X-Request-ID``. Near the top of MIDDLEWARE: whatever fails below it is logged and
    answered (``cases.error_handlers``) under that id."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        # On the request too: Django logs a failure with the request, and an error handler
        # may run where the context is no longer bound.
        request.request_id = request_id  # type: ignore[attr-defined]
        with context.bound(request_id=request_id, ip=client_ip(request)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class SessionLifetimeMiddleware:
    """Logs a signed-in user out once their session is older than
    ``SESSION_ABSOLUTE_LIFETIME_SECONDS``, however active it is (after AuthenticationMiddleware)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self._enforce_absolute_lifetime(request)
        return self.get_response(request)

    @staticmethod
    def _enforce_absolute_lifetime(request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        now = time.time()
        started = request.session.setdefault(_SESSION_STARTED, now)
        if now - float(started) > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
            logout(request)
