"""A person's case in a programme, its stage and the history of its stage moves."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .base import CaseRecord, VersionedModel
from .organisation import Programme, Team
from .people import Returnee, random_reference
from .querysets import CaseQuerySet


def new_case_number() -> str:
    return random_reference("C")


class Stage(models.TextChoices):
    INTAKE = "intake", _("Intake")
    SCREENING = "screening", _("Screening")
    TRAINING = "training", _("Vocational training")
    MONITORING = "monitoring", _("Post-release monitoring")
    CLOSED = "closed", _("Closed")


STAGE_ORDER = {stage: index for index, stage in enumerate(Stage)}


class Outcome(models.TextChoices):
    REINTEGRATED = "reintegrated", _("Reintegrated")
    TRANSFERRED = "transferred", _("Transferred")
    RE_ENGAGED = "re_engaged", _("Re-engaged")
    LOST_TO_FOLLOW_UP = "lost_to_follow_up", _("Lost to follow-up")
    CONSENT_WITHDRAWN = "consent_withdrawn", _("Consent withdrawn")
    DECEASED = "deceased", _("Deceased")


class RiskLevel(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")


class Case(VersionedModel):
    """Its primary key is the random case number, so every URL (the admin's included), log line
    and API response addresses it pseudonymously and no sequential id exists to enumerate."""

    case_number = models.CharField(
        max_length=16, primary_key=True, default=new_case_number, editable=False
    )
    returnee = models.ForeignKey(Returnee, on_delete=models.PROTECT, related_name="cases")
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="cases")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="cases")
    caseworker = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_cases",
    )
    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.INTAKE)
    stage_entered_at = models.DateTimeField()
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=32, choices=Outcome.choices, blank=True)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CaseQuerySet.as_manager()

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["returnee", "programme"],
                condition=~Q(stage="closed"),
                name="case_one_open_case_per_programme",
            ),
            models.CheckConstraint(
                condition=(Q(stage="closed") & ~Q(outcome="") & Q(closed_at__isnull=False))
                | (~Q(stage="closed") & Q(outcome="") & Q(closed_at__isnull=True)),
                name="case_closed_has_outcome",
            ),
        ]
        indexes = [
            models.Index(fields=["team", "stage"]),
            models.Index(fields=["caseworker", "stage"]),
            models.Index(fields=["programme", "stage"]),
            # The lists' order (newest first, the cursor's key), alone and within the two
            # narrowings every list request makes: a caseworker's own cases, one team's.
            models.Index(fields=["-opened_at"], name="case_opened_desc"),
            models.Index(fields=["caseworker", "-opened_at"], name="case_caseworker_opened"),
            models.Index(fields=["team", "-opened_at"], name="case_team_opened"),
        ]

    def __str__(self) -> str:
        return self.case_number


class StageTransition(CaseRecord):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="transitions")
    from_stage = models.CharField(max_length=16, choices=Stage.choices)
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    at = models.DateTimeField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.case}: {self.from_stage} → {self.to_stage}"
