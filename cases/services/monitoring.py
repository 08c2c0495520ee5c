"""The post-release monitoring schedule: which contacts are planned for whom and when, and the
jobs that keep it current across whole caseloads (plan ahead, mark missed, flag threats).

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
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
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
    Case,
    CaseFlag,
    CaseFlagKind,
    ContactOutcome,
    MonitoringCadence,
    MonitoringContact,
    Programme,
    RiskLevel,
    Stage,
    ThreatContext,
)
from cases.selectors import Actor

from .audit import audit_record

logger = logging.getLogger(__name__)

# A case in monitoring without a risk level should not exist (the workflow refuses the move),
# but if one does, silence is the worse failure: it is contacted as often as a high-risk case.
UNKNOWN_RISK_CADENCE = RiskLevel.HIGH

_CREATE_BATCH = 1000
# The whole-caseload jobs below (plan ahead, mark missed, flag threats) work through it this
# many cases or contacts at a time, in key order, each batch in its own transaction with its
# own audit event: a worker holds one batch whatever the caseload, and a run stopped midway
# keeps the batches it committed (every job is idempotent: the next run does the rest).
JOB_BATCH = 2000


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
class _Threat:
    id: int
    programme_id: int | None
    districts: tuple[str, ...]
    starts_on: datetime.date
    ends_on: datetime.date | None


def _threats(queryset: QuerySet[ThreatContext]) -> list[_Threat]:
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
            found.append(_Threat(pk, programme_id, names, starts_on, ends_on))
    return found


def _active_on(day: datetime.date) -> Q:
    return Q(starts_on__lte=day) & (Q(ends_on__isnull=True) | Q(ends_on__gte=day))


def _not_over(day: datetime.date) -> Q:
    """Active on ``day`` or later: what a plan from ``day`` on must take into account."""
    return Q(ends_on__isnull=True) | Q(ends_on__gte=day)


def _district_match(threats: Iterable[_Threat]) -> Q:
    """Cases living where one of ``threats`` applies. One term per threat (a handful), never
    one per case. Matches nothing when there are no threats."""
    match = Q(pk__in=[])
    for threat in threats:
        term = Q(returnee__current_district__in=threat.districts)
        if threat.programme_id is not None:
            term &= Q(programme_id=threat.programme_id)
        match |= term
    return match


class _ThreatIndex:
    def __init__(self, threats: Iterable[_Threat]) -> None:
        self._by_district: dict[str, list[_Threat]] = defaultdict(list)
        for threat in threats:
            for district in threat.districts:
                self._by_district[district].append(threat)

    def matching(self, programme_id: int, district: str) -> list[_Threat]:
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
    after: datetime.date, cadence: Cadence, threats: Sequence[_Threat]
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
    threats: Sequence[_Threat],
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


def _plan(
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
    index = _ThreatIndex(_threats(ThreatContext.objects.filter(_not_over(today))))

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
        MonitoringContact.objects.bulk_create(to_create, batch_size=_CREATE_BATCH)
    return PlanChange(created=len(to_create), removed=len(to_remove), cases=tuple(sorted(changed)))


def _audit_run(
    *,
    actor: Actor | None,
    action: str,
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


def _case_ranges(cases: QuerySet[Case], size: int) -> Iterator[QuerySet[Case]]:
    """``cases`` cut into consecutive ranges of case numbers of at most ``size`` cases each,
    in order; one query a range (its upper bound), read as the previous range is done."""
    after: str | None = None
    while True:
        rest = cases if after is None else cases.filter(pk__gt=after)
        bound = list(rest.order_by("pk").values_list("pk", flat=True)[size - 1 : size])
        if not bound:
            yield rest
            return
        yield rest.filter(pk__lte=bound[0])
        after = bound[0]


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
    change = _plan(Case.objects.filter(pk=case.pk), today=today, replace=True)
    if change.cases:
        audit_record(
            actor=actor,
            action="contacts.plan",
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
    change = _plan(cases.filter(stage=Stage.MONITORING), today=today, replace=True)
    if change.cases:
        _audit_run(
            actor=actor,
            action="contacts.replan",
            today=today,
            detail={
                "cases": list(change.cases),
                "created": change.created,
                "removed": change.removed,
                "reason": reason,
            },
        )
    return change


def monitoring_plan_all(*, today: datetime.date | None = None, batch: int | None = None) -> int:
    """Nightly: extend the plan of every case in monitoring whose furthest contact is closer
    than its programme plans ahead. Set-based, ``batch`` cases at a time (``JOB_BATCH``), each
    batch in its own transaction with its own audit event: one query reads the batch's
    cadences, histories and furthest contacts, one statement per thousand new contacts writes
    them; cases a user is changing right now are skipped (their own re-plan covers them).
    Returns the number of contacts created; a second run the same day creates none."""
    today = today or timezone.localdate()
    created = 0
    for cases in _case_ranges(Case.objects.filter(stage=Stage.MONITORING), batch or JOB_BATCH):
        created += _plan_ahead(cases, today=today)
    return created


@transaction.atomic
def _plan_ahead(cases: QuerySet[Case], *, today: datetime.date) -> int:
    change = _plan(cases, today=today, replace=False, lock="skip")
    if change.created:
        _audit_run(
            actor=None,
            action="contacts.plan_ahead",
            today=today,
            detail={"cases": list(change.cases), "created": change.created},
        )
    return change.created


# --- missed contacts -------------------------------------------------------------------------


def contacts_mark_missed(*, today: datetime.date | None = None, batch: int | None = None) -> int:
    """Mark as missed every planned contact of an open case whose planned date plus its
    programme's grace days is before ``today`` (planned date kept, no actual date), bumping
    its version so a concurrent edit sees the change. ``batch`` contacts at a time
    (``JOB_BATCH``, by id), each batch in its own transaction with one audit event listing
    its cases. Returns the number marked; a second run marks none."""
    today = today or timezone.localdate()
    graces = Programme.objects.order_by().values_list("contact_grace_days", flat=True).distinct()
    # One term per distinct grace period (a handful), not per programme or case.
    overdue = Q(pk__in=[])
    for grace in graces:
        overdue |= Q(
            case__programme__contact_grace_days=grace,
            planned_date__lt=today - datetime.timedelta(days=grace),
        )
    due = MonitoringContact.objects.filter(overdue, outcome=ContactOutcome.PLANNED).exclude(
        case__stage=Stage.CLOSED
    )
    size = batch or JOB_BATCH
    marked, after = 0, 0
    while True:
        done, last = _mark_missed_batch(due.filter(pk__gt=after), size=size, today=today)
        marked += done
        if last is None:
            return marked
        after = last


@transaction.atomic
def _mark_missed_batch(
    due: QuerySet[MonitoringContact], *, size: int, today: datetime.date
) -> tuple[int, int | None]:
    """Mark the first ``size`` of ``due``; returns how many, and the last id read (None when
    there were fewer than ``size``: the run is over)."""
    rows = list(
        due.order_by("pk")
        # A contact a caseworker is recording right now is left for the next run.
        .select_for_update(of=("self",), skip_locked=True)
        .values_list("pk", "case_id")[:size]
    )
    if not rows:
        return 0, None
    marked = MonitoringContact.objects.filter(
        pk__in=[pk for pk, _ in rows], outcome=ContactOutcome.PLANNED
    ).update(outcome=ContactOutcome.MISSED, version=F("version") + 1)
    _audit_run(
        actor=None,
        action="contacts.mark_missed",
        today=today,
        detail={"cases": sorted({case for _, case in rows}), "contacts": marked},
    )
    return marked, rows[-1][0] if len(rows) >= size else None


# --- threat contexts -------------------------------------------------------------------------


def threat_contexts_flag(*, today: datetime.date | None = None, batch: int | None = None) -> int:
    """Flag every open case living where a threat context is active (one flag per case and
    threat), clear the flags whose cause is over (the threat ended, the person moved, the case
    closed), raise again a cleared flag whose cause is back, and re-plan the cases whose flags
    changed at the cadence that now applies. Set-based, ``batch`` cases at a time
    (``JOB_BATCH``, a range of case numbers each, in its own transaction with its own audit
    event): a fixed number of statements a batch (the re-plan too: ``_plan`` over the batch's
    changed cases only). Returns the number of flags raised (new or raised again; a racing run
    may count the same flag, which exists once); a second run raises none."""
    today = today or timezone.localdate()
    active = _threats(ThreatContext.objects.filter(_active_on(today)))
    raised = 0
    for cases in _case_ranges(Case.objects.all(), batch or JOB_BATCH):
        raised += _flag_batch(cases, active=active, today=today)
    return raised


@transaction.atomic
def _flag_batch(cases: QuerySet[Case], *, active: list[_Threat], today: datetime.date) -> int:
    """``threat_contexts_flag`` for the cases ``cases`` (a range of case numbers)."""
    now = timezone.now()
    index = _ThreatIndex(active)
    current: set[tuple[str, int]] = set()
    if active:
        candidates = (
            cases.exclude(stage=Stage.CLOSED)
            .filter(_district_match(active))
            .values_list("case_number", "programme_id", "returnee__current_district")
        )
        for number, programme_id, district in candidates:
            for threat in index.matching(programme_id, district):
                current.add((number, threat.id))

    known: dict[tuple[str, int], tuple[int, bool]] = {}
    flags = CaseFlag.objects.filter(
        case__in=cases.order_by().values("pk"), kind=CaseFlagKind.THREAT_CONTEXT
    ).filter(Q(cleared_at__isnull=True) | Q(threat_id__in=[t.id for t in active]))
    for pk, case_id, threat_id, cleared_at in flags.values_list(
        "pk", "case_id", "threat_id", "cleared_at"
    ):
        if threat_id is not None:
            known[(case_id, threat_id)] = (pk, cleared_at is not None)

    new = sorted(current - known.keys())
    raise_again = [known[pair][0] for pair in current & known.keys() if known[pair][1]]
    clear = [pk for pair, (pk, cleared) in known.items() if pair not in current and not cleared]
    if new:
        CaseFlag.objects.bulk_create(
            [
                CaseFlag(case_id=number, kind=CaseFlagKind.THREAT_CONTEXT, threat_id=threat_id)
                for number, threat_id in new
            ],
            ignore_conflicts=True,  # a racing run flagged it first: one flag stands
            batch_size=_CREATE_BATCH,
        )
    if raise_again:
        CaseFlag.objects.filter(pk__in=raise_again).update(cleared_at=None, raised_at=now)
    if clear:
        CaseFlag.objects.filter(pk__in=clear, cleared_at__isnull=True).update(cleared_at=now)

    flagged_cases = {number for number, _ in new} | {
        pair[0] for pair in current & known.keys() if known[pair][1]
    }
    cleared_ids = set(clear)
    cleared_cases = {pair[0] for pair, (pk, _) in known.items() if pk in cleared_ids}
    if not (flagged_cases or cleared_cases):
        return 0
    replan = _plan(
        cases.filter(pk__in=sorted(flagged_cases | cleared_cases), stage=Stage.MONITORING),
        today=today,
        replace=True,
    )
    _audit_run(
        actor=None,
        action="case_flags.threat_context",
        today=today,
        object_type="caseflag",
        detail={
            "flagged": sorted(flagged_cases),
            "cleared": sorted(cleared_cases),
            "replanned": list(replan.cases),
            "contacts_created": replan.created,
            "contacts_removed": replan.removed,
        },
    )
    return len(new) + len(raise_again)


def threat_context_changed(
    *, threat: ThreatContext, actor: Actor | None, today: datetime.date | None = None
) -> PlanChange:
    """After a threat context is entered or ended: re-plan the cases in monitoring in its
    districts now (same transaction), and run the flagging job once the change commits (beat
    runs it every 15 minutes anyway, so a broker that is down loses nothing)."""
    today = today or timezone.localdate()
    described = _threats(ThreatContext.objects.filter(pk=threat.pk))
    change = PlanChange()
    if described:
        change = cases_replan(
            Case.objects.filter(_district_match(described)),
            today=today,
            actor=actor,
            reason="threat_context",
        )
    transaction.on_commit(_queue_flagging)
    return change


def _queue_flagging() -> None:
    from cases.tasks import threat_contexts_flag_task

    try:
        # No publish retries: a request must not wait on a broker that is down.
        threat_contexts_flag_task.apply_async(retry=False)
    except Exception:
        logger.warning("threat contexts: flagging not started now; beat runs it shortly")
