"""Cursor pagination on every list: stable under inserts, and page 1,000 costs what page 1
does. Cursors encode an ordering value (a timestamp), never a database id."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    ordering = "-created_at"

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        """Each view names its own ordering (``view.ordering``)."""
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)

    def get_page_size(self, request: Any) -> int:
        """``?page_size=`` from 1 to ``max_page_size``, as the document says; anything else is
        a 400 naming it (DRF would quietly use the default or the maximum instead). Sent
        empty, it is not sent."""
        raw = request.query_params.get(self.page_size_query_param, "")
        if raw == "":
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"Give a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
                parameter["description"] = (
                    f"Results per page, from 1 to {self.max_page_size} (default {self.page_size})."
                )
        return parameters
