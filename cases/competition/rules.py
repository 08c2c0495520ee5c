"""The competition rules: one case's facts and its programme's reference data in, findings
explained in plain language out, in four dimensions (speed, offer, contact, exposure). Pure:
no queries, so the per-case and the caseload paths share one rule book."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop

from cases.models import (
    COMPETES_WITH,
    Benchmark,
    CompetingStage,
    Pillar,
    Stage,
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
