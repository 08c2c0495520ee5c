"""The competition lens's reference data over the API: benchmarks, threat contexts and target
profiles. Everyone in a programme reads its own and the shipped defaults; its programme
managers add to them. Nothing is edited in place: a benchmark is revised into a new version,
a threat context is ended, a profile deactivated, so the history stays."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.models import (
    Benchmark,
    FormerRole,
    Pillar,
    Profession,
    Programme,
    TargetProfile,
    ThreatContext,
)
from cases.services import competition as services

from .serializers import StrictMixin
from .views import NoStoreMixin, OneValueQueryMixin, staff


class ProgrammeRefField(serializers.UUIDField):
    """The programme's uuid; resolved by the view within the caller's programmes."""


class BenchmarkSerializer(StrictMixin, serializers.ModelSerializer[Benchmark]):
    programme = serializers.UUIDField(source="programme.uuid", allow_null=True, read_only=True)
    pillars_offered = serializers.ListField(
        child=serializers.ChoiceField(choices=Pillar.choices), required=False
    )

    class Meta:
        model = Benchmark
        fields = ["uuid", "programme", *services.BENCHMARK_FIELDS, "valid_to", "created_at"]
        read_only_fields = ["uuid", "programme", "valid_to", "created_at"]


class BenchmarkCreateSerializer(BenchmarkSerializer):
    programme = ProgrammeRefField(write_only=True)


class BenchmarkReviseSerializer(StrictMixin, serializers.ModelSerializer[Benchmark]):
    pillars_offered = serializers.ListField(
        child=serializers.ChoiceField(choices=Pillar.choices), required=False
    )

    class Meta:
        model = Benchmark
        fields = [name for name in services.BENCHMARK_FIELDS if name != "competing_stage"]
        extra_kwargs = {name: {"required": False} for name in fields if name != "valid_from"}


class ThreatSerializer(StrictMixin, serializers.ModelSerializer[ThreatContext]):
    programme = serializers.UUIDField(source="programme.uuid", allow_null=True, read_only=True)
    districts = serializers.ListField(child=serializers.CharField(), min_length=1)

    class Meta:
        model = ThreatContext
        fields = ["uuid", "programme", *services.THREAT_FIELDS, "created_at"]
        read_only_fields = ["uuid", "programme", "created_at"]


class ThreatCreateSerializer(ThreatSerializer):
    programme = ProgrammeRefField(write_only=True)


class ThreatEndSerializer(StrictMixin, serializers.Serializer[Any]):
    ends_on = serializers.DateField()


class ProfileSerializer(StrictMixin, serializers.ModelSerializer[TargetProfile]):
    programme = serializers.UUIDField(source="programme.uuid", allow_null=True, read_only=True)
    professions = serializers.ListField(
        child=serializers.ChoiceField(choices=Profession.choices), required=False
    )
    former_roles = serializers.ListField(
        child=serializers.ChoiceField(choices=FormerRole.choices), required=False
    )

    class Meta:
        model = TargetProfile
        fields = ["uuid", "programme", *services.PROFILE_FIELDS, "is_active"]
        read_only_fields = ["uuid", "programme", "is_active"]


class ProfileCreateSerializer(ProfileSerializer):
    programme = ProgrammeRefField(write_only=True)


class ReferenceViewSet(
    OneValueQueryMixin,
    NoStoreMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[Any],
):
    model: ClassVar[Any]
    lookup_field = "uuid"
    ordering = "-created_at"

    def get_queryset(self) -> models.QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            none: models.QuerySet[Any] = self.model._default_manager.none()
            return none
        scoped: models.QuerySet[Any] = selectors.reference_list(
            user=self.request.user, model=self.model
        )
        return scoped.select_related("programme")

    def _created(self, instance: Any) -> Response:
        return Response(self.get_serializer(instance).data, status=201)

    def _create_with(
        self, request: Request, serializer: type[serializers.Serializer[Any]], service: Any
    ) -> Response:
        """Validate, resolve the programme within the caller's own (another programme's uuid
        answers like an unknown one), and hand over to the service."""
        data = serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        programme: Programme | None = (
            selectors.programmes_visible(user=request.user)
            .filter(uuid=values.pop("programme"))
            .first()
        )
        return self._created(service(actor=staff(request), programme=programme, data=values))


class BenchmarkViewSet(ReferenceViewSet):
    """The group's benchmarks, by competing stage: the shipped defaults and your programme's."""

    model = Benchmark
    serializer_class = BenchmarkSerializer
    ordering = "-valid_from"

    @extend_schema(request=BenchmarkCreateSerializer, responses={201: BenchmarkSerializer})
    def create(self, request: Request) -> Response:
        return self._create_with(request, BenchmarkCreateSerializer, services.benchmark_create)

    @extend_schema(request=BenchmarkReviseSerializer, responses={201: BenchmarkSerializer})
    @action(detail=True, methods=["post"])
    def revise(self, request: Request, uuid: str) -> Response:
        """A new version from ``valid_from``; this one ends that day and stays for history."""
        data = BenchmarkReviseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        benchmark = services.benchmark_revise(
            actor=staff(request), benchmark=self.get_object(), data=dict(data.validated_data)
        )
        return self._created(benchmark)


class ThreatContextViewSet(ReferenceViewSet):
    """Threat contexts by district (amnesty windows, recruiter activity, anchor points, …)."""

    model = ThreatContext
    serializer_class = ThreatSerializer

    @extend_schema(request=ThreatCreateSerializer, responses={201: ThreatSerializer})
    def create(self, request: Request) -> Response:
        return self._create_with(request, ThreatCreateSerializer, services.threat_context_create)

    @extend_schema(request=ThreatEndSerializer, responses=ThreatSerializer)
    @action(detail=True, methods=["post"])
    def end(self, request: Request, uuid: str) -> Response:
        data = ThreatEndSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        threat = services.threat_context_end(
            actor=staff(request), threat=self.get_object(), ends_on=data.validated_data["ends_on"]
        )
        return Response(self.get_serializer(threat).data)


class TargetProfileViewSet(ReferenceViewSet):
    """Profiles the group targets (prized professions, decisive-minority roles, detention)."""

    model = TargetProfile
    serializer_class = ProfileSerializer
    ordering = "name"

    @extend_schema(request=ProfileCreateSerializer, responses={201: ProfileSerializer})
    def create(self, request: Request) -> Response:
        return self._create_with(request, ProfileCreateSerializer, services.target_profile_create)

    @extend_schema(request=None, responses=ProfileSerializer)
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, uuid: str) -> Response:
        profile = services.target_profile_deactivate(
            actor=staff(request), profile=self.get_object()
        )
        return Response(self.get_serializer(profile).data)
