"""Dead letters of background tasks, for programme managers: the list, and queueing one again.

Failed tasks are system-wide (a task is not one programme's), so any programme manager sees
them all; everyone else sees an empty list and a retry answers 404. A dead letter carries the
task's name, its id arguments and a short error, never personal data."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.models import FailedTask
from cases.services.tasks_health import BrokerUnavailable, failed_task_retry

from .errors import error_response
from .schema import ErrorSerializer
from .serializers import StrictMixin
from .views import NoStoreMixin, OneValueQueryMixin, staff


class FailedTaskSerializer(StrictMixin, serializers.ModelSerializer[FailedTask]):
    class Meta:
        model = FailedTask
        fields = [
            "uuid",
            "task_name",
            "task_id",
            "args",
            "kwargs",
            "error",
            "retries",
            "failed_at",
            "retried_at",
        ]
        read_only_fields = fields


class FailedTaskQuerySerializer(serializers.Serializer[Any]):
    open = serializers.BooleanField(
        required=False, default=False, help_text="true: only those not queued again yet."
    )


class FailedTaskViewSet(
    OneValueQueryMixin, NoStoreMixin, mixins.ListModelMixin, viewsets.GenericViewSet[FailedTask]
):
    """Background tasks that failed after their last retry, newest first; ``?open=true`` for
    those not queued again yet."""

    serializer_class = FailedTaskSerializer
    ordering = "-failed_at"
    lookup_field = "uuid"

    def get_queryset(self) -> models.QuerySet[FailedTask]:
        queryset = selectors.failed_task_list(user=self.request.user)
        params = FailedTaskQuerySerializer(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        if params.validated_data.get("open"):
            queryset = queryset.filter(retried_at__isnull=True)
        return queryset

    @extend_schema(
        request=None,
        responses={
            200: FailedTaskSerializer,
            409: OpenApiResponse(ErrorSerializer, description="Already queued again."),
            503: OpenApiResponse(ErrorSerializer, description="The task queue is down."),
        },
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, uuid: str) -> Response:
        """Queue the task again with the same arguments (a new task id); audited. If it fails
        again it leaves a new dead letter."""
        try:
            failed = failed_task_retry(failed=self.get_object(), actor=staff(request))
        except BrokerUnavailable as exc:
            return error_response(503, exc.code, exc.message)
        return Response(self.get_serializer(failed).data)

    @extend_schema(parameters=[FailedTaskQuerySerializer])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)
