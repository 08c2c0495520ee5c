"""Filters for case lists, one class for the API and the pages alike."""

from __future__ import annotations

import datetime
from typing import Any

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet, Subquery
from django.utils import timezone
from django_filters.widgets import BooleanWidget
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from cases.models import Case, RiskLevel, Stage, Team
from cases.models.querysets import CaseQuerySet


class UTCDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 date-time compared in UTC. Python accepts offsets up to ±23:59, PostgreSQL
    only up to ±15:59; converting first keeps a far-flung offset a valid filter, not a 500."""

    def filter(self, qs: QuerySet[Any], value: datetime.datetime | None) -> QuerySet[Any]:
        if value is not None and timezone.is_aware(value):
            value = value.astimezone(datetime.UTC)
        filtered: QuerySet[Any] = super().filter(qs, value)
        return filtered


class StrictBooleanWidget(BooleanWidget):
    """``true``/``false`` (and ``1``/``0``) as django-filter reads them, but any other value
    is passed on for the field to refuse, not read as "no filter"."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        raw = data.get(name)
        if raw in (None, ""):
            return None
        value = super().value_from_datadict(data, files, name)
        return raw if value is None else value


class StrictNullBooleanField(forms.NullBooleanField):
    def to_python(self, value: Any) -> bool | None:  # type: ignore[override]
        if isinstance(value, str):
            raise forms.ValidationError("Give true or false.", code="invalid")
        return super().to_python(value)


class StrictBooleanFilter(django_filters.BooleanFilter):
    """A yes/no filter that refuses what is neither (the API's ``?overdue=maybe`` is a 400,
    not the whole list); the pages keep their own select."""

    field_class = StrictNullBooleanField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", StrictBooleanWidget)
        super().__init__(*args, **kwargs)


@extend_schema_field(OpenApiTypes.UUID)
class UUIDFilterBy(django_filters.UUIDFilter):
    """A uuid filter with its own method, still documented as a uuid in the schema."""


def _id_of(queryset: QuerySet[Any]) -> Subquery:
    """The id of the one row ``queryset`` names, as a scalar subquery: the database resolves it
    once, then filters the cases by id on an index, instead of joining every case to the table
    that holds the name (at 100,000 cases the join reads the whole caseload)."""
    return Subquery(queryset.values("id")[:1])


class CaseFilterSet(django_filters.FilterSet):
    # ``distinct=False``: one case has one stage and one risk level, so no duplicate rows to
    # remove, and SELECT DISTINCT over the list's columns (ciphertext included) is costly.
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices, distinct=False)
    risk_level = django_filters.MultipleChoiceFilter(choices=RiskLevel.choices, distinct=False)
    team = UUIDFilterBy(method="filter_team", label="Team uuid")
    caseworker = django_filters.CharFilter(method="filter_caseworker", label="Caseworker username")
    district = django_filters.CharFilter(field_name="returnee__current_district")
    overdue = StrictBooleanFilter(method="filter_overdue", label="Has overdue contacts")
    opened_after = UTCDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = UTCDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    closed_after = UTCDateTimeFilter(field_name="closed_at", lookup_expr="gte")
    closed_before = UTCDateTimeFilter(field_name="closed_at", lookup_expr="lt")
    case_number = django_filters.CharFilter(method="filter_case_number", label="Case number")

    class Meta:
        model = Case
        fields: list[str] = []

    def filter_team(self, queryset: QuerySet[Case], name: str, value: Any) -> QuerySet[Case]:
        return queryset.filter(team_id=_id_of(Team.objects.filter(uuid=value)))

    def filter_caseworker(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        users = get_user_model().objects.filter(username=value)
        return queryset.filter(caseworker_id=_id_of(users))

    def filter_overdue(self, queryset: CaseQuerySet, name: str, value: bool) -> CaseQuerySet:
        if value:
            return queryset.having_overdue_contacts()
        return queryset.without_overdue_contacts()

    def filter_case_number(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        """Exact number, or its beginning (people read them out over the phone)."""
        value = value.strip().upper()
        return queryset.filter(Q(case_number=value) | Q(case_number__startswith=value))
