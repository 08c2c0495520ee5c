"""Staff API views. Every view starts from the selectors (scope) and writes through the
services; views only translate HTTP to calls and back."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, ClassVar

import django_filters
from django.core.exceptions import ValidationError
from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError as DRFValidationError
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors
from cases.filters import CaseFilterSet
from cases.models import (
    AccessKey,
    Approval,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    OutboxEvent,
    OutboxStatus,
    Referral,
    ReintegrationPlan,
    ScreeningAssessment,
    SupportProvision,
    TrainingEnrolment,
)
from cases.selectors import Actor
from cases.services import records
from cases.services.approvals import approval_decide, approval_request, plan_create
from cases.services.cases import case_assign, case_open
from cases.services.consent import consent_create, consent_withdraw
from cases.services.identity import case_find_by_identifier, identity_reveal, returnee_update
from cases.services.keys import access_key_revoke, staff_token_issue
from cases.services.referrals import referral_create, referral_withdraw
from cases.services.summaries import competition_summary_for_teams
from cases.services.workflow import case_transition

from . import serializers as s
from .competition import (
    CaseCompetitionSerializer,
    CompetitionSummarySerializer,
    SummaryCSVRenderer,
    SummaryQuerySerializer,
    case_competition_body,
)
from .errors import PreconditionFailed, PreconditionRequired
from .rows import row_plan
from .schema import ErrorSerializer

IF_MATCH = OpenApiParameter(
    "If-Match",
    location=OpenApiParameter.HEADER,
    required=True,
    description='The ETag of the version you read, e.g. "3".',
)


def staff(request: Request) -> Actor:
    """The acting staff account; IsStaff has already refused everyone else."""
    user = request.user
    assert isinstance(user, Actor) and user.is_authenticated
    return user


def etag(version: int) -> str:
    return f'"{version}"'


def expected_version(request: Request, *, required: bool) -> int | None:
    """The version named by If-Match: required for PATCH, optional for actions."""
    header = request.headers.get("If-Match", "").strip()
    if not header:
        if required:
            raise PreconditionRequired()
        return None
    value = header[2:] if header.startswith("W/") else header
    try:
        return int(value.strip('"'))
    except ValueError:
        raise PreconditionFailed("If-Match does not name a version of this record.") from None


class OneValueQueryMixin:
    """A query parameter is given once, unless the view's filterset reads it as a list (the
    case list's ``stage`` and ``risk_level``): twice is a 400 naming it, as the OpenAPI
    document has one value for it, rather than the last value winning quietly."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        filterset = getattr(self, "filterset_class", None)
        lists = {
            name
            for name, one in (filterset.base_filters.items() if filterset else ())
            if isinstance(one, django_filters.MultipleChoiceFilter)
        }
        repeated = sorted(
            name
            for name in request.query_params
            if name not in lists and len(request.query_params.getlist(name)) > 1
        )
        if repeated:
            raise DRFValidationError({name: ["Give this parameter once."] for name in repeated})
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


class NoStoreMixin:
    """Case data must not sit in a browser's or a proxy's cache."""

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)  # type: ignore[misc]
        assert response is not None
        response["Cache-Control"] = "no-store"
        return response


def with_etag(response: Response, instance: Any) -> Response:
    response["ETag"] = etag(instance.version)
    return response


class CaseViewSet(OneValueQueryMixin, NoStoreMixin, viewsets.GenericViewSet[Case]):
    """Cases in the caller's scope, by case number."""

    lookup_field = "case_number"
    lookup_value_regex = "[A-Z0-9-]+"
    serializer_class = s.CaseSerializer
    filterset_class = CaseFilterSet
    ordering = "-opened_at"

    def get_queryset(self) -> models.QuerySet[Case]:
        return selectors.case_list_with_summary(user=self.request.user)

    def get_object(self) -> Case:
        return selectors.case_get(
            user=self.request.user, case_number=self.kwargs[self.lookup_field]
        )

    def list(self, request: Request) -> Response:
        # Rows, not model instances: the page is CaseSerializer's output (rows.py says why).
        plan = row_plan(s.CaseSerializer)
        rows = self.filter_queryset(self.get_queryset()).values(*plan.columns)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(plan.many(page or []))

    @extend_schema(responses=s.CaseDetailSerializer)
    def retrieve(self, request: Request, case_number: str) -> Response:
        case = self.get_queryset().filter(case_number=case_number).first()
        if case is None:
            case = self.get_object()  # raises the 404
        return with_etag(Response(s.CaseDetailSerializer(case).data), case)

    @extend_schema(request=s.CaseCreateSerializer, responses={201: s.CaseDetailSerializer})
    def create(self, request: Request) -> Response:
        data = s.CaseCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        team = selectors.teams_for_case_creation(user=request.user).filter(uuid=values["team"])
        if not team:
            raise ValidationError({"team": "Unknown team."})
        case = case_open(
            actor=staff(request),
            team=team.get(),
            caseworker=values.get("caseworker"),
            returnee=dict(values["returnee"]),
            intake=dict(values["intake"]),
            consent=dict(values["consent"]) if values.get("consent") else None,
        )
        case = selectors.case_list_with_summary(user=request.user).get(pk=case.pk)
        response = Response(s.CaseDetailSerializer(case).data, status=status.HTTP_201_CREATED)
        return with_etag(response, case)

    @extend_schema(
        request=s.CaseUpdateSerializer, responses=s.CaseDetailSerializer, parameters=[IF_MATCH]
    )
    def partial_update(self, request: Request, case_number: str) -> Response:
        case = self.get_object()
        version = expected_version(request, required=True)
        data = s.CaseUpdateSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        returnee_update(
            actor=staff(request),
            case=case,
            changes=dict(data.validated_data),
            expected_version=version,
        )
        return self.retrieve(request, case_number)

    @extend_schema(methods=["GET"], responses=s.TransitionSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request=s.TransitionInputSerializer,
        responses={201: s.TransitionSerializer},
    )
    @action(
        detail=True,
        methods=["get", "post"],
        url_path="transitions",
        # The history is a plain list: not paginated, not filtered like the case list.
        pagination_class=None,
        filter_backends=[],
    )
    def transitions(self, request: Request, case_number: str) -> Response:
        """GET: the stage history. POST: move the case (409 says why a move is refused)."""
        case = self.get_object()
        if request.method == "GET":
            rows = case.transitions.select_related("by").order_by("at")
            return Response(s.TransitionSerializer(rows, many=True).data)
        data = s.TransitionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        transition = case_transition(
            actor=staff(request),
            case=case,
            expected_version=expected_version(request, required=False),
            **data.validated_data,
        )
        response = Response(s.TransitionSerializer(transition).data, status=201)
        response["ETag"] = etag(Case.objects.get(pk=case.pk).version)
        return response

    @extend_schema(request=s.RevealInputSerializer, responses=s.IdentitySerializer)
    @action(detail=True, methods=["post"], url_path="identity/reveal")
    def reveal(self, request: Request, case_number: str) -> Response:
        """The person's identity, for a stated reason; the read is audited."""
        case = self.get_object()
        data = s.RevealInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        identity = identity_reveal(actor=staff(request), case=case, **data.validated_data)
        return Response(s.IdentitySerializer(identity).data)

    @extend_schema(request=s.LookupInputSerializer, responses=s.LookupResultSerializer)
    @action(detail=False, methods=["post"], url_path="lookup")
    def lookup(self, request: Request) -> Response:
        """Exact match on national ID or phone, through the blind index (POST keeps the value
        out of URLs and logs; the search is audited)."""
        data = s.LookupInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        matches = case_find_by_identifier(actor=staff(request), **data.validated_data)
        cases = self.get_queryset().filter(pk__in=matches.values("pk"))
        return Response({"results": s.CaseSerializer(cases, many=True).data})

    @extend_schema(responses=CaseCompetitionSerializer)
    @action(detail=True, methods=["get"], url_path="competition", filter_backends=[])
    def competition(self, request: Request, case_number: str) -> Response:
        """Where the group out-competes the programme on this case, finding by finding, and
        the score that ranks it for attention (it decides nothing by itself)."""
        return Response(case_competition_body(self.get_object()))

    @extend_schema(request=s.AssignInputSerializer, responses=s.CaseDetailSerializer)
    @action(detail=True, methods=["post"], url_path="assign")
    def assign(self, request: Request, case_number: str) -> Response:
        """Give the case to a caseworker of its team (supervisors and managers)."""
        case = self.get_object()
        data = s.AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        case_assign(
            actor=staff(request),
            case=case,
            caseworker=data.validated_data["caseworker"],
            expected_version=expected_version(request, required=False),
        )
        return self.retrieve(request, case_number)


class CaseRecordViewSet(OneValueQueryMixin, NoStoreMixin, viewsets.GenericViewSet[Any]):
    """Records nested under a case: scope comes from the case; records are addressed by uuid."""

    model: ClassVar[type[models.Model]]
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
        manager = self.model._default_manager
        if getattr(self, "swagger_fake_view", False):  # schema generation: no request
            return manager.none()
        return self.scoped(manager.all(), self.get_case())

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
        return case, IntakeRecord.objects.get(case=case)

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


class OutboxQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(
        choices=OutboxStatus.choices, required=False, help_text="Only events in this state."
    )


@extend_schema_view(list=extend_schema(parameters=[OutboxQuerySerializer]))
class OutboxViewSet(
    OneValueQueryMixin,
    NoStoreMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[OutboxEvent],
):
    """Webhook events to partners of the programmes the caller manages; one event's detail
    lists every delivery attempt; dead letters can be replayed."""

    serializer_class = s.OutboxEventSerializer
    ordering = "-created_at"
    lookup_field = "uuid"

    def get_serializer_class(self) -> type[s.OutboxEventSerializer]:
        if self.action == "retrieve":
            return s.OutboxEventDetailSerializer
        return s.OutboxEventSerializer

    def get_queryset(self) -> models.QuerySet[OutboxEvent]:
        queryset = selectors.outbox_event_list(user=self.request.user)
        if self.action == "retrieve":
            return queryset.prefetch_related("deliveries")
        params = OutboxQuerySerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data.get("status")
        return queryset.filter(status=wanted) if wanted else queryset

    @extend_schema(request=None, responses=s.OutboxEventSerializer)
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, uuid: str) -> Response:
        from cases.services.webhooks import outbox_event_replay

        event = outbox_event_replay(event=self.get_object(), actor=staff(request))
        return Response(self.get_serializer(event).data)


class TokenViewSet(
    OneValueQueryMixin,
    NoStoreMixin,
    mixins.ListModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[Any],
):
    """Your personal API tokens, for scripts that act as you."""

    serializer_class = s.TokenSerializer
    ordering = "-created_at"
    lookup_field = "uuid"

    def get_queryset(self) -> models.QuerySet[Any]:
        if getattr(self, "swagger_fake_view", False):
            return AccessKey.objects.none()
        return AccessKey.objects.filter(user=staff(self.request), kind="staff")

    @extend_schema(request=s.TokenSerializer, responses={201: s.IssuedTokenSerializer})
    def create(self, request: Request) -> Response:
        data = s.TokenSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        issued = staff_token_issue(actor=staff(request), **data.validated_data)
        body = {**s.TokenSerializer(issued.key).data, "token": issued.plaintext}
        return Response(body, status=201)

    def perform_destroy(self, instance: Any) -> None:
        access_key_revoke(actor=staff(self.request), key=instance)


class CompetitionSummaryView(OneValueQueryMixin, NoStoreMixin, APIView):
    """Per programme stage, over the caller's cases: where the group out-competes the programme
    and the cases to look at first. ``?format=csv`` or ``Accept: text/csv`` for a CSV."""

    renderer_classes = [JSONRenderer, SummaryCSVRenderer]

    def finalize_response(
        self, request: Request, response: Response, *args: Any, **kwargs: Any
    ) -> Response:
        if getattr(response, "exception", False):  # errors keep the one JSON error shape
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[SummaryQuerySerializer],
        responses={
            (200, "application/json"): CompetitionSummarySerializer,
            # The same figures, one row per stage (cases/api/competition.py, CSV_COLUMNS).
            (200, "text/csv"): OpenApiTypes.STR,
            400: OpenApiResponse(ErrorSerializer, description="A filter is not valid."),
        },
    )
    def get(self, request: Request) -> Response:
        params = SummaryQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data
        teams = selectors.case_teams_filtered(
            user=request.user,
            programme=wanted.get("programme"),
            site=wanted.get("site"),
            team=wanted.get("team"),
        )
        summary = competition_summary_for_teams(user=request.user, teams=teams)
        if "stage" in wanted:
            stages = [s for s in summary.stages if s.stage == wanted["stage"]]
            summary = dataclasses.replace(
                summary, stages=stages, cases=sum(s.cases for s in stages)
            )
        response = Response(CompetitionSummarySerializer(summary).data)
        if isinstance(request.accepted_renderer, SummaryCSVRenderer):
            response["Content-Disposition"] = 'attachment; filename="competition-summary.csv"'
        return response
