"""Serializers of what the staff API offers beside the case file: the webhook outbox with its
delivery log, and personal API tokens."""

from __future__ import annotations

from rest_framework import serializers

from cases.models import AccessKey, DeliveryAttempt, OutboxEvent

from .base import StrictMixin


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
