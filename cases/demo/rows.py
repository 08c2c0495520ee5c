"""A chunk of demo cases as plain rows, and the order the tables are written in."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import models

from cases.bulkload import Row
from cases.models import (
    Approval,
    Case,
    ConsentRecord,
    Incident,
    IntakeRecord,
    MonitoringContact,
    Returnee,
    ScreeningAssessment,
    StageTransition,
    SupportProvision,
    TrainingEnrolment,
)

# Parents before the rows that point at them.
WRITE_ORDER: list[type[models.Model]] = [
    Returnee,
    Case,
    IntakeRecord,
    ConsentRecord,
    ScreeningAssessment,
    Approval,
    StageTransition,
    TrainingEnrolment,
    SupportProvision,
    MonitoringContact,
    Incident,
]
PEOPLE_CASES = (Returnee, Case)


@dataclass
class Batch:
    """Rows for one chunk of cases, as plain column dicts, written table by table."""

    rows: dict[type[models.Model], list[Row]] = field(default_factory=dict)

    def add(self, model: type[models.Model], **row: Any) -> Row:
        self.rows.setdefault(model, []).append(row)
        return row

    def records(self) -> int:
        """Stage records and monitoring contacts: every row but the people and cases."""
        return sum(len(rows) for model, rows in self.rows.items() if model not in PEOPLE_CASES)
