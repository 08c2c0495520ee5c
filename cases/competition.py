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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

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


@dataclass(frozen=True)
class Finding:
    dimension: str
    stage: str
    competing_stage: str
    severity: str
    code: str
    sentence: str
    evidence: dict[str, Any] = field(default_factory=dict, compare=True, hash=False)


@dataclass(frozen=True)
class CaseFacts:
    """What the rules need to know about one case, however it was gathered."""

    case_number: str
    programme_id: int
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


# --- reference data ---------------------------------------------------------------------------


def reference_data(programme_ids: Iterable[int], *, on: datetime.date) -> dict[int, ReferenceData]:
    """Benchmarks in force on ``on`` (a programme's own over the shipped default), active
    profiles and the threat contexts active that day: three queries, whatever the caseload."""
    ids = set(programme_ids)
    in_scope = Q(programme__isnull=True) | Q(programme_id__in=ids)
    benchmarks = list(
        Benchmark.objects.filter(in_scope, valid_from__lte=on)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=on))
        .order_by("valid_from", "id")
    )
    profiles = list(TargetProfile.objects.filter(in_scope, is_active=True).order_by("id"))
    threats = list(
        ThreatContext.objects.filter(in_scope, starts_on__lte=on)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=on))
        .order_by("starts_on", "id")
    )
    out = {}
    for programme_id in ids:
        chosen: dict[str, Benchmark] = {}
        for row in benchmarks:  # later valid_from wins; a programme's own wins over defaults
            if row.programme_id not in (None, programme_id):
                continue
            current = chosen.get(row.competing_stage)
            if current is not None and current.programme_id is not None and not row.programme_id:
                continue
            chosen[row.competing_stage] = row
        out[programme_id] = ReferenceData(
            benchmarks=chosen,
            profiles=[p for p in profiles if p.programme_id in (None, programme_id)],
            threats=[t for t in threats if t.programme_id in (None, programme_id)],
        )
    return out


# --- the rules --------------------------------------------------------------------------------


def _severity(actual: int, benchmark: int) -> str:
    return HIGH if actual > 2 * max(benchmark, 1) else MEDIUM


def _speed(facts: CaseFacts, ref: ReferenceData, today: datetime.date) -> list[Finding]:
    out = []
    repentance = ref.benchmarks.get(CompetingStage.REPENTANCE)
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
                    Stage.INTAKE,
                    CompetingStage.REPENTANCE,
                    _severity(days, repentance.days_to_reach),
                    "speed.intake",
                    _(
                        "Intake came %(days)s days after return, %(behind)s days behind the "
                        "group's repentance registration (%(benchmark)s days)."
                    )
                    % {
                        "days": days,
                        "behind": days - repentance.days_to_reach,
                        "benchmark": repentance.days_to_reach,
                    },
                    {
                        "days": days,
                        "benchmark_days": repentance.days_to_reach,
                        "benchmark": str(repentance.uuid),
                        "return_date": facts.return_date.isoformat(),
                        "intake_date": facts.intake_date.isoformat(),
                    },
                )
            )
    institute = ref.benchmarks.get(CompetingStage.SHARIA_INSTITUTE)
    if institute and institute.days_in_stage is not None:
        for stage, ended_by in (
            (Stage.SCREENING, Stage.TRAINING),
            (Stage.TRAINING, Stage.MONITORING),
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
                        CompetingStage.SHARIA_INSTITUTE,
                        _severity(days, institute.days_in_stage),
                        f"speed.{stage}",
                        _(
                            "%(stage)s has taken %(days)s days, %(behind)s more than the "
                            "group's Shari'a Institute processing (%(benchmark)s days)."
                        )
                        % {
                            "stage": Stage(stage).label,
                            "days": days,
                            "behind": days - institute.days_in_stage,
                            "benchmark": institute.days_in_stage,
                        },
                        {
                            "days": days,
                            "benchmark_days": institute.days_in_stage,
                            "benchmark": str(institute.uuid),
                            "entered": started.isoformat(),
                        },
                    )
                )
    return out


def _offer(facts: CaseFacts, ref: ReferenceData, today: datetime.date) -> list[Finding]:
    """The pillars the group offers at the stages this case has reached that the case has
    not received, each attributed to the earliest competing stage that offers it."""
    reached = [s for s in (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)]
    reached = reached[: reached.index(Stage(facts.stage)) + 1]
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
                    f"offer.{pillar}",
                    _(
                        "No %(pillar)s support %(days)s days after intake; the group offers "
                        "it at %(competing)s."
                    )
                    % {
                        "pillar": Pillar(pillar).label.lower(),
                        "days": since if since is not None else "?",
                        "competing": CompetingStage(competing).label,
                    },
                    {
                        "pillar": pillar,
                        "days_since_intake": since,
                        "benchmark": str(benchmark.uuid),
                    },
                )
            )
    return out


def _contact(facts: CaseFacts, ref: ReferenceData) -> list[Finding]:
    if facts.stage != Stage.MONITORING:
        return []
    out = []
    benchmark = ref.benchmarks.get(CompetingStage.MONITORING)
    if benchmark and benchmark.contacts_per_month is not None:
        expected = float(benchmark.contacts_per_month)
        if facts.contacts_met_30 < expected:
            out.append(
                Finding(
                    CONTACT,
                    Stage.MONITORING,
                    CompetingStage.MONITORING,
                    HIGH if facts.contacts_met_30 == 0 else MEDIUM,
                    "contact.shortfall",
                    _(
                        "%(met)s contacts kept in the last 30 days (%(met90)s in 90); the group "
                        "keeps about %(expected)s a month."
                    )
                    % {
                        "met": facts.contacts_met_30,
                        "met90": facts.contacts_met_90,
                        "expected": f"{expected:g}",
                    },
                    {
                        "met_30": facts.contacts_met_30,
                        "met_90": facts.contacts_met_90,
                        "benchmark_per_month": f"{expected:g}",
                        "benchmark": str(benchmark.uuid),
                    },
                )
            )
    if facts.contacts_missed:
        out.append(
            Finding(
                CONTACT,
                Stage.MONITORING,
                CompetingStage.MONITORING,
                HIGH if facts.contacts_missed >= 2 else MEDIUM,
                "contact.missed",
                _("%(missed)s planned contacts missed or overdue.")
                % {"missed": facts.contacts_missed},
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
                    _("Matches a profile the group targets: %(profile)s (%(why)s).")
                    % {"profile": profile.name, "why": ", ".join(reasons)},
                    {"profile": str(profile.uuid), "matched": reasons},
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
                    f"exposure.{threat.kind}",
                    _("Lives in %(district)s, where a threat context is active: %(kind)s.")
                    % {"district": facts.district, "kind": threat.get_kind_display()},
                    {
                        "threat_context": str(threat.uuid),
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
    for stage in (Stage.SCREENING, Stage.TRAINING, Stage.MONITORING):
        latest = case.transitions.filter(to_stage=stage).order_by("-at").first()
        entered[stage] = _date(latest.at) if latest else None
    contacts = list(case.contacts.all())
    return CaseFacts(
        case_number=case.case_number,
        programme_id=case.programme_id,
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


def _latest_entry(stage: str) -> Subquery:
    return Subquery(
        StageTransition.objects.filter(case=OuterRef("pk"), to_stage=stage)
        .order_by("-at")
        .values("at")[:1]
    )


def _count(queryset: QuerySet[Any]) -> Coalesce:
    counted = queryset.order_by().values("case").annotate(n=Count("id")).values("n")
    return Coalesce(Subquery(counted), 0)


def caseload_facts(cases: QuerySet[Case], *, today: datetime.date) -> list[CaseFacts]:
    """Every case's facts in one query (subqueries per column, not per case)."""
    contacts = MonitoringContact.objects.filter(case=OuterRef("pk"))
    met = contacts.filter(outcome=ContactOutcome.MET, actual_date__lte=today)
    pillars = {
        pillar: Exists(SupportProvision.objects.filter(case=OuterRef("pk"), pillar=pillar))
        for pillar in Pillar.values
    }
    rows = cases.order_by().annotate(
        f_return_date=F("intake__return_date"),
        f_intake_date=F("intake__intake_date"),
        f_screening=_latest_entry(Stage.SCREENING),
        f_training=_latest_entry(Stage.TRAINING),
        f_monitoring=_latest_entry(Stage.MONITORING),
        f_met_30=_count(met.filter(actual_date__gte=today - datetime.timedelta(days=30))),
        f_met_90=_count(met.filter(actual_date__gte=today - datetime.timedelta(days=90))),
        f_missed=_count(
            contacts.filter(
                Q(outcome=ContactOutcome.MISSED)
                | Q(outcome=ContactOutcome.PLANNED, planned_date__lt=today)
            )
        ),
        **{f"f_has_{pillar}": condition for pillar, condition in pillars.items()},
    )
    values = rows.values(
        "case_number",
        "programme_id",
        "stage",
        "returnee__current_district",
        "returnee__profession",
        "returnee__former_role",
        "returnee__detention_history",
        "f_return_date",
        "f_intake_date",
        "f_screening",
        "f_training",
        "f_monitoring",
        "f_met_30",
        "f_met_90",
        "f_missed",
        *[f"f_has_{pillar}" for pillar in Pillar.values],
    )
    return [
        CaseFacts(
            case_number=row["case_number"],
            programme_id=row["programme_id"],
            stage=row["stage"],
            district=row["returnee__current_district"],
            profession=row["returnee__profession"],
            former_role=row["returnee__former_role"],
            detention_history=row["returnee__detention_history"],
            return_date=row["f_return_date"],
            intake_date=row["f_intake_date"],
            entered={
                Stage.SCREENING: _date(row["f_screening"]),
                Stage.TRAINING: _date(row["f_training"]),
                Stage.MONITORING: _date(row["f_monitoring"]),
            },
            pillars_received=frozenset(p for p in Pillar.values if row[f"f_has_{p}"]),
            contacts_met_30=row["f_met_30"],
            contacts_met_90=row["f_met_90"],
            contacts_missed=row["f_missed"],
        )
        for row in values.iterator(chunk_size=2000)
    ]


def caseload_competition(
    cases: QuerySet[Case], *, today: datetime.date | None = None
) -> dict[str, list[Finding]]:
    """Findings for every case in ``cases`` (already scoped by the selectors): four queries
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


def _median(values: list[int]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


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


def competition_summary(
    cases: QuerySet[Case], *, today: datetime.date | None = None, top: int = TOP_CASES
) -> CompetitionSummary:
    """Per programme stage, over ``cases`` (already scoped by the selectors): how many cases,
    median days against the benchmark, the share missing each pillar, contact shortfalls,
    exposure counts and the cases to look at first. Four queries, whatever the caseload."""
    today = today or timezone.localdate()
    facts = caseload_facts(cases, today=today)
    refs = reference_data({f.programme_id for f in facts}, on=today)
    return summary_from_facts(facts, refs, today=today, top=top)


def summary_from_facts(
    facts: Iterable[CaseFacts],
    refs: dict[int, ReferenceData],
    *,
    today: datetime.date,
    top: int = TOP_CASES,
) -> CompetitionSummary:
    """The summary of facts already gathered (no queries): lets a caller gather a whole
    caseload once and summarise it in parts, e.g. per team."""
    by_stage: dict[str, list[tuple[CaseFacts, list[Finding]]]] = {s: [] for s in SUMMARY_STAGES}
    for one in facts:
        if one.stage in by_stage:
            by_stage[one.stage].append((one, findings_for(one, refs[one.programme_id], today)))
    stages = []
    for stage, rows in by_stage.items():
        days, benchmark_days = [], []
        for one, _findings in rows:
            actual, benchmark = _stage_days(one, refs[one.programme_id], today)
            if actual is not None:
                days.append(actual)
            if benchmark is not None:
                benchmark_days.append(benchmark)

        def having(prefix: str, found: list[tuple[CaseFacts, list[Finding]]] = rows) -> int:
            return sum(1 for _one, fs in found if any(x.code.startswith(prefix) for x in fs))

        threat_codes = tuple(f"exposure.{kind}" for kind in ThreatKind.values)
        ranked = sorted(
            ((attention_score(fs), one.case_number, fs) for one, fs in rows if fs),
            key=lambda item: (-item[0], item[1]),
        )[:top]
        stages.append(
            StageSummary(
                stage=stage,
                competing_stage=COMPETES_WITH[stage],
                cases=len(rows),
                median_days=_median(days),
                benchmark_days=_median(benchmark_days),
                pillar_missing_share={
                    pillar: round(having(f"offer.{pillar}") / len(rows), 3) if rows else 0.0
                    for pillar in Pillar.values
                },
                contact_shortfall=having("contact.shortfall"),
                contacts_missed=having("contact.missed"),
                exposure_profile=having("exposure.profile"),
                exposure_threat=sum(
                    1 for _one, fs in rows if any(x.code in threat_codes for x in fs)
                ),
                top_cases=[
                    CaseAttention(
                        case_number=number,
                        attention_score=score,
                        reasons=[
                            x.sentence for x in sorted(fs, key=lambda x: -SEVERITY_RANK[x.severity])
                        ],
                    )
                    for score, number, fs in ranked
                ],
            )
        )
    return CompetitionSummary(today=today, cases=sum(s.cases for s in stages), stages=stages)
