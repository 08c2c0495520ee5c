"""The supervisor pages: a supervised caseload, its queue, its workload per caseworker and its
trend. Everything here starts from the teams ``user`` oversees (``supervised_teams``), never
from the wider ``case_list``."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.http import Http404

from cases.models import (
    Approval,
    ApprovalStatus,
    Case,
    CompetitionSnapshot,
    Incident,
    Membership,
    MonitoringContact,
    Role,
    Severity,
    Stage,
    SurveyResponse,
    Team,
)
from cases.models.querysets import CaseQuerySet, local_today

from .scope import Viewer, case_list, supervised_teams

OPEN_STAGES = (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)


def _supervised_team_ids(*, user: Viewer | None, teams: Iterable[Team] | None) -> list[int]:
    """Ids of the teams ``user`` oversees, narrowed to ``teams`` when given (never widened).
    Read first (one small query), so the case queries carry the ids themselves: from a
    subquery the planner guessed a supervisor's 2,000 cases at 100,000 and scanned them all."""
    supervised = supervised_teams(user=user)
    if teams is not None:
        supervised = supervised.filter(pk__in=[team.pk for team in teams])
    return list(supervised.values_list("id", flat=True))


def supervised_case_list(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> CaseQuerySet:
    """Cases of the teams ``user`` oversees (``supervised_teams``), optionally narrowed to some
    of them: the supervisor pages start here, not from the wider ``case_list`` (a supervisor
    who is also a caseworker elsewhere does not supervise that other team)."""
    team_ids = _supervised_team_ids(user=user, teams=teams)
    return case_list(user=user).filter(team_id__in=team_ids)


def supervised_case_get(*, user: Viewer | None, case_number: str) -> Case:
    """One case ``user`` oversees, or ``Http404``."""
    try:
        return (
            supervised_case_list(user=user)
            .select_related("team", "caseworker")
            .get(case_number=case_number)
        )
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def caseload_by_stage(cases: QuerySet[Case]) -> dict[str, int]:
    """How many of ``cases`` are at each stage (every stage present, zeros included)."""
    counts = dict(cases.order_by().values_list("stage").annotate(n=Count("pk")))
    return {stage: int(counts.get(stage, 0)) for stage in Stage.values}


def with_overdue_contacts(cases: CaseQuerySet, *, today: datetime.date) -> CaseQuerySet:
    """``cases`` with ``overdue_contacts`` and ``oldest_overdue`` (``CaseQuerySet``)."""
    return cases.with_overdue_contacts(today)


def overdue_contact_cases(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> QuerySet[Case]:
    """Open supervised cases with planned contacts past their date, oldest overdue first, each
    with ``overdue_contacts`` (how many) and ``oldest_overdue`` (the earliest planned date)."""
    today = today or local_today()
    # Narrow to the cases with an overdue contact first (a semi-join on the partial index of
    # planned contacts), so the per-case counts run for those few, not the whole caseload.
    return (
        supervised_case_list(user=user, teams=teams)
        .open()
        .having_overdue_contacts(today)
        .with_overdue_contacts(today)
        .select_related("team", "caseworker")
        .order_by(F("oldest_overdue").asc(), "case_number")
    )


def overdue_contact_totals(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> dict[str, int]:
    """``{"contacts": n, "cases": m}``: overdue planned contacts of open supervised cases."""
    open_cases = supervised_case_list(user=user, teams=teams).open()
    totals = (
        MonitoringContact.objects.overdue(today)
        .filter(case__in=open_cases)
        .aggregate(contacts=Count("id"), cases=Count("case", distinct=True))
    )
    return {"contacts": int(totals["contacts"] or 0), "cases": int(totals["cases"] or 0)}


def approval_queue(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Approval]:
    """Requests waiting for a decision on the cases ``user`` oversees, oldest first."""
    return (
        Approval.objects.filter(
            status=ApprovalStatus.REQUESTED,
            case__in=supervised_case_list(user=user, teams=teams),
        )
        .select_related("case__team", "case__programme", "requested_by", "screening")
        .order_by("requested_at", "id")
    )


def supervised_approval_get(*, user: Viewer | None, approval_uuid: uuid.UUID | str) -> Approval:
    """One approval (any status) on a case ``user`` oversees, or ``Http404``."""
    try:
        return (
            Approval.objects.filter(case__in=supervised_case_list(user=user))
            .select_related("case__team", "case__programme", "requested_by", "decided_by")
            .select_related("screening")
            .get(uuid=approval_uuid)
        )
    except (Approval.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such approval.") from None


def incidents_by_severity(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, since: datetime.date
) -> dict[str, int]:
    """Incidents on supervised cases since ``since``, counted per severity (zeros included)."""
    counts = dict(
        Incident.objects.filter(
            case__in=supervised_case_list(user=user, teams=teams), occurred_on__gte=since
        )
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    return {severity: int(counts.get(severity, 0)) for severity in Severity.values}


def survey_score_drops(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Case]:
    """Open supervised cases whose latest survey scored lower overall than the one before it,
    the largest fall first. Each case carries ``latest_score``, ``previous_score``,
    ``score_drop`` and ``latest_taken_on``; two queries whatever the caseload (the supervised
    team ids, then the cases, with a correlated subquery per surveyed case on the
    (case, taken_on) index)."""
    ordered = SurveyResponse.objects.filter(case=OuterRef("pk")).order_by("-taken_on", "-id")
    score = DecimalField(max_digits=5, decimal_places=2)
    return (
        supervised_case_list(user=user, teams=teams)
        .open()
        # Only cases with a survey at all (a semi-join) get the per-case subqueries.
        .filter(Exists(SurveyResponse.objects.filter(case=OuterRef("pk"))))
        .annotate(
            latest_score=Subquery(ordered.values("overall_score")[:1], output_field=score),
            previous_score=Subquery(ordered.values("overall_score")[1:2], output_field=score),
            latest_taken_on=Subquery(ordered.values("taken_on")[:1]),
        )
        .filter(latest_score__lt=F("previous_score"))
        .annotate(
            score_drop=ExpressionWrapper(
                F("previous_score") - F("latest_score"), output_field=score
            )
        )
        .select_related("team", "caseworker")
        .order_by(F("score_drop").desc(), "case_number")
    )


# --- workload per caseworker ------------------------------------------------------------------


def team_caseworkers(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Membership]:
    """Caseworker memberships (active accounts) of the teams ``user`` oversees: who a case
    may be given to. One row per caseworker and team."""
    return (
        Membership.objects.active()
        .filter(role=Role.CASEWORKER, team_id__in=_supervised_team_ids(user=user, teams=teams))
        .select_related("user", "team")
        .order_by("user__username", "team__name")
    )


@dataclass(frozen=True)
class CaseworkerLoad:
    """One caseworker's open cases in the supervised teams (``username`` empty: unassigned)."""

    username: str
    teams: list[str]
    is_member: bool
    open_cases: int
    by_stage: dict[str, int]
    overdue_contacts: int
    high_risk: int


def caseworker_workload(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> list[CaseworkerLoad]:
    """Per caseworker of the supervised teams: open cases, by stage, overdue contacts and
    high-risk cases. Three or four aggregate queries, whatever the caseload; caseworkers with
    nothing open are listed with zeros, and cases nobody holds come last as one row."""
    members = list(team_caseworkers(user=user, teams=teams))
    open_cases = supervised_case_list(user=user, teams=teams).open()
    per_stage = {str(stage): Count("pk", filter=Q(stage=stage)) for stage in OPEN_STAGES}
    case_rows: dict[int | None, dict[str, Any]] = {
        row["caseworker_id"]: dict(row)
        for row in open_cases.order_by()
        .values("caseworker_id")
        .annotate(open=Count("pk"), high=Count("pk", filter=Q(risk_level="high")), **per_stage)
    }
    overdue = dict(
        MonitoringContact.objects.overdue(today)
        .filter(case__in=open_cases)
        .order_by()
        .values_list("case__caseworker_id")
        .annotate(n=Count("id"))
    )
    usernames: dict[int, str] = {}
    team_names: dict[int, list[str]] = {}
    for membership in members:
        usernames[membership.user_id] = membership.user.get_username()
        team_names.setdefault(membership.user_id, []).append(
            membership.team.name if membership.team else ""
        )
    former = [uid for uid in case_rows if uid is not None and uid not in usernames]
    if former:
        usernames.update(User.objects.filter(pk__in=former).values_list("pk", "username"))

    def load(user_id: int | None) -> CaseworkerLoad:
        row = case_rows.get(user_id, {})
        return CaseworkerLoad(
            username=usernames.get(user_id, "") if user_id is not None else "",
            teams=team_names.get(user_id, []) if user_id is not None else [],
            is_member=user_id in team_names,
            open_cases=int(row.get("open", 0)),
            by_stage={str(stage): int(row.get(str(stage), 0)) for stage in OPEN_STAGES},
            overdue_contacts=int(overdue.get(user_id, 0)),
            high_risk=int(row.get("high", 0)),
        )

    ids = sorted(usernames, key=lambda uid: usernames[uid])
    loads = [load(uid) for uid in ids]
    if None in case_rows:
        loads.append(load(None))
    return loads


# --- the competition trend --------------------------------------------------------------------

_TREND_COUNTS = (
    "cases",
    "contact_shortfall",
    "contacts_missed",
    "exposure_profile",
    "exposure_threat",
)


@dataclass(frozen=True)
class TrendDay:
    """The supervised teams' competition snapshots of one day, added up over teams and stages.

    ``days_over_benchmark`` is per stage the median days minus the benchmark's days, averaged
    over the teams weighted by their cases in that stage (exact when one team is shown)."""

    day: datetime.date
    cases: int
    contact_shortfall: int
    contacts_missed: int
    exposure_profile: int
    exposure_threat: int
    days_over_benchmark: dict[str, float | None]


def competition_trend(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, since: datetime.date
) -> list[TrendDay]:
    """One point per day since ``since`` that has snapshots (``competition_snapshot_take``),
    from one query over the stored per-team rows, never recomputed from the records."""
    rows = (
        CompetitionSnapshot.objects.filter(
            team_id__in=_supervised_team_ids(user=user, teams=teams), day__gte=since
        )
        .order_by("day")
        .values_list("day", "stage", "data")
    )
    totals: dict[datetime.date, dict[str, int]] = {}
    gaps: dict[datetime.date, dict[str, list[float]]] = {}
    for day, stage, data in rows:
        if not isinstance(data, dict):
            continue
        day_totals = totals.setdefault(day, dict.fromkeys(_TREND_COUNTS, 0))
        for name in _TREND_COUNTS:
            day_totals[name] += int(data.get(name) or 0)
        median, benchmark = data.get("median_days"), data.get("benchmark_days")
        weight = int(data.get("cases") or 0)
        if median is not None and benchmark is not None and weight:
            sums = gaps.setdefault(day, {}).setdefault(stage, [0.0, 0.0])
            sums[0] += (float(median) - float(benchmark)) * weight
            sums[1] += weight
    out = []
    for day, counted in totals.items():
        day_gaps = gaps.get(day, {})
        out.append(
            TrendDay(
                day=day,
                cases=counted["cases"],
                contact_shortfall=counted["contact_shortfall"],
                contacts_missed=counted["contacts_missed"],
                exposure_profile=counted["exposure_profile"],
                exposure_threat=counted["exposure_threat"],
                days_over_benchmark={
                    str(stage): (
                        round(day_gaps[stage][0] / day_gaps[stage][1], 1)
                        if stage in day_gaps
                        else None
                    )
                    for stage in OPEN_STAGES
                },
            )
        )
    return out
