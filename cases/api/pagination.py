"""Cursor pagination on every list: stable under inserts, and page 1,000 costs what page 1
does. Cursors encode an ordering value (a timestamp), never a database id."""

from __future__ import annotations

from typing import Any

from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200
    ordering = "-created_at"

    def get_ordering(self, request: Any, queryset: Any, view: Any) -> tuple[str, ...]:
        """Each view names its own ordering (``view.ordering``)."""
        ordering = getattr(view, "ordering", None) or self.ordering
        return (ordering,) if isinstance(ordering, str) else tuple(ordering)
