"""Configuration and reference data: the programmes' structure (sites, teams, memberships,
partners) and the competition lens's benchmarks, threat contexts and target profiles, every
change audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from cases.models import (
    Benchmark,
    Membership,
    PartnerOrganisation,
    Programme,
    Site,
    TargetProfile,
    Team,
    ThreatContext,
)
from cases.services import monitoring

from .base import AuditedAdmin, ProgrammeReferenceAdmin, request_actor


@admin.register(Programme)
class ProgrammeAdmin(AuditedAdmin):
    list_display = ["name", "country", "region", "allow_self_approval"]
    search_fields = ["name"]


@admin.register(Site)
class SiteAdmin(AuditedAdmin):
    list_display = ["name", "programme", "governorate", "district"]
    list_filter = ["programme"]


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "site"]
    list_filter = ["site__programme"]


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "role", "team", "programme"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]


@admin.register(PartnerOrganisation)
class PartnerOrganisationAdmin(AuditedAdmin):
    list_display = ["name", "programme", "is_active"]


# --- the competition's reference data: maintained by programme managers, every change audited --


@admin.register(Benchmark)
class BenchmarkAdmin(ProgrammeReferenceAdmin):
    """Versioned: a saved benchmark's figures stay as they were (history); to revise one,
    close it with "valid to" and add the new version."""

    list_display = [
        "competing_stage",
        "programme",
        "region",
        "days_to_reach",
        "days_in_stage",
        "contacts_per_month",
        "is_estimate",
        "valid_from",
        "valid_to",
    ]
    list_filter = ["competing_stage", "programme", "is_estimate"]
    readonly_fields = ["created_by", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return list(self.readonly_fields)
        return [f.name for f in Benchmark._meta.concrete_fields if f.name not in ("id", "valid_to")]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request_actor(request)
        super().save_model(request, obj, form, change)


@admin.register(ThreatContext)
class ThreatContextAdmin(ProgrammeReferenceAdmin):
    list_display = ["kind", "programme", "starts_on", "ends_on"]
    list_filter = ["kind", "programme"]
    readonly_fields = ["entered_by", "created_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Saved here as through the API: the cases in its districts are re-planned at once
        and flagged when the change commits."""
        if not change:
            obj.entered_by = request_actor(request)
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            monitoring.threat_context_changed(threat=obj, actor=request_actor(request))


@admin.register(TargetProfile)
class TargetProfileAdmin(ProgrammeReferenceAdmin):
    list_display = ["name", "programme", "detention_history", "is_active"]
    list_filter = ["programme", "is_active"]
    search_fields = ["name"]
