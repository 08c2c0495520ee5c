"""Monitoring cadences, per programme and risk level, maintained by the programme's managers.
Saving and deleting go through the cadence services, which audit the change and re-plan the
programme's cases in the same transaction."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from cases.models import MonitoringCadence
from cases.services.cadences import cadence_save, cadences_delete

from .base import ProgrammeReferenceAdmin, request_actor


@admin.register(MonitoringCadence)
class MonitoringCadenceAdmin(ProgrammeReferenceAdmin):
    """How often each risk level is contacted, and for how long, in one programme; a
    programme without a row for a risk level uses the shipped default."""

    list_display = [
        "programme",
        "risk_level",
        "interval_days",
        "threat_interval_days",
        "duration_months",
        "updated_at",
    ]
    list_filter = ["programme", "risk_level"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        cadence_save(
            actor=request_actor(request), cadence=obj, changed_fields=list(form.changed_data)
        )

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        cadences_delete(actor=request_actor(request), cadences=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        cadences_delete(actor=request_actor(request), cadences=queryset)
