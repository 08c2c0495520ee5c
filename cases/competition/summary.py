"""A caseload's competition summary per programme stage: how many cases, median days against
the benchmark, the share missing each pillar, contact shortfalls, exposure counts and the cases
to look at first. Added up one case at a time (``SummaryTally``), so tallies of separate
caseloads, say each team's, merge into the summary of their union."""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import QuerySet
from django.utils import timezone

from cases.models import COMPETES_WITH, Case, Pillar, Stage, ThreatKind

from .facts import ReferenceBook, caseload_facts_streamed
from .rules import SEVERITY_RANK, CaseFacts, Finding, ReferenceData, attention_score, findings_for

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
    # a background job refreshes (cases/competition/cached.py).
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
