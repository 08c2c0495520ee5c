"""Pages: the forms that add and change the records of a case file, and the withdraw actions.

The case comes from ``case_for`` (404 out of scope), records are addressed by uuid within it,
and every write goes through the same service, with the same data, as the API. What a stage or
a role allows is the services' business: a refusal is shown on the form and nothing is written.
An edit carries the version the user read; when someone else saved first, the page shows both
versions side by side and keeps the user's values, so nothing is overwritten silently.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cases.models import (
    Case,
    ConsentRecord,
    IntakeRecord,
    MonitoringContact,
    Referral,
    Returnee,
    ScreeningAssessment,
    Stage,
    TrainingEnrolment,
)
from cases.models.base import CaseRecord
from cases.services import records
from cases.services.approvals import approval_request, plan_create
from cases.services.consent import consent_create, consent_withdraw
from cases.services.errors import DomainError, StaleVersion
from cases.services.identity import identity_reveal, returnee_update
from cases.services.referrals import referral_create, referral_withdraw
from cases.web import forms as rf

from .common import add_domain_errors, case_for, staff_page, staff_user

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise

Create = Callable[[User, Case, dict[str, Any]], object]
Update = Callable[[User, Case, Any, dict[str, Any], int], object]

CONFLICT_MESSAGE = _(
    "Someone else saved this record after you opened it, so nothing of yours was saved. "
    "Compare the two versions below: the form still holds your values, and saving it again "
    "puts every one of them over the current version. Where the current version has a "
    "change you want to keep, copy it into the form first."
)


@dataclass(frozen=True)
class NewKind:
    form: type[rf.RecordForm]
    title: StrPromise
    tab: str
    create: Create
    saved: StrPromise


@dataclass(frozen=True)
class EditKind:
    form: type[rf.RecordForm]
    title: StrPromise
    tab: str
    model: type[CaseRecord]
    update: Update
    saved: StrPromise


def _screening_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return records.screening_create(actor=actor, case=case, data=data)


def _plan_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return plan_create(actor=actor, case=case, goals=data["goals"])


def _enrolment_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return records.enrolment_create(actor=actor, case=case, data=data)


def _support_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return records.support_create(actor=actor, case=case, data=data)


def _contact_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return records.contact_create(actor=actor, case=case, data=data)


def _incident_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return records.incident_create(actor=actor, case=case, data=data)


def _consent_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return consent_create(actor=actor, case=case, **data)


def _approval_request(actor: User, case: Case, data: dict[str, Any]) -> object:
    return approval_request(actor=actor, case=case, **data)


def _referral_create(actor: User, case: Case, data: dict[str, Any]) -> object:
    return referral_create(actor=actor, case=case, **data)


NEW_KINDS: dict[str, NewKind] = {
    "screening": NewKind(
        rf.ScreeningForm,
        _("Record a screening assessment"),
        "screening",
        _screening_create,
        _("Screening assessment saved."),
    ),
    "plan": NewKind(
        rf.PlanForm,
        _("Write a reintegration plan"),
        "plan",
        _plan_create,
        _("Reintegration plan saved."),
    ),
    "enrolment": NewKind(
        rf.EnrolmentForm,
        _("Enrol in a course"),
        "training",
        _enrolment_create,
        _("Enrolment saved."),
    ),
    "support": NewKind(
        rf.SupportForm,
        _("Record support provided"),
        "support",
        _support_create,
        _("Support saved."),
    ),
    "contact": NewKind(
        rf.ContactForm,
        _("Record a monitoring contact"),
        "monitoring",
        _contact_create,
        _("Monitoring contact saved."),
    ),
    "incident": NewKind(
        rf.IncidentForm,
        _("Report an incident"),
        "incidents",
        _incident_create,
        _("Incident saved."),
    ),
    "consent": NewKind(
        rf.ConsentForm,
        _("Record consent"),
        "consent",
        _consent_create,
        _("Consent saved."),
    ),
    "approval": NewKind(
        rf.ApprovalForm,
        _("Ask a supervisor for approval"),
        "approvals",
        _approval_request,
        _("Approval requested."),
    ),
    "referral": NewKind(
        rf.ReferralForm,
        _("Refer to a partner organisation"),
        "referrals",
        _referral_create,
        _("Referral offered to the partner."),
    ),
}


def _intake_update(actor: User, case: Case, record: Any, changes: dict[str, Any], v: int) -> object:
    return records.intake_update(actor=actor, case=case, changes=changes, expected_version=v)


def _screening_update(
    actor: User, case: Case, record: Any, changes: dict[str, Any], v: int
) -> object:
    return records.screening_update(
        actor=actor, case=case, assessment=record, changes=changes, expected_version=v
    )


def _enrolment_update(
    actor: User, case: Case, record: Any, changes: dict[str, Any], v: int
) -> object:
    return records.enrolment_update(
        actor=actor, case=case, enrolment=record, changes=changes, expected_version=v
    )


def _contact_update(
    actor: User, case: Case, record: Any, changes: dict[str, Any], v: int
) -> object:
    return records.contact_update(
        actor=actor, case=case, contact=record, changes=changes, expected_version=v
    )


EDIT_KINDS: dict[str, EditKind] = {
    "intake": EditKind(
        rf.IntakeForm,
        _("Change the intake record"),
        "intake",
        IntakeRecord,
        _intake_update,
        _("Intake record saved."),
    ),
    "screening": EditKind(
        rf.ScreeningForm,
        _("Change a screening assessment"),
        "screening",
        ScreeningAssessment,
        _screening_update,
        _("Screening assessment saved."),
    ),
    "enrolment": EditKind(
        rf.EnrolmentForm,
        _("Change an enrolment"),
        "training",
        TrainingEnrolment,
        _enrolment_update,
        _("Enrolment saved."),
    ),
    "contact": EditKind(
        rf.ContactForm,
        _("Record the outcome of a contact"),
        "monitoring",
        MonitoringContact,
        _contact_update,
        _("Monitoring contact saved."),
    ),
}
PERSON = "person"
PERSON_TAB = "intake"


def tab_url(case: Case, tab: str) -> str:
    return reverse("web:case-tab", args=[case.case_number, tab])


@dataclass(frozen=True)
class ConflictRow:
    label: Any
    yours: str
    current: str

    @property
    def differs(self) -> bool:
        return self.yours != self.current


def _conflict(
    form_class: type[rf.RecordForm],
    request: HttpRequest,
    submitted: rf.RecordForm,
    current_values: dict[str, Any],
    current_version: int,
) -> tuple[rf.RecordForm, list[ConflictRow]]:
    """The form again with the user's values and the current version, and both versions."""
    data = request.POST.copy()
    data["version"] = str(current_version)
    form = form_class(data, case=submitted.case, user=submitted.user, versioned=True)
    form.is_valid()
    form.add_error(None, CONFLICT_MESSAGE)
    yours = submitted.display_rows(submitted.cleaned_data)
    current = submitted.display_rows(current_values)
    rows = [
        ConflictRow(label, mine, saved)
        for (_name, label, mine), (_n, _l, saved) in zip(yours, current, strict=True)
    ]
    return form, rows


def _render_form(
    request: HttpRequest,
    case: Case,
    form: forms.Form,
    *,
    title: Any,
    tab: str,
    status: int,
    submit: Any = None,
    conflict: list[ConflictRow] | None = None,
    step: str = "",
) -> HttpResponse:
    return render(
        request,
        "web/records/form.html",
        {
            "case": case,
            "form": form,
            "goals": getattr(form, "goals", None),
            "title": title,
            "cancel_url": tab_url(case, tab),
            "submit": submit or _("Save"),
            "conflict": conflict,
            "step": step,
            "closed": case.stage == Stage.CLOSED,
        },
        status=status,
    )


@never_cache
@staff_page
@require_http_methods(["GET", "POST"])
def record_new(request: HttpRequest, case_number: str, kind: str) -> HttpResponse:
    spec = NEW_KINDS.get(kind)
    if spec is None:
        raise Http404("No such kind of record.")
    case = case_for(request, case_number)
    user = staff_user(request)
    status = 200
    if request.method == "POST":
        form = spec.form(request.POST, case=case, user=user)
        status = 400
        if form.is_valid():
            try:
                spec.create(user, case, form.service_data())
            except (ValidationError, DomainError) as exc:
                add_domain_errors(form, exc)
            else:
                messages.success(request, spec.saved)
                return redirect(tab_url(case, spec.tab))
    else:
        form = spec.form(case=case, user=user)
    return _render_form(request, case, form, title=spec.title, tab=spec.tab, status=status)


@never_cache
@staff_page
@require_http_methods(["GET", "POST"])
def record_edit(request: HttpRequest, case_number: str, kind: str, uuid: UUID) -> HttpResponse:
    if kind == PERSON:
        return _person_edit(request, case_number, uuid)
    spec = EDIT_KINDS.get(kind)
    if spec is None:
        raise Http404("No such kind of record.")
    case = case_for(request, case_number)
    user = staff_user(request)
    record: Any = get_object_or_404(spec.model.objects.visible_to(user), case=case, uuid=uuid)
    status, conflict = 200, None
    if request.method == "POST":
        form = spec.form(request.POST, case=case, user=user, versioned=True)
        status = 400
        if form.is_valid():
            changes = form.changes_from(record)
            try:
                spec.update(user, case, record, changes, form.cleaned_data["version"])
            except StaleVersion:
                fresh: Any = spec.model.objects.visible_to(user).get(pk=record.pk)
                form, conflict = _conflict(
                    spec.form, request, form, spec.form.values_of(fresh), fresh.version
                )
                status = 409
            except (ValidationError, DomainError) as exc:
                add_domain_errors(form, exc)
            else:
                if changes:
                    messages.success(request, spec.saved)
                else:
                    messages.info(request, _("Nothing was changed."))
                return redirect(tab_url(case, spec.tab))
    else:
        initial = {**spec.form.to_initial(spec.form.values_of(record)), "version": record.version}
        form = spec.form(initial=initial, case=case, user=user, versioned=True)
    return _render_form(
        request, case, form, title=spec.title, tab=spec.tab, status=status, conflict=conflict
    )


def _person_edit(request: HttpRequest, case_number: str, uuid: UUID) -> HttpResponse:
    """Identity and profile. Opening the form shows identity, so it first asks why and
    records the read (``identity_reveal``); the reason travels with the form and is given
    again when a conflict has to show the current identity."""
    case = case_for(request, case_number)
    if case.returnee.uuid != uuid:
        raise Http404("No such person on this case.")
    user = staff_user(request)
    title = _("Change the person's identity and profile")
    if request.method == "POST" and request.POST.get("step") == "save":
        return _person_save(request, case, user, title)
    reveal = rf.RevealForm(request.POST if request.method == "POST" else None)
    status = 200
    if reveal.is_bound:
        status = 400
        if reveal.is_valid():
            reason = reveal.cleaned_data["reason"]
            try:
                identity = identity_reveal(actor=user, case=case, reason=reason)
            except (ValidationError, DomainError) as exc:
                add_domain_errors(reveal, exc)
            else:
                values = {**rf.PersonForm.values_of(case.returnee), **identity}
                initial = {**values, "version": case.version, "reason": reason}
                form = rf.PersonForm(initial=initial, case=case, user=user, versioned=True)
                return _render_form(
                    request, case, form, title=title, tab=PERSON_TAB, status=200, step="save"
                )
    return render(
        request,
        "web/records/reveal.html",
        {"case": case, "form": reveal, "title": title, "cancel_url": tab_url(case, PERSON_TAB)},
        status=status,
    )


def _person_save(request: HttpRequest, case: Case, user: User, title: Any) -> HttpResponse:
    form: rf.RecordForm = rf.PersonForm(request.POST, case=case, user=user, versioned=True)
    status, conflict = 400, None
    if form.is_valid():
        person = Returnee.objects.visible_to(user).get(pk=case.returnee_id)
        changes = form.changes_from(person)
        try:
            returnee_update(
                actor=user,
                case=case,
                changes=changes,
                expected_version=form.cleaned_data["version"],
            )
        except StaleVersion:
            # Showing the current identity is another read, recorded with the same reason.
            identity = identity_reveal(actor=user, case=case, reason=form.cleaned_data["reason"])
            fresh = Returnee.objects.visible_to(user).get(pk=case.returnee_id)
            cases = Case.objects.visible_to(user)
            version = cases.values_list("version", flat=True).get(pk=case.pk)
            current = {**rf.PersonForm.values_of(fresh), **identity}
            form, conflict = _conflict(rf.PersonForm, request, form, current, version)
            status = 409
        except (ValidationError, DomainError) as exc:
            add_domain_errors(form, exc)
        else:
            if changes:
                messages.success(request, _("The person's record was saved."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect(tab_url(case, PERSON_TAB))
    return _render_form(
        request,
        case,
        form,
        title=title,
        tab=PERSON_TAB,
        status=status,
        conflict=conflict,
        step="save",
    )


@never_cache
@staff_page
@require_http_methods(["GET", "POST"])
def consent_withdraw_page(request: HttpRequest, case_number: str, uuid: UUID) -> HttpResponse:
    """Withdrawing consent stops what it covered (sharing, above all), never support."""
    case = case_for(request, case_number)
    user = staff_user(request)
    consents = ConsentRecord.objects.visible_to(user)
    consent = get_object_or_404(consents, returnee_id=case.returnee_id, uuid=uuid)
    form = forms.Form(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        status = 400
        try:
            consent_withdraw(actor=user, case=case, consent=consent)
        except (ValidationError, DomainError) as exc:
            add_domain_errors(form, exc)
        else:
            messages.success(request, _("The consent was withdrawn."))
            return redirect(tab_url(case, "consent"))
    return render(
        request,
        "web/records/consent_withdraw.html",
        {
            "case": case,
            "consent": consent,
            "scope_labels": rf.display_value(rf.ConsentForm.base_fields["scope"], consent.scope),
            "form": form,
            "title": _("Withdraw consent"),
            "cancel_url": tab_url(case, "consent"),
        },
        status=status,
    )


@never_cache
@staff_page
@require_http_methods(["GET", "POST"])
def referral_withdraw_page(request: HttpRequest, case_number: str, uuid: UUID) -> HttpResponse:
    case = case_for(request, case_number)
    user = staff_user(request)
    referrals = Referral.objects.visible_to(user).select_related("partner")
    referral = get_object_or_404(referrals, case=case, uuid=uuid)
    status, conflict = 200, None
    if request.method == "POST":
        form = rf.ReferralWithdrawForm(request.POST)
        status = 400
        if form.is_valid():
            try:
                referral_withdraw(
                    actor=user,
                    referral=referral,
                    reason=form.cleaned_data["reason"],
                    expected_version=form.cleaned_data["version"],
                )
            except StaleVersion:
                fresh = referrals.get(pk=referral.pk)
                conflict = [
                    ConflictRow(
                        _("Status"),
                        str(_("Withdrawn by the programme")),
                        fresh.get_status_display(),
                    ),
                    ConflictRow(_("Reason"), form.cleaned_data["reason"], fresh.outcome or "—"),
                ]
                data = request.POST.copy()
                data["version"] = str(fresh.version)
                form = rf.ReferralWithdrawForm(data)
                form.is_valid()
                form.add_error(None, CONFLICT_MESSAGE)
                referral = fresh
                status = 409
            except (ValidationError, DomainError) as exc:
                add_domain_errors(form, exc)
            else:
                messages.success(request, _("The referral was withdrawn."))
                return redirect(tab_url(case, "referrals"))
    else:
        form = rf.ReferralWithdrawForm(initial={"version": referral.version})
    return render(
        request,
        "web/records/referral_withdraw.html",
        {
            "case": case,
            "referral": referral,
            "form": form,
            "conflict": conflict,
            "title": _("Withdraw a referral"),
            "cancel_url": tab_url(case, "referrals"),
        },
        status=status,
    )


urlpatterns: list[URLPattern] = [
    path("<str:case_number>/records/<slug:kind>/new/", record_new, name="record-new"),
    path(
        "<str:case_number>/records/<slug:kind>/<uuid:uuid>/edit/",
        record_edit,
        name="record-edit",
    ),
    path(
        "<str:case_number>/records/consent/<uuid:uuid>/withdraw/",
        consent_withdraw_page,
        name="consent-withdraw",
    ),
    path(
        "<str:case_number>/records/referral/<uuid:uuid>/withdraw/",
        referral_withdraw_page,
        name="referral-withdraw",
    ),
]
