"""Filters for case lists, one class for the API and the pages alike."""

from __future__ import annotations

import django_filters
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from cases.models import Case, MonitoringContact, RiskLevel, Stage


def overdue_contacts() -> QuerySet[MonitoringContact]:
    """Planned contacts whose date has passed, for the case in the outer query."""
    return MonitoringContact.objects.filter(
        case=OuterRef("pk"), outcome="planned", planned_date__lt=timezone.now().date()
    )


class CaseFilterSet(django_filters.FilterSet):
    stage = django_filters.MultipleChoiceFilter(choices=Stage.choices)
    risk_level = django_filters.MultipleChoiceFilter(choices=RiskLevel.choices)
    team = django_filters.UUIDFilter(field_name="team__uuid")
    caseworker = django_filters.CharFilter(field_name="caseworker__username")
    district = django_filters.CharFilter(field_name="returnee__current_district")
    overdue = django_filters.BooleanFilter(method="filter_overdue", label="Has overdue contacts")
    opened_after = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="gte")
    opened_before = django_filters.IsoDateTimeFilter(field_name="opened_at", lookup_expr="lt")
    closed_after = django_filters.IsoDateTimeFilter(field_name="closed_at", lookup_expr="gte")
    closed_before = django_filters.IsoDateTimeFilter(field_name="closed_at", lookup_expr="lt")
    case_number = django_filters.CharFilter(method="filter_case_number", label="Case number")

    class Meta:
        model = Case
        fields: list[str] = []

    def filter_overdue(self, queryset: QuerySet[Case], name: str, value: bool) -> QuerySet[Case]:
        condition = Exists(overdue_contacts())
        return queryset.filter(condition if value else ~condition)

    def filter_case_number(self, queryset: QuerySet[Case], name: str, value: str) -> QuerySet[Case]:
        """Exact number, or its beginning (people read them out over the phone)."""
        value = value.strip().upper()
        return queryset.filter(Q(case_number=value) | Q(case_number__startswith=value))
