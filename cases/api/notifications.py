"""The caller's own notifications over the API: list them (newest first, ``?unread=true`` for
the unread ones) and mark one read. Nobody reaches another user's notification: it is a 404."""

from __future__ import annotations

from typing import Any

from django.db import models
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from cases import selectors
from cases.models import Notification
from cases.services.notifications import notification_mark_read, notification_message

from .schema import ErrorSerializer
from .serializers import StrictMixin
from .views import NoStoreMixin, OneValueQueryMixin, staff


class NotificationSerializer(StrictMixin, serializers.ModelSerializer[Notification]):
    case_number = serializers.CharField(
        source="case_id", read_only=True, allow_null=True, help_text="The case it is about."
    )
    message = serializers.SerializerMethodField(
        help_text="What happened, in the request's language; names the case by number only."
    )

    class Meta:
        model = Notification
        fields = ["uuid", "kind", "case_number", "message", "detail", "created_at", "read_at"]
        read_only_fields = fields

    def get_message(self, note: Notification) -> str:
        return notification_message(note)


class NotificationQuerySerializer(serializers.Serializer[Any]):
    unread = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="true: only unread notifications; false: only read ones.",
    )


class NotificationViewSet(
    OneValueQueryMixin, NoStoreMixin, mixins.ListModelMixin, viewsets.GenericViewSet[Notification]
):
    """Your own notifications, newest first."""

    serializer_class = NotificationSerializer
    ordering = "-created_at"
    lookup_field = "uuid"

    def get_queryset(self) -> models.QuerySet[Notification]:
        return selectors.notification_list(user=self.request.user)

    @extend_schema(
        parameters=[NotificationQuerySerializer],
        responses={
            200: NotificationSerializer(many=True),
            400: OpenApiResponse(ErrorSerializer, description="A filter is not valid."),
        },
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        params = NotificationQuerySerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        queryset = selectors.notification_list(
            user=request.user, unread=params.validated_data.get("unread")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(request=None, responses=NotificationSerializer)
    @action(detail=True, methods=["post"])
    def read(self, request: Request, uuid: str) -> Response:
        """Mark the notification read (already read: nothing changes)."""
        note = selectors.notification_get(user=request.user, notification_uuid=uuid)
        note = notification_mark_read(actor=staff(request), notification=note)
        return Response(self.get_serializer(note).data)
