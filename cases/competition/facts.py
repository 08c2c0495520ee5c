"""Gathering the facts the rules read: a programme's reference data on a day, one case's facts
through its related records, and a caseload's in a fixed number of set-based queries (all at
once, or streamed a chunk at a time)."""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from cases.models import (
    Benchmark,
    Case,
    ContactOutcome,
    MonitoringContact,
    StageTransition,
    SupportProvision,
    TargetProfile,
    ThreatContext,
)
from cases.models.querysets import overdue_condition

from .rules import ENTRY_STAGES, CaseFacts, Finding, ReferenceData, findings_for

# --- reference data ---------------------------------------------------------------------------


def reference_data(programme_ids: Iterable[int], *, on: datetime.date) -> dict[int, ReferenceData]:
    """Benchmarks in force on ``on`` (a programme's own over the shipped default), active
    profiles and the threat contexts active that day: three queries, whatever the caseload."""
    ids = set(programme_ids)
    book = ReferenceBook(on=on, programme_ids=ids)
    return {programme_id: book[programme_id] for programme_id in ids}


class ReferenceBook(dict[int, ReferenceData]):
    """``reference_data`` for programmes not known in advance: the rows are read in three
    queries (of ``programme_ids``, or of every programme: a handful of rows each), and a
    programme's ``ReferenceData`` is put together the first time it is asked for. Lets a
    caller stream a caseload without first listing its programmes."""

    def __init__(self, *, on: datetime.date, programme_ids: Iterable[int] | None = None) -> None:
        super().__init__()
        in_scope = Q()
        if programme_ids is not None:
            in_scope = Q(programme__isnull=True) | Q(programme_id__in=set(programme_ids))
        self._benchmarks = list(
            Benchmark.objects.filter(in_scope, valid_from__lte=on)
            .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
            .order_by("valid_from", "id")
        )
        self._profiles = list(TargetProfile.objects.filter(in_scope, is_active=True).order_by("id"))
        self._threats = list(
            ThreatContext.objects.filter(in_scope, starts_on__lte=on)
            .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
            .order_by("starts_on", "id")
        )

    def __missing__(self, programme_id: int) -> ReferenceData:
        chosen: dict[str, Benchmark] = {}
        for row in self._benchmarks:  # later valid_from wins; a programme's own over defaults
            if row.programme_id not in (None, programme_id):
                continue
            current = chosen.get(row.competing_stage)
            if current is not None and current.programme_id is not None and not row.programme_id:
                continue
            chosen[row.competing_stage] = row
        found = self[programme_id] = ReferenceData(
            benchmarks=chosen,
            profiles=[p for p in self._profiles if p.programme_id in (None, programme_id)],
            threats=[t for t in self._threats if t.programme_id in (None, programme_id)],
        )
        return found


# --- one case ---------------------------------------------------------------------------------


def _date(value: datetime.datetime | None) -> datetime.date | None:
    return timezone.localdate(value) if value is not None else None


def facts_for_case(case: Case, *, today: datetime.date) -> CaseFacts:
    """One case's facts through its related records (a handful of small queries)."""
    intake = getattr(case, "intake", None)
    entered: dict[str, datetime.date | None] = {}
    for stage in ENTRY_STAGES:
        latest = case.transitions.filter(to_stage=stage).order_by("-at").first()
        entered[stage] = _date(latest.at) if latest else None
    contacts = list(case.contacts.all())
    return CaseFacts(
        case_number=case.case_number,
        programme_id=case.programme_id,
        team_id=case.team_id,
        stage=case.stage,
        district=case.returnee.current_district,
        profession=case.returnee.profession,
        former_role=case.returnee.former_role,
        detention_history=case.returnee.detention_history,
        return_date=intake.return_date if intake else None,
        intake_date=intake.intake_date if intake else None,
        entered=entered,
        pillars_received=frozenset(case.support.values_list("pillar", flat=True)),
        contacts_met_30=sum(
            1 for c in contacts if _met_since(c, today - datetime.timedelta(days=30), today)
        ),
        contacts_met_90=sum(
            1 for c in contacts if _met_since(c, today - datetime.timedelta(days=90), today)
        ),
        contacts_missed=sum(1 for c in contacts if _missed(c, today)),
    )


def _met_since(contact: MonitoringContact, since: datetime.date, today: datetime.date) -> bool:
    return (
        contact.outcome == ContactOutcome.MET
        and contact.actual_date is not None
        and since <= contact.actual_date <= today
    )


def _missed(contact: MonitoringContact, today: datetime.date) -> bool:
    """Missed, or overdue (``MonitoringContact.objects.overdue``) for a contact in memory."""
    if contact.outcome == ContactOutcome.MISSED:
        return True
    return (
        contact.outcome == ContactOutcome.PLANNED
        and contact.planned_date is not None
        and contact.planned_date < today
    )


def case_competition(case: Case, *, today: datetime.date | None = None) -> list[Finding]:
    today = today or timezone.localdate()
    facts = facts_for_case(case, today=today)
    ref = reference_data([case.programme_id], on=today)[case.programme_id]
    return findings_for(facts, ref, today)


# --- a whole caseload -------------------------------------------------------------------------


# Cases whose facts ``caseload_facts_streamed`` holds at once: a few MB of facts and lookups,
# four queries a chunk (at 100,000 cases: twenty chunks).
FACTS_CHUNK = 5000

_FACT_COLUMNS = (
    "case_number",
    "programme_id",
    "team_id",
    "stage",
    "returnee__current_district",
    "returnee__profession",
    "returnee__former_role",
    "returnee__detention_history",
    "intake__return_date",
    "intake__intake_date",
)


def caseload_facts(cases: QuerySet[Case], *, today: datetime.date) -> list[CaseFacts]:
    """Every case's facts in four queries, whatever the caseload: the cases themselves, then
    one grouped aggregate each over their stage moves, monitoring contacts and support, joined
    here by case number. (Correlated subqueries per column would ask the database for six
    lookups per case: at 100,000 cases that was four times slower.) All of them in memory at
    once: over a whole caseload, ``caseload_facts_streamed`` holds one chunk at a time."""
    return list(_chunked_facts(cases, today=today, chunk=None))


def caseload_facts_streamed(
    cases: QuerySet[Case], *, today: datetime.date, chunk: int | None = None
) -> Iterator[CaseFacts]:
    """The facts of ``caseload_facts``, one case at a time, gathered ``chunk`` cases at a time
    (``FACTS_CHUNK``) in case-number order (keyset: each chunk is the next range of case
    numbers, so no chunk re-reads another's). Holds one chunk's facts, whatever the caseload:
    four queries a chunk (one more when the caseload is an exact number of chunks)."""
    return _chunked_facts(cases, today=today, chunk=chunk or FACTS_CHUNK)


def _chunked_facts(
    cases: QuerySet[Case], *, today: datetime.date, chunk: int | None
) -> Iterator[CaseFacts]:
    """``chunk=None``: all at once."""
    after: str | None = None
    while True:
        rest = cases if after is None else cases.filter(pk__gt=after)
        ordered = rest.order_by("pk").values_list(*_FACT_COLUMNS)
        rows = list(ordered if chunk is None else ordered[:chunk])
        if not rows:
            return
        if chunk is not None:
            rest = rest.filter(pk__lte=rows[-1][0])  # this chunk's range, for the lookups
        yield from _facts(rows, rest.order_by().values("pk"), today=today)
        if chunk is None or len(rows) < chunk:
            return
        after = rows[-1][0]


def _facts(
    rows: list[tuple[Any, ...]], ids: QuerySet[Case, Any], *, today: datetime.date
) -> Iterator[CaseFacts]:
    """The facts of the cases ``rows`` (``_FACT_COLUMNS``), whose case numbers ``ids``
    selects: three grouped lookups, joined here by case number."""
    entered: dict[str, dict[str, datetime.date | None]] = defaultdict(dict)
    for number, stage, at in (
        StageTransition.objects.filter(case__in=ids, to_stage__in=ENTRY_STAGES)
        .order_by()
        .values_list("case_id", "to_stage")
        .annotate(latest=Max("at"))
    ):
        entered[number][stage] = _date(at)
    since_30 = today - datetime.timedelta(days=30)
    since_90 = today - datetime.timedelta(days=90)
    met = Q(outcome=ContactOutcome.MET, actual_date__lte=today)
    missed = Q(outcome=ContactOutcome.MISSED) | overdue_condition(today)
    contacts = {
        number: (met_30, met_90, missed_n)
        for number, met_30, met_90, missed_n in MonitoringContact.objects.filter(case__in=ids)
        .filter((met & Q(actual_date__gte=since_90)) | missed)
        .order_by()
        .values_list("case_id")
        .annotate(
            met_30=Count("id", filter=met & Q(actual_date__gte=since_30)),
            met_90=Count("id", filter=met & Q(actual_date__gte=since_90)),
            missed=Count("id", filter=missed),
        )
    }
    pillars: dict[str, set[str]] = defaultdict(set)
    for number, pillar in (
        SupportProvision.objects.filter(case__in=ids)
        .order_by()
        .values_list("case_id", "pillar")
        .distinct()
    ):
        pillars[number].add(pillar)
    for row in rows:
        number = row[0]
        met_30, met_90, missed_n = contacts.get(number, (0, 0, 0))
        moves = entered.get(number, {})
        yield CaseFacts(
            case_number=number,
            programme_id=row[1],
            team_id=row[2],
            stage=row[3],
            district=row[4],
            profession=row[5],
            former_role=row[6],
            detention_history=row[7],
            return_date=row[8],
            intake_date=row[9],
            entered={stage: moves.get(stage) for stage in ENTRY_STAGES},
            pillars_received=frozenset(pillars.get(number, ())),
            contacts_met_30=met_30,
            contacts_met_90=met_90,
            contacts_missed=missed_n,
        )


def caseload_competition(
    cases: QuerySet[Case], *, today: datetime.date | None = None
) -> dict[str, list[Finding]]:
    """Findings for every case in ``cases`` (already scoped by the selectors): seven queries
    whatever the caseload's size."""
    today = today or timezone.localdate()
    facts = caseload_facts(cases, today=today)
    refs = reference_data({f.programme_id for f in facts}, on=today)
    return {f.case_number: findings_for(f, refs[f.programme_id], today) for f in facts}
