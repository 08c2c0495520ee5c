"""The jobs that keep the monitoring schedule current across whole caseloads: plan ahead,
mark missed, flag the cases where a threat context is active (and re-plan them).

Each works through the caseload ``JOB_BATCH`` cases or contacts at a time, in key order, each
batch in its own transaction with its own audit event: a worker holds one batch whatever the
caseload, and a run stopped midway keeps the batches it committed (every job is idempotent: the
next run does the rest).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from cases.models import (
    AuditAction,
    Case,
    CaseFlag,
    CaseFlagKind,
    ContactOutcome,
    MonitoringContact,
    Programme,
    Stage,
    ThreatContext,
)
from cases.models.querysets import CaseQuerySet
from cases.selectors import Actor

from ..queue import enqueue_on_commit
from .planning import (
    CREATE_BATCH,
    PlanChange,
    Threat,
    ThreatIndex,
    active_on,
    audit_run,
    cases_replan,
    district_match,
    plan_contacts,
    threats_from,
)

# The whole-caseload jobs work through it this many cases or contacts at a time.
JOB_BATCH = 2000


def _case_ranges(cases: CaseQuerySet, size: int) -> Iterator[CaseQuerySet]:
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
    change = plan_contacts(cases, today=today, replace=False, lock="skip")
    if change.created:
        audit_run(
            actor=None,
            action=AuditAction.CONTACTS_PLAN_AHEAD,
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
    due = MonitoringContact.objects.planned().filter(overdue).of_open_cases()
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
    audit_run(
        actor=None,
        action=AuditAction.CONTACTS_MARK_MISSED,
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
    event): a fixed number of statements a batch (the re-plan too: ``plan_contacts`` over the
    batch's changed cases only). Returns the number of flags raised (new or raised again; a
    racing run may count the same flag, which exists once); a second run raises none."""
    today = today or timezone.localdate()
    active = threats_from(ThreatContext.objects.filter(active_on(today)))
    raised = 0
    for cases in _case_ranges(Case.objects.all(), batch or JOB_BATCH):
        raised += _flag_batch(cases, active=active, today=today)
    return raised


@transaction.atomic
def _flag_batch(cases: CaseQuerySet, *, active: list[Threat], today: datetime.date) -> int:
    """``threat_contexts_flag`` for the cases ``cases`` (a range of case numbers)."""
    now = timezone.now()
    index = ThreatIndex(active)
    current: set[tuple[str, int]] = set()
    if active:
        candidates = (
            cases.open()
            .filter(district_match(active))
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
            batch_size=CREATE_BATCH,
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
    replan = plan_contacts(
        cases.filter(pk__in=sorted(flagged_cases | cleared_cases), stage=Stage.MONITORING),
        today=today,
        replace=True,
    )
    audit_run(
        actor=None,
        action=AuditAction.CASE_FLAGS_THREAT_CONTEXT,
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
    described = threats_from(ThreatContext.objects.filter(pk=threat.pk))
    change = PlanChange()
    if described:
        change = cases_replan(
            Case.objects.filter(district_match(described)),
            today=today,
            actor=actor,
            reason="threat_context",
        )
    enqueue_on_commit(
        "cases.threat_contexts_flag",
        unsent="threat contexts: flagging not started now; beat runs it shortly",
    )
    return change
