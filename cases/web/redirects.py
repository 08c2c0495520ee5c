"""Where a page may send the browser next: the one check for a ``next`` parameter.

A ``next`` that points to another site would turn the login, the team switch or a form's return
into an open redirect, so every page that honours ``next`` asks here.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.http import HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme


def is_safe_next(request: HttpRequest, target: str) -> bool:
    """Whether ``target`` stays on this site (same host, and HTTPS when the request was)."""
    return bool(target) and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def safe_next(
    request: HttpRequest, fallback: str, *, sources: Iterable[str] = ("POST", "GET")
) -> str:
    """The request's ``next`` (looked up in ``sources``, in order) when it is safe, else
    ``fallback``."""
    for source in sources:
        target = getattr(request, source).get("next") or ""
        if target:
            return target if is_safe_next(request, target) else fallback
    return fallback
