"""Print a programme's competition summary per stage for a terminal: where the group
out-competes the programme, and the cases (by number only) to look at first."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.competition import CompetitionSummary, competition_summary
from cases.models import Case, Pillar, Programme

COLUMNS = ("stage", "vs", "cases", "median d", "bench d", "missing pillars", "contact", "exposed")


def _programme(value: str) -> Programme:
    try:
        return Programme.objects.get(uuid=uuid.UUID(value))
    except (ValueError, Programme.DoesNotExist):
        pass
    found = list(Programme.objects.filter(name__iexact=value)[:2])
    if len(found) != 1:
        raise CommandError(
            f"No programme named {value!r}." if not found else f"Several named {value!r}."
        )
    return found[0]


def _days(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render_table(summary: CompetitionSummary) -> list[str]:
    rows = [COLUMNS]
    for s in summary.stages:
        missing = ", ".join(
            f"{pillar} {share:.0%}"
            for pillar, share in s.pillar_missing_share.items()
            if share and pillar in Pillar.values
        )
        rows.append(
            (
                s.stage,
                s.competing_stage,
                str(s.cases),
                _days(s.median_days),
                _days(s.benchmark_days),
                missing or "-",
                f"{s.contact_shortfall} short, {s.contacts_missed} missed",
                f"{s.exposure_profile} profile, {s.exposure_threat} threat",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for s in summary.stages:
        if not s.top_cases:
            continue
        lines += ["", f"Look first ({s.stage}):"]
        for case in s.top_cases:
            lines.append(f"  {case.case_number}  score {case.attention_score}")
            lines += [f"    - {reason}" for reason in case.reasons]
    return lines


class Command(BaseCommand):
    help = "Print a programme's competition summary per stage (cases by number only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--programme", required=True, help="The programme's uuid or name.")
        parser.add_argument(
            "--date",
            type=datetime.date.fromisoformat,
            default=None,
            help="The day to compare on (YYYY-MM-DD); today by default.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        programme = _programme(options["programme"])
        summary = competition_summary(
            Case.objects.filter(programme=programme), today=options["date"]
        )
        self.stdout.write(f"{programme.name}: {summary.cases} open cases on {summary.today}")
        for line in render_table(summary):
            self.stdout.write(line)
