"""The Content-Security-Policy header (django-csp): the project's strict policy from
``settings.CONTENT_SECURITY_POLICY`` on every response, loosened for the two API documentation
pages alone, whose third-party viewers need what the staff pages never do."""

from __future__ import annotations

from typing import Any

from csp.constants import NONCE, SELF
from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.http import HttpRequest, HttpResponseBase
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerView

# Added to the policy of the two API documentation pages only, never to a page with case data.
# Scripts stay 'self' alone there too: no 'unsafe-inline', no 'unsafe-eval'.
#
# Redoc (/api/redoc/) writes its styles into <style> elements: styled-components tags its own
# with the nonce our template hands to Redoc; perfect-scrollbar's stylesheet is written as the
# bundle loads, before Redoc knows the nonce, so exactly its text is allowed by hash (and the
# empty element it starts as). A Redoc upgrade that changes that text fails
# tests/browser/test_csp_origins.py, whose message names the new hash. Redoc draws a few icons
# as data: images, and runs its search index in a worker made from a blob: URL.
REDOC_POLICY_UPDATE: dict[str, list[Any]] = {
    "style-src": [
        NONCE,
        "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='",  # "" (the element, empty)
        "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='",  # perfect-scrollbar 1.5 CSS
    ],
    "img-src": ["data:"],
    "worker-src": [SELF, "blob:"],
}
# Swagger UI (/api/docs/): its stylesheet draws its icons as data: SVG images.
SWAGGER_POLICY_UPDATE: dict[str, list[Any]] = {"img-src": ["data:"]}


def docs_policy_update(request: HttpRequest) -> dict[str, list[Any]] | None:
    """The additions for the page the request was routed to, found by its view class rather
    than its path, so a moved URL keeps its policy; None for every other page."""
    match = getattr(request, "resolver_match", None)
    view_class = getattr(getattr(match, "func", None), "view_class", None)
    if not isinstance(view_class, type):
        return None
    if issubclass(view_class, SpectacularRedocView):
        return REDOC_POLICY_UPDATE
    if issubclass(view_class, SpectacularSwaggerView):
        return SWAGGER_POLICY_UPDATE
    return None


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp's middleware with the documentation pages' additions (django-csp's own
    extension point, ``get_policy_parts``); a view's ``csp_update`` decorator still wins."""

    def get_policy_parts(
        self,
        request: HttpRequest,
        response: HttpResponseBase,
        report_only: bool = False,
    ) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and parts.update is None:
            parts.update = docs_policy_update(request)
        return parts
