"""Reads behind the web case file. Each takes a case already reached through ``case_list`` (so
in scope) and costs a fixed number of queries, however many records the case holds."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, replace

from django.db.models import BooleanField, Count, ExpressionWrapper, F, Min, Q, QuerySet
from django.db.models.functions import Coalesce
from django.http import Http404

from cases import competition
from cases.models import (
    Approval,
    AuditEvent,
    Benchmark,
    Case,
    ConsentRecord,
    Incident,
    MonitoringContact,
    Referral,
    ReintegrationPlan,
    ScreeningAssessment,
    StageTransition,
    SupportProvision,
    SurveyResponse,
    TrainingEnrolment,
)
from cases.models.querysets import overdue_condition

from .scope import _IDENTITY_COLUMNS, Viewer, can_approve, can_read_security_findings, case_list


def case_file_get(*, user: Viewer | None, case_number: str) -> Case:
    """One case with what its file's header shows (team, caseworker, intake) in one query, or
    ``Http404``. The person's identity columns are not even loaded: they are read only through
    the audited reveal."""
    queryset = (
        case_list(user=user)
        .select_related("returnee", "programme", "team__site", "caseworker", "intake")
        .defer(*_IDENTITY_COLUMNS)
    )
    try:
        return queryset.get(case_number=case_number)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def case_history(*, user: Viewer | None, case: Case) -> QuerySet[AuditEvent]:
    """A case's audit trail, for its supervisors and programme managers."""
    if not can_approve(user=user, case=case):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(case_number=case.case_number)


@dataclass(frozen=True)
class StagePeriod:
    """A stretch of time a case spent in one stage; ``left`` is ``None`` while it is there.
    ``reason`` and ``moved_by`` belong to the move that brought the case into the stage."""

    stage: str
    entered: datetime.datetime
    left: datetime.datetime | None = None
    reason: str = ""
    moved_by: str = ""


def case_stage_periods(*, case: Case) -> list[StagePeriod]:
    """Every stay of ``case`` in a stage, oldest first, from its stage transitions (one
    query). A case moved back enters a stage more than once, so a stage may have several."""
    moves = list(
        StageTransition.objects.filter(case=case).select_related("by").order_by("at", "id")
    )
    if not moves:
        return [StagePeriod(stage=case.stage, entered=case.stage_entered_at)]
    periods = []
    current = StagePeriod(stage=moves[0].from_stage, entered=case.opened_at)
    for move in moves:
        periods.append(replace(current, left=move.at))
        current = StagePeriod(
            stage=move.to_stage,
            entered=move.at,
            reason=move.reason,
            moved_by=move.by.get_username(),
        )
    periods.append(current)
    return periods


@dataclass(frozen=True)
class ContactOutlook:
    next_planned: datetime.date | None
    overdue: int


def case_contact_outlook(*, case: Case, today: datetime.date) -> ContactOutlook:
    """The next planned monitoring contact and how many planned ones are overdue (one query)."""
    totals = (
        MonitoringContact.objects.filter(case=case)
        .planned()
        .aggregate(
            next_planned=Min("planned_date", filter=Q(planned_date__gte=today)),
            overdue=Count("id", filter=overdue_condition(today)),
        )
    )
    return ContactOutlook(next_planned=totals["next_planned"], overdue=totals["overdue"])


@dataclass(frozen=True)
class CaseCompetition:
    """The competition engine's findings for one case, and the benchmarks (by competing stage)
    they were measured against."""

    findings: list[competition.Finding]
    benchmarks: dict[str, Benchmark]


def case_competition_detail(*, case: Case, today: datetime.date) -> CaseCompetition:
    """``competition.case_competition`` that also hands back the benchmarks it used, so a page
    shows each figure beside the finding it explains without reading them twice."""
    facts = competition.facts_for_case(case, today=today)
    reference = competition.reference_data([case.programme_id], on=today)[case.programme_id]
    return CaseCompetition(
        findings=competition.findings_for(facts, reference, today),
        benchmarks=reference.benchmarks,
    )


# --- the case's records, one list per section of the file ------------------------------------


def case_screening_list(*, user: Viewer | None, case: Case) -> QuerySet[ScreeningAssessment]:
    """A case's screenings with their approvals. For users who may not read the security
    findings the encrypted column is not loaded at all."""
    queryset = (
        ScreeningAssessment.objects.filter(case=case)
        .select_related("assessed_by")
        .prefetch_related("approvals")
    )
    if not can_read_security_findings(user=user, case=case):
        queryset = queryset.defer("security_findings")
    return queryset


def case_plan_list(*, case: Case) -> QuerySet[ReintegrationPlan]:
    return (
        ReintegrationPlan.objects.filter(case=case)
        .select_related("created_by")
        .prefetch_related("goals")
    )


def case_enrolment_list(*, case: Case) -> QuerySet[TrainingEnrolment]:
    return TrainingEnrolment.objects.filter(case=case).select_related("referral__partner")


def case_support_list(*, case: Case) -> QuerySet[SupportProvision]:
    return SupportProvision.objects.filter(case=case).select_related(
        "recorded_by", "referral__partner"
    )


def case_contact_list(*, case: Case, today: datetime.date) -> QuerySet[MonitoringContact]:
    """A case's monitoring contacts by date, each marked ``is_overdue`` when still planned
    for a day already past."""
    overdue = overdue_condition(today)
    return (
        MonitoringContact.objects.filter(case=case)
        .select_related("recorded_by")
        .annotate(
            is_overdue=ExpressionWrapper(overdue, output_field=BooleanField()),
            on=Coalesce("planned_date", "actual_date"),
        )
        .order_by(F("on").desc(), "-id")
    )


def case_incident_list(*, case: Case) -> QuerySet[Incident]:
    return Incident.objects.filter(case=case).select_related("recorded_by")


def case_referral_list(*, case: Case) -> QuerySet[Referral]:
    return Referral.objects.filter(case=case).select_related("partner", "created_by")


def case_approval_list(*, case: Case) -> QuerySet[Approval]:
    return Approval.objects.filter(case=case).select_related(
        "requested_by", "decided_by", "screening", "plan"
    )


def case_consent_list(*, case: Case) -> QuerySet[ConsentRecord]:
    """The consents of the case's person (consent belongs to the person, not the case)."""
    return ConsentRecord.objects.filter(returnee_id=case.returnee_id).select_related("recorded_by")


def case_survey_list(*, case: Case) -> QuerySet[SurveyResponse]:
    """A case's filled surveys, oldest first, with who recorded them and at which contact."""
    return (
        SurveyResponse.objects.filter(case=case)
        .select_related("recorded_by", "contact")
        .order_by("taken_on", "id")
    )
