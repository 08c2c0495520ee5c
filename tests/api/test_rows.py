"""The case list renders rows through a plan compiled from CaseSerializer: its output must be
the serializer's own, field for field, whatever the case holds."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework import serializers

from cases import selectors
from cases.api.rows import row_plan
from cases.api.serializers import CaseDetailSerializer, CaseSerializer
from cases.models import IDENTITY_FIELDS, Case, Stage

from ..conftest import case_at


def test_the_plan_renders_what_the_serializer_renders(world):
    cases = [
        case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice),
        case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice),
        case_at(Stage.CLOSED, team=world.team_b, caseworker=world.bob),
        case_at(Stage.SCREENING, team=world.team_c),  # nobody assigned
    ]
    Case.objects.filter(pk=cases[1].pk).update(risk_level="high")
    plan = row_plan(CaseSerializer)
    queryset = selectors.case_list_with_summary(user=world.mona).order_by("case_number")
    rows = list(queryset.values(*plan.columns))
    instances = list(queryset)
    assert len(rows) == len(instances) == 4
    assert plan.many(rows) == list(CaseSerializer(instances, many=True).data)
    assert any(row["caseworker"] is None for row in plan.many(rows))
    assert {row["risk_level"] for row in plan.many(rows)} >= {"high", ""}


def test_the_plan_asks_only_for_the_columns_the_serializer_shows(world):
    columns = set(row_plan(CaseSerializer).columns)
    assert {"case_number", "team__uuid", "caseworker__username", "returnee__person_number"} <= (
        columns
    )
    assert not columns & {f"returnee__{name}" for name in IDENTITY_FIELDS}


def test_a_serializer_with_computed_fields_cannot_be_planned():
    with pytest.raises(TypeError, match="moves"):
        row_plan(CaseDetailSerializer)

    class Listing(serializers.Serializer[Any]):
        cases = CaseSerializer(many=True)

    with pytest.raises(TypeError, match="nested lists"):
        row_plan(Listing)
