"""Pages: the supervisor's. The team dashboard (caseload, overdue contacts, approvals,
incidents, the competition summary with its charts and trend), the approval queue and its
decisions, reassignment of cases between a team's caseworkers, and caseworker workload.

Every page starts from ``selectors.supervised_teams``: someone who oversees no team gets 404,
as does a ``team`` parameter naming a team outside their set.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from cases import selectors
from cases.competition.cached import competition_summary_for_teams
from cases.models import (
    ApprovalStatus,
    Case,
    CompetingStage,
    Pillar,
    Severity,
    Stage,
    Team,
)
from cases.services.approvals import approval_decide
from cases.services.cases import case_assign
from cases.services.errors import DomainError, StaleVersion
from cases.services.surveys import drop_alert_points
from cases.web import charts
from cases.web.redirects import safe_next

from .common import add_domain_errors, staff_page, staff_user

OPEN_STAGES = selectors.OPEN_STAGES
TREND_PERIODS = (30, 90)
OVERDUE_SHOWN = 25
CASES_SHOWN = 200
SCORE_DROPS_SHOWN = 25
UNASSIGNED = "-"


# --- which teams a page covers ----------------------------------------------------------------


@dataclass(frozen=True)
class TeamScope:
    """The teams the user oversees, the one chosen with ``?team=`` (if any), and the teams the
    page covers (the chosen one, or all of them)."""

    all_teams: list[Team]
    chosen: Team | None

    @property
    def teams(self) -> list[Team]:
        return [self.chosen] if self.chosen else self.all_teams

    @property
    def query(self) -> str:
        """``?team=…`` to keep the choice on links (empty when all teams are shown)."""
        return f"?{urlencode({'team': str(self.chosen.uuid)})}" if self.chosen else ""


def team_scope(request: HttpRequest) -> TeamScope:
    """404 for anyone who oversees no team, and for a ``team`` outside (or not a uuid)."""
    all_teams = list(selectors.supervised_teams(user=request.user).order_by("name", "id"))
    if not all_teams:
        raise Http404("No team to supervise.")
    raw = request.GET.get("team", "").strip()
    if not raw:
        return TeamScope(all_teams=all_teams, chosen=None)
    try:
        wanted = uuid.UUID(raw)
    except ValueError:
        raise Http404("No such team.") from None
    chosen = next((team for team in all_teams if team.uuid == wanted), None)
    if chosen is None:
        raise Http404("No such team.")
    return TeamScope(all_teams=all_teams, chosen=chosen)


# --- the dashboard ----------------------------------------------------------------------------


def _trend_period(request: HttpRequest) -> int:
    try:
        days = int(request.GET.get("days", TREND_PERIODS[0]))
    except ValueError:
        return TREND_PERIODS[0]
    return days if days in TREND_PERIODS else TREND_PERIODS[0]


def _competition_context(request: HttpRequest, scope: TeamScope) -> dict[str, Any]:
    summary = competition_summary_for_teams(user=request.user, teams=scope.teams)
    stages = summary.stages
    stage_label = {s.stage: str(Stage(s.stage).label) for s in stages}
    speed = charts.grouped_bar_chart(
        chart_id="chart-speed",
        title=str(_("Median days at each stage against the group's benchmark")),
        groups=[(stage_label[s.stage], [s.median_days, s.benchmark_days]) for s in stages],
        series=[str(_("Our median days")), str(_("The group's benchmark (days)"))],
    )
    pillars = charts.heat_map(
        chart_id="chart-pillars",
        title=str(_("Share of cases without each pillar the group offers")),
        rows=[
            (stage_label[s.stage], [s.pillar_missing_share[p] for p in Pillar.values])
            for s in stages
        ],
        columns=[str(label) for label in Pillar.labels],
    )
    exposure = charts.grouped_bar_chart(
        chart_id="chart-exposure",
        title=str(_("Cases exposed to the group's targeting, per stage")),
        groups=[(stage_label[s.stage], [s.exposure_profile, s.exposure_threat]) for s in stages],
        series=[
            str(_("Match a profile the group targets")),
            str(_("Live where a threat context is active")),
        ],
    )
    attention: list[dict[str, Any]] = sorted(
        (
            {
                "case_number": top.case_number,
                "stage": stage_label[s.stage],
                "competing_stage": CompetingStage(s.competing_stage).label,
                "score": top.attention_score,
                "reasons": top.reasons,
            }
            for s in stages
            for top in s.top_cases
        ),
        key=lambda row: (-row["score"], row["case_number"]),
    )
    rows = [
        {
            "stage": stage_label[s.stage],
            "competing_stage": CompetingStage(s.competing_stage).label,
            "summary": s,
        }
        for s in stages
    ]
    return {
        "summary": summary,
        "stage_rows": rows,
        "speed_chart": speed,
        "pillar_chart": pillars,
        "exposure_chart": exposure,
        "attention": attention,
    }


def _trend_context(request: HttpRequest, scope: TeamScope, today: datetime.date) -> dict[str, Any]:
    period = _trend_period(request)
    since = today - datetime.timedelta(days=period - 1)
    points = {
        point.day: point
        for point in selectors.competition_trend(user=request.user, teams=scope.teams, since=since)
    }
    days = [since + datetime.timedelta(days=n) for n in range(period)]

    def series(pick: Any) -> list[int | float | None]:
        return [pick(points[day]) if day in points else None for day in days]

    counts = charts.line_chart(
        chart_id="chart-trend",
        title=str(_("Open cases and where the group out-competes us, per day")),
        days=days,
        series=[
            (str(_("Open cases")), series(lambda p: p.cases)),
            (str(_("Fewer contacts than the group")), series(lambda p: p.contact_shortfall)),
            (str(_("Missed or overdue contacts")), series(lambda p: p.contacts_missed)),
            (str(_("Under an active threat")), series(lambda p: p.exposure_threat)),
        ],
    )
    gaps = charts.line_chart(
        chart_id="chart-trend-speed",
        title=str(_("Median days over the group's benchmark, per stage and day")),
        days=days,
        series=[
            (str(Stage(stage).label), series(lambda p, stage=stage: p.days_over_benchmark[stage]))
            for stage in OPEN_STAGES
        ],
    )
    links = []
    for days_option in TREND_PERIODS:
        query = {"days": str(days_option)}
        if scope.chosen:
            query["team"] = str(scope.chosen.uuid)
        links.append((days_option, f"?{urlencode(query)}#trend", days_option == period))
    return {
        "trend_period": period,
        "trend_links": links,
        "trend_has_data": bool(points),
        "trend_chart": counts,
        "trend_speed_chart": gaps,
    }


@staff_page
def dashboard(request: HttpRequest) -> HttpResponse:
    scope = team_scope(request)
    user = request.user
    today = timezone.localdate()
    cases = selectors.supervised_case_list(user=user, teams=scope.teams)
    by_stage = selectors.caseload_by_stage(cases)
    stage_bars = [(str(Stage(stage).label), by_stage[stage]) for stage in OPEN_STAGES]
    incidents = selectors.incidents_by_severity(
        user=user, teams=scope.teams, since=today - datetime.timedelta(days=30)
    )
    overdue_cases = list(
        selectors.overdue_contact_cases(user=user, teams=scope.teams, today=today)[
            : OVERDUE_SHOWN + 1
        ]
    )
    context = {
        "scope": scope,
        "today": today,
        "by_stage": by_stage,
        "open_total": sum(by_stage[stage] for stage in OPEN_STAGES),
        "closed_total": by_stage[Stage.CLOSED],
        "stage_chart": charts.bar_chart(
            chart_id="chart-caseload",
            title=str(_("Open cases by stage")),
            bars=stage_bars,
            value_name=str(_("Cases")),
        ),
        "incident_chart": charts.bar_chart(
            chart_id="chart-incidents",
            title=str(_("Incidents in the last 30 days, by severity")),
            bars=[(str(label), incidents[value]) for value, label in Severity.choices],
            value_name=str(_("Incidents")),
            colours=["#1e7b4a", "#a8650a", "#b3261e", "#6e1510"],
        ),
        "incident_total": sum(incidents.values()),
        "overdue": selectors.overdue_contact_totals(user=user, teams=scope.teams, today=today),
        "overdue_cases": overdue_cases[:OVERDUE_SHOWN],
        "overdue_more": len(overdue_cases) > OVERDUE_SHOWN,
        "approvals_waiting": selectors.approval_queue(user=user, teams=scope.teams).count(),
        # The reintegration survey: cases whose latest score fell below the one before.
        "score_drops": list(
            selectors.survey_score_drops(user=user, teams=scope.teams)[:SCORE_DROPS_SHOWN]
        ),
        "score_drop_alert": drop_alert_points(),
        **_competition_context(request, scope),
        **_trend_context(request, scope, today),
    }
    return render(request, "web/supervisor/dashboard.html", context)


# --- approvals --------------------------------------------------------------------------------


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(
        label=_("Decision"),
        choices=[("approve", _("Approve")), ("reject", _("Reject"))],
        error_messages={"required": _("Choose approve or reject.")},
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Required when you reject the request."),
    )


@staff_page
def approval_queue(request: HttpRequest) -> HttpResponse:
    scope = team_scope(request)
    approvals = list(selectors.approval_queue(user=request.user, teams=scope.teams))
    return render(
        request,
        "web/supervisor/approvals.html",
        {"scope": scope, "approvals": approvals},
    )


@staff_page
@require_http_methods(["GET", "POST"])
def approval_decide_page(request: HttpRequest, approval_uuid: uuid.UUID) -> HttpResponse:
    approval = selectors.supervised_approval_get(user=request.user, approval_uuid=approval_uuid)
    queue = reverse("web:approval-queue")
    form = DecisionForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        if approval.status != ApprovalStatus.REQUESTED:
            form.is_valid()
            form.add_error(None, _("This request has already been decided."))
        elif form.is_valid():
            approve = form.cleaned_data["decision"] == "approve"
            try:
                approval_decide(
                    actor=staff_user(request),
                    approval=approval,
                    approve=approve,
                    comment=form.cleaned_data["comment"],
                )
            except (ValidationError, DomainError) as exc:
                add_domain_errors(form, exc)
            else:
                message = (
                    _("Approved the request on case %(case)s.")
                    if approve
                    else _("Rejected the request on case %(case)s.")
                )
                messages.success(request, message % {"case": approval.case_id})
                return HttpResponseRedirect(safe_next(request, queue))
        status = 400
    return render(
        request,
        "web/supervisor/approval_decide.html",
        {
            "approval": approval,
            "form": form,
            "is_own_request": approval.requested_by_id == staff_user(request).pk,
            "next": safe_next(request, queue),
        },
        status=status,
    )


# --- reassignment -----------------------------------------------------------------------------


class ReassignForm(forms.Form):
    caseworker = forms.ChoiceField(
        label=_("New caseworker"),
        error_messages={
            "required": _("Choose the caseworker who takes the case."),
            "invalid_choice": _("Choose one of the team's caseworkers."),
        },
    )
    version = forms.IntegerField(widget=forms.HiddenInput, min_value=1)

    def __init__(self, *args: Any, case: Case, caseworkers: list[User], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.users = {user.get_username(): user for user in caseworkers}
        field = self.fields["caseworker"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("Choose…"))] + [
            (name, name) for name in self.users if case.caseworker_id != self.users[name].pk
        ]
        self.fields["version"].initial = case.version

    def chosen(self) -> User:
        return self.users[self.cleaned_data["caseworker"]]


def _team_caseworkers(
    request: HttpRequest, teams: list[Team] | None = None
) -> dict[int, list[User]]:
    """The caseworkers offered for each team (by team id): one query."""
    out: dict[int, list[User]] = {}
    for membership in selectors.team_caseworkers(user=request.user, teams=teams):
        if membership.team_id is not None:
            out.setdefault(membership.team_id, []).append(membership.user)
    return out


@staff_page
@require_http_methods(["GET", "POST"])
def reassign(request: HttpRequest, case_number: str) -> HttpResponse:
    case = selectors.supervised_case_get(user=request.user, case_number=case_number)
    caseworkers = _team_caseworkers(request, [case.team]).get(case.team_id, [])
    form = ReassignForm(
        request.POST if request.method == "POST" else None, case=case, caseworkers=caseworkers
    )
    fallback = reverse("web:workload")
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                case_assign(
                    actor=staff_user(request),
                    case=case,
                    caseworker=form.chosen(),
                    expected_version=form.cleaned_data["version"],
                )
            except StaleVersion as exc:
                add_domain_errors(form, exc)
                # The page shows the case as it is now; sending again is a fresh decision.
                fresh = request.POST.copy()
                fresh["version"] = str(exc.current)
                form.data = fresh
            except (ValidationError, DomainError) as exc:
                add_domain_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("Case %(case)s is now with %(caseworker)s.")
                    % {"case": case.case_number, "caseworker": form.chosen().get_username()},
                )
                return HttpResponseRedirect(safe_next(request, fallback))
        status = 400
    return render(
        request,
        "web/supervisor/reassign.html",
        {"case": case, "form": form, "next": safe_next(request, fallback)},
        status=status,
    )


# --- workload ---------------------------------------------------------------------------------


@staff_page
def workload(request: HttpRequest) -> HttpResponse:
    scope = team_scope(request)
    user = request.user
    today = timezone.localdate()
    loads = selectors.caseworker_workload(user=user, teams=scope.teams, today=today)
    selected = request.GET.get("caseworker", "").strip()
    selected_cases: list[Case] = []
    more = False
    offered: dict[int, list[User]] = {}
    if selected:
        known = {load.username or UNASSIGNED for load in loads}
        if selected not in known:
            raise Http404("No such caseworker in these teams.")
        open_cases = selectors.supervised_case_list(user=user, teams=scope.teams).open()
        if selected == UNASSIGNED:
            open_cases = open_cases.filter(caseworker__isnull=True)
        else:
            open_cases = open_cases.filter(caseworker__username=selected)
        selected_cases = list(
            selectors.with_overdue_contacts(open_cases, today=today)
            .select_related("team", "caseworker")
            .order_by("stage_entered_at", "case_number")[: CASES_SHOWN + 1]
        )
        more = len(selected_cases) > CASES_SHOWN
        selected_cases = selected_cases[:CASES_SHOWN]
        offered = _team_caseworkers(request, scope.teams)
    rows = [
        {
            "load": load,
            "stages": [load.by_stage[stage] for stage in OPEN_STAGES],
            "key": load.username or UNASSIGNED,
        }
        for load in loads
    ]
    case_rows = [
        {
            "case": case,
            "choices": [
                u.get_username()
                for u in offered.get(case.team_id, [])
                if u.pk != case.caseworker_id
            ],
        }
        for case in selected_cases
    ]
    return render(
        request,
        "web/supervisor/workload.html",
        {
            "scope": scope,
            "rows": rows,
            "stage_labels": [Stage(stage).label for stage in OPEN_STAGES],
            "selected": selected,
            "unassigned": UNASSIGNED,
            "case_rows": case_rows,
            "more": more,
            "totals": {
                "open": sum(load.open_cases for load in loads),
                "overdue": sum(load.overdue_contacts for load in loads),
                "high": sum(load.high_risk for load in loads),
            },
        },
    )


urlpatterns: list[URLPattern] = [
    path("", dashboard, name="dashboard"),
    path("approvals/", approval_queue, name="approval-queue"),
    path("approvals/<uuid:approval_uuid>/", approval_decide_page, name="approval-decide"),
    path("workload/", workload, name="workload"),
    path("cases/<str:case_number>/reassign/", reassign, name="reassign"),
]
