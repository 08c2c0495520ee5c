"""The comparison engine: each programme stage against the group's competing stage, in four
dimensions — speed, offer, contact, exposure — each finding explained down to the records and
figures behind it.

Two ways in, one rule book: ``case_competition`` gathers one case's facts with plain related
queries; ``caseload_competition`` gathers thousands of cases' facts in a fixed number of
set-based queries. Both hand the same ``CaseFacts`` to ``findings_for``, and a test holds them
equal. The findings rank cases for a supervisor's attention; nothing here changes a case.

``rules`` is the rule book (no queries), ``facts`` gathers what it reads, ``summary`` adds a
caseload up per programme stage, and ``cached`` serves a large caseload's summary from the
cache a background job keeps warm. ``cached`` reads the user's scope through the selectors,
which read findings from here, so it is imported by name (``cases.competition.cached``) and not
re-exported.
"""

from cases.models import COMPETES_WITH

from .facts import (
    FACTS_CHUNK,
    ReferenceBook,
    case_competition,
    caseload_competition,
    caseload_facts,
    caseload_facts_streamed,
    facts_for_case,
    reference_data,
)
from .rules import (
    CONTACT,
    CRITICAL_PILLARS,
    ENTRY_STAGES,
    EXPOSURE,
    HIGH,
    LOW,
    MEDIUM,
    OFFER,
    SEVERITY_RANK,
    SPEED,
    CaseFacts,
    Finding,
    Lowered,
    ReferenceData,
    Say,
    attention_score,
    findings_for,
)
from .summary import (
    SUMMARY_STAGES,
    TOP_CASES,
    CaseAttention,
    CompetitionSummary,
    StageSummary,
    SummaryTally,
    competition_summary,
    summary_from_facts,
    summary_from_findings,
    team_tallies,
)

__all__ = [
    "COMPETES_WITH",
    "CONTACT",
    "CRITICAL_PILLARS",
    "ENTRY_STAGES",
    "EXPOSURE",
    "FACTS_CHUNK",
    "HIGH",
    "LOW",
    "MEDIUM",
    "OFFER",
    "SEVERITY_RANK",
    "SPEED",
    "SUMMARY_STAGES",
    "TOP_CASES",
    "CaseAttention",
    "CaseFacts",
    "CompetitionSummary",
    "Finding",
    "Lowered",
    "ReferenceBook",
    "ReferenceData",
    "Say",
    "StageSummary",
    "SummaryTally",
    "attention_score",
    "case_competition",
    "caseload_competition",
    "caseload_facts",
    "caseload_facts_streamed",
    "competition_summary",
    "facts_for_case",
    "findings_for",
    "reference_data",
    "summary_from_facts",
    "summary_from_findings",
    "team_tallies",
]
