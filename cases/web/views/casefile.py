"""The case file: a case's header (never the person's name), its two-lane timeline against the
group's competing pipeline, one tab per kind of record, the audited identity reveal and the
stage moves the workflow allows."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers, patch_vary_headers
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from cases import competition, selectors
from cases.models import (
    COMPETES_WITH,
    IDENTITY_FIELDS,
    STAGE_ORDER,
    Benchmark,
    Case,
    CompetingStage,
    ConsentScope,
    Need,
    Outcome,
    Pillar,
    ReferralStatus,
    ReleaseCondition,
    SharedField,
    Stage,
    UrgentNeed,
)
from cases.services import workflow
from cases.services.errors import DomainError, StaleVersion, TransitionNotAllowed
from cases.services.identity import identity_reveal

from .common import add_domain_errors, staff_page, staff_user
from .surveys import score_panel

PROGRAMME_STAGES = (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING)


@dataclass(frozen=True)
class Tab:
    slug: str
    label: Any
    supervisors_only: bool = False


TABS = (
    Tab("intake", _("Intake")),
    Tab("screening", _("Screening")),
    Tab("plan", _("Plan")),
    Tab("training", _("Training")),
    Tab("support", _("Support")),
    Tab("monitoring", _("Monitoring")),
    Tab("incidents", _("Incidents")),
    Tab("referrals", _("Referrals")),
    Tab("approvals", _("Approvals")),
    Tab("consent", _("Consent")),
    Tab("history", _("History"), supervisors_only=True),
)
TAB_BY_SLUG = {tab.slug: tab for tab in TABS}
# The tab a case file opens on: the records of the stage the case is in.
DEFAULT_TAB = {
    Stage.INTAKE: "intake",
    Stage.SCREENING: "screening",
    Stage.TRAINING: "training",
    Stage.MONITORING: "monitoring",
    Stage.CLOSED: "intake",
}
HISTORY_LIMIT = 300
# Referrals staff can still withdraw (cases/services/referrals.py).
OPEN_REFERRAL_STATUSES = (ReferralStatus.OFFERED, ReferralStatus.ACCEPTED)

DIMENSION_LABELS = {
    competition.SPEED: _("Speed"),
    competition.OFFER: _("Offer"),
    competition.CONTACT: _("Contact"),
    competition.EXPOSURE: _("Exposure"),
}
SEVERITY_LABELS = {
    competition.HIGH: _("High"),
    competition.MEDIUM: _("Medium"),
    competition.LOW: _("Low"),
}
IDENTITY_LABELS = {
    "given_name": _("Given name"),
    "family_name": _("Family name"),
    "aliases": _("Aliases"),
    "date_of_birth": _("Date of birth"),
    "national_id": _("National ID"),
    "phone": _("Phone"),
    "address": _("Address"),
}


# --- forms ------------------------------------------------------------------------------------


class RevealForm(forms.Form):
    reason = forms.CharField(
        label=_("Why do you need to see this person's identity?"),
        max_length=500,
        widget=forms.TextInput(attrs={"size": 50, "autocomplete": "off"}),
        error_messages={"required": _("Give a reason: every look at an identity is recorded.")},
    )


class MoveForm(forms.Form):
    to_stage = forms.ChoiceField(choices=Stage.choices, widget=forms.HiddenInput)
    seen_stage = forms.ChoiceField(choices=Stage.choices, widget=forms.HiddenInput)
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)
    tab = forms.CharField(required=False, widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), required=False, max_length=2000)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        seen, target = data.get("seen_stage"), data.get("to_stage")
        move = workflow.MOVES.get((Stage(seen), Stage(target))) if seen and target else None
        if move is not None and move.needs_reason and not data.get("reason", "").strip():
            self.add_error("reason", _("Say why the case moves back."))
        return data


# --- what the page shows ----------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodView:
    entered: datetime.datetime
    left: datetime.datetime | None
    days: int
    reason: str
    moved_by: str


@dataclass
class TimelineRow:
    """One programme stage and, beside it, the group's stage that competes with it."""

    stage: str
    label: Any
    current: bool
    periods: list[PeriodView]
    passed: bool = False
    competing: str = ""
    competing_label: Any = ""
    benchmark: Benchmark | None = None
    pillars_offered: list[Any] = field(default_factory=list)
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class MoveOption:
    target: str
    label: Any
    back: bool
    needs_reason: bool
    refusals: list[str]


def _days(start: datetime.datetime, end: datetime.datetime | None, today: datetime.date) -> int:
    last = timezone.localdate(end) if end is not None else today
    return max((last - timezone.localdate(start)).days, 0)


def _pillar_label(value: str) -> Any:
    return Pillar(value).label if value in Pillar.values else value


def _labels(choices: type[models.TextChoices], values: Iterable[str] | None) -> list[Any]:
    """The translated labels of a stored list of choice values (unknown values as they are)."""
    return [choices(v).label if v in choices.values else v for v in values or ()]


def timeline_rows(
    case: Case,
    periods: list[selectors.StagePeriod],
    detail: selectors.CaseCompetition,
    *,
    today: datetime.date,
) -> list[TimelineRow]:
    """The programme lane (every stay in each stage) beside the competing lane (benchmark and
    the findings of the competition engine for that stage, gravest first)."""
    by_stage: dict[str, list[PeriodView]] = {}
    for period in periods:
        by_stage.setdefault(period.stage, []).append(
            PeriodView(
                entered=period.entered,
                left=period.left,
                days=_days(period.entered, period.left, today),
                reason=period.reason,
                moved_by=period.moved_by,
            )
        )
    rows = []
    for stage in PROGRAMME_STAGES:
        competing = COMPETES_WITH[stage]
        benchmark = detail.benchmarks.get(competing)
        findings = sorted(
            (f for f in detail.findings if f.stage == stage),
            key=lambda f: -competition.SEVERITY_RANK.get(f.severity, 0),
        )
        rows.append(
            TimelineRow(
                stage=stage,
                label=Stage(stage).label,
                current=case.stage == stage,
                periods=by_stage.get(stage, []),
                # Cases imported or seeded without their transitions still show the stages
                # they must have gone through.
                passed=stage not in by_stage
                and case.stage != Stage.CLOSED
                and STAGE_ORDER[Stage(stage)] < STAGE_ORDER[Stage(case.stage)],
                competing=competing,
                competing_label=CompetingStage(competing).label,
                benchmark=benchmark,
                pillars_offered=[_pillar_label(p) for p in benchmark.pillars_offered]
                if benchmark
                else [],
                findings=[
                    {
                        "severity": f.severity,
                        "severity_label": SEVERITY_LABELS.get(f.severity, f.severity),
                        "dimension": DIMENSION_LABELS.get(f.dimension, f.dimension),
                        "sentence": f.sentence,
                        "code": f.code,
                    }
                    for f in findings
                ],
            )
        )
    if case.stage == Stage.CLOSED or Stage.CLOSED in by_stage:
        rows.append(
            TimelineRow(
                stage=Stage.CLOSED,
                label=Stage.CLOSED.label,
                current=case.stage == Stage.CLOSED,
                periods=by_stage.get(Stage.CLOSED, []),
            )
        )
    return rows


def move_choices(case: Case) -> tuple[list[MoveOption], list[MoveOption]]:
    """The moves the workflow allows now, and the refused ones with its reasons."""
    allowed: list[MoveOption] = []
    refused: list[MoveOption] = []
    for target, refusals in workflow.move_options(case).items():
        move = workflow.MOVES[(Stage(case.stage), Stage(target))]
        option = MoveOption(
            target=target,
            label=Stage(target).label,
            back=STAGE_ORDER[Stage(target)] < STAGE_ORDER[Stage(case.stage)],
            needs_reason=move.needs_reason,
            refusals=refusals,
        )
        (refused if refusals else allowed).append(option)
    return allowed, refused


def visible_tabs(request: HttpRequest, case: Case) -> list[Tab]:
    supervises = selectors.can_approve(user=request.user, case=case)
    return [tab for tab in TABS if supervises or not tab.supervisors_only]


def _panel(request: HttpRequest, case: Case, tab: str, today: datetime.date) -> dict[str, Any]:
    """The records one tab lists: a fixed number of queries, however many there are."""
    user = request.user
    if tab == "intake":
        intake = getattr(case, "intake", None)
        return {
            "intake": intake,
            "urgent_needs": _labels(UrgentNeed, intake.urgent_needs if intake else []),
            "person": case.returnee,
        }
    if tab == "screening":
        return {
            "screenings": [
                {
                    "screening": screening,
                    "needs": _labels(Need, screening.needs),
                    "release_conditions": _labels(ReleaseCondition, screening.release_conditions),
                    "approvals": list(screening.approvals.all()),
                }
                for screening in selectors.case_screening_list(user=user, case=case)
            ],
            "can_read_security": selectors.can_read_security_findings(user=user, case=case),
        }
    if tab == "plan":
        return {"plans": list(selectors.case_plan_list(case=case))}
    if tab == "training":
        return {"enrolments": list(selectors.case_enrolment_list(case=case))}
    if tab == "support":
        return {"support": list(selectors.case_support_list(case=case))}
    if tab == "monitoring":
        return {
            "contacts": list(selectors.case_contact_list(case=case, today=today)),
            **score_panel(case),  # the reintegration survey's scores over time
        }
    if tab == "incidents":
        return {"incidents": list(selectors.case_incident_list(case=case))}
    if tab == "referrals":
        return {
            "referrals": [
                {
                    "referral": referral,
                    "shared": _labels(SharedField, referral.shared_fields),
                    "open": referral.status in OPEN_REFERRAL_STATUSES,
                }
                for referral in selectors.case_referral_list(case=case)
            ]
        }
    if tab == "approvals":
        return {
            "approvals": list(selectors.case_approval_list(case=case)),
            "can_decide": selectors.can_approve(user=user, case=case),
        }
    if tab == "consent":
        return {
            "consents": [
                {"consent": consent, "scope": _labels(ConsentScope, consent.scope)}
                for consent in selectors.case_consent_list(case=case)
            ]
        }
    if tab == "history":
        events = selectors.case_history(user=user, case=case).order_by("-id")
        return {"events": list(events[:HISTORY_LIMIT]), "history_limit": HISTORY_LIMIT}
    return {}


def _tabs_context(
    request: HttpRequest, case: Case, tab: str, tabs: list[Tab], today: datetime.date
) -> dict[str, Any]:
    return {
        "case": case,
        "tabs": tabs,
        "tab": tab,
        "tab_label": TAB_BY_SLUG[tab].label,
        "panel_template": f"web/casefile/tabs/{tab}.html",
        "can_write": case.stage != Stage.CLOSED,
        "today": today,
        **_panel(request, case, tab, today),
    }


def _render_case_file(
    request: HttpRequest,
    case: Case,
    *,
    tab: str,
    reveal_form: RevealForm | None = None,
    identity: list[tuple[Any, Any]] | None = None,
    move_form: MoveForm | None = None,
    move_problem: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    today = timezone.localdate()
    tabs = visible_tabs(request, case)
    if tab not in {t.slug for t in tabs}:
        raise Http404("No such tab.")
    if _wants_panel(request) and reveal_form is None and move_form is None:
        response = render(
            request, "web/casefile/_tabs.html", _tabs_context(request, case, tab, tabs, today)
        )
        patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
        return response

    periods = selectors.case_stage_periods(case=case)
    detail = selectors.case_competition_detail(case=case, today=today)
    allowed, refused = move_choices(case)
    closure = (
        workflow.approved_closure(case)
        if any(option.target == Stage.CLOSED for option in allowed)
        else None
    )
    context = {
        **_tabs_context(request, case, tab, tabs, today),
        "outlook": selectors.case_contact_outlook(case=case, today=today),
        "days_in_stage": _days(case.stage_entered_at, None, today),
        "timeline": timeline_rows(case, periods, detail, today=today),
        "moves_allowed": allowed,
        "moves_refused": refused,
        "closure_outcome": Outcome(closure.outcome).label if closure else None,
        "reveal_form": reveal_form or RevealForm(),
        "identity": identity,
        "move_form": move_form,
        "move_problem": move_problem,
    }
    response = render(request, "web/casefile/case_file.html", context, status=status)
    patch_vary_headers(response, ["HX-Request", "HX-History-Restore-Request"])
    return response


def _wants_panel(request: HttpRequest) -> bool:
    """An htmx tab switch wants only the tab panel; a history restore wants the whole page."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


# --- pages ------------------------------------------------------------------------------------


@staff_page
@require_http_methods(["GET", "HEAD"])
def case_detail(request: HttpRequest, case_number: str) -> HttpResponse:
    case = selectors.case_file_get(user=request.user, case_number=case_number)
    return _render_case_file(request, case, tab=DEFAULT_TAB[Stage(case.stage)])


@staff_page
@require_http_methods(["GET", "HEAD"])
def case_tab(request: HttpRequest, case_number: str, tab: str) -> HttpResponse:
    case = selectors.case_file_get(user=request.user, case_number=case_number)
    if tab not in TAB_BY_SLUG:
        raise Http404("No such tab.")
    return _render_case_file(request, case, tab=tab)


def _return_tab(request: HttpRequest, case: Case) -> str:
    tab = request.POST.get("tab", "")
    slugs = {t.slug for t in visible_tabs(request, case)}
    return tab if tab in slugs else DEFAULT_TAB[Stage(case.stage)]


@staff_page
@require_http_methods(["GET", "POST"])
def case_reveal(request: HttpRequest, case_number: str) -> HttpResponse:
    """Show the person's identity once, for this response only: audited with the reason given,
    never kept in the session, never cached, never on any other page."""
    case = selectors.case_file_get(user=request.user, case_number=case_number)
    if request.method != "POST":
        return redirect("web:case-detail", case_number=case.case_number)
    form = RevealForm(request.POST)
    identity = None
    if form.is_valid():
        try:
            values = identity_reveal(
                actor=staff_user(request), case=case, reason=form.cleaned_data["reason"]
            )
        except (ValidationError, DomainError) as exc:
            add_domain_errors(form, exc)
        else:
            identity = [(IDENTITY_LABELS[name], values[name]) for name in IDENTITY_FIELDS]
    response = _render_case_file(
        request,
        case,
        tab=_return_tab(request, case),
        reveal_form=form if identity is None else RevealForm(),
        identity=identity,
        status=200 if identity is not None else 400,
    )
    add_never_cache_headers(response)
    return response


@staff_page
@require_http_methods(["GET", "POST"])
def case_move(request: HttpRequest, case_number: str) -> HttpResponse:
    """Move the case to another stage through the workflow; a stale page or a refused move
    writes nothing and says why."""
    case = selectors.case_file_get(user=request.user, case_number=case_number)
    if request.method != "POST":
        return redirect("web:case-detail", case_number=case.case_number)
    form = MoveForm(request.POST)
    tab = _return_tab(request, case)
    if not form.is_valid():
        return _render_case_file(request, case, tab=tab, move_form=form, status=400)
    data = form.cleaned_data
    try:
        workflow.case_transition(
            actor=staff_user(request),
            case=case,
            to_stage=data["to_stage"],
            reason=data["reason"].strip(),
            expected_version=data["version"],
        )
    except StaleVersion:
        current = selectors.case_file_get(user=request.user, case_number=case.case_number)
        problem = {
            "kind": "stale",
            "seen_stage": Stage(data["seen_stage"]).label,
            "current_stage": Stage(current.stage).label,
            "same_stage": current.stage == data["seen_stage"],
        }
        return _render_case_file(
            request, current, tab=tab, move_form=form, move_problem=problem, status=409
        )
    except TransitionNotAllowed as exc:
        problem = {
            "kind": "refused",
            "target": Stage(data["to_stage"]).label,
            "reasons": exc.reasons,
        }
        return _render_case_file(
            request, case, tab=tab, move_form=form, move_problem=problem, status=409
        )
    except (ValidationError, DomainError) as exc:
        add_domain_errors(form, exc)
        return _render_case_file(request, case, tab=tab, move_form=form, status=400)
    messages.success(
        request,
        _("The case moved to %(stage)s.") % {"stage": Stage(data["to_stage"]).label},
    )
    # The file opens on the tab of the stage the case has just entered.
    return redirect(reverse("web:case-detail", args=[case.case_number]))


urlpatterns: list[URLPattern] = [
    path("<str:case_number>/", case_detail, name="case-detail"),
    path("<str:case_number>/reveal/", case_reveal, name="case-reveal"),
    path("<str:case_number>/move/", case_move, name="case-move"),
    path("<str:case_number>/<slug:tab>/", case_tab, name="case-tab"),
]
