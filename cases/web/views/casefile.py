"""Pages: casefile. Placeholder routes until the pages are built; the URL names are the
contract the page frame links to."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path


def _placeholder(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("Not built yet.", status=501)


urlpatterns: list[URLPattern] = [
    path("<str:case_number>/", _placeholder, name="case-detail"),
]
