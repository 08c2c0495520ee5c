"""Taking the nightly per-team snapshot of the competition summary (for trends)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections import defaultdict
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from cases.competition import (
    CaseFacts,
    caseload_facts,
    reference_data,
    summary_from_facts,
)
from cases.models import Case, CompetitionSnapshot, Stage, Team
from cases.selectors import Actor
from cases.services.audit import audit_record


def _jsonable(value: Any) -> Any:
    """Dates to ISO strings, so the stored data reads back as it was written."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


@transaction.atomic
def competition_snapshot_take(
    *, today: datetime.date | None = None, actor: Actor | None = None
) -> int:
    """Store every team's summary for ``today``, one row per programme stage. Set-based: the
    open caseload's facts are gathered once and split by team; running it again the same day
    updates that day's rows instead of adding more. Returns the number of rows written."""
    today = today or timezone.localdate()
    open_cases = Case.objects.exclude(stage=Stage.CLOSED)
    facts = caseload_facts(open_cases, today=today)
    refs = reference_data({f.programme_id for f in facts}, on=today)
    team_of = dict(open_cases.values_list("case_number", "team_id"))
    by_team: dict[int, list[CaseFacts]] = defaultdict(list)
    for one in facts:
        by_team[team_of[one.case_number]].append(one)
    taken_at = timezone.now()
    rows = []
    team_ids = list(Team.objects.order_by("id").values_list("id", flat=True))
    for team_id in team_ids:
        summary = summary_from_facts(by_team.get(team_id, []), refs, today=today)
        for stage in summary.stages:
            rows.append(
                CompetitionSnapshot(
                    team_id=team_id,
                    day=today,
                    stage=stage.stage,
                    data=_jsonable(dataclasses.asdict(stage)),
                    taken_at=taken_at,
                )
            )
    CompetitionSnapshot.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["team", "day", "stage"],
        update_fields=["data", "taken_at"],
        batch_size=500,
    )
    audit_record(
        actor=actor,
        action="competition.snapshot",
        object_type="CompetitionSnapshot",
        object_id=today.isoformat(),
        detail={"teams": len(team_ids), "rows": len(rows), "cases": len(facts)},
    )
    return len(rows)
