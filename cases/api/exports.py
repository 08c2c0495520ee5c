"""The case export endpoint: the case list's filters in, a streamed pseudonymous CSV out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import StreamingHttpResponse
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.generics import GenericAPIView
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from cases import selectors
from cases.filters import CaseFilterSet
from cases.models import Case
from cases.services.exports import EXPORT_COLUMNS, case_export_csv

from .schema import ErrorSerializer
from .views import NoStoreMixin, OneValueQueryMixin, staff


class AlwaysJSON(BaseContentNegotiation):
    """Whatever the Accept header asks, the export answers CSV and its errors JSON (the one
    error shape), never 406."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class CaseExportView(OneValueQueryMixin, NoStoreMixin, GenericAPIView[Case]):
    """The caller's cases as CSV, filtered like the case list."""

    filterset_class = CaseFilterSet
    # Declared so the schema lists the filters; the export service applies them itself.
    filter_backends = [DjangoFilterBackend]
    pagination_class = None
    renderer_classes = [JSONRenderer]
    content_negotiation_class = AlwaysJSON

    def get_queryset(self) -> Any:
        return selectors.case_list(user=self.request.user)

    @extend_schema(
        operation_id="cases_export_csv",
        filters=True,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description=(
                    "UTF-8 CSV with a byte-order mark, one row per case, streamed. Columns: "
                    + ", ".join(EXPORT_COLUMNS)
                    + ". No identity fields; cells starting with = + - @ are prefixed with '."
                ),
            ),
            400: OpenApiResponse(ErrorSerializer, description="A filter is not valid."),
        },
    )
    def get(self, request: Request) -> StreamingHttpResponse:
        """Export the cases you may see, with the case list's filters, as a CSV file. Names,
        dates of birth, national IDs and phone numbers are never in it; each export is
        recorded in the audit log."""
        export = case_export_csv(actor=staff(request), params=request.query_params)
        response = StreamingHttpResponse(export.chunks, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response
