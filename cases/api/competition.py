"""The competition lens over the API: serializers for one case's findings and a caseload's
summary per programme stage, and the summary's CSV form (the views are in views.py)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.renderers import BaseRenderer

from cases.competition import (
    CompetitionSummary,
    Finding,
    StageSummary,
    attention_score,
    case_competition,
)
from cases.models import Case, Pillar, Stage

SUMMARY_STAGES = [Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING]


class FindingSerializer(serializers.Serializer[Finding]):
    dimension = serializers.ChoiceField(choices=["speed", "offer", "contact", "exposure"])
    stage = serializers.CharField()
    competing_stage = serializers.CharField()
    severity = serializers.ChoiceField(choices=["high", "medium", "low"])
    code = serializers.CharField(help_text="e.g. speed.intake, offer.livelihood.")
    sentence = serializers.CharField(help_text="Why, in plain language.")
    evidence = serializers.DictField(help_text="The figures and record ids behind the finding.")


class CaseCompetitionSerializer(serializers.Serializer[Any]):
    case_number = serializers.CharField()
    attention_score = serializers.IntegerField(
        help_text="Ranks cases for a supervisor's attention; it decides nothing by itself."
    )
    findings = FindingSerializer(many=True)


class CaseAttentionSerializer(serializers.Serializer[Any]):
    case_number = serializers.CharField()
    attention_score = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())


class StageSummarySerializer(serializers.Serializer[StageSummary]):
    stage = serializers.CharField()
    competing_stage = serializers.CharField()
    cases = serializers.IntegerField()
    median_days = serializers.FloatField(
        allow_null=True,
        help_text="Intake: days from return to intake; later stages: days in the stage.",
    )
    benchmark_days = serializers.FloatField(allow_null=True)
    pillar_missing_share = serializers.DictField(
        child=serializers.FloatField(), help_text="Per pillar: share of cases without it (0-1)."
    )
    contact_shortfall = serializers.IntegerField()
    contacts_missed = serializers.IntegerField()
    exposure_profile = serializers.IntegerField()
    exposure_threat = serializers.IntegerField()
    top_cases = CaseAttentionSerializer(many=True)


class CompetitionSummarySerializer(serializers.Serializer[CompetitionSummary]):
    today = serializers.DateField()
    cases = serializers.IntegerField()
    stages = StageSummarySerializer(many=True)
    computed_at = serializers.DateTimeField(
        help_text=(
            "When the figures were computed. A caseload of 1,000 open cases or more is served "
            "from a summary refreshed every few minutes; a smaller one is computed per request."
        )
    )


class SummaryQuerySerializer(serializers.Serializer[Any]):
    programme = serializers.UUIDField(required=False)
    site = serializers.UUIDField(required=False)
    team = serializers.UUIDField(required=False)
    stage = serializers.ChoiceField(choices=SUMMARY_STAGES, required=False)
    format = serializers.ChoiceField(
        choices=["json", "csv"], required=False, help_text="csv: one row per stage."
    )


CSV_COLUMNS = [
    "stage",
    "competing_stage",
    "cases",
    "median_days",
    "benchmark_days",
    *[f"missing_{pillar}" for pillar in Pillar.values],
    "contact_shortfall",
    "contacts_missed",
    "exposure_profile",
    "exposure_threat",
    "top_cases",
]


def summary_csv_rows(data: dict[str, Any]) -> list[list[Any]]:
    """One row per stage; cases only by their pseudonymous number (with the score)."""
    rows: list[list[Any]] = []
    for stage in data["stages"]:
        rows.append(
            [
                stage["stage"],
                stage["competing_stage"],
                stage["cases"],
                "" if stage["median_days"] is None else stage["median_days"],
                "" if stage["benchmark_days"] is None else stage["benchmark_days"],
                *[stage["pillar_missing_share"][pillar] for pillar in Pillar.values],
                stage["contact_shortfall"],
                stage["contacts_missed"],
                stage["exposure_profile"],
                stage["exposure_threat"],
                " ".join(f"{c['case_number']}:{c['attention_score']}" for c in stage["top_cases"]),
            ]
        )
    return rows


class SummaryCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(summary_csv_rows(data))
        return out.getvalue().encode(self.charset)


def case_competition_body(case: Case) -> dict[str, Any]:
    findings = case_competition(case)
    return {
        "case_number": case.case_number,
        "attention_score": attention_score(findings),
        "findings": [
            {
                "dimension": finding.dimension,
                "stage": finding.stage,
                "competing_stage": finding.competing_stage,
                "severity": finding.severity,
                "code": finding.code,
                "sentence": finding.sentence,
                "evidence": finding.evidence,
            }
            for finding in findings
        ],
    }
