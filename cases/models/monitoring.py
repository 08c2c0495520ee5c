"""Post-release monitoring: the contact cadence per programme and risk level, notifications
to staff, case flags, the reintegration survey and the dead letters of background work."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from .base import CaseRecord, PublicIdModel
from .cases import Case, RiskLevel
from .competition import ThreatContext
from .organisation import Programme
from .querysets import RecipientQuerySet
from .records import MonitoringContact


class MonitoringCadence(models.Model):
    """How often a person at one risk level is contacted, and for how long, in one programme;
    tighter while a threat context is active in the person's district."""

    programme = models.ForeignKey(Programme, on_delete=models.CASCADE, related_name="cadences")
    risk_level = models.CharField(max_length=16, choices=RiskLevel.choices)
    interval_days = models.PositiveSmallIntegerField(help_text=_("Days between contacts."))
    threat_interval_days = models.PositiveSmallIntegerField(
        help_text=_("Days between contacts while a threat context is active in the district.")
    )
    duration_months = models.PositiveSmallIntegerField(
        default=12, help_text=_("How long after entering monitoring contacts are planned.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["programme", "risk_level"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "risk_level"], name="cadence_one_per_risk_level"
            ),
            models.CheckConstraint(
                condition=Q(interval_days__gte=1)
                & Q(threat_interval_days__gte=1)
                & Q(threat_interval_days__lte=F("interval_days")),
                name="cadence_intervals_valid",
            ),
            models.CheckConstraint(
                condition=Q(duration_months__gte=1), name="cadence_duration_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.programme} · {self.get_risk_level_display()}"


# Defaults for a programme without its own cadence rows: days between contacts, days while a
# threat context is active, months of monitoring.
DEFAULT_CADENCE = {
    RiskLevel.HIGH: (7, 3, 12),
    RiskLevel.MEDIUM: (14, 7, 12),
    RiskLevel.LOW: (30, 14, 12),
}


class NotificationKind(models.TextChoices):
    CONTACT_MISSED = "contact_missed", _("Monitoring contact missed")
    CONTACT_ESCALATED = "contact_escalated", _("Missed contact escalated")
    THREAT_CONTEXT = "threat_context", _("Threat context in the district")
    INCIDENT_RECORDED = "incident_recorded", _("Incident recorded")
    SCORE_FELL = "score_fell", _("Reintegration score fell")
    TASK_FAILED = "task_failed", _("Background task failed")


class Notification(PublicIdModel):
    """One message to one member of staff. ``key`` makes each notification happen once: a
    job that runs twice finds the key taken and notifies nobody twice."""

    key = models.CharField(max_length=200, unique=True)
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    case = models.ForeignKey(
        Case, on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    contact = models.ForeignKey(
        MonitoringContact,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="notifications",
    )
    threat = models.ForeignKey(
        ThreatContext, on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # Figures for the message (days overdue, score before and after): never personal data.
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    objects = RecipientQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(
                fields=["recipient", "created_at"],
                condition=Q(read_at__isnull=True),
                name="notification_unread",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.recipient_id}"


class CaseFlagKind(models.TextChoices):
    THREAT_CONTEXT = "threat_context", _("Threat context in the district")


class CaseFlag(CaseRecord):
    """A mark on a case that needs attention, raised by a job (e.g. a threat context starting
    in the person's district) and cleared when the cause ends."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="flags")
    kind = models.CharField(max_length=32, choices=CaseFlagKind.choices)
    threat = models.ForeignKey(
        ThreatContext, on_delete=models.CASCADE, null=True, blank=True, related_name="flags"
    )
    raised_at = models.DateTimeField(auto_now_add=True)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "threat"], name="flag_once_per_threat"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} · {self.case_id}"


class SurveyDimension(models.TextChoices):
    ECONOMIC = "economic", _("Economic")
    SOCIAL = "social", _("Social")
    # Its own context: the support pillar of the same English name reads differently in Arabic.
    PSYCHOSOCIAL = "psychosocial", pgettext_lazy("survey dimension", "Psychosocial")


class SurveyQuestion(PublicIdModel):
    """One question of the reintegration survey, kept as data (modelled on IOM's
    Reintegration Sustainability Survey). ``choices`` is a list of
    ``{"value": str, "score": 0..1, "labels": {"en": str, "ar": str, ...}}``;
    ``texts`` maps a language code to the question's wording."""

    programme = models.ForeignKey(
        Programme,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="survey_questions",
        help_text=_("Empty: asked in every programme."),
    )
    code = models.SlugField(max_length=64)
    dimension = models.CharField(max_length=16, choices=SurveyDimension.choices)
    texts = models.JSONField(default=dict)
    choices = models.JSONField(default=list)
    weight = models.DecimalField(max_digits=4, decimal_places=2, default=1)
    order = models.PositiveSmallIntegerField(default=0)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["dimension", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "code"], name="survey_question_code_unique"
            ),
            models.UniqueConstraint(
                fields=["code"],
                condition=Q(programme__isnull=True),
                name="survey_question_code_unique_shared",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class SurveyResponse(CaseRecord):
    """One filled survey, taken at a monitoring contact; scores are 0 to 100 per dimension and
    overall, computed by the survey service when it is recorded."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="surveys")
    contact = models.OneToOneField(
        MonitoringContact,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="survey",
    )
    taken_on = models.DateField()
    economic_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    social_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    psychosocial_score = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    overall_score = models.DecimalField(max_digits=5, decimal_places=2)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["taken_on", "id"]
        indexes = [models.Index(fields=["case", "taken_on"], name="survey_case_taken_on")]

    def __str__(self) -> str:
        return f"{self.case_id} {self.taken_on}"


class SurveyAnswer(models.Model):
    response = models.ForeignKey(SurveyResponse, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(SurveyQuestion, on_delete=models.PROTECT, related_name="+")
    value = models.CharField(max_length=64)
    score = models.DecimalField(max_digits=4, decimal_places=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="survey_answer_once"),
        ]

    def __str__(self) -> str:
        return f"{self.question_id}={self.value}"


class FailedTask(PublicIdModel):
    """The dead letter of a background task that failed after its last retry: which task, on
    which ids (tasks carry ids only), the error. Staff see these and can retry them."""

    task_name = models.CharField(max_length=200)
    task_id = models.CharField(max_length=200, unique=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    error = models.TextField()
    retries = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(auto_now_add=True)
    retried_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-failed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id}"
