"""Serializers of the staff API's cases: the list and detail, opening a case, correcting the
person, stage moves, the audited identity reveal and lookup, and assignment."""

from __future__ import annotations

from typing import Any, ClassVar

from django.core.validators import RegexValidator
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from cases.models import (
    IDENTITY_FIELDS,
    Case,
    ConsentRecord,
    ConsentScope,
    IntakeRecord,
    Outcome,
    Returnee,
    RiskLevel,
    Stage,
    StageTransition,
    UrgentNeed,
)
from cases.services.cases import INTAKE_INPUT_FIELDS, RETURNEE_PROFILE_FIELDS
from cases.services.workflow import move_options

from .. import inputs
from .base import ChoicesListField, StrictMixin, UsernameField

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
