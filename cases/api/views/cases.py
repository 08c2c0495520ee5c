"""The staff API's cases: the scoped list and detail, opening a case, correcting the person,
moving it through the stages, the audited identity reveal and lookup, and assignment."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from drf_spectacular.utils import extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.filters import CaseFilterSet
from cases.models import Case
from cases.services.cases import case_assign, case_open
from cases.services.identity import case_find_by_identifier, identity_reveal, returnee_update
from cases.services.workflow import case_transition

from .. import serializers as s
from ..competition import CaseCompetitionSerializer, case_competition_body
from ..rows import row_plan
from .common import (
    IF_MATCH,
    NoStoreMixin,
    OneValueQueryMixin,
    etag,
    expected_version,
    staff,
    with_etag,
)


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
        response["ETag"] = etag(Case.objects.visible_to(request.user).get(pk=case.pk).version)
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
