"""What every staff API serializer shares: strict input (unknown fields and values the OpenAPI
document refuses are a 400 naming them), lists of choices, and related rows named by a public
key and looked up only among those the caller may see."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers

from cases import validators

from .. import inputs


class StrictMixin:
    # Refuse fields the action does not accept, rather than silently dropping them: a client
    # that sends ``stage`` or ``caseworker`` in a body learns it cannot set them there.
    # (A comment, not a docstring: a docstring would describe every schema component.)

    # Each value is then checked as the OpenAPI document states it (cases/api/inputs.py):
    # its JSON type, text without control characters and within its length, canonical uuids
    # and dates, before DRF's lenient conversions could accept what the document refuses.

    def get_fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = super().get_fields()  # type: ignore[misc]
        for field in fields.values():
            inputs.harden(field)
        return fields

    def build_standard_field(
        self, field_name: str, model_field: Any
    ) -> tuple[type, dict[str, Any]]:
        # Free text the model does not limit gets the length the services allow it.
        field_class, kwargs = super().build_standard_field(field_name, model_field)  # type: ignore[misc]
        limit = validators.max_length_of(model_field)
        if limit is not None and issubclass(field_class, serializers.CharField):
            kwargs.setdefault("max_length", limit)
        # A date's range depends on today, which JSON Schema cannot say: the text does.
        kind = validators.date_kind_of(model_field)
        if kind is not None:
            latest = (
                "not after today"
                if kind is validators.DateKind.HAPPENED
                else f"at most {validators.PLANNING_HORIZON_YEARS} years ahead"
            )
            rule = f"From {validators.EARLIEST_DATE.isoformat()}, {latest}."
            kwargs["help_text"] = " ".join(filter(None, [str(kwargs.get("help_text", "")), rule]))
        return field_class, kwargs

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            fields = self.fields  # type: ignore[attr-defined]
            writable = {name for name, field in fields.items() if not field.read_only}
            unknown = sorted(set(data) - writable)
            if unknown:
                raise serializers.ValidationError(
                    {name: ["This field cannot be set here."] for name in unknown}
                )
            refused = {
                name: errors
                for name, value in data.items()
                if (errors := inputs.input_errors(fields[name], value))
            }
            if refused:
                raise serializers.ValidationError(refused)
        return super().to_internal_value(data)  # type: ignore[misc]


class ChoicesListField(serializers.ListField):
    """A list of choices, documented as an array of the enum; an unknown value is refused
    naming the field, in the words the services use for every way in."""

    def __init__(self, *, choices: Any, **kwargs: Any) -> None:
        super().__init__(child=serializers.ChoiceField(choices=choices), **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, list):
            allowed = set(self.child.choices)  # type: ignore[attr-defined]
            unknown = [item for item in data if item not in allowed]
            if unknown:
                raise serializers.ValidationError(
                    f"Unknown value(s) {unknown!r}; choose from {sorted(allowed)}."
                )
        return super().to_internal_value(data)


class UsernameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", get_user_model().objects.filter(is_active=True))
        super().__init__(slug_field="username", **kwargs)


class VisibleRecordField(serializers.SlugRelatedField):
    """A record named by its uuid, looked up only among those the caller may see
    (``objects.visible_to``): one out of scope reads as missing, like one that does not exist.
    Whether it belongs to the case at hand is the service's check."""

    def __init__(self, model: type[Any], **kwargs: Any) -> None:
        self.model = model
        # The field's own queryset names the model (for the schema) and reads nothing.
        super().__init__(slug_field="uuid", queryset=model.objects.none(), **kwargs)

    def get_queryset(self) -> Any:
        request = self.context.get("request")
        return self.model.objects.visible_to(getattr(request, "user", None))
