"""Decisions that need a second pair of eyes: screening decisions, reintegration plans and
closures, and the reintegration plan itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .base import CaseRecord, PublicIdModel, VersionedModel
from .cases import Case, Outcome
from .records import Pillar, ScreeningAssessment


class ApprovalKind(models.TextChoices):
    SCREENING_DECISION = "screening_decision", _("Screening decision")
    REINTEGRATION_PLAN = "reintegration_plan", _("Reintegration plan")
    CLOSURE = "closure", _("Closure")


class ApprovalStatus(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")


class PlanStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    SUBMITTED = "submitted", _("Submitted for approval")
    APPROVED = "approved", _("Approved")


class ReintegrationPlan(CaseRecord, VersionedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="plans")
    status = models.CharField(max_length=16, choices=PlanStatus.choices, default=PlanStatus.DRAFT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class PlanGoal(PublicIdModel):
    plan = models.ForeignKey(ReintegrationPlan, on_delete=models.CASCADE, related_name="goals")
    pillar = models.CharField(max_length=32, choices=Pillar.choices)
    goal = models.CharField(max_length=300)
    planned_service = models.CharField(max_length=300, blank=True)
    target_date = models.DateField(null=True, blank=True)

    class Meta:
        ordering = ["target_date", "id"]


class Approval(CaseRecord):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="approvals")
    kind = models.CharField(max_length=32, choices=ApprovalKind.choices)
    status = models.CharField(
        max_length=16, choices=ApprovalStatus.choices, default=ApprovalStatus.REQUESTED
    )
    screening = models.ForeignKey(
        ScreeningAssessment,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="approvals",
    )
    plan = models.ForeignKey(
        ReintegrationPlan,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="approvals",
    )
    outcome = models.CharField(
        max_length=32,
        choices=Outcome.choices,
        blank=True,
        help_text=_("For a closure: the outcome the case will be closed with."),
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField()
    request_note = models.TextField(blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    used_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When a stage move consumed this approval.")
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [models.Index(fields=["case", "kind", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(kind="screening_decision", screening__isnull=False, plan=None)
                    | Q(kind="reintegration_plan", plan__isnull=False, screening=None)
                    | (Q(kind="closure", screening=None, plan=None) & ~Q(outcome=""))
                ),
                name="approval_subject_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["case", "kind"],
                condition=Q(status="requested"),
                name="approval_one_open_request_per_kind",
            ),
        ]
