"""Scoped reads: the one place that says which cases a user may see and what they may do there.

The web pages, the API, the admin and background jobs all start from these querysets, so
need-to-know is enforced once. Out of scope means absent: callers get ``Http404``, never a
"forbidden" that would confirm the case exists.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any, TypeGuard, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import ValidationError
from django.db.models import (
    BooleanField,
    Count,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as SqlCase
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from cases import competition
from cases.models import (
    IDENTITY_FIELDS,
    STAGE_ORDER,
    Approval,
    ApprovalStatus,
    AuditEvent,
    Benchmark,
    Case,
    CompetitionSnapshot,
    ConsentRecord,
    ContactOutcome,
    FailedTask,
    Incident,
    Membership,
    MonitoringContact,
    Notification,
    OutboxEvent,
    PartnerOrganisation,
    Programme,
    Referral,
    ReintegrationPlan,
    Role,
    ScreeningAssessment,
    Severity,
    Stage,
    StageTransition,
    SupportProvision,
    SurveyDimension,
    SurveyQuestion,
    SurveyResponse,
    TargetProfile,
    Team,
    ThreatContext,
    TrainingEnrolment,
    WorkingList,
)
from cases.models.querysets import CaseQuerySet, case_scope, is_active_user, overdue_condition

RefModel = TypeVar("RefModel", "Benchmark", "ThreatContext", "TargetProfile")

# Anyone who may ask (pages and the API pass request.user, which may be anonymous).
Viewer = User | AnonymousUser
# Staff who act: services take an authenticated account.
Actor = User

CASE_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
APPROVER_ROLES = frozenset({Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
SECURITY_READER_ROLES = APPROVER_ROLES


def _is_active_user(user: Viewer | None) -> TypeGuard[User]:
    return is_active_user(user)


def _memberships(user: User, roles: frozenset[Role] | set[Role]) -> QuerySet[Membership]:
    return Membership.objects.of(user, roles)


def case_scope_filter(user: Viewer | None) -> Q | None:
    """The condition a case must meet to be visible to ``user``; ``None`` means nothing."""
    return case_scope(user)


def case_list(*, user: Viewer | None) -> CaseQuerySet:
    """Every case ``user`` may see. Superusers get no special pass: case data needs a role."""
    return Case.objects.visible_to(user)


def case_list_with_summary(*, user: Viewer | None) -> CaseQuerySet:
    """``case_list`` with what list pages show beside each case, in the same query: team,
    caseworker, profile, and the count of overdue planned contacts. The person's identity
    columns and blind indexes are not loaded: lists never show them, and decrypting a page of
    them would cost more than the rest of the request."""
    return (
        case_list(user=user)
        .select_related("team", "programme", "caseworker", "returnee")
        .defer(*_IDENTITY_COLUMNS)
        .with_overdue_count()
    )


_IDENTITY_COLUMNS = (
    *(f"returnee__{name}" for name in IDENTITY_FIELDS),
    "returnee__national_id_index",
    "returnee__phone_index",
)


def case_get(*, user: Viewer | None, case_number: str, for_update: bool = False) -> Case:
    """One case by its number, or ``Http404`` when it is missing or out of scope."""
    queryset = case_list(user=user).select_related("returnee", "programme", "team__site")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(case_number=case_number)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def roles_on_case(*, user: Viewer | None, case: Case) -> frozenset[Role]:
    """The roles through which ``user`` reaches ``case``: empty when out of scope."""
    if not _is_active_user(user):
        return frozenset()
    rows = Membership.objects.filter(user_id=user.id).filter(
        Q(team_id=case.team_id, role__in=[Role.CASEWORKER, Role.SUPERVISOR])
        | Q(programme_id=case.programme_id, role=Role.PROGRAMME_MANAGER)
    )
    return frozenset(Role(role) for role in rows.values_list("role", flat=True))


def can_read_security_findings(*, user: Viewer | None, case: Case) -> bool:
    return bool(roles_on_case(user=user, case=case) & SECURITY_READER_ROLES)


def can_approve(*, user: Viewer | None, case: Case) -> bool:
    return bool(roles_on_case(user=user, case=case) & APPROVER_ROLES)


def teams_for_case_creation(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams in which ``user`` may open a case: those whose cases they see."""
    return case_teams(user=user)


def case_teams_filtered(
    *,
    user: Viewer | None,
    programme: uuid.UUID | None = None,
    site: uuid.UUID | None = None,
    team: uuid.UUID | None = None,
) -> QuerySet[Team]:
    """``case_teams`` narrowed to a programme, site or team (by uuid); one outside the scope
    narrows to nothing, as a missing one does."""
    teams = case_teams(user=user)
    if programme is not None:
        teams = teams.filter(site__programme__uuid=programme)
    if site is not None:
        teams = teams.filter(site__uuid=site)
    if team is not None:
        teams = teams.filter(uuid=team)
    return teams


def case_teams(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams whose cases ``user`` may see: ``case_list``'s rule, by team (a case's programme
    is its team's, set when the case opens and never changed)."""
    if not _is_active_user(user):
        return Team.objects.none()
    team_ids = _memberships(user, {Role.CASEWORKER, Role.SUPERVISOR}).values("team_id")
    programme_ids = _memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def supervised_teams(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams whose caseload ``user`` oversees: as their supervisor, or as manager of their
    programme. The supervisor pages (dashboard, approvals, reassignment) start here."""
    if not _is_active_user(user):
        return Team.objects.none()
    team_ids = _memberships(user, {Role.SUPERVISOR}).values("team_id")
    programme_ids = _memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def programmes_managed(*, user: Viewer | None) -> QuerySet[Programme]:
    if not _is_active_user(user):
        return Programme.objects.none()
    return Programme.objects.filter(
        id__in=_memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    )


def is_auditor(*, user: Viewer | None) -> bool:
    if not _is_active_user(user):
        return False
    return _memberships(user, {Role.AUDITOR}).exists()


def audit_event_list(*, user: Viewer | None) -> QuerySet[AuditEvent]:
    """Auditors read the whole log; nobody else reads it through this selector."""
    if not is_auditor(user=user):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def outbox_event_list(*, user: Viewer | None) -> QuerySet[OutboxEvent]:
    """Webhook events to partners of the programmes ``user`` manages, and notification emails
    about those programmes' cases (one without a case: to staff who work there)."""
    managed = programmes_managed(user=user)
    staff_there = Membership.objects.filter(
        Q(programme__in=managed) | Q(team__site__programme__in=managed)
    ).values("user_id")
    return OutboxEvent.objects.filter(
        Q(partner__programme__in=managed)
        | Q(channel="email", notification__case__programme__in=managed)
        | Q(
            channel="email",
            notification__case__isnull=True,
            notification__recipient_id__in=staff_there,
        )
    ).select_related("partner", "notification__recipient")


def referral_list_for_partner(*, partner: PartnerOrganisation) -> QuerySet[Referral]:
    """A partner's referrals: only its own, never another partner's."""
    return (
        Referral.objects.filter(partner=partner)
        .select_related("case__returnee")
        .prefetch_related("case__returnee__consents", "case__screenings")
    )


def case_history(*, user: Viewer | None, case: Case) -> QuerySet[AuditEvent]:
    """A case's audit trail, for its supervisors and programme managers."""
    if not can_approve(user=user, case=case):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(case_number=case.case_number)


def programmes_visible(*, user: Viewer | None) -> QuerySet[Programme]:
    """Programmes ``user`` works in, through any team or programme membership."""
    if not _is_active_user(user):
        return Programme.objects.none()
    memberships = Membership.objects.filter(user_id=user.id)
    return Programme.objects.filter(
        Q(id__in=memberships.values("programme_id"))
        | Q(sites__teams__id__in=memberships.values("team_id"))
    ).distinct()


def reference_list(*, user: Viewer | None, model: type[RefModel]) -> QuerySet[RefModel]:
    """Benchmarks, threat contexts or target profiles: the shipped defaults and those of the
    programmes ``user`` works in (maintained by those programmes' managers)."""
    if not _is_active_user(user):
        return model._default_manager.none()
    return model._default_manager.filter(
        Q(programme__isnull=True) | Q(programme__in=programmes_visible(user=user))
    )


# --- the case file ----------------------------------------------------------------------------
# Reads behind the web case file. Each takes a case already reached through ``case_list`` (so
# in scope) and costs a fixed number of queries, however many records the case holds.


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
    totals = MonitoringContact.objects.filter(case=case, outcome=ContactOutcome.PLANNED).aggregate(
        next_planned=Min("planned_date", filter=Q(planned_date__gte=today)),
        overdue=Count("id", filter=overdue_condition(today)),
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


# --- the supervisor pages: a supervised caseload, its queue, workload and trend ---------------


def _supervised_team_ids(*, user: Viewer | None, teams: Iterable[Team] | None) -> list[int]:
    """Ids of the teams ``user`` oversees, narrowed to ``teams`` when given (never widened).
    Read first (one small query), so the case queries carry the ids themselves: from a
    subquery the planner guessed a supervisor's 2,000 cases at 100,000 and scanned them all."""
    supervised = supervised_teams(user=user)
    if teams is not None:
        supervised = supervised.filter(pk__in=[team.pk for team in teams])
    return list(supervised.values_list("id", flat=True))


def supervised_case_list(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> CaseQuerySet:
    """Cases of the teams ``user`` oversees (``supervised_teams``), optionally narrowed to some
    of them: the supervisor pages start here, not from the wider ``case_list`` (a supervisor
    who is also a caseworker elsewhere does not supervise that other team)."""
    team_ids = _supervised_team_ids(user=user, teams=teams)
    return case_list(user=user).filter(team_id__in=team_ids)


def supervised_case_get(*, user: Viewer | None, case_number: str) -> Case:
    """One case ``user`` oversees, or ``Http404``."""
    try:
        return (
            supervised_case_list(user=user)
            .select_related("team", "caseworker")
            .get(case_number=case_number)
        )
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def caseload_by_stage(cases: QuerySet[Case]) -> dict[str, int]:
    """How many of ``cases`` are at each stage (every stage present, zeros included)."""
    counts = dict(cases.order_by().values_list("stage").annotate(n=Count("pk")))
    return {stage: int(counts.get(stage, 0)) for stage in Stage.values}


def with_overdue_contacts(cases: CaseQuerySet, *, today: datetime.date) -> CaseQuerySet:
    """``cases`` with ``overdue_contacts`` and ``oldest_overdue`` (``CaseQuerySet``)."""
    return cases.with_overdue_contacts(today)


def overdue_contact_cases(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> QuerySet[Case]:
    """Open supervised cases with planned contacts past their date, oldest overdue first, each
    with ``overdue_contacts`` (how many) and ``oldest_overdue`` (the earliest planned date)."""
    today = today or timezone.localdate()
    # Narrow to the cases with an overdue contact first (a semi-join on the partial index of
    # planned contacts), so the per-case counts run for those few, not the whole caseload.
    return (
        supervised_case_list(user=user, teams=teams)
        .open()
        .having_overdue_contacts(today)
        .with_overdue_contacts(today)
        .select_related("team", "caseworker")
        .order_by(F("oldest_overdue").asc(), "case_number")
    )


def overdue_contact_totals(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> dict[str, int]:
    """``{"contacts": n, "cases": m}``: overdue planned contacts of open supervised cases."""
    today = today or timezone.localdate()
    open_cases = supervised_case_list(user=user, teams=teams).open()
    totals = (
        MonitoringContact.objects.overdue(today)
        .filter(case__in=open_cases)
        .aggregate(contacts=Count("id"), cases=Count("case", distinct=True))
    )
    return {"contacts": int(totals["contacts"] or 0), "cases": int(totals["cases"] or 0)}


def approval_queue(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Approval]:
    """Requests waiting for a decision on the cases ``user`` oversees, oldest first."""
    return (
        Approval.objects.filter(
            status=ApprovalStatus.REQUESTED,
            case__in=supervised_case_list(user=user, teams=teams),
        )
        .select_related("case__team", "case__programme", "requested_by", "screening")
        .order_by("requested_at", "id")
    )


def supervised_approval_get(*, user: Viewer | None, approval_uuid: uuid.UUID | str) -> Approval:
    """One approval (any status) on a case ``user`` oversees, or ``Http404``."""
    try:
        return (
            Approval.objects.filter(case__in=supervised_case_list(user=user))
            .select_related("case__team", "case__programme", "requested_by", "decided_by")
            .select_related("screening")
            .get(uuid=approval_uuid)
        )
    except (Approval.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such approval.") from None


def incidents_by_severity(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, since: datetime.date
) -> dict[str, int]:
    """Incidents on supervised cases since ``since``, counted per severity (zeros included)."""
    counts = dict(
        Incident.objects.filter(
            case__in=supervised_case_list(user=user, teams=teams), occurred_on__gte=since
        )
        .order_by()
        .values_list("severity")
        .annotate(n=Count("id"))
    )
    return {severity: int(counts.get(severity, 0)) for severity in Severity.values}


def team_caseworkers(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Membership]:
    """Caseworker memberships (active accounts) of the teams ``user`` oversees: who a case
    may be given to. One row per caseworker and team."""
    return (
        Membership.objects.active()
        .filter(role=Role.CASEWORKER, team_id__in=_supervised_team_ids(user=user, teams=teams))
        .select_related("user", "team")
        .order_by("user__username", "team__name")
    )


@dataclass(frozen=True)
class CaseworkerLoad:
    """One caseworker's open cases in the supervised teams (``username`` empty: unassigned)."""

    username: str
    teams: list[str]
    is_member: bool
    open_cases: int
    by_stage: dict[str, int]
    overdue_contacts: int
    high_risk: int


OPEN_STAGES = (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)


def caseworker_workload(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, today: datetime.date | None = None
) -> list[CaseworkerLoad]:
    """Per caseworker of the supervised teams: open cases, by stage, overdue contacts and
    high-risk cases. Three or four aggregate queries, whatever the caseload; caseworkers with
    nothing open are listed with zeros, and cases nobody holds come last as one row."""
    today = today or timezone.localdate()
    members = list(team_caseworkers(user=user, teams=teams))
    open_cases = supervised_case_list(user=user, teams=teams).open()
    per_stage = {str(stage): Count("pk", filter=Q(stage=stage)) for stage in OPEN_STAGES}
    case_rows: dict[int | None, dict[str, Any]] = {
        row["caseworker_id"]: dict(row)
        for row in open_cases.order_by()
        .values("caseworker_id")
        .annotate(open=Count("pk"), high=Count("pk", filter=Q(risk_level="high")), **per_stage)
    }
    overdue = dict(
        MonitoringContact.objects.overdue(today)
        .filter(case__in=open_cases)
        .order_by()
        .values_list("case__caseworker_id")
        .annotate(n=Count("id"))
    )
    usernames: dict[int, str] = {}
    team_names: dict[int, list[str]] = {}
    for membership in members:
        usernames[membership.user_id] = membership.user.get_username()
        team_names.setdefault(membership.user_id, []).append(
            membership.team.name if membership.team else ""
        )
    former = [uid for uid in case_rows if uid is not None and uid not in usernames]
    if former:
        usernames.update(User.objects.filter(pk__in=former).values_list("pk", "username"))

    def load(user_id: int | None) -> CaseworkerLoad:
        row = case_rows.get(user_id, {})
        return CaseworkerLoad(
            username=usernames.get(user_id, "") if user_id is not None else "",
            teams=team_names.get(user_id, []) if user_id is not None else [],
            is_member=user_id in team_names,
            open_cases=int(row.get("open", 0)),
            by_stage={str(stage): int(row.get(str(stage), 0)) for stage in OPEN_STAGES},
            overdue_contacts=int(overdue.get(user_id, 0)),
            high_risk=int(row.get("high", 0)),
        )

    ids = sorted(usernames, key=lambda uid: usernames[uid])
    loads = [load(uid) for uid in ids]
    if None in case_rows:
        loads.append(load(None))
    return loads


@dataclass(frozen=True)
class TrendDay:
    """The supervised teams' competition snapshots of one day, added up over teams and stages.

    ``days_over_benchmark`` is per stage the median days minus the benchmark's days, averaged
    over the teams weighted by their cases in that stage (exact when one team is shown)."""

    day: datetime.date
    cases: int
    contact_shortfall: int
    contacts_missed: int
    exposure_profile: int
    exposure_threat: int
    days_over_benchmark: dict[str, float | None]


def competition_trend(
    *, user: Viewer | None, teams: Iterable[Team] | None = None, since: datetime.date
) -> list[TrendDay]:
    """One point per day since ``since`` that has snapshots (``competition_snapshot_take``),
    from one query over the stored per-team rows, never recomputed from the records."""
    rows = (
        CompetitionSnapshot.objects.filter(
            team_id__in=_supervised_team_ids(user=user, teams=teams), day__gte=since
        )
        .order_by("day")
        .values_list("day", "stage", "data")
    )
    totals: dict[datetime.date, dict[str, int]] = {}
    gaps: dict[datetime.date, dict[str, list[float]]] = {}
    for day, stage, data in rows:
        if not isinstance(data, dict):
            continue
        day_totals = totals.setdefault(day, dict.fromkeys(_TREND_COUNTS, 0))
        for name in _TREND_COUNTS:
            day_totals[name] += int(data.get(name) or 0)
        median, benchmark = data.get("median_days"), data.get("benchmark_days")
        weight = int(data.get("cases") or 0)
        if median is not None and benchmark is not None and weight:
            sums = gaps.setdefault(day, {}).setdefault(stage, [0.0, 0.0])
            sums[0] += (float(median) - float(benchmark)) * weight
            sums[1] += weight
    out = []
    for day, counted in totals.items():
        day_gaps = gaps.get(day, {})
        out.append(
            TrendDay(
                day=day,
                cases=counted["cases"],
                contact_shortfall=counted["contact_shortfall"],
                contacts_missed=counted["contacts_missed"],
                exposure_profile=counted["exposure_profile"],
                exposure_threat=counted["exposure_threat"],
                days_over_benchmark={
                    str(stage): (
                        round(day_gaps[stage][0] / day_gaps[stage][1], 1)
                        if stage in day_gaps
                        else None
                    )
                    for stage in OPEN_STAGES
                },
            )
        )
    return out


_TREND_COUNTS = (
    "cases",
    "contact_shortfall",
    "contacts_missed",
    "exposure_profile",
    "exposure_threat",
)


# --- the caseload and working lists -----------------------------------------------------------


def caseload_list(*, user: Viewer | None, mine: bool = True) -> QuerySet[Case]:
    """The caseload page's rows: ``case_list_with_summary`` (so the one scoping rule), only the
    cases assigned to ``user`` when ``mine``, with the next planned contact, in the order a
    caseworker works them: overdue contacts first, then by stage in workflow order (closed
    last), then the longest in their stage first. Identity columns are not even loaded."""
    if not _is_active_user(user):
        return Case.objects.none()
    queryset = case_list_with_summary(user=user)
    if mine:
        queryset = queryset.filter(caseworker_id=user.id)
    next_contact = (
        MonitoringContact.objects.filter(
            case=OuterRef("pk"),
            outcome=ContactOutcome.PLANNED,
            planned_date__gte=timezone.now().date(),
        )
        .order_by("planned_date")
        .values("planned_date")[:1]
    )
    stage_rank = SqlCase(
        *(When(stage=stage.value, then=Value(rank)) for stage, rank in STAGE_ORDER.items()),
        default=Value(len(STAGE_ORDER)),
        output_field=IntegerField(),
    )
    has_overdue = SqlCase(
        When(overdue_contacts__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField()
    )
    return queryset.annotate(
        next_contact_date=Subquery(next_contact),
        stage_rank=stage_rank,
        has_overdue=has_overdue,
    ).order_by("-has_overdue", "stage_rank", "stage_entered_at", "case_number")


def working_list_list(*, user: Viewer | None) -> QuerySet[WorkingList]:
    """The user's own working lists; nobody sees another user's."""
    if not _is_active_user(user):
        return WorkingList.objects.none()
    return WorkingList.objects.filter(owner_id=user.id)


def working_list_get(*, user: Viewer | None, list_uuid: uuid.UUID | str) -> WorkingList:
    """One of the user's own working lists, or ``Http404``: another user's list does not exist."""
    try:
        return working_list_list(user=user).get(uuid=list_uuid)
    except (WorkingList.DoesNotExist, ValidationError):
        raise Http404("No such working list.") from None


# --- notifications to staff -------------------------------------------------------------------


def notification_list(*, user: Viewer | None, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's own notifications, newest first (``unread``: only the unread ones, or only
    the read ones); nobody sees another user's."""
    if not _is_active_user(user):
        return Notification.objects.none()
    queryset = Notification.objects.filter(recipient_id=user.id)
    if unread is not None:
        queryset = queryset.filter(read_at__isnull=unread)
    return queryset.order_by("-created_at", "-id")


def notification_get(*, user: Viewer | None, notification_uuid: uuid.UUID | str) -> Notification:
    """One of the user's own notifications, or ``Http404``: another user's does not exist."""
    try:
        return notification_list(user=user).get(uuid=notification_uuid)
    except (Notification.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such notification.") from None


def notification_unread_count(*, user: Viewer | None) -> int:
    """How many of the user's notifications are unread (one query, on a partial index)."""
    if not _is_active_user(user):
        return 0
    return Notification.objects.filter(recipient_id=user.id, read_at__isnull=True).count()


# --- the reintegration survey -----------------------------------------------------------------

SURVEY_DIMENSION_ORDER: dict[str, int] = {
    str(dimension): index for index, dimension in enumerate(SurveyDimension)
}


def survey_questions_for_programme(*, programme_id: int) -> list[SurveyQuestion]:
    """The active questions a programme asks, in the order they are asked (economic, social,
    psychosocial; then each question's order): the shared questions, where a programme's own
    question replaces a shared one of the same code. One query."""
    rows = SurveyQuestion.objects.filter(is_active=True).filter(
        Q(programme__isnull=True) | Q(programme_id=programme_id)
    )
    chosen: dict[str, SurveyQuestion] = {}
    for question in rows:
        if question.code not in chosen or question.programme_id is not None:
            chosen[question.code] = question
    return sorted(
        chosen.values(),
        key=lambda q: (SURVEY_DIMENSION_ORDER.get(q.dimension, 99), q.order, q.code),
    )


def survey_question_list(*, user: Viewer | None) -> QuerySet[SurveyQuestion]:
    """Active survey questions: the shared ones and those of the programmes ``user`` works in."""
    if not _is_active_user(user):
        return SurveyQuestion.objects.none()
    return (
        SurveyQuestion.objects.filter(is_active=True)
        .filter(Q(programme__isnull=True) | Q(programme__in=programmes_visible(user=user)))
        .select_related("programme")
    )


def case_survey_list(*, case: Case) -> QuerySet[SurveyResponse]:
    """A case's filled surveys, oldest first, with who recorded them and at which contact."""
    return (
        SurveyResponse.objects.filter(case=case)
        .select_related("recorded_by", "contact")
        .order_by("taken_on", "id")
    )


def survey_score_drops(
    *, user: Viewer | None, teams: Iterable[Team] | None = None
) -> QuerySet[Case]:
    """Open supervised cases whose latest survey scored lower overall than the one before it,
    the largest fall first. Each case carries ``latest_score``, ``previous_score``,
    ``score_drop`` and ``latest_taken_on``; two queries whatever the caseload (the supervised
    team ids, then the cases, with a correlated subquery per surveyed case on the
    (case, taken_on) index)."""
    ordered = SurveyResponse.objects.filter(case=OuterRef("pk")).order_by("-taken_on", "-id")
    score = DecimalField(max_digits=5, decimal_places=2)
    return (
        supervised_case_list(user=user, teams=teams)
        .open()
        # Only cases with a survey at all (a semi-join) get the per-case subqueries.
        .filter(Exists(SurveyResponse.objects.filter(case=OuterRef("pk"))))
        .annotate(
            latest_score=Subquery(ordered.values("overall_score")[:1], output_field=score),
            previous_score=Subquery(ordered.values("overall_score")[1:2], output_field=score),
            latest_taken_on=Subquery(ordered.values("taken_on")[:1]),
        )
        .filter(latest_score__lt=F("previous_score"))
        .annotate(
            score_drop=ExpressionWrapper(
                F("previous_score") - F("latest_score"), output_field=score
            )
        )
        .select_related("team", "caseworker")
        .order_by(F("score_drop").desc(), "case_number")
    )


def can_manage_failed_tasks(*, user: Viewer | None) -> bool:
    """Dead letters of background tasks are system-wide (a task is not one programme's): any
    programme manager, and a superuser, sees and retries them all."""
    if not _is_active_user(user):
        return False
    return user.is_superuser or _memberships(user, {Role.PROGRAMME_MANAGER}).exists()


def failed_task_list(*, user: Viewer | None) -> QuerySet[FailedTask]:
    """Dead letters, for whoever may manage them; they carry only task names, ids and a short
    error, never personal data."""
    if not _is_active_user(user):
        return FailedTask.objects.none()
    if user.is_superuser:
        return FailedTask.objects.all()
    # One statement: the role check rides along as a condition.
    return FailedTask.objects.filter(Exists(_memberships(user, {Role.PROGRAMME_MANAGER})))
