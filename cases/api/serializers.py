"""Staff API serializers. Output serializers are read-only; input serializers list exactly the
fields a client may send for that action, so a body cannot set the caseworker, team, stage,
risk or version (mass assignment). The services validate again and do the writing."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth import get_user_model
from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases import validators
from cases.models import (
    IDENTITY_FIELDS,
    AccessKey,
    Approval,
    ApprovalKind,
    Case,
    ConsentRecord,
    ConsentScope,
    DeliveryAttempt,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Need,
    OutboxEvent,
    Outcome,
    PartnerOrganisation,
    PlanGoal,
    Referral,
    ReintegrationPlan,
    ReleaseCondition,
    Returnee,
    RiskLevel,
    ScreeningAssessment,
    SharedField,
    Stage,
    StageTransition,
    SupportProvision,
    TrainingEnrolment,
    UrgentNeed,
)
from cases.services import records
from cases.services.cases import INTAKE_INPUT_FIELDS, RETURNEE_PROFILE_FIELDS

from . import inputs


class StrictMixin:
    # Refuse fields the action does not accept, rather than silently dropping them: a client
    # that sends ``stage`` or ``caseworker`` in a body learns it cannot set them there.
    # (A comment, not a docstring: a docstring would describe every schema component.)

    # Each value is then checked as the OpenAPI document states it (cases/api/inputs.py):
    # its JSON type, text without control characters and within its length, canonical uuids
    # and dates, before DRF's lenient conversions could accept what the document refuses.

    def get_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            inputs.harden(field)
        return fields

    def build_standard_field(
        self, field_name: str, model_field: Any
    ) -> tuple[type, dict[str, Any]]:
        # Free text the model does not limit gets the length the services allow it.
        field_class, kwargs = super().build_standard_field(field_name, model_field)  # type: ignore[misc]
        limit = validators.max_length_of(model_field)
        if limit is not None and issubclass(field_class, serializers.CharField):
            kwargs.setdefault("max_length", limit)
        # A date's range depends on today, which JSON Schema cannot say: the text does.
        kind = validators.date_kind_of(model_field)
        if kind is not None:
            latest = (
                "not after today"
                if kind is validators.DateKind.HAPPENED
                else f"at most {validators.PLANNING_HORIZON_YEARS} years ahead"
            )
            rule = f"From {validators.EARLIEST_DATE.isoformat()}, {latest}."
            kwargs["help_text"] = " ".join(filter(None, [str(kwargs.get("help_text", "")), rule]))
        return field_class, kwargs

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            writable = {name for name, field in fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field cannot be set here."] for name in unknown}
                )
            refused = {
                name: errors
                for name, value in data.items()
                if (errors := inputs.input_errors(fields[name], value))
            }
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)  # type: ignore[misc]


class ChoicesListField(serializers.ListField):
    """A list of choices, documented as an array of the enum; an unknown value is refused
    naming the field, in the words the services use for every way in."""

    def __init__(self, *, choices: Any, **kwargs: Any) -> None:
        super().__init__(child=serializers.ChoiceField(choices=choices), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, list):
            allowed = set(self.child.choices)  # type: ignore[attr-defined]
            unknown = [item for item in data if item not in allowed]
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown value(s) {unknown!r}; choose from {sorted(allowed)}."
                )
        return super().to_internal_value(data)


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(slug_field="username", **kwargs)


# --- cases ------------------------------------------------------------------------------------


class PersonSerializer(StrictMixin, serializers.ModelSerializer[Returnee]):
    """The non-identifying profile; identity fields never appear here."""

    class Meta:
        model = Returnee
        fields = ["person_number", *RETURNEE_PROFILE_FIELDS]
        read_only_fields = fields


class CaseSerializer(StrictMixin, serializers.ModelSerializer[Case]):
    team = serializers.UUIDField(source="team.uuid", read_only=True)
    team_name = serializers.CharField(source="team.name", read_only=True)
    programme = serializers.UUIDField(source="programme.uuid", read_only=True)
    caseworker = serializers.CharField(
        source="caseworker.username", read_only=True, allow_null=True, default=None
    )
    person = PersonSerializer(source="returnee", read_only=True)
    overdue_contacts = serializers.IntegerField(read_only=True)
    # Blank until screening sets a risk level / until the case closes.
    risk_level = serializers.ChoiceField(
        choices=RiskLevel.choices, allow_blank=True, read_only=True
    )
    outcome = serializers.ChoiceField(choices=Outcome.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Case
        fields = [
            "case_number",
            "stage",
            "stage_entered_at",
            "opened_at",
            "closed_at",
            "outcome",
            "risk_level",
            "version",
            "team",
            "team_name",
            "programme",
            "caseworker",
            "person",
            "overdue_contacts",
        ]
        read_only_fields = fields


class MoveOptionSerializer(StrictMixin, serializers.Serializer[Any]):
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    allowed = serializers.BooleanField()
    refusals = serializers.ListField(child=serializers.CharField())


class CaseDetailSerializer(CaseSerializer):
    moves = serializers.SerializerMethodField()

    class Meta(CaseSerializer.Meta):
        fields = [*CaseSerializer.Meta.fields, "moves"]
        read_only_fields = fields

    @extend_schema_field(MoveOptionSerializer(many=True))
    def get_moves(self, case: Case) -> list[dict[str, Any]]:
        from cases.services.workflow import move_options

        return [
            {"to_stage": stage, "allowed": not refusals, "refusals": refusals}
            for stage, refusals in move_options(case).items()
        ]


class ReturneeInputSerializer(StrictMixin, serializers.ModelSerializer[Returnee]):
    """The person: identity fields are write-only, never echoed back."""

    date_of_birth = serializers.DateField(required=False, allow_null=True, write_only=True)

    class Meta:
        model = Returnee
        fields = [*IDENTITY_FIELDS, *RETURNEE_PROFILE_FIELDS]
        extra_kwargs = {name: {"write_only": True} for name in IDENTITY_FIELDS}


class IntakeInputSerializer(StrictMixin, serializers.ModelSerializer[IntakeRecord]):
    urgent_needs = ChoicesListField(choices=UrgentNeed.choices, required=False)

    class Meta:
        model = IntakeRecord
        fields = list(INTAKE_INPUT_FIELDS)


class ConsentInputSerializer(StrictMixin, serializers.ModelSerializer[ConsentRecord]):
    scope = ChoicesListField(choices=ConsentScope.choices, min_length=1)

    class Meta:
        model = ConsentRecord
        fields = ["legal_basis", "scope", "given_at", "notes"]
        extra_kwargs = {"given_at": {"required": False}}


class CaseCreateSerializer(StrictMixin, serializers.Serializer[Any]):
    # A plain uuid: the view resolves it within the caller's teams, so a team that exists
    # elsewhere and one that does not answer the same "Unknown team.".
    team = serializers.UUIDField()
    caseworker = UsernameField(required=False, allow_null=True)
    returnee = ReturneeInputSerializer()
    intake = IntakeInputSerializer()
    consent = ConsentInputSerializer(required=False)


class CaseUpdateSerializer(ReturneeInputSerializer):
    """PATCH a case: the person's profile and (write-only) identity corrections."""


class TransitionInputSerializer(StrictMixin, serializers.Serializer[Any]):
    to_stage = serializers.ChoiceField(choices=Stage.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")
    outcome = serializers.ChoiceField(
        choices=Outcome.choices,
        required=False,
        allow_blank=True,
        default="",
        help_text="For a move to closed: the approved closure's outcome (it is used if left out).",
    )


class TransitionSerializer(StrictMixin, serializers.ModelSerializer[StageTransition]):
    by = serializers.CharField(source="by.username", read_only=True)

    class Meta:
        model = StageTransition
        fields = ["uuid", "from_stage", "to_stage", "at", "by", "reason"]
        read_only_fields = fields


class RevealInputSerializer(StrictMixin, serializers.Serializer[Any]):
    reason = serializers.CharField(min_length=5)


class IdentitySerializer(StrictMixin, serializers.Serializer[Any]):
    given_name = serializers.CharField()
    family_name = serializers.CharField()
    aliases = serializers.CharField()
    date_of_birth = serializers.DateField(allow_null=True)
    national_id = serializers.CharField()
    phone = serializers.CharField()
    address = serializers.CharField()


class LookupInputSerializer(StrictMixin, serializers.Serializer[Any]):
    """Exactly one of the two."""

    # Each must keep something after normalisation (cases/crypto.py): a national ID more than
    # spaces, dashes, dots and slashes; a phone number at least one digit.
    national_id = serializers.CharField(
        required=False,
        max_length=inputs.DEFAULT_MAX_LENGTH,
        validators=[
            RegexValidator(
                f"^[^{inputs.CONTROL}]*[^{inputs.CONTROL}{inputs.SPACE}\\-./][^{inputs.CONTROL}]*$"
            )
        ],
    )
    phone = serializers.CharField(
        required=False,
        max_length=inputs.DEFAULT_MAX_LENGTH,
        validators=[RegexValidator(f"^[^{inputs.CONTROL}]*[0-9][^{inputs.CONTROL}]*$")],
    )
    openapi_rules: ClassVar[dict[str, Any]] = {"minProperties": 1, "maxProperties": 1}

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if len(attrs) != 1:
            raise serializers.ValidationError(
                {"national_id": ["Give exactly one of national_id or phone."]}
            )
        return attrs


class LookupResultSerializer(StrictMixin, serializers.Serializer[Any]):
    results = CaseSerializer(many=True)


class AssignInputSerializer(StrictMixin, serializers.Serializer[Any]):
    caseworker = UsernameField()


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

    screening = serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=ScreeningAssessment.objects.all(),
        required=False,
        allow_null=True,
    )
    plan = serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=ReintegrationPlan.objects.all(),
        required=False,
        allow_null=True,
    )
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


class OutboxEventSerializer(StrictMixin, serializers.ModelSerializer[OutboxEvent]):
    partner = serializers.CharField(
        source="partner.name", read_only=True, allow_null=True, help_text="Webhooks only."
    )
    case_number = serializers.CharField(
        source="notification.case_id",
        read_only=True,
        allow_null=True,
        help_text="Emails only: the case the notification is about.",
    )
    recipient = serializers.CharField(
        source="notification.recipient.username",
        read_only=True,
        allow_null=True,
        help_text="Emails only: the member of staff it is for.",
    )

    class Meta:
        model = OutboxEvent
        fields = [
            "uuid",
            "channel",
            "topic",
            "partner",
            "case_number",
            "recipient",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "delivered_at",
            "last_error",
        ]
        read_only_fields = fields


class DeliveryAttemptSerializer(serializers.ModelSerializer[DeliveryAttempt]):
    """One attempt to deliver an outbox event: when it started and ended, how it came out,
    the receiver's HTTP status or a short error, and the worker that made it. Never a body."""

    class Meta:
        model = DeliveryAttempt
        fields = [
            "number",
            "started_at",
            "finished_at",
            "outcome",
            "status_code",
            "error",
            "worker",
            "duration_ms",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "outcome": {
                "help_text": "`started`: no outcome yet (being sent now). `abandoned`: the lease "
                "ran out with no outcome because the worker died mid-send; the receiver may have "
                "got it, and the next attempt sends it again with the same idempotency key."
            },
            "finished_at": {"help_text": "For an abandoned attempt: when its lease ran out."},
            "duration_ms": {"help_text": "How long the send took; none if it never finished."},
        }


class OutboxEventDetailSerializer(OutboxEventSerializer):
    delivery_attempts = DeliveryAttemptSerializer(
        source="deliveries",
        many=True,
        read_only=True,
        help_text="Every attempt to deliver the event, oldest first, replays included.",
    )

    class Meta(OutboxEventSerializer.Meta):
        fields = [*OutboxEventSerializer.Meta.fields, "delivery_attempts"]
        read_only_fields = fields


class TokenSerializer(StrictMixin, serializers.ModelSerializer[AccessKey]):
    class Meta:
        model = AccessKey
        fields = ["uuid", "name", "lookup", "created_at", "expires_at", "revoked_at"]
        read_only_fields = ["uuid", "lookup", "created_at", "revoked_at"]


class IssuedTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]
        read_only_fields = [*TokenSerializer.Meta.read_only_fields, "token"]
