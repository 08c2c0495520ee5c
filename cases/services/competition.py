"""Taking the nightly per-team snapshot of the competition summary (for trends)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from cases.competition import SummaryTally, team_tallies
from cases.models import (
    AuditAction,
    Benchmark,
    Case,
    CompetitionSnapshot,
    FormerRole,
    Pillar,
    Profession,
    Programme,
    TargetProfile,
    Team,
    ThreatContext,
)
from cases.selectors import Actor, programmes_managed
from cases.services.audit import audit_record
from cases.services.common import choices_list, only_fields, validated
from cases.services.errors import ActionNotAllowed, DomainError
from cases.services.monitoring import threat_context_changed


def _jsonable(value: Any) -> Any:
    """Dates to ISO strings, so the stored data reads back as it was written."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


@transaction.atomic
def competition_snapshot_take(
    *, today: datetime.date | None = None, actor: Actor | None = None
) -> int:
    """Store every team's summary for ``today``, one row per programme stage. Set-based: the
    open caseload is read once, a chunk at a time, and each case reduced at once to its
    team's tally (``team_tallies``), so memory does not grow with the caseload; running it
    again the same day updates that day's rows instead of adding more. Returns the number of
    rows written."""
    today = today or timezone.localdate()
    tallies = team_tallies(Case.objects.open(), today=today)
    taken_at = timezone.now()
    rows = []
    team_ids = list(Team.objects.order_by("id").values_list("id", flat=True))
    for team_id in team_ids:
        summary = tallies.get(team_id, SummaryTally()).summary(today=today)
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
        action=AuditAction.COMPETITION_SNAPSHOT,
        object_type="CompetitionSnapshot",
        object_id=today.isoformat(),
        detail={
            "teams": len(team_ids),
            "rows": len(rows),
            "cases": sum(tally.cases for tally in tallies.values()),
        },
    )
    return len(rows)


# --- maintaining the reference data (programme managers) ------------------------------------


def _managed(actor: Actor, programme: Programme | None) -> Programme:
    """The programme, if ``actor`` manages it; otherwise it is as unknown as a missing one."""
    if programme is None or not programmes_managed(user=actor).filter(pk=programme.pk).exists():
        raise ValidationError({"programme": "Unknown programme."})
    return programme


def _require_manager(actor: Actor, row: Benchmark | ThreatContext | TargetProfile) -> None:
    if row.programme_id is None:
        raise ActionNotAllowed(
            "Shipped defaults are not edited: add your programme's own record instead."
        )
    if not programmes_managed(user=actor).filter(pk=row.programme_id).exists():
        raise ActionNotAllowed("Only the programme's managers maintain its reference data.")


def _audit_reference(actor: Actor, row: Any, action: AuditAction, fields: list[str]) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type=type(row).__name__.lower(),
        object_id=str(row.uuid),
        fields=fields,
        detail={"programme": str(row.programme.uuid) if row.programme_id else ""},
    )


BENCHMARK_FIELDS = (
    "competing_stage",
    "region",
    "days_to_reach",
    "days_in_stage",
    "pillars_offered",
    "contacts_per_month",
    "source",
    "source_url",
    "is_estimate",
    "valid_from",
)


@transaction.atomic
def benchmark_create(
    *, actor: Actor, programme: Programme | None, data: dict[str, Any]
) -> Benchmark:
    programme = _managed(actor, programme)
    data = only_fields(data, BENCHMARK_FIELDS)
    data = dict(data)
    data["pillars_offered"] = choices_list(
        data.get("pillars_offered", []), Pillar, field="pillars_offered"
    )
    benchmark = Benchmark(programme=programme, created_by=actor, **data)
    validated(benchmark)
    benchmark.save(force_insert=True)
    _audit_reference(actor, benchmark, AuditAction.BENCHMARK_CREATE, sorted(data))
    return benchmark


@transaction.atomic
def benchmark_revise(*, actor: Actor, benchmark: Benchmark, data: dict[str, Any]) -> Benchmark:
    """A new version from ``valid_from`` on; the old one ends that day and stays for history."""
    benchmark = Benchmark.objects.select_for_update().get(pk=benchmark.pk)
    _require_manager(actor, benchmark)
    if benchmark.valid_to is not None:
        raise DomainError("This version has already been replaced.", code="superseded")
    valid_from = data.get("valid_from")
    if not isinstance(valid_from, datetime.date) or valid_from <= benchmark.valid_from:
        raise ValidationError(
            {"valid_from": "The new version starts after the current one's start."}
        )
    carried = {name: getattr(benchmark, name) for name in BENCHMARK_FIELDS}
    carried.update(data)
    carried["competing_stage"] = benchmark.competing_stage
    benchmark.valid_to = valid_from
    benchmark.save(update_fields=["valid_to"])
    _audit_reference(actor, benchmark, AuditAction.BENCHMARK_CLOSE, ["valid_to"])
    return benchmark_create(actor=actor, programme=benchmark.programme, data=carried)


THREAT_FIELDS = ("districts", "kind", "starts_on", "ends_on", "source", "notes")


@transaction.atomic
def threat_context_create(
    *, actor: Actor, programme: Programme | None, data: dict[str, Any]
) -> ThreatContext:
    programme = _managed(actor, programme)
    data = only_fields(data, THREAT_FIELDS)
    districts = data.get("districts")
    if (
        not isinstance(districts, list)
        or not districts
        or not all(isinstance(d, str) and d.strip() for d in districts)
    ):
        raise ValidationError({"districts": "Name at least one district."})
    threat = ThreatContext(programme=programme, entered_by=actor, **data)
    validated(threat)
    if threat.ends_on is not None and threat.ends_on < threat.starts_on:
        raise ValidationError({"ends_on": "It cannot end before it starts."})
    threat.save(force_insert=True)
    _audit_reference(actor, threat, AuditAction.THREAT_CONTEXT_CREATE, sorted(data))
    # A new threat tightens the cadence of the cases in its districts: re-plan them, and flag
    # them once this commits (the flagging job reads committed rows).
    threat_context_changed(threat=threat, actor=actor)
    return threat


@transaction.atomic
def threat_context_end(
    *, actor: Actor, threat: ThreatContext, ends_on: datetime.date
) -> ThreatContext:
    threat = ThreatContext.objects.select_for_update().get(pk=threat.pk)
    _require_manager(actor, threat)
    if ends_on < threat.starts_on:
        raise ValidationError({"ends_on": "It cannot end before it starts."})
    threat.ends_on = ends_on
    threat.save(update_fields=["ends_on"])
    _audit_reference(actor, threat, AuditAction.THREAT_CONTEXT_END, ["ends_on"])
    # An ended threat no longer tightens their cadence: re-plan the cases in its districts,
    # and clear their flags once this commits.
    threat_context_changed(threat=threat, actor=actor)
    return threat


PROFILE_FIELDS = ("name", "professions", "former_roles", "detention_history", "source")


@transaction.atomic
def target_profile_create(
    *, actor: Actor, programme: Programme | None, data: dict[str, Any]
) -> TargetProfile:
    programme = _managed(actor, programme)
    data = only_fields(data, PROFILE_FIELDS)
    data = dict(data)
    data["professions"] = choices_list(data.get("professions", []), Profession, field="professions")
    data["former_roles"] = choices_list(
        data.get("former_roles", []), FormerRole, field="former_roles"
    )
    profile = TargetProfile(programme=programme, **data)
    validated(profile)
    profile.save(force_insert=True)
    _audit_reference(actor, profile, AuditAction.TARGET_PROFILE_CREATE, sorted(data))
    return profile


@transaction.atomic
def target_profile_deactivate(*, actor: Actor, profile: TargetProfile) -> TargetProfile:
    profile = TargetProfile.objects.select_for_update().get(pk=profile.pk)
    _require_manager(actor, profile)
    if profile.is_active:
        profile.is_active = False
        profile.save(update_fields=["is_active"])
        _audit_reference(actor, profile, AuditAction.TARGET_PROFILE_DEACTIVATE, ["is_active"])
    return profile
