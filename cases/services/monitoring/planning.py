"""The post-release monitoring schedule: which contacts are planned for whom and when, for one
case or a set of cases (the jobs over whole caseloads are in :mod:`.jobs`).

How a plan is made (one rule for the single case and for the set-based jobs):

- The cadence comes from the programme's ``MonitoringCadence`` row for the case's risk level,
  or ``DEFAULT_CADENCE``; a case without a risk level is planned as high risk.
- Planning starts from the case's history: the latest recorded contact (met, missed,
  rescheduled; its actual date, else its planned date) or past planned contact, and never
  before the day the case entered monitoring.
- Each next contact comes one interval later; sooner (the threat interval, at the earliest on
  the day the threat starts) when a threat context is active on that day in the person's
  current district (a context of the case's programme, or of no programme). A contact that
  would fall in the past is planned for today: it is due.
- Contacts a person made or touched (planned by a caseworker, moved, annotated: created with
  ``recorded_by`` or with ``version`` above 1) are never deleted; one due no later than the
  next contact plus the programme's grace days stands in for it and the plan continues from it.
- The plan reaches ``plan_ahead_days`` ahead and stops at the end of the monitoring period
  (entry day + the cadence's ``duration_months``).

Only generated contacts still untouched and not yet due (``recorded_by`` empty, version 1,
outcome planned, planned today or later) are ever replaced. Re-planning compares the wanted
dates with them, so running it twice leaves the same rows (same ids): it is idempotent.
"""

from __future__ import annotations

import calendar
import datetime
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from django.db import transaction
from django.db.models import Case as SqlCase
from django.db.models import (
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from cases.models import (
    DEFAULT_CADENCE,
    AuditAction,
    Case,
    ContactOutcome,
    MonitoringCadence,
    MonitoringContact,
    Programme,
    RiskLevel,
    Stage,
    ThreatContext,
)
from cases.selectors import Actor

from ..audit import audit_record

# A case in monitoring without a risk level should not exist (the workflow refuses the move),
# but if one does, silence is the worse failure: it is contacted as often as a high-risk case.
UNKNOWN_RISK_CADENCE = RiskLevel.HIGH

CREATE_BATCH = 1000


class Cadence(NamedTuple):
    interval_days: int
    threat_interval_days: int
    duration_months: int


@dataclass(frozen=True)
class PlanChange:
    """What a (re-)plan did: contacts created and removed, and the cases it changed."""

    created: int = 0
    removed: int = 0
    cases: tuple[str, ...] = ()


# --- cadence ---------------------------------------------------------------------------------


def _default_cadence(risk_level: str) -> Cadence:
    key = RiskLevel(risk_level) if risk_level in RiskLevel.values else UNKNOWN_RISK_CADENCE
    return Cadence(*DEFAULT_CADENCE[key])


def cadence_for(programme: Programme, risk_level: str) -> Cadence:
    """(interval, threat interval, duration in months) for one risk level in ``programme``:
    its own row, else the default. One query."""
    row = (
        MonitoringCadence.objects.filter(programme=programme, risk_level=risk_level)
        .values_list("interval_days", "threat_interval_days", "duration_months")
        .first()
    )
    return Cadence(*row) if row else _default_cadence(risk_level)


def _default_case_expression(index: int) -> SqlCase:
    return SqlCase(
        *[
            When(risk_level=level.value, then=Value(values[index]))
            for level, values in DEFAULT_CADENCE.items()
        ],
        default=Value(DEFAULT_CADENCE[UNKNOWN_RISK_CADENCE][index]),
        output_field=IntegerField(),
    )


def with_cadence(cases: QuerySet[Case]) -> QuerySet[Case]:
    """``cases`` annotated, in the same query, with their cadence: ``cadence_interval_days``,
    ``cadence_threat_interval_days`` and ``cadence_duration_months`` (the programme's row for
    the case's risk level, else the default) — the set-based ``cadence_for``."""
    rows = MonitoringCadence.objects.filter(
        programme=OuterRef("programme"), risk_level=OuterRef("risk_level")
    )
    names = ("interval_days", "threat_interval_days", "duration_months")
    return cases.annotate(
        **{
            f"cadence_{name}": Coalesce(
                Subquery(rows.values(name)[:1]),
                _default_case_expression(index),
                output_field=IntegerField(),
            )
            for index, name in enumerate(names)
        }
    )


# --- threat contexts -------------------------------------------------------------------------


@dataclass(frozen=True)
class Threat:
    id: int
    programme_id: int | None
    districts: tuple[str, ...]
    starts_on: datetime.date
    ends_on: datetime.date | None


def threats_from(queryset: QuerySet[ThreatContext]) -> list[Threat]:
    found = []
    for pk, programme_id, districts, starts_on, ends_on in queryset.values_list(
        "pk", "programme_id", "districts", "starts_on", "ends_on"
    ):
        names = tuple(
            sorted({d for d in districts if isinstance(d, str) and d})
            if isinstance(districts, list)
            else ()
        )
        if names:
            found.append(Threat(pk, programme_id, names, starts_on, ends_on))
    return found


def active_on(day: datetime.date) -> Q:
    return Q(starts_on__lte=day) & (Q(ends_on__isnull=True) | Q(ends_on__gte=day))


def _not_over(day: datetime.date) -> Q:
    """Active on ``day`` or later: what a plan from ``day`` on must take into account."""
    return Q(ends_on__isnull=True) | Q(ends_on__gte=day)


def district_match(threats: Iterable[Threat]) -> Q:
    """Cases living where one of ``threats`` applies. One term per threat (a handful), never
    one per case. Matches nothing when there are no threats."""
    match = Q(pk__in=[])
    for threat in threats:
        term = Q(returnee__current_district__in=threat.districts)
        if threat.programme_id is not None:
            term &= Q(programme_id=threat.programme_id)
        match |= term
    return match


class ThreatIndex:
    def __init__(self, threats: Iterable[Threat]) -> None:
        self._by_district: dict[str, list[Threat]] = defaultdict(list)
        for threat in threats:
            for district in threat.districts:
                self._by_district[district].append(threat)

    def matching(self, programme_id: int, district: str) -> list[Threat]:
        return [
            threat
            for threat in self._by_district.get(district, [])
            if threat.programme_id is None or threat.programme_id == programme_id
        ]


# --- planning --------------------------------------------------------------------------------


def _add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return day.replace(
        year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1])
    )


def _next_contact(
    after: datetime.date, cadence: Cadence, threats: Sequence[Threat]
) -> datetime.date:
    """One interval after ``after``; sooner if a threat is active on a day from the threat
    interval on (at the earliest the day it starts)."""
    regular = after + datetime.timedelta(days=cadence.interval_days)
    soonest = after + datetime.timedelta(days=cadence.threat_interval_days)
    best = regular
    for threat in threats:
        day = max(threat.starts_on, soonest)
        if day < best and (threat.ends_on is None or day <= threat.ends_on):
            best = day
    return best


def _wanted_dates(
    *,
    start: datetime.date,
    fixed: Sequence[datetime.date],
    cadence: Cadence,
    threats: Sequence[Threat],
    today: datetime.date,
    until: datetime.date,
    grace_days: int,
) -> list[datetime.date]:
    """The contacts to generate after ``start`` up to ``until``. ``fixed`` (sorted) are
    planned contacts a person made or touched: each stands in for a generated one."""
    grace = datetime.timedelta(days=grace_days)
    dates: list[datetime.date] = []
    pending = list(fixed)
    last = start
    while True:
        due = max(_next_contact(last, cadence, threats), today)
        while pending and pending[0] <= last:
            pending.pop(0)
        if pending and pending[0] <= due + grace:
            last = pending.pop(0)
            continue
        if due > until:
            return dates
        dates.append(due)
        last = due


class _CaseRow(NamedTuple):
    case_number: str
    programme_id: int
    stage_entered_at: datetime.datetime
    district: str
    plan_ahead_days: int
    grace_days: int
    cadence_interval_days: int
    cadence_threat_interval_days: int
    cadence_duration_months: int
    history_last: datetime.date | None
    furthest: datetime.date | None


def _case_rows(
    cases: QuerySet[Case], *, today: datetime.date, lock: Literal["wait", "skip"]
) -> list[_CaseRow]:
    """The inputs of the plan of every case in monitoring among ``cases``, in one query."""
    contacts = MonitoringContact.objects.filter(case=OuterRef("pk")).order_by().values("case")
    contact_day = Coalesce("actual_date", "planned_date")
    not_yet_due = Q(outcome=ContactOutcome.PLANNED, planned_date__gte=today)
    history = (
        contacts.filter(~not_yet_due | Q(planned_date__isnull=True))
        .annotate(day=Max(contact_day))
        .values("day")
    )
    furthest = contacts.annotate(day=Max(contact_day)).values("day")
    rows = (
        with_cadence(cases.filter(stage=Stage.MONITORING))
        .annotate(
            history_last=Subquery(history),
            furthest=Subquery(furthest),
            district=F("returnee__current_district"),
            plan_ahead_days=F("programme__plan_ahead_days"),
            grace_days=F("programme__contact_grace_days"),
        )
        .order_by("case_number")  # one lock order for every job: no deadlocks between them
        .select_for_update(of=("self",), skip_locked=lock == "skip")
        .values_list(*_CaseRow._fields)
    )
    return [_CaseRow(*row) for row in rows]


# Complexity exception: the re-plan of a batch of cases in one pass (read, keep, drop, add)
# so its statement count stays fixed whatever the batch; the branches are its cases.
def plan_contacts(  # noqa: C901
    cases: QuerySet[Case],
    *,
    today: datetime.date,
    replace: bool,
    lock: Literal["wait", "skip"] = "wait",
) -> PlanChange:
    """Plan the cases in monitoring among ``cases`` in a fixed number of statements.

    ``replace``: re-plan, i.e. bring the untouched future contacts to what the rule wants now
    (cases of ``cases`` that are not in monitoring lose them all). Otherwise only extend: add
    contacts after the furthest one, never remove any.
    """
    rows = _case_rows(cases, today=today, lock=lock)
    index = ThreatIndex(threats_from(ThreatContext.objects.filter(_not_over(today))))

    fixed: dict[str, list[datetime.date]] = defaultdict(list)
    existing: dict[str, dict[datetime.date, list[int]]] = {}
    if replace:
        future = MonitoringContact.objects.filter(
            case__in=cases.values("pk"),
            outcome=ContactOutcome.PLANNED,
            planned_date__gte=today,
        ).values_list("pk", "case_id", "planned_date", "recorded_by_id", "version")
        for pk, case_id, planned_date, recorded_by_id, version in future:
            assert planned_date is not None  # filtered on
            # Generated and untouched: replaceable. Anything a person made or edited stays.
            if recorded_by_id is None and version == 1:
                existing.setdefault(case_id, {}).setdefault(planned_date, []).append(pk)
            else:
                fixed[case_id].append(planned_date)

    to_create: list[MonitoringContact] = []
    to_remove: list[int] = []
    changed: set[str] = set()
    planned_cases = set()
    for row in rows:
        number = row.case_number
        planned_cases.add(number)
        entered = timezone.localdate(row.stage_entered_at)
        cadence = Cadence(
            row.cadence_interval_days,
            row.cadence_threat_interval_days,
            row.cadence_duration_months,
        )
        anchor = row.history_last if replace else row.furthest
        start = max(entered, anchor) if anchor else entered
        until = min(
            today + datetime.timedelta(days=row.plan_ahead_days),
            _add_months(entered, cadence.duration_months),
        )
        wanted = _wanted_dates(
            start=start,
            fixed=sorted(fixed.get(number, [])),
            cadence=cadence,
            threats=index.matching(row.programme_id, row.district),
            today=today,
            until=until,
            grace_days=row.grace_days,
        )
        have = existing.get(number, {})
        wanted_days = set(wanted)
        for day in wanted:
            if day not in have:
                to_create.append(MonitoringContact(case_id=number, planned_date=day))
                changed.add(number)
        for day, ids in have.items():
            keep = 1 if day in wanted_days else 0  # and one only: a race's duplicate goes
            if len(ids) > keep:
                to_remove.extend(ids[keep:])
                changed.add(number)
    # Cases given for re-planning that are no longer in monitoring: nothing stays planned.
    for number, have in existing.items():
        if number not in planned_cases:
            to_remove.extend(pk for ids in have.values() for pk in ids)
            changed.add(number)

    if to_remove:
        MonitoringContact.objects.filter(pk__in=to_remove).delete()
    if to_create:
        MonitoringContact.objects.bulk_create(to_create, batch_size=CREATE_BATCH)
    return PlanChange(created=len(to_create), removed=len(to_remove), cases=tuple(sorted(changed)))


def audit_run(
    *,
    actor: Actor | None,
    action: AuditAction,
    today: datetime.date,
    detail: dict[str, Any],
    object_type: str = "monitoringcontact",
) -> None:
    audit_record(
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=today.isoformat(),
        detail=detail,
    )


@transaction.atomic
def contacts_plan(
    case: Case,
    *,
    today: datetime.date | None = None,
    actor: Actor | None = None,
    reason: str = "",
) -> PlanChange:
    """Re-plan ``case``'s monitoring contacts by the rule in this module's docstring (a case
    not in monitoring keeps no untouched future contacts). Called on entering or leaving
    monitoring, after a contact is recorded, after the risk level changes and when a threat
    context starts or ends in the district. Audited when it changes anything."""
    today = today or timezone.localdate()
    change = plan_contacts(Case.objects.filter(pk=case.pk), today=today, replace=True)
    if change.cases:
        audit_record(
            actor=actor,
            action=AuditAction.CONTACTS_PLAN,
            object_type="case",
            object_id=case.case_number,
            case_number=case.case_number,
            detail={"created": change.created, "removed": change.removed, "reason": reason},
        )
    return change


@transaction.atomic
def cases_replan(
    cases: QuerySet[Case],
    *,
    today: datetime.date | None = None,
    actor: Actor | None = None,
    reason: str = "",
) -> PlanChange:
    """``contacts_plan`` for every case in monitoring among ``cases``, set-based (a fixed
    number of statements), with one audit event listing the cases it changed."""
    today = today or timezone.localdate()
    change = plan_contacts(cases.filter(stage=Stage.MONITORING), today=today, replace=True)
    if change.cases:
        audit_run(
            actor=actor,
            action=AuditAction.CONTACTS_REPLAN,
            today=today,
            detail={
                "cases": list(change.cases),
                "created": change.created,
                "removed": change.removed,
                "reason": reason,
            },
        )
    return change
