"""Partner NGO endpoints: a partner sees only the referrals made to it, by case number, with
only the fields each referral shares, and reports back through the services."""

from __future__ import annotations

from typing import Any

from django.core.validators import RegexValidator
from django.db import models
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors, validators
from cases.models import Referral, SupportProvision, TrainingEnrolment, WebhookEndpoint
from cases.services import referrals as referral_services
from cases.services.outbox import webhook_endpoint_register, webhook_endpoint_remove

from .auth import IsPartner, PartnerKeyAuthentication, PartnerThrottle, request_partner
from .inputs import webhook_url_pattern
from .serializers import StrictMixin
from .views import NoStoreMixin, OneValueQueryMixin, etag, expected_version


class SharedDataSerializer(StrictMixin, serializers.Serializer[Any]):
    """Present only for the fields the referral shares, while consent to share stands."""

    sex = serializers.CharField(required=False)
    year_of_birth = serializers.IntegerField(required=False, allow_null=True)
    current_district = serializers.CharField(required=False)
    household_size = serializers.IntegerField(required=False, allow_null=True)
    profession = serializers.CharField(required=False)
    skills = serializers.CharField(required=False)
    needs = serializers.ListField(child=serializers.CharField(), required=False)
    given_name = serializers.CharField(required=False)
    family_name = serializers.CharField(required=False)
    phone = serializers.CharField(required=False)


class PartnerReferralSerializer(StrictMixin, serializers.ModelSerializer[Referral]):
    case_number = serializers.CharField(source="case_id", read_only=True)
    shared = serializers.SerializerMethodField()

    class Meta:
        model = Referral
        fields = [
            "uuid",
            "case_number",
            "service",
            "note",
            "status",
            "decline_reason",
            "outcome",
            "created_at",
            "responded_at",
            "closed_at",
            "version",
            "shared",
        ]
        read_only_fields = fields

    @extend_schema_field(SharedDataSerializer)
    def get_shared(self, referral: Referral) -> dict[str, Any]:
        return referral_services.referral_shared_view(
            partner=self.context["partner"], referral=referral
        )


def _model_length(model: Any, name: str) -> int | None:
    return validators.max_length_of(model._meta.get_field(name))


class ProgressInputSerializer(StrictMixin, serializers.Serializer[Any]):
    """What each kind needs: ``attendance`` the percentage; ``completion`` whether it was
    completed and the end date; ``certificate`` its reference; ``job_placement`` the employer
    and the start date, and the currency with an income. The course's end cannot come before
    its start."""

    kind = serializers.ChoiceField(choices=list(referral_services.PROGRESS_KINDS))
    attendance_percent = serializers.IntegerField(required=False, min_value=0, max_value=100)
    course = serializers.CharField(
        required=False, max_length=_model_length(TrainingEnrolment, "course")
    )
    start_date = serializers.DateField(required=False)
    end_date = serializers.DateField(required=False)
    completed = serializers.BooleanField(required=False)
    certificate = serializers.CharField(
        required=False, max_length=_model_length(TrainingEnrolment, "certificate")
    )
    employer = serializers.CharField(required=False)
    monthly_income = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=0
    )
    currency = serializers.CharField(
        required=False, max_length=_model_length(SupportProvision, "currency")
    )


class ProgressResultSerializer(StrictMixin, serializers.Serializer[Any]):
    record = serializers.UUIDField(help_text="The enrolment or support record on the case.")
    referral = PartnerReferralSerializer()


class DeclineInputSerializer(StrictMixin, serializers.Serializer[Any]):
    reason = serializers.CharField()


class CloseInputSerializer(StrictMixin, serializers.Serializer[Any]):
    outcome = serializers.CharField()


class WebhookSerializer(StrictMixin, serializers.ModelSerializer[WebhookEndpoint]):
    """``url``: https (http too where private addresses are allowed, in development), a host
    name with a top-level domain, no user name or password. In production the host must
    resolve to public addresses only."""

    url = serializers.URLField(
        max_length=WebhookEndpoint._meta.get_field("url").max_length,
        validators=[RegexValidator(webhook_url_pattern())],
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["uuid", "url", "is_active", "created_at"]
        read_only_fields = ["uuid", "is_active", "created_at"]


class RegisteredWebhookSerializer(WebhookSerializer):
    secret = serializers.CharField(read_only=True, help_text="Shown once: verify signatures.")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = [*WebhookSerializer.Meta.read_only_fields, "secret"]


class PartnerReferralViewSet(
    OneValueQueryMixin,
    NoStoreMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Referral],
):
    """Referrals made to your organisation."""

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerThrottle]

    serializer_class = PartnerReferralSerializer
    lookup_field = "uuid"
    ordering = "-created_at"

    def get_queryset(self) -> models.QuerySet[Referral]:
        if getattr(self, "swagger_fake_view", False):
            return Referral.objects.none()
        return selectors.referral_list_for_partner(partner=request_partner(self.request))

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if not getattr(self, "swagger_fake_view", False):
            context["partner"] = request_partner(self.request)
        return context

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        referral = self.get_object()
        response = Response(self.get_serializer(referral).data)
        response["ETag"] = etag(referral.version)
        return response

    def _reply(self, referral: Referral) -> Response:
        response = Response(self.get_serializer(referral).data)
        response["ETag"] = etag(referral.version)
        return response

    @extend_schema(request=None, responses=PartnerReferralSerializer)
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, uuid: str) -> Response:
        referral = referral_services.referral_accept(
            partner=request_partner(request),
            referral=self.get_object(),
            expected_version=expected_version(request, required=False),
        )
        return self._reply(referral)

    @extend_schema(request=DeclineInputSerializer, responses=PartnerReferralSerializer)
    @action(detail=True, methods=["post"])
    def decline(self, request: Request, uuid: str) -> Response:
        data = DeclineInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = referral_services.referral_decline(
            partner=request_partner(request),
            referral=self.get_object(),
            reason=data.validated_data["reason"],
            expected_version=expected_version(request, required=False),
        )
        return self._reply(referral)

    @extend_schema(request=ProgressInputSerializer, responses={201: ProgressResultSerializer})
    @action(detail=True, methods=["post"])
    def progress(self, request: Request, uuid: str) -> Response:
        """Report attendance, completion, a certificate or a job placement."""
        data = ProgressInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        kind = values.pop("kind")
        record = referral_services.referral_report_progress(
            partner=request_partner(request), referral=self.get_object(), kind=kind, data=values
        )
        referral = self.get_queryset().get(pk=self.get_object().pk)
        body = {"record": str(record.uuid), "referral": self.get_serializer(referral).data}
        return Response(body, status=201)

    @extend_schema(request=CloseInputSerializer, responses=PartnerReferralSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, uuid: str) -> Response:
        data = CloseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = referral_services.referral_close(
            partner=request_partner(request),
            referral=self.get_object(),
            outcome=data.validated_data["outcome"],
            expected_version=expected_version(request, required=False),
        )
        return self._reply(referral)


class PartnerWebhookViewSet(
    OneValueQueryMixin,
    NoStoreMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[WebhookEndpoint],
):
    """Your webhook endpoints. Events are signed with the secret returned at registration."""

    authentication_classes = [PartnerKeyAuthentication]
    permission_classes = [IsPartner]
    throttle_classes = [PartnerThrottle]

    serializer_class = WebhookSerializer
    lookup_field = "uuid"
    ordering = "-created_at"

    def get_queryset(self) -> models.QuerySet[WebhookEndpoint]:
        if getattr(self, "swagger_fake_view", False):
            return WebhookEndpoint.objects.none()
        return WebhookEndpoint.objects.filter(partner=request_partner(self.request), is_active=True)

    @extend_schema(request=WebhookSerializer, responses={201: RegisteredWebhookSerializer})
    def create(self, request: Request) -> Response:
        data = WebhookSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        partner = request_partner(request)
        endpoint, secret = webhook_endpoint_register(
            partner=partner,
            url=data.validated_data["url"],
            actor_label=referral_services.partner_label(partner),
        )
        return Response({**WebhookSerializer(endpoint).data, "secret": secret}, status=201)

    def perform_destroy(self, instance: WebhookEndpoint) -> None:
        webhook_endpoint_remove(
            endpoint=instance,
            actor_label=referral_services.partner_label(request_partner(self.request)),
        )
