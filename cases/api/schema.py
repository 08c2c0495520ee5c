"""OpenAPI generation: the document says what the server does, so a generated client can trust
it. Every operation documents the one error shape (always JSON) and every status it can answer
with; request bodies refuse properties they do not list; text, numbers and references carry the
constraints the server enforces (``cases/api/inputs.py``); query parameters say which may be
sent empty. tests/api/test_schemathesis.py holds the server to the document."""

from __future__ import annotations

import copy
from typing import Any

from django.core.validators import RegexValidator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from . import inputs

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
        "request_id": serializers.CharField(
            required=False,
            help_text="For 500 and 503: the request's id (also in X-Request-ID), to quote.",
        ),
    },
)


class ErrorSerializer(serializers.Serializer[Any]):
    error = ErrorBodySerializer


WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}

# What each error status means anywhere in the API (cases/api/errors.py, cases/error_handlers.py).
ERRORS = {
    "400": "Not valid: a parameter or a field (named in `fields`), a body that is not JSON or "
    "nests too deep, a parameter given twice, or a request refused as malformed.",
    "401": "No valid credentials.",
    "403": "Your role may not do this to a record you can see.",
    "404": "Not found or not in your scope (the same answer), or no such route.",
    "406": "The Accept header asks for a representation this operation does not give.",
    "409": "A state conflict, or a refused stage move with every reason.",
    "412": "The record changed since you read it (If-Match names an older version).",
    "413": "The request body is over the size limit.",
    "415": "The body is not in a media type this operation reads.",
    "428": "Send If-Match with the ETag you read.",
    "429": "Too many requests; wait and try again.",
    "500": "A bug on our side; the body names the request id and nothing else.",
    "503": "The service cannot serve now (its database is down); try again after Retry-After.",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer", "minimum": 0},
        "description": "Seconds to wait before trying again.",
    }
}


class ApiAutoSchema(AutoSchema):
    def _error_codes(self, has_body: bool) -> list[str]:
        codes = ["400", "401", "404", "406", "429", "500", "503"]
        if self.method in WRITE_METHODS:
            codes += ["403", "409", "413"]
            if has_body:
                codes.append("415")
        if self.method in {"PUT", "PATCH"}:
            codes += ["412", "428"]
        return codes

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        error = self._get_response_for_code(  # type: ignore[no-untyped-call]
            ErrorSerializer, "400", direction=direction
        )
        error_schema = next(iter(error["content"].values()))["schema"]
        has_body = self.method in {"POST", "PUT", "PATCH"} and (
            self.get_request_serializer() is not None
        )
        for code in self._error_codes(has_body):
            responses.setdefault(code, {"content": {}, "description": ""})
        for code, response in responses.items():
            if code[0] not in "45":
                continue
            # Errors are always JSON in the one shape, whatever the success answers in.
            content = response.get("content") or {}
            schema = next(iter(content.values()))["schema"] if content else error_schema
            response["content"] = {"application/json": {"schema": schema}}
            response["description"] = response.get("description") or ERRORS.get(code, "")
            if code == "503":
                response["headers"] = copy.deepcopy(RETRY_AFTER)
        return dict(sorted(responses.items()))

    def _map_serializer(
        self, serializer: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer(  # type: ignore[no-untyped-call]
            serializer, direction, bypass_extensions
        )
        from .serializers import StrictMixin

        if direction == "request" and isinstance(serializer, StrictMixin):
            # StrictMixin refuses any field it does not list (400 naming it).
            schema["additionalProperties"] = False
            # Rules on the whole body the serializer enforces (a lookup's one identifier).
            # Only such: a rule across fields as ``anyOf`` would turn the request into a union
            # of partial models in generated clients; the component's text says those.
            schema.update(copy.deepcopy(getattr(serializer, "openapi_rules", {})))
        return schema

    def _get_request_for_media_type(self, serializer: Any, direction: Any = "request") -> Any:
        found = super()._get_request_for_media_type(serializer, direction)  # type: ignore[no-untyped-call]
        schema, required = found
        # A POST that reads a body needs one even when no single field is required (a
        # contact's date, a lookup's identifier): none is an empty object, and a 400. A PATCH
        # without one changes nothing.
        if self.method in {"POST", "PUT"} and schema is not None:
            required = True
        return schema, required

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        if direction == "request" and not field.read_only and "$ref" not in schema:
            pattern = inputs.field_pattern(field)
            if pattern is not None and not _has_own_pattern(field):
                schema["pattern"] = pattern
            if isinstance(field, serializers.ListSerializer):
                # DRF checks a nested list's length itself, not through validators, so
                # spectacular does not see it.
                shortest, longest = (getattr(field, n, None) for n in ("min_length", "max_length"))
                least = max(shortest or 0, 0 if field.allow_empty else 1)
                if least:
                    schema["minItems"] = least
                if longest is not None:
                    schema["maxItems"] = longest
        return schema

    def _insert_field_validators(self, field: Any, schema: dict[str, Any]) -> None:
        super()._insert_field_validators(field, schema)  # type: ignore[no-untyped-call]
        if isinstance(field, serializers.URLField) and _has_own_pattern(field):
            # Its pattern says exactly which URLs the server takes, all of them RFC 3986 URIs;
            # ``format: uri`` on top would only slow generators down.
            for part in [schema, *schema.get("oneOf", [])]:
                part.pop("format", None)

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super()._get_parameters()
        for parameter in parameters:
            if parameter.get("in") != "query":
                continue
            schema = parameter.setdefault("schema", {})
            if schema.get("type") == "array":
                continue
            # An optional parameter sent empty counts as not sent (django-filter, DRF's query
            # serializers, pagination alike); a parameter given twice is refused.
            if not parameter.get("required"):
                parameter["allowEmptyValue"] = True
            free_text = schema.get("type") == "string" and not (
                {"format", "enum", "pattern"} & set(schema)
            )
            if free_text and parameter["name"] != "cursor":
                schema["pattern"] = inputs.QUERY_TEXT
        return parameters


def _has_own_pattern(field: Any) -> bool:
    """Whether the field carries its own regular expression (a webhook URL's, say), which
    spectacular has already put in the document."""
    return any(type(v) is RegexValidator for v in field.validators)
