"""The records each programme stage keeps: intake, screening, training, support, monitoring and
incidents."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.fields import EncryptedTextField

from .base import CaseRecord, VersionedModel
from .cases import Case, RiskLevel
from .querysets import MonitoringContactQuerySet


class ReferralSource(models.TextChoices):
    CAMP_AUTHORITY = "camp_authority", _("Camp authority")
    DETENTION_AUTHORITY = "detention_authority", _("Detention authority / court")
    SECURITY_SERVICES = "security_services", _("Security services")
    COMMUNITY_LEADER = "community_leader", _("Community or tribal leader")
    FAMILY = "family", _("Family")
    NGO = "ngo", _("NGO / UN agency")
    SELF = "self", _("Self-referral")
    OTHER = "other", _("Other")


class UrgentNeed(models.TextChoices):
    SHELTER = "shelter", _("Shelter")
    FOOD = "food", _("Food")
    MEDICAL = "medical", _("Medical")
    DOCUMENTS = "documents", _("Documents")
    SECURITY = "security", _("Security")


class IntakeRecord(CaseRecord, VersionedModel):
    case = models.OneToOneField(Case, on_delete=models.CASCADE, related_name="intake")
    return_date = models.DateField(help_text=_("Date of return or release."))
    first_contact_date = models.DateField()
    intake_date = models.DateField()
    referral_source = models.CharField(max_length=32, choices=ReferralSource.choices)
    urgent_needs = models.JSONField(default=list, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(first_contact_date__lte=models.F("intake_date")),
                name="intake_first_contact_not_after_intake",
            ),
        ]

    def clean(self) -> None:
        first, intake = self.first_contact_date, self.intake_date
        if first and intake and first > intake:
            raise ValidationError(
                {"intake_date": _("The intake cannot come before the first contact.")}
            )


class ClearanceStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CLEARED = "cleared", _("Cleared")
    NOT_CLEARED = "not_cleared", _("Not cleared")


class Need(models.TextChoices):
    LIVELIHOOD = "livelihood", _("Livelihood")
    EDUCATION = "education", _("Education")
    DOCUMENTATION = "documentation", _("Documentation")
    PSYCHOSOCIAL = "psychosocial", _("Psychosocial")
    FAMILY = "family", _("Family")


class ScreeningDecision(models.TextChoices):
    PENDING = "", _("No decision yet")
    ADMIT = "admit", _("Admit to training")
    REFER = "refer", _("Refer elsewhere")
    EXCLUDE = "exclude", _("Exclude")


class JudicialStatus(models.TextChoices):
    NO_PROCEEDINGS = "no_proceedings", _("No proceedings")
    UNDER_INVESTIGATION = "under_investigation", _("Under investigation")
    AWAITING_TRIAL = "awaiting_trial", _("Awaiting trial")
    CONVICTED = "convicted", _("Convicted")
    SERVED_SENTENCE = "served_sentence", _("Sentence served")
    AMNESTY_GRANTED = "amnesty_granted", _("Amnesty granted")
    CLEARED = "cleared", _("Cleared")


class ReleaseCondition(models.TextChoices):
    REPORTING = "reporting_obligations", _("Reporting obligations")
    TRAVEL = "travel_restrictions", _("Travel restrictions")


class Compliance(models.TextChoices):
    NOT_APPLICABLE = "not_applicable", _("Not applicable")
    COMPLIANT = "compliant", _("Compliant")
    PARTIAL = "partial", _("Partly compliant")
    NON_COMPLIANT = "non_compliant", _("Not compliant")


class ScreeningAssessment(CaseRecord, VersionedModel):
    """One screening of a case. ``security_findings`` is readable by supervisors and programme
    managers only; caseworkers see the clearance status and the decision."""

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="screenings")
    assessed_on = models.DateField()
    clearance_status = models.CharField(
        max_length=16, choices=ClearanceStatus.choices, default=ClearanceStatus.PENDING
    )
    needs = models.JSONField(default=list, blank=True)
    answers = models.JSONField(default=dict, blank=True)
    risk_level = models.CharField(max_length=8, choices=RiskLevel.choices)
    decision = models.CharField(
        max_length=16, choices=ScreeningDecision.choices, blank=True, default=""
    )
    decision_reason = models.TextField(blank=True)
    security_findings = EncryptedTextField(blank=True)
    judicial_status = models.CharField(
        max_length=32,
        choices=JudicialStatus.choices,
        default=JudicialStatus.NO_PROCEEDINGS,
    )
    release_conditions = models.JSONField(default=list, blank=True)
    compliance = models.CharField(
        max_length=16, choices=Compliance.choices, default=Compliance.NOT_APPLICABLE
    )
    assessed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-assessed_on", "-id"]
        get_latest_by = ["assessed_on", "id"]


class EnrolmentStatus(models.TextChoices):
    ENROLLED = "enrolled", _("Enrolled")
    IN_PROGRESS = "in_progress", _("In progress")
    COMPLETED = "completed", _("Completed")
    DROPPED_OUT = "dropped_out", _("Dropped out")


class TrainingEnrolment(CaseRecord, VersionedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="enrolments")
    course = models.CharField(max_length=200)
    provider = models.CharField(max_length=200)
    start_date = models.DateField()
    end_date = models.DateField(null=True, blank=True)
    attendance_percent = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(100)]
    )
    status = models.CharField(
        max_length=16, choices=EnrolmentStatus.choices, default=EnrolmentStatus.ENROLLED
    )
    certificate = models.CharField(max_length=200, blank=True)
    referral = models.ForeignKey(
        "cases.Referral",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="enrolments",
        help_text=_("Set when a partner reports this enrolment."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-start_date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(attendance_percent__isnull=True) | Q(attendance_percent__lte=100),
                name="enrolment_attendance_percent",
            ),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="enrolment_end_after_start",
            ),
        ]

    def clean(self) -> None:
        if self.start_date and self.end_date and self.end_date < self.start_date:
            raise ValidationError({"end_date": _("The course cannot end before it starts.")})


class Pillar(models.TextChoices):
    SECURITY = "security", _("Security")
    LIVELIHOOD = "livelihood", _("Livelihood")
    BASIC_SERVICES = "basic_services", _("Basic services")
    PSYCHOSOCIAL = "psychosocial", _("Psychosocial / ideological support")
    COMMUNITY = "community", _("Family and community acceptance")


class SupportProvision(CaseRecord):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="support")
    pillar = models.CharField(max_length=32, choices=Pillar.choices)
    kind = models.CharField(max_length=200)
    provided_on = models.DateField()
    amount = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True)
    notes = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty when a partner reported it (see referral)."),
    )
    referral = models.ForeignKey(
        "cases.Referral",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="support",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-provided_on", "-id"]
        indexes = [models.Index(fields=["case", "pillar"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(amount__isnull=True) | Q(amount__gte=0),
                name="support_amount_positive",
            ),
        ]


class ContactMode(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    HOME_VISIT = "home_visit", _("Home visit")
    PHONE = "phone", _("Phone")
    VIDEO = "video", _("Video call")
    OTHER = "other", _("Other")


class ContactOutcome(models.TextChoices):
    PLANNED = "planned", _("Planned")
    MET = "met", _("Met")
    MISSED = "missed", _("Missed")
    RESCHEDULED = "rescheduled", _("Rescheduled")


class MonitoringContact(CaseRecord, VersionedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="contacts")
    planned_date = models.DateField(null=True, blank=True)
    actual_date = models.DateField(null=True, blank=True)
    mode = models.CharField(max_length=16, choices=ContactMode.choices, blank=True)
    outcome = models.CharField(
        max_length=16, choices=ContactOutcome.choices, default=ContactOutcome.PLANNED
    )
    concerns = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # The records base declares the generic manager; contacts add their own conditions to it.
    objects = MonitoringContactQuerySet.as_manager()  # type: ignore[misc]

    class Meta:
        ordering = ["planned_date", "id"]
        indexes = [
            models.Index(
                fields=["planned_date"],
                condition=Q(outcome="planned"),
                name="contact_planned_due",
            ),
            models.Index(fields=["case", "planned_date"]),
            # "Overdue contacts of this case": only the planned ones, a small part of the table.
            models.Index(
                fields=["case", "planned_date"],
                condition=Q(outcome="planned"),
                name="contact_case_planned",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(planned_date__isnull=False) | Q(actual_date__isnull=False),
                name="contact_has_a_date",
            ),
            models.CheckConstraint(
                condition=~Q(outcome="met") | Q(actual_date__isnull=False),
                name="contact_met_has_actual_date",
            ),
        ]


class IncidentKind(models.TextChoices):
    THREAT = "threat_received", _("Threat received")
    RECRUITER_CONTACT = "recruiter_contact", _("Contact by recruiters")
    RELOCATION = "relocation", _("Relocation")
    ARREST = "arrest", _("Arrest")
    SUSPECTED_RE_ENGAGEMENT = "suspected_re_engagement", _("Suspected re-engagement")


class Severity(models.TextChoices):
    LOW = "low", _("Low")
    MEDIUM = "medium", _("Medium")
    HIGH = "high", _("High")
    CRITICAL = "critical", _("Critical")


class Incident(CaseRecord):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(max_length=32, choices=IncidentKind.choices)
    occurred_on = models.DateField()
    severity = models.CharField(max_length=16, choices=Severity.choices)
    description = models.TextField(blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_on", "-id"]
