"""OpenAPI generation: every operation documents the one error shape and the statuses it can
answer with, so a generated client knows them."""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

# "fields" would shadow Serializer.fields as a class attribute; declare it inline.
ErrorBodySerializer = inline_serializer(
    name="ErrorBody",
    fields={
        "code": serializers.CharField(help_text="Machine-readable, e.g. invalid, stale_version."),
        "message": serializers.CharField(),
        "fields": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            required=False,
            help_text="For 400: messages per field, nested fields joined with dots.",
        ),
        "reasons": serializers.ListField(
            child=serializers.CharField(),
            required=False,
            help_text="For a refused stage move: every unmet precondition.",
        ),
    },
)


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorBodySerializer


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


class ApiAutoSchema(AutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        codes = ["401", "404", "429"]
        if self.method in WRITE_METHODS:
            codes += ["400", "403", "409"]
        if self.method in {"PUT", "PATCH"}:
            codes += ["412", "428"]
        for code in codes:
            if code not in responses:
                responses[code] = self._get_response_for_code(  # type: ignore[no-untyped-call]
                    ErrorSerializer, code, direction=direction
                )
        return responses
