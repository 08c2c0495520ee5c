"""What the staff API offers beside the case file: the webhook outbox of the programmes a
manager runs, personal API tokens, and the competition summary over the caller's cases."""

from __future__ import annotations

import dataclasses
from typing import Any

from django.db import models
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from cases import selectors
from cases.competition.cached import competition_summary_for_teams
from cases.models import AccessKey, OutboxEvent, OutboxStatus
from cases.services.keys import access_key_revoke, staff_token_issue
from cases.services.outbox import outbox_event_replay

from .. import serializers as s
from ..competition import CompetitionSummarySerializer, SummaryCSVRenderer, SummaryQuerySerializer
from ..schema import ErrorSerializer
from .common import NoStoreMixin, OneValueQueryMixin, staff


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
