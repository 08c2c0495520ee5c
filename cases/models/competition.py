"""The group's competing pipeline, as data programme managers maintain: which of its stages
competes with which programme stage, benchmarks for each (with their sources), threat contexts
by district and the profiles the group targets."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .base import PublicIdModel
from .cases import Stage
from .organisation import Programme


class CompetingStage(models.TextChoices):
    REPENTANCE = "repentance", _("Repentance (Tawba) registration")
    SHARIA_INSTITUTE = "sharia_institute", _("Shari'a Institute processing")
    MONITORING = "post_repentance_monitoring", _("Post-repentance monitoring")


# DESIGN.md §1: each programme stage and the group's stage it competes with.
COMPETES_WITH: dict[str, CompetingStage] = {
    Stage.INTAKE: CompetingStage.REPENTANCE,
    Stage.SCREENING: CompetingStage.SHARIA_INSTITUTE,
    Stage.TRAINING: CompetingStage.SHARIA_INSTITUTE,
    Stage.MONITORING: CompetingStage.MONITORING,
}


class Benchmark(PublicIdModel):
    """What the group does at one of its stages. A row with no programme is the shipped default;
    a programme's own row (optionally for one region) wins over it. Revising closes the old row
    (``valid_to``) and opens a new one, so history stays."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, null=True, blank=True, related_name="benchmarks"
    )
    region = models.CharField(max_length=100, blank=True)
    competing_stage = models.CharField(max_length=32, choices=CompetingStage.choices)
    days_to_reach = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Days from return/defection until the stage.")
    )
    days_in_stage = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Days the stage takes.")
    )
    pillars_offered = models.JSONField(default=list, blank=True)
    contacts_per_month = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    source = models.TextField(help_text=_("Citation for the figures."))
    source_url = models.URLField(blank=True)
    is_estimate = models.BooleanField(
        default=False, help_text=_("A programme estimate the source does not give; review it.")
    )
    valid_from = models.DateField()
    valid_to = models.DateField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["competing_stage", "-valid_from"]
        constraints = [
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=models.F("valid_from")),
                name="benchmark_valid_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_competing_stage_display()} from {self.valid_from}"


class ThreatKind(models.TextChoices):
    AMNESTY_WINDOW = "amnesty_window", _("Amnesty window announced by the group")
    RECRUITER_ACTIVITY = "recruiter_activity", _("Recruiter activity")
    ANCHOR_POINT = "anchor_point", _("Strategic anchor point")
    PRISON_RECRUITMENT = "prison_recruitment", _("Prison recruitment")
    INTIMIDATION = "intimidation", _("Intimidation / executions")


class ThreatContext(PublicIdModel):
    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, null=True, blank=True, related_name="threats"
    )
    districts = models.JSONField(default=list)
    kind = models.CharField(max_length=32, choices=ThreatKind.choices)
    starts_on = models.DateField()
    ends_on = models.DateField(null=True, blank=True)
    source = models.TextField()
    notes = models.TextField(blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_on"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({', '.join(self.districts)})"

    def active_on(self, day: object) -> bool:
        return self.starts_on <= day and (self.ends_on is None or day <= self.ends_on)  # type: ignore[operator]


class TargetProfile(PublicIdModel):
    """A profile the group courts: a case matches if any listed profession or former role is
    the person's, or (when set) the person has a detention history."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, null=True, blank=True, related_name="profiles"
    )
    name = models.CharField(max_length=200)
    professions = models.JSONField(default=list, blank=True)
    former_roles = models.JSONField(default=list, blank=True)
    detention_history = models.BooleanField(default=False)
    source = models.TextField()
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
