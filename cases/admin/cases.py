"""Case data in the admin: read-only, and only what the selectors let the user see. Changes go
through the services (the API and the pages)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest

from cases import selectors
from cases.models import AuditEvent, Case

from .base import ReadOnlyAdmin


@admin.register(Case)
class CaseAdmin(ReadOnlyAdmin):
    """Cases as the selectors scope them; changes go through the services (API and pages)."""

    list_display = [
        "case_number",
        "stage",
        "risk_level",
        "team",
        "caseworker",
        "opened_at",
    ]
    list_filter = ["stage", "risk_level"]
    search_fields = ["case_number"]
    fields = [
        "case_number",
        "programme",
        "team",
        "caseworker",
        "stage",
        "stage_entered_at",
        "opened_at",
        "closed_at",
        "outcome",
        "risk_level",
        "version",
    ]
    list_select_related = ["team", "caseworker"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Case]:
        return selectors.case_list(user=request.user)

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Case:
        # The admin would redirect with "does not exist"; out of scope must look like missing.
        case: Case | None = super().get_object(request, object_id, from_field)
        if case is None:
            raise Http404("No such case.")
        return case

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor_label", "action", "object_type", "object_id", "ip"]
    list_filter = ["action", "object_type"]
    search_fields = ["object_id", "case_number", "actor_label", "request_id"]
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        return selectors.audit_event_list(user=request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and selectors.is_auditor(user=request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self.has_view_permission(request)
