"""The comparison engine: each programme stage against the group's competing stage, in four
dimensions — speed, offer, contact, exposure — each finding explained down to the records and
figures behind it.

Two ways in, one rule book: ``case_competition`` gathers one case's facts with plain related
queries; ``caseload_competition`` gathers thousands of cases' facts in a fixed number of
set-based queries. Both hand the same ``CaseFacts`` to ``findings_for``, and a test holds them
equal. The findings rank cases for a supervisor's attention; nothing here changes a case.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop

from cases.models import (
    COMPETES_WITH,
    Benchmark,
    Case,
    CompetingStage,
    ContactOutcome,
    MonitoringContact,
    Pillar,
    Stage,
    StageTransition,
    SupportProvision,
    TargetProfile,
    ThreatContext,
    ThreatKind,
)

SPEED, OFFER, CONTACT, EXPOSURE = "speed", "offer", "contact", "exposure"
HIGH, MEDIUM, LOW = "high", "medium", "low"
SEVERITY_RANK = {HIGH: 3, MEDIUM: 2, LOW: 1}
CRITICAL_PILLARS = frozenset({Pillar.SECURITY, Pillar.LIVELIHOOD})
# The stages whose latest entry the rules measure from.
ENTRY_STAGES = (Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)


class Lowered:
    """A label shown in lower case inside a sentence, translated only when the sentence is."""

    __slots__ = ("label",)

    def __init__(self, label: Any) -> None:
        self.label = label

    def __str__(self) -> str:
        return str(self.label).lower()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Lowered) and str(self.label) == str(other.label)

    def __hash__(self) -> int:
        return hash(str(self.label))


class Say:
    """A finding's sentence, put into words (in the reader's language) only when read.

    A summary of 100,000 cases ranks every case on codes and severities but reads the
    sentences of a handful: translating them all cost two thirds of its time."""

    __slots__ = ("params", "template")

    def __init__(self, template: str, params: dict[str, Any]) -> None:
        self.template = template
        self.params = params

    def __str__(self) -> str:
        return gettext(self.template) % {
            key: str(value) if isinstance(value, Lowered | Promise) else value
            for key, value in self.params.items()
        }

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Say):
            return (self.template, self.params) == (other.template, other.params)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.template)

    def __repr__(self) -> str:
        return f"Say({self.template!r})"


@dataclass(frozen=True)
class Finding:
    dimension: str
    stage: str
    competing_stage: str
    severity: str
    code: str
    say: Say = field(repr=False)
    evidence: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)

    @property
    def sentence(self) -> str:
        """Why, in plain language and the active language."""
        return str(self.say)


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about one case, however it was gathered."""

    case_number: str
    programme_id: int
    team_id: int
    stage: str
    district: str
    profession: str
    former_role: str
    detention_history: bool
    return_date: datetime.date | None
    intake_date: datetime.date | None
    entered: dict[str, datetime.date | None]  # latest entry into screening/training/monitoring
    pillars_received: frozenset[str]
    contacts_met_30: int
    contacts_met_90: int
    contacts_missed: int


@dataclass
class ReferenceData:
    """A programme's benchmarks (by competing stage), target profiles and active threats."""

    benchmarks: dict[str, Benchmark]
    profiles: list[TargetProfile]
    threats: list[ThreatContext]
    _keys: dict[int, str] = field(default_factory=dict, repr=False, compare=False)

    def key(self, row: Benchmark | TargetProfile | ThreatContext) -> str:
        """The row's uuid as text, for a finding's evidence: formatted once per row, which
        lives as long as this object (so its ``id`` is a safe key)."""
        found = self._keys.get(id(row))
        if found is None:
            found = self._keys[id(row)] = str(row.uuid)
        return found


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


# --- the rules --------------------------------------------------------------------------------


# The rules run once per case over whole caseloads: plain strings and label tables here, not
# enum lookups in the loop (a third of the rules' time at 100,000 cases).
_INTAKE, _SCREENING, _TRAINING, _MONITORING = (
    str(Stage.INTAKE.value),
    str(Stage.SCREENING.value),
    str(Stage.TRAINING.value),
    str(Stage.MONITORING.value),
)
_FLOW = (_INTAKE, _SCREENING, _TRAINING, _MONITORING)
_REPENTANCE = str(CompetingStage.REPENTANCE.value)
_INSTITUTE = str(CompetingStage.SHARIA_INSTITUTE.value)
_GROUP_MONITORING = str(CompetingStage.MONITORING.value)
_STAGE_LABELS = dict(zip(Stage.values, Stage.labels, strict=True))
_PILLAR_LABELS = dict(zip(Pillar.values, Pillar.labels, strict=True))
_COMPETING_LABELS = dict(zip(CompetingStage.values, CompetingStage.labels, strict=True))
_THREAT_LABELS = dict(zip(ThreatKind.values, ThreatKind.labels, strict=True))


def _severity(actual: int, benchmark: int) -> str:
    return HIGH if actual > 2 * max(benchmark, 1) else MEDIUM


def _speed(facts: CaseFacts, ref: ReferenceData, today: datetime.date) -> list[Finding]:
    out = []
    repentance = ref.benchmarks.get(_REPENTANCE)
    if (
        repentance
        and repentance.days_to_reach is not None
        and facts.return_date
        and facts.intake_date
    ):
        days = (facts.intake_date - facts.return_date).days
        if days > repentance.days_to_reach:
            out.append(
                Finding(
                    SPEED,
                    _INTAKE,
                    _REPENTANCE,
                    _severity(days, repentance.days_to_reach),
                    "speed.intake",
                    Say(
                        gettext_noop(
                            "Intake came %(days)s days after return, %(behind)s days behind the "
                            "group's repentance registration (%(benchmark)s days)."
                        ),
                        {
                            "days": days,
                            "behind": days - repentance.days_to_reach,
                            "benchmark": repentance.days_to_reach,
                        },
                    ),
                    {
                        "days": days,
                        "benchmark_days": repentance.days_to_reach,
                        "benchmark": ref.key(repentance),
                        "return_date": facts.return_date.isoformat(),
                        "intake_date": facts.intake_date.isoformat(),
                    },
                )
            )
    institute = ref.benchmarks.get(_INSTITUTE)
    if institute and institute.days_in_stage is not None:
        for stage, ended_by in (
            (_SCREENING, _TRAINING),
            (_TRAINING, _MONITORING),
        ):
            started = facts.entered.get(stage)
            if started is None:
                continue
            if facts.stage == stage:
                ended = today
            else:
                ended_on = facts.entered.get(ended_by)
                if ended_on is None or ended_on < started:
                    continue
                ended = ended_on
            days = (ended - started).days
            if days > institute.days_in_stage:
                out.append(
                    Finding(
                        SPEED,
                        stage,
                        _INSTITUTE,
                        _severity(days, institute.days_in_stage),
                        "speed." + stage,
                        Say(
                            gettext_noop(
                                "%(stage)s has taken %(days)s days, %(behind)s more than the "
                                "group's Shari'a Institute processing (%(benchmark)s days)."
                            ),
                            {
                                "stage": _STAGE_LABELS[stage],
                                "days": days,
                                "behind": days - institute.days_in_stage,
                                "benchmark": institute.days_in_stage,
                            },
                        ),
                        {
                            "days": days,
                            "benchmark_days": institute.days_in_stage,
                            "benchmark": ref.key(institute),
                            "entered": started.isoformat(),
                        },
                    )
                )
    return out


def _offer(facts: CaseFacts, ref: ReferenceData, today: datetime.date) -> list[Finding]:
    """The pillars the group offers at the stages this case has reached that the case has
    not received, each attributed to the earliest competing stage that offers it."""
    reached = _FLOW[: _FLOW.index(facts.stage) + 1]
    seen: set[str] = set()
    out = []
    since = (today - facts.intake_date).days if facts.intake_date else None
    for stage in reached:
        competing = COMPETES_WITH[stage]
        benchmark = ref.benchmarks.get(competing)
        if benchmark is None:
            continue
        for pillar in benchmark.pillars_offered:
            if pillar in seen or pillar in facts.pillars_received:
                continue
            seen.add(pillar)
            late = since is not None and since > 30
            out.append(
                Finding(
                    OFFER,
                    stage,
                    competing,
                    HIGH if pillar in CRITICAL_PILLARS and late else MEDIUM,
                    "offer." + pillar,
                    Say(
                        gettext_noop(
                            "No %(pillar)s support %(days)s days after intake; the group offers "
                            "it at %(competing)s."
                        ),
                        {
                            "pillar": Lowered(_PILLAR_LABELS[pillar]),
                            "days": since if since is not None else "?",
                            "competing": _COMPETING_LABELS[competing],
                        },
                    ),
                    {
                        "pillar": pillar,
                        "days_since_intake": since,
                        "benchmark": ref.key(benchmark),
                    },
                )
            )
    return out


def _contact(facts: CaseFacts, ref: ReferenceData) -> list[Finding]:
    if facts.stage != _MONITORING:
        return []
    out = []
    benchmark = ref.benchmarks.get(_GROUP_MONITORING)
    if benchmark and benchmark.contacts_per_month is not None:
        expected = float(benchmark.contacts_per_month)
        if facts.contacts_met_30 < expected:
            out.append(
                Finding(
                    CONTACT,
                    _MONITORING,
                    _GROUP_MONITORING,
                    HIGH if facts.contacts_met_30 == 0 else MEDIUM,
                    "contact.shortfall",
                    Say(
                        gettext_noop(
                            "%(met)s contacts kept in the last 30 days (%(met90)s in 90); "
                            "the group keeps about %(expected)s a month."
                        ),
                        {
                            "met": facts.contacts_met_30,
                            "met90": facts.contacts_met_90,
                            "expected": f"{expected:g}",
                        },
                    ),
                    {
                        "met_30": facts.contacts_met_30,
                        "met_90": facts.contacts_met_90,
                        "benchmark_per_month": f"{expected:g}",
                        "benchmark": ref.key(benchmark),
                    },
                )
            )
    if facts.contacts_missed:
        out.append(
            Finding(
                CONTACT,
                _MONITORING,
                _GROUP_MONITORING,
                HIGH if facts.contacts_missed >= 2 else MEDIUM,
                "contact.missed",
                Say(
                    gettext_noop("%(missed)s planned contacts missed or overdue."),
                    {"missed": facts.contacts_missed},
                ),
                {"missed": facts.contacts_missed},
            )
        )
    return out


def _exposure(facts: CaseFacts, ref: ReferenceData) -> list[Finding]:
    out = []
    competing = COMPETES_WITH[facts.stage]
    for profile in ref.profiles:
        reasons = []
        if facts.profession in profile.professions:
            reasons.append(facts.profession)
        if facts.former_role in profile.former_roles:
            reasons.append(facts.former_role)
        if profile.detention_history and facts.detention_history:
            reasons.append("detention_history")
        if reasons:
            out.append(
                Finding(
                    EXPOSURE,
                    facts.stage,
                    competing,
                    MEDIUM,
                    "exposure.profile",
                    Say(
                        gettext_noop("Matches a profile the group targets: %(profile)s (%(why)s)."),
                        {"profile": profile.name, "why": ", ".join(reasons)},
                    ),
                    {"profile": ref.key(profile), "matched": reasons},
                )
            )
    for threat in ref.threats:
        if facts.district and facts.district in threat.districts:
            out.append(
                Finding(
                    EXPOSURE,
                    facts.stage,
                    competing,
                    HIGH,
                    "exposure." + threat.kind,
                    Say(
                        gettext_noop(
                            "Lives in %(district)s, where a threat context is active: %(kind)s."
                        ),
                        {"district": facts.district, "kind": _THREAT_LABELS[threat.kind]},
                    ),
                    {
                        "threat_context": ref.key(threat),
                        "district": facts.district,
                        "since": threat.starts_on.isoformat(),
                    },
                )
            )
    return out


def findings_for(facts: CaseFacts, ref: ReferenceData, today: datetime.date) -> list[Finding]:
    if facts.stage == Stage.CLOSED:
        return []
    return [
        *_speed(facts, ref, today),
        *_offer(facts, ref, today),
        *_contact(facts, ref),
        *_exposure(facts, ref),
    ]


def attention_score(findings: list[Finding]) -> int:
    """Orders cases for a supervisor's attention: high findings first, then how many."""
    return sum(SEVERITY_RANK[f.severity] ** 2 for f in findings)


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
    missed = Q(outcome=ContactOutcome.MISSED) | Q(
        outcome=ContactOutcome.PLANNED, planned_date__lt=today
    )
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


# --- a caseload's summary, per programme stage ------------------------------------------------

SUMMARY_STAGES = (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)
TOP_CASES = 5


@dataclass(frozen=True)
class CaseAttention:
    """One case to look at first, and why: its case number (never identity) and findings."""

    case_number: str
    attention_score: int
    reasons: list[str]


@dataclass(frozen=True)
class StageSummary:
    """Where the group out-competes the programme at one stage, over the cases now in it.

    ``median_days`` measures what the benchmark measures: for intake, days from return to
    intake (against the repentance registration's days to reach it); for the later stages,
    days since the case entered the stage (against the competing stage's days in stage).
    """

    stage: str
    competing_stage: str
    cases: int
    median_days: float | None
    benchmark_days: float | None
    pillar_missing_share: dict[str, float]
    contact_shortfall: int
    contacts_missed: int
    exposure_profile: int
    exposure_threat: int
    top_cases: list[CaseAttention]


@dataclass(frozen=True)
class CompetitionSummary:
    today: datetime.date
    cases: int
    stages: list[StageSummary]
    # When the figures were computed: a large caseload's summary is served from a cache that
    # a background job refreshes (cases/services/summaries.py).
    computed_at: datetime.datetime | None = None


def _median(counts: Counter[int]) -> float | None:
    """The median of the values counted in ``counts`` (value: how many times): the median of
    the list they stand for, held in as many entries as there are distinct values."""
    size = sum(counts.values())
    if not size:
        return None
    middle = size // 2
    wanted = [middle] if size % 2 else [middle - 1, middle]
    found: list[int] = []
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        while wanted and wanted[0] < seen:
            found.append(value)
            wanted.pop(0)
        if not wanted:
            break
    if size % 2:
        return float(found[0])
    return (found[0] + found[1]) / 2


def _stage_days(
    facts: CaseFacts, ref: ReferenceData, today: datetime.date
) -> tuple[int | None, int | None]:
    """The case's days at its current stage and the benchmark's days for the same measure."""
    benchmark = ref.benchmarks.get(COMPETES_WITH[facts.stage])
    if facts.stage == Stage.INTAKE:
        days = (
            (facts.intake_date - facts.return_date).days
            if facts.intake_date and facts.return_date
            else None
        )
        return days, benchmark.days_to_reach if benchmark else None
    entered = facts.entered.get(facts.stage)
    days = (today - entered).days if entered else None
    return days, benchmark.days_in_stage if benchmark else None


_THREAT_CODES = frozenset(f"exposure.{kind}" for kind in ThreatKind.values)
# The top cases' candidates are cut back to the best ``top`` once there are this many.
_RANKED_SLACK = 64


def _rank_key(item: tuple[int, str, list[Finding]]) -> tuple[int, str]:
    return item[0], item[1]


@dataclass
class _StageTally:
    """One stage's figures so far: counts, and each measure's values counted by value."""

    cases: int = 0
    days: Counter[int] = field(default_factory=Counter)
    benchmark_days: Counter[int] = field(default_factory=Counter)
    having: Counter[str] = field(default_factory=Counter)  # finding code: cases having it
    # Candidates for the top cases, (-score, case number, findings): the best of a union of
    # caseloads is among the best of each, so only the best ``top`` need be kept.
    ranked: list[tuple[int, str, list[Finding]]] = field(default_factory=list)

    def cut(self, top: int) -> None:
        self.ranked.sort(key=_rank_key)
        del self.ranked[top:]


class SummaryTally:
    """A caseload's summary added up one case at a time, in memory that does not grow with
    the caseload: per stage a few counters and the ``top`` cases so far, never the cases
    themselves. Tallies of separate caseloads (say, each team's) merge into the tally of
    their union, so a caseload is read once and summarised several ways."""

    __slots__ = ("stages", "top")

    def __init__(self, *, top: int = TOP_CASES) -> None:
        self.top = top
        self.stages: dict[str, _StageTally] = {s: _StageTally() for s in SUMMARY_STAGES}

    @property
    def cases(self) -> int:
        return sum(stage.cases for stage in self.stages.values())

    def add(
        self, facts: CaseFacts, findings: list[Finding], ref: ReferenceData, today: datetime.date
    ) -> None:
        """Count one case (a case in no summary stage, i.e. closed, is left out)."""
        stage = self.stages.get(facts.stage)
        if stage is None:
            return
        stage.cases += 1
        actual, benchmark = _stage_days(facts, ref, today)
        if actual is not None:
            stage.days[actual] += 1
        if benchmark is not None:
            stage.benchmark_days[benchmark] += 1
        codes = {x.code for x in findings}
        stage.having.update(codes)  # each code once per case: "cases having it"
        if codes & _THREAT_CODES:
            stage.having["exposure.threat"] += 1
        if findings:
            stage.ranked.append((-attention_score(findings), facts.case_number, findings))
            if len(stage.ranked) >= self.top + _RANKED_SLACK:
                stage.cut(self.top)

    def merge(self, other: SummaryTally) -> None:
        """Add ``other``'s cases (a separate caseload) to this tally; ``other`` is unchanged."""
        for name, mine in self.stages.items():
            theirs = other.stages[name]
            mine.cases += theirs.cases
            mine.days.update(theirs.days)
            mine.benchmark_days.update(theirs.benchmark_days)
            mine.having.update(theirs.having)
            mine.ranked.extend(theirs.ranked)
            mine.cut(self.top)

    @classmethod
    def merged(cls, parts: Iterable[SummaryTally], *, top: int = TOP_CASES) -> SummaryTally:
        """The tally of the union of separate caseloads."""
        out = cls(top=top)
        for part in parts:
            out.merge(part)
        return out

    def summary(self, *, today: datetime.date) -> CompetitionSummary:
        """The summary of the cases added, in the active language (the top cases' reasons)."""
        stages = []
        for name, tally in self.stages.items():
            tally.cut(self.top)
            size = tally.cases
            having = tally.having
            stages.append(
                StageSummary(
                    stage=name,
                    competing_stage=COMPETES_WITH[name],
                    cases=size,
                    median_days=_median(tally.days),
                    benchmark_days=_median(tally.benchmark_days),
                    pillar_missing_share={
                        pillar: round(having[f"offer.{pillar}"] / size, 3) if size else 0.0
                        for pillar in Pillar.values
                    },
                    contact_shortfall=having["contact.shortfall"],
                    contacts_missed=having["contact.missed"],
                    exposure_profile=having["exposure.profile"],
                    exposure_threat=having["exposure.threat"],
                    top_cases=[
                        CaseAttention(
                            case_number=number,
                            attention_score=-negative_score,
                            reasons=[
                                x.sentence
                                for x in sorted(fs, key=lambda x: -SEVERITY_RANK[x.severity])
                            ],
                        )
                        for negative_score, number, fs in tally.ranked
                    ],
                )
            )
        return CompetitionSummary(today=today, cases=sum(s.cases for s in stages), stages=stages)


def competition_summary(
    cases: QuerySet[Case], *, today: datetime.date | None = None, top: int = TOP_CASES
) -> CompetitionSummary:
    """Per programme stage, over ``cases`` (already scoped by the selectors): how many cases,
    median days against the benchmark, the share missing each pillar, contact shortfalls,
    exposure counts and the cases to look at first. Streamed (``caseload_facts_streamed``):
    seven queries a chunk of cases, in memory that does not grow with the caseload."""
    today = today or timezone.localdate()
    refs = ReferenceBook(on=today)
    tally = SummaryTally(top=top)
    for one in caseload_facts_streamed(cases, today=today):
        ref = refs[one.programme_id]
        tally.add(one, findings_for(one, ref, today), ref, today)
    return tally.summary(today=today)


def team_tallies(
    cases: QuerySet[Case], *, today: datetime.date, chunk: int | None = None
) -> dict[int, SummaryTally]:
    """Each team's tally of its cases among ``cases``: read once, ``chunk`` cases at a time
    (``FACTS_CHUNK``), the rules applied once per case and the case reduced at once to its
    team's tally. The memory held is one chunk's facts plus a few counters per team, whatever
    the caseload; a set of teams' summary is the merge of its teams' tallies."""
    refs = ReferenceBook(on=today)
    tallies: dict[int, SummaryTally] = {}
    for one in caseload_facts_streamed(cases, today=today, chunk=chunk):
        ref = refs[one.programme_id]
        tally = tallies.get(one.team_id)
        if tally is None:
            tally = tallies[one.team_id] = SummaryTally()
        tally.add(one, findings_for(one, ref, today), ref, today)
    return tallies


def summary_from_facts(
    facts: Iterable[CaseFacts],
    refs: dict[int, ReferenceData],
    *,
    today: datetime.date,
    top: int = TOP_CASES,
) -> CompetitionSummary:
    """The summary of facts already gathered (no queries): lets a caller gather a whole
    caseload once and summarise it in parts, e.g. per team."""
    return summary_from_findings(
        (
            (one, findings_for(one, refs[one.programme_id], today))
            for one in facts
            if one.stage in SUMMARY_STAGES
        ),
        refs,
        today=today,
        top=top,
    )


def summary_from_findings(
    rows: Iterable[tuple[CaseFacts, list[Finding]]],
    refs: dict[int, ReferenceData],
    *,
    today: datetime.date,
    top: int = TOP_CASES,
) -> CompetitionSummary:
    """The summary of cases whose findings are already known: a caller summarising one
    caseload several ways (per programme, per team) applies the rules once per case."""
    tally = SummaryTally(top=top)
    for one, found in rows:
        if one.stage in SUMMARY_STAGES:
            tally.add(one, found, refs[one.programme_id], today)
    return tally.summary(today=today)
