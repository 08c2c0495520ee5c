"""The records of a case in the staff API, nested under the case: scope comes from the case
(out of scope: 404), records are addressed by uuid, and every write is a service's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.models import (
    Approval,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Referral,
    ReintegrationPlan,
    ScreeningAssessment,
    SupportProvision,
    TrainingEnrolment,
)
from cases.services import records
from cases.services.approvals import approval_decide, approval_request, plan_create
from cases.services.consent import consent_create, consent_withdraw
from cases.services.referrals import referral_create, referral_withdraw

from .. import serializers as s
from .common import IF_MATCH, NoStoreMixin, OneValueQueryMixin, expected_version, staff, with_etag


class CaseRecordViewSet(OneValueQueryMixin, NoStoreMixin, viewsets.GenericViewSet[Any]):
    """Records nested under a case: scope comes from the case; records are addressed by uuid."""

    # A model whose manager scopes (``objects.visible_to(user)``): a case record, or consent.
    model: ClassVar[type[Any]]
    ordering = "-created_at"
    lookup_field = "uuid"
    create_service: ClassVar[Callable[..., Any] | None] = None
    update_service: ClassVar[Callable[..., Any] | None] = None
    update_kwarg: ClassVar[str] = ""

    def get_case(self) -> Case:
        if not hasattr(self, "_case"):
            self._case = selectors.case_get(
                user=self.request.user, case_number=self.kwargs["case_number"]
            )
        return self._case

    def get_queryset(self) -> models.QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            nothing: models.QuerySet[Any] = self.model.objects.none()
            return nothing
        visible: models.QuerySet[Any] = self.model.objects.visible_to(self.request.user)
        return self.scoped(visible, self.get_case())

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return queryset.filter(case=case)

    def get_serializer_context(self) -> dict[str, Any]:
        context = dict(super().get_serializer_context())
        if "case_number" in self.kwargs and not getattr(self, "swagger_fake_view", False):
            context["security_visible"] = selectors.can_read_security_findings(
                user=self.request.user, case=self.get_case()
            )
        return context

    def list(self, request: Request, case_number: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request: Request, case_number: str, uuid: str) -> Response:
        instance = self.get_object()
        response = Response(self.get_serializer(instance).data)
        return with_etag(response, instance) if hasattr(instance, "version") else response

    def create(self, request: Request, case_number: str) -> Response:
        service = type(self).create_service
        assert service is not None
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        instance = service(
            actor=staff(request), case=self.get_case(), data=dict(data.validated_data)
        )
        response = Response(self.get_serializer(instance).data, status=201)
        return with_etag(response, instance) if hasattr(instance, "version") else response

    def partial_update(self, request: Request, case_number: str, uuid: str) -> Response:
        service = type(self).update_service
        assert service is not None
        instance = self.get_object()
        version = expected_version(request, required=True)
        data = self.get_serializer(instance, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = service(
            actor=staff(request),
            case=self.get_case(),
            changes=dict(data.validated_data),
            expected_version=version,
            **{self.update_kwarg: instance},
        )
        return with_etag(Response(self.get_serializer(updated).data), updated)


def _record_viewset(
    name: str,
    model: type[models.Model],
    serializer: type[Any],
    *,
    create: Callable[..., Any],
    update: Callable[..., Any] | None = None,
    update_kwarg: str = "",
    ordering: str = "-created_at",
) -> type[CaseRecordViewSet]:
    bases: tuple[type, ...] = (CaseRecordViewSet,)
    attrs: dict[str, Any] = {
        "model": model,
        "serializer_class": serializer,
        "ordering": ordering,
        "create_service": staticmethod(create),
        "update_service": staticmethod(update) if update else None,
        "update_kwarg": update_kwarg,
        "__doc__": f"{name} of a case in the caller's scope.",
    }
    if update is not None:
        attrs["partial_update"] = extend_schema(parameters=[IF_MATCH])(
            CaseRecordViewSet.partial_update
        )
    return type(f"{model.__name__}ViewSet", bases, attrs)


ScreeningViewSet = _record_viewset(
    "Screening assessments",
    ScreeningAssessment,
    s.ScreeningSerializer,
    create=records.screening_create,
    update=records.screening_update,
    update_kwarg="assessment",
)
EnrolmentViewSet = _record_viewset(
    "Training enrolments",
    TrainingEnrolment,
    s.EnrolmentSerializer,
    create=records.enrolment_create,
    update=records.enrolment_update,
    update_kwarg="enrolment",
)
SupportViewSet = _record_viewset(
    "Support provided", SupportProvision, s.SupportSerializer, create=records.support_create
)
ContactViewSet = _record_viewset(
    "Monitoring contacts",
    MonitoringContact,
    s.ContactSerializer,
    create=records.contact_create,
    update=records.contact_update,
    update_kwarg="contact",
    ordering="-created_at",
)
IncidentViewSet = _record_viewset(
    "Incidents", Incident, s.IncidentSerializer, create=records.incident_create
)


class IntakeView(OneValueQueryMixin, NoStoreMixin, viewsets.GenericViewSet[IntakeRecord]):
    """The case's intake record (one per case)."""

    serializer_class = s.IntakeSerializer

    def _record(self) -> tuple[Case, IntakeRecord]:
        case = selectors.case_get(user=self.request.user, case_number=self.kwargs["case_number"])
        return case, IntakeRecord.objects.visible_to(self.request.user).get(case=case)

    def retrieve(self, request: Request, case_number: str) -> Response:
        _case, record = self._record()
        return with_etag(Response(self.get_serializer(record).data), record)

    @extend_schema(parameters=[IF_MATCH])
    def partial_update(self, request: Request, case_number: str) -> Response:
        case, record = self._record()
        version = expected_version(request, required=True)
        data = self.get_serializer(record, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        updated = records.intake_update(
            actor=staff(request),
            case=case,
            changes=dict(data.validated_data),
            expected_version=version,
        )
        return with_etag(Response(self.get_serializer(updated).data), updated)


class ConsentViewSet(CaseRecordViewSet):
    """Consent records of the person behind a case."""

    model = ConsentRecord
    serializer_class = s.ConsentSerializer
    ordering = "-given_at"

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return queryset.filter(returnee_id=case.returnee_id)

    def create(self, request: Request, case_number: str) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        record = consent_create(actor=staff(request), case=self.get_case(), **data.validated_data)
        return Response(self.get_serializer(record).data, status=201)

    @extend_schema(request=None, responses=s.ConsentSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, case_number: str, uuid: str) -> Response:
        record = consent_withdraw(
            actor=staff(request), case=self.get_case(), consent=self.get_object()
        )
        return Response(self.get_serializer(record).data)


class ApprovalViewSet(CaseRecordViewSet):
    """Requests for a decision on a case, and the decision."""

    model = Approval
    serializer_class = s.ApprovalSerializer
    ordering = "-requested_at"

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return queryset.filter(case=case).select_related(
            "requested_by", "decided_by", "screening", "plan"
        )

    def create(self, request: Request, case_number: str) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        approval = approval_request(
            actor=staff(request),
            case=self.get_case(),
            kind=values["kind"],
            screening=values.get("screening"),
            plan=values.get("plan"),
            outcome=values.get("outcome", ""),
            note=values.get("request_note", ""),
        )
        return Response(self.get_serializer(approval).data, status=201)

    @extend_schema(request=s.DecisionInputSerializer, responses=s.ApprovalSerializer)
    @action(detail=True, methods=["post"])
    def decision(self, request: Request, case_number: str, uuid: str) -> Response:
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        approval = approval_decide(
            actor=staff(request), approval=self.get_object(), **data.validated_data
        )
        return Response(self.get_serializer(approval).data)


class PlanViewSet(CaseRecordViewSet):
    """Reintegration plans: goals and planned services per pillar."""

    model = ReintegrationPlan
    serializer_class = s.PlanSerializer

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return queryset.filter(case=case).prefetch_related("goals")

    def create(self, request: Request, case_number: str) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        plan = plan_create(
            actor=staff(request),
            case=self.get_case(),
            goals=[dict(goal) for goal in data.validated_data["goals"]],
        )
        return Response(self.get_serializer(plan).data, status=201)


class ReferralViewSet(CaseRecordViewSet):
    """Referrals of a case to partner NGOs."""

    model = Referral
    serializer_class = s.ReferralSerializer

    def scoped(self, queryset: models.QuerySet[Any], case: Case) -> models.QuerySet[Any]:
        return queryset.filter(case=case).select_related("partner")

    def create(self, request: Request, case_number: str) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = referral_create(
            actor=staff(request), case=self.get_case(), **data.validated_data
        )
        return with_etag(Response(self.get_serializer(referral).data, status=201), referral)

    @extend_schema(request=s.ReasonInputSerializer, responses=s.ReferralSerializer)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, case_number: str, uuid: str) -> Response:
        data = s.ReasonInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        referral = referral_withdraw(
            actor=staff(request),
            referral=self.get_object(),
            reason=data.validated_data["reason"],
            expected_version=expected_version(request, required=False),
        )
        return with_etag(Response(self.get_serializer(referral).data), referral)
