"""Per-request context for the audit log, and the absolute cap on a session's lifetime."""

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


class RequestContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        self._enforce_absolute_lifetime(request)
        with context.bound(request_id=request_id, ip=client_ip(request)):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response

    @staticmethod
    def _enforce_absolute_lifetime(request: HttpRequest) -> None:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return
        now = time.time()
        started = request.session.setdefault(_SESSION_STARTED, now)
        if now - float(started) > settings.SESSION_ABSOLUTE_LIFETIME_SECONDS:
            logout(request)
