"""What every form of the case file shares: the field helpers, the input rules every way in
applies (``RulesModelForm``), the record form that leaves out what a role may not set
(``RecordForm``), and how a value reads to a person."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, ClassVar, cast

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _

from cases import validators
from cases.models import Case

CHOOSE = ("", _("Choose…"))
NOT_RECORDED = ("", _("Not recorded"))
# Fields a form carries for the page, not for the record.
CONTROL_FIELDS = frozenset({"version", "reason"})


class DateInput(forms.DateInput):
    """A native date picker; the value travels as ISO 8601 whatever the page's language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


def date_field(label: Any, *, required: bool = True, help_text: Any = "") -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput(), help_text=help_text)


def choice_field(
    label: Any,
    choices: Iterable[tuple[str, Any]],
    *,
    required: bool = True,
    blank: tuple[str, Any] | None = CHOOSE,
    help_text: Any = "",
) -> forms.ChoiceField:
    options = list(choices)
    if blank is not None and not any(value == "" for value, _label in options):
        options = [blank, *options]
    return forms.ChoiceField(label=label, choices=options, required=required, help_text=help_text)


def checks_field(
    label: Any, choices: Iterable[tuple[str, Any]], *, required: bool = False, help_text: Any = ""
) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=list(choices),
        required=required,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


def text_field(label: Any, *, max_length: int | None = None, required: bool = False) -> Any:
    return forms.CharField(label=label, max_length=max_length, required=required)


def long_text_field(label: Any, *, required: bool = False, help_text: Any = "") -> Any:
    return forms.CharField(
        label=label,
        required=required,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=help_text,
    )


def short_date(value: datetime.date | datetime.datetime) -> str:
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return formats.date_format(value, "SHORT_DATE_FORMAT")


class RulesModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """A model form that also applies the input rules every way in shares
    (``cases.validators``: control characters, the column's length, the dates a field can
    hold), so a page refuses on the field, as soon as it is sent, what the service that later
    writes the record would refuse. ``rules_of`` maps a form field that is not a model field to
    the model field whose rules it takes."""

    rules_of: ClassVar[dict[str, str]] = {}

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        today = timezone.localdate()
        refused = []
        for name, value in self.cleaned_data.items():
            if self.has_error(name):
                continue
            try:
                field = self._meta.model._meta.get_field(self.rules_of.get(name, name))
            except FieldDoesNotExist:
                continue
            if isinstance(field, models.Field):
                refused += [
                    (name, message)
                    for message in validators.value_errors(field, value, today=today)
                ]
        for name, message in refused:
            self.add_error(name, message)


class RecordForm(forms.Form):
    """The fields of one kind of record.

    ``restricted_fields()`` names the fields this user may not set: they are left out of the
    form, and a value posted for one of them makes the whole submission invalid. An edit form
    (``versioned=True``) carries the version the user read, which the service checks.
    """

    error_css_class = "field-error"
    # Fields whose values are not attributes of the record (derived in ``values_of``).
    derived_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *args: Any,
        case: Case,
        user: User,
        versioned: bool = False,
        **kwargs: Any,
    ) -> None:
        self.case = case
        self.user = user
        super().__init__(*args, **kwargs)
        self.refused = {
            name: self.fields.pop(name).label
            for name in self.restricted_fields()
            if name in self.fields
        }
        if versioned:
            self.fields["version"] = forms.IntegerField(
                label=_("Version"), min_value=1, widget=forms.HiddenInput
            )

    def restricted_fields(self) -> list[str]:
        return []

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        """The visible fields in groups, each with its legend (``None``: no group)."""
        return [(None, self.visible_fields())]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, label in self.refused.items():
            posted = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if any(str(value).strip() for value in posted):
                self.add_error(
                    None,
                    _("Your role does not allow you to set “%(field)s”.") % {"field": label},
                )
        return cleaned

    def record_field_names(self) -> list[str]:
        return [name for name in self.fields if name not in CONTROL_FIELDS]

    def service_data(self) -> dict[str, Any]:
        """What the service takes, from the cleaned values."""
        return {name: self.cleaned_data[name] for name in self.record_field_names()}

    @classmethod
    def values_of(cls, instance: Any) -> dict[str, Any]:
        """A saved record's values, in the shape ``cleaned_data`` has."""
        return {
            name: getattr(instance, name)
            for name in cls.base_fields
            if name not in CONTROL_FIELDS and name not in cls.derived_fields
        }

    @classmethod
    def to_initial(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Cleaned-shape values as the widgets' initial values."""
        return dict(values)

    def changes_from(self, instance: Any) -> dict[str, Any]:
        """The record fields whose submitted value differs from ``instance`` (a list that
        holds the same choices in another order is no change)."""
        saved = self.values_of(instance)
        changes = {}
        for name in self.record_field_names():
            new, old = self.cleaned_data.get(name), saved.get(name)
            if isinstance(new, list) and isinstance(old, list) and sorted(new) == sorted(old):
                continue
            if new != old:
                changes[name] = new
        return changes

    def display_rows(self, values: dict[str, Any]) -> list[tuple[str, Any, str]]:
        """(name, label, value for people) for each record field, for the conflict view."""
        return [
            (name, self.fields[name].label, display_value(self.fields[name], values.get(name)))
            for name in self.record_field_names()
        ]


def display_value(field: forms.Field, value: Any) -> str:
    """A value as a person reads it: choice labels, localised dates, "—" for nothing."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(field, forms.BooleanField):
        return str(_("Yes") if value else _("No"))
    if isinstance(field, forms.MultipleChoiceField):
        labels = dict(cast(Iterable[tuple[Any, Any]], field.choices))
        return ", ".join(str(labels.get(item, item)) for item in value)
    if isinstance(field, forms.ChoiceField):
        labels = dict(cast(Iterable[tuple[Any, Any]], field.choices))
        key = value if isinstance(value, str) else str(getattr(value, "uuid", value))
        return str(labels.get(key, value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return short_date(value)
    if isinstance(value, dict):
        return "\n".join(f"{question}: {answer}" for question, answer in value.items())
    return str(value)


class ReasonForm(forms.Form):
    error_css_class = "field-error"

    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )
