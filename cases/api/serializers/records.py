"""Serializers of the records of a case: intake, consent, screening, training, support,
monitoring contacts, incidents, approvals, plans and referrals."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from cases.models import (
    Approval,
    ApprovalKind,
    ConsentRecord,
    ConsentScope,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Need,
    PartnerOrganisation,
    PlanGoal,
    Referral,
    ReintegrationPlan,
    ReleaseCondition,
    ScreeningAssessment,
    SharedField,
    SupportProvision,
    TrainingEnrolment,
    UrgentNeed,
)
from cases.services import records
from cases.services.cases import INTAKE_INPUT_FIELDS

from .base import ChoicesListField, StrictMixin, VisibleRecordField

# --- stage records ----------------------------------------------------------------------------


class IntakeSerializer(StrictMixin, serializers.ModelSerializer[IntakeRecord]):
    urgent_needs = ChoicesListField(choices=UrgentNeed.choices, required=False)

    class Meta:
        model = IntakeRecord
        fields = ["uuid", *INTAKE_INPUT_FIELDS, "version", "updated_at"]
        read_only_fields = ["uuid", "version", "updated_at"]


class ConsentSerializer(StrictMixin, serializers.ModelSerializer[ConsentRecord]):
    scope = ChoicesListField(choices=ConsentScope.choices, min_length=1)

    class Meta:
        model = ConsentRecord
        fields = ["uuid", "legal_basis", "scope", "given_at", "withdrawn_at", "notes"]
        read_only_fields = ["uuid", "withdrawn_at"]
        extra_kwargs = {"given_at": {"required": False}}


class ScreeningSerializer(StrictMixin, serializers.ModelSerializer[ScreeningAssessment]):
    """``security_findings`` is dropped from the output for caseworkers (see the view)."""

    needs = ChoicesListField(choices=Need.choices, required=False)
    release_conditions = ChoicesListField(choices=ReleaseCondition.choices, required=False)
    answers = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Question → answer, as text; questions without control characters.",
    )

    class Meta:
        model = ScreeningAssessment
        fields = ["uuid", *records.SCREENING_FIELDS, "version", "created_at"]
        read_only_fields = ["uuid", "version", "created_at"]

    def to_representation(self, instance: ScreeningAssessment) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not self.context.get("security_visible"):
            data.pop("security_findings", None)
        return data


class EnrolmentSerializer(StrictMixin, serializers.ModelSerializer[TrainingEnrolment]):
    class Meta:
        model = TrainingEnrolment
        fields = ["uuid", *records.ENROLMENT_FIELDS, "version", "created_at"]
        read_only_fields = ["uuid", "version", "created_at"]


class SupportSerializer(StrictMixin, serializers.ModelSerializer[SupportProvision]):
    """An ``amount`` needs its ``currency``."""

    amount = serializers.DecimalField(
        max_digits=12, decimal_places=2, min_value=0, required=False, allow_null=True
    )

    class Meta:
        model = SupportProvision
        fields = ["uuid", *records.SUPPORT_FIELDS]
        read_only_fields = ["uuid"]


class ContactSerializer(StrictMixin, serializers.ModelSerializer[MonitoringContact]):
    """A contact has a planned or an actual date, and one that was met its actual date; a
    change is held to the same with the dates the contact already has."""

    class Meta:
        model = MonitoringContact
        fields = ["uuid", *records.CONTACT_FIELDS, "version", "created_at"]
        read_only_fields = ["uuid", "version", "created_at"]


class IncidentSerializer(StrictMixin, serializers.ModelSerializer[Incident]):
    class Meta:
        model = Incident
        fields = ["uuid", *records.INCIDENT_FIELDS, "created_at"]
        read_only_fields = ["uuid", "created_at"]


class ApprovalSerializer(StrictMixin, serializers.ModelSerializer[Approval]):
    """What each kind needs: a ``screening_decision`` the assessment (with a decision), a
    ``reintegration_plan`` the plan (with a goal), a ``closure`` its ``outcome``."""

    screening = VisibleRecordField(ScreeningAssessment, required=False, allow_null=True)
    plan = VisibleRecordField(ReintegrationPlan, required=False, allow_null=True)
    requested_by = serializers.CharField(source="requested_by.username", read_only=True)
    decided_by = serializers.CharField(
        source="decided_by.username", read_only=True, allow_null=True, default=None
    )
    kind = serializers.ChoiceField(choices=ApprovalKind.choices)

    class Meta:
        model = Approval
        fields = [
            "uuid",
            "kind",
            "status",
            "screening",
            "plan",
            "outcome",
            "request_note",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "comment",
        ]
        read_only_fields = [
            "uuid",
            "status",
            "requested_by",
            "requested_at",
            "decided_by",
            "decided_at",
            "comment",
        ]


class DecisionInputSerializer(StrictMixin, serializers.Serializer[Any]):
    """A rejection says why: ``comment`` is required when ``approve`` is false."""

    approve = serializers.BooleanField()
    comment = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="Required to reject."
    )


class PlanGoalSerializer(StrictMixin, serializers.ModelSerializer[PlanGoal]):
    class Meta:
        model = PlanGoal
        fields = ["pillar", "goal", "planned_service", "target_date"]


class PlanSerializer(StrictMixin, serializers.ModelSerializer[ReintegrationPlan]):
    goals = PlanGoalSerializer(many=True, min_length=1)  # type: ignore[call-arg]

    class Meta:
        model = ReintegrationPlan
        fields = ["uuid", "status", "goals", "created_at", "version"]
        read_only_fields = ["uuid", "status", "created_at", "version"]


class ReferralSerializer(StrictMixin, serializers.ModelSerializer[Referral]):
    partner = serializers.SlugRelatedField(
        slug_field="uuid", queryset=PartnerOrganisation.objects.filter(is_active=True)
    )
    partner_name = serializers.CharField(source="partner.name", read_only=True)
    shared_fields = ChoicesListField(choices=SharedField.choices, required=False)

    class Meta:
        model = Referral
        fields = [
            "uuid",
            "partner",
            "partner_name",
            "service",
            "shared_fields",
            "note",
            "status",
            "decline_reason",
            "outcome",
            "created_at",
            "responded_at",
            "closed_at",
            "version",
        ]
        read_only_fields = [
            "uuid",
            "partner_name",
            "status",
            "decline_reason",
            "outcome",
            "created_at",
            "responded_at",
            "closed_at",
            "version",
        ]


class ReasonInputSerializer(StrictMixin, serializers.Serializer[Any]):
    reason = serializers.CharField()
