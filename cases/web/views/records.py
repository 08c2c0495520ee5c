"""Pages: records. Placeholder routes until the pages are built; the URL names are the
contract the case file links to."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path


def _placeholder(request: HttpRequest, **kwargs: object) -> HttpResponse:
    return HttpResponse("Not built yet.", status=501)


urlpatterns: list[URLPattern] = [
    path("<str:case_number>/records/<slug:kind>/new/", _placeholder, name="record-new"),
    path(
        "<str:case_number>/records/<slug:kind>/<uuid:uuid>/edit/",
        _placeholder,
        name="record-edit",
    ),
]
