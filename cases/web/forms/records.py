"""Forms for the stage records of a case: intake, screening, the plan and its goals, training,
support, monitoring contacts and incidents."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from cases import selectors
from cases.models import (
    ClearanceStatus,
    Compliance,
    ContactMode,
    ContactOutcome,
    EnrolmentStatus,
    IncidentKind,
    JudicialStatus,
    Need,
    Pillar,
    ReferralSource,
    ReleaseCondition,
    RiskLevel,
    ScreeningDecision,
    Severity,
    UrgentNeed,
)

from .base import (
    NOT_RECORDED,
    RecordForm,
    checks_field,
    choice_field,
    date_field,
    long_text_field,
    text_field,
)

# --- intake and screening ---------------------------------------------------------------------


class IntakeForm(RecordForm):
    return_date = date_field(_("Date of return or release"))
    first_contact_date = date_field(_("First contact"))
    intake_date = date_field(_("Intake date"))
    referral_source = choice_field(_("Referred by"), ReferralSource.choices)
    urgent_needs = checks_field(_("Urgent needs"), UrgentNeed.choices)
    notes = long_text_field(_("Notes"))


class ScreeningForm(RecordForm):
    assessed_on = date_field(_("Assessed on"))
    clearance_status = choice_field(
        _("Security/judicial clearance"), ClearanceStatus.choices, blank=None
    )
    risk_level = choice_field(_("Risk level"), RiskLevel.choices)
    needs = checks_field(_("Needs"), Need.choices)
    answers = long_text_field(
        _("Assessment answers"), help_text=_("One per line, as “question: answer”.")
    )
    decision = choice_field(_("Decision"), ScreeningDecision.choices, required=False)
    decision_reason = long_text_field(_("Reason for the decision"))
    judicial_status = choice_field(_("Judicial status"), JudicialStatus.choices, blank=None)
    release_conditions = checks_field(_("Release conditions"), ReleaseCondition.choices)
    compliance = choice_field(_("Compliance with conditions"), Compliance.choices, blank=None)
    security_findings = long_text_field(
        _("Security findings"),
        help_text=_("Only supervisors and programme managers can read or set this."),
    )

    def restricted_fields(self) -> list[str]:
        if selectors.can_read_security_findings(user=self.user, case=self.case):
            return []
        return ["security_findings"]

    def clean_answers(self) -> dict[str, str]:
        answers: dict[str, str] = {}
        for number, line in enumerate(self.cleaned_data["answers"].splitlines(), start=1):
            if not line.strip():
                continue
            question, separator, answer = line.partition(":")
            if not separator or not question.strip():
                raise forms.ValidationError(
                    _("Line %(number)s: write “question: answer”."),
                    code="answers",
                    params={"number": number},
                )
            answers[question.strip()] = answer.strip()
        return answers

    @classmethod
    def to_initial(cls, values: dict[str, Any]) -> dict[str, Any]:
        initial = dict(values)
        answers = initial.get("answers") or {}
        initial["answers"] = "\n".join(f"{q}: {a}" for q, a in answers.items())
        return initial


# --- a plan and its goals -----------------------------------------------------------------------


class PlanGoalForm(forms.Form):
    error_css_class = "field-error"

    pillar = choice_field(_("Pillar"), Pillar.choices)
    goal = forms.CharField(label=_("Goal"), max_length=300)
    planned_service = text_field(_("Planned service"), max_length=300)
    target_date = date_field(_("Target date"), required=False)


class BasePlanGoalFormSet(forms.BaseFormSet):  # type: ignore[type-arg]
    """One row per pillar to start with; rows left as they were are skipped."""

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs = super().get_form_kwargs(index)
        pillars = list(Pillar.values)
        if index is not None and index < len(pillars):
            kwargs["initial"] = {"pillar": pillars[index]}
        return kwargs

    def clean(self) -> None:
        if any(self.errors):
            return
        if not self.chosen_goals():
            raise forms.ValidationError(_("A plan needs at least one goal."), code="no_goals")

    def chosen_goals(self) -> list[dict[str, Any]]:
        return [
            dict(form.cleaned_data)
            for form in self.forms
            if form.has_changed() and form.cleaned_data
        ]


PlanGoalFormSet = forms.formset_factory(
    PlanGoalForm,
    formset=BasePlanGoalFormSet,
    extra=len(Pillar.values),
    max_num=20,
    validate_max=True,
)


class PlanForm(RecordForm):
    """A plan is its goals: this form holds the goal rows (a formset)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.goals = cast(
            BasePlanGoalFormSet,
            PlanGoalFormSet(self.data if self.is_bound else None, prefix="goals"),
        )

    def is_valid(self) -> bool:
        form_ok = super().is_valid()
        return self.goals.is_valid() and form_ok

    def service_data(self) -> dict[str, Any]:
        return {"goals": self.goals.chosen_goals()}


# --- training, support, monitoring, incidents -------------------------------------------------


class EnrolmentForm(RecordForm):
    course = forms.CharField(label=_("Course"), max_length=200)
    provider = forms.CharField(label=_("Provider"), max_length=200)
    start_date = date_field(_("Start date"))
    end_date = date_field(_("End date"), required=False)
    attendance_percent = forms.IntegerField(
        label=_("Attendance (%)"), min_value=0, max_value=100, required=False
    )
    status = choice_field(_("Status"), EnrolmentStatus.choices, blank=None)
    certificate = text_field(_("Certificate"), max_length=200)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        start, end = cleaned.get("start_date"), cleaned.get("end_date")
        if start and end and end < start:
            self.add_error("end_date", _("The course cannot end before it starts."))
        return cleaned


class SupportForm(RecordForm):
    pillar = choice_field(_("Pillar"), Pillar.choices)
    kind = forms.CharField(label=_("What was provided"), max_length=200)
    provided_on = date_field(_("Provided on"))
    amount = forms.DecimalField(
        label=_("Amount"), max_digits=12, decimal_places=2, min_value=0, required=False
    )
    currency = forms.CharField(
        label=_("Currency"),
        max_length=3,
        min_length=3,
        required=False,
        help_text=_("Three-letter code, e.g. IQD or USD."),
    )
    notes = long_text_field(_("Notes"))

    def clean_currency(self) -> str:
        return str(self.cleaned_data["currency"]).upper()


class ContactForm(RecordForm):
    planned_date = date_field(_("Planned date"), required=False)
    actual_date = date_field(_("Date it took place"), required=False)
    mode = choice_field(_("Mode"), ContactMode.choices, required=False, blank=NOT_RECORDED)
    outcome = choice_field(_("Outcome"), ContactOutcome.choices, blank=None)
    concerns = long_text_field(_("Concerns"))

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if (
            "planned_date" in cleaned
            and "actual_date" in cleaned
            and not (cleaned["planned_date"] or cleaned["actual_date"])
        ):
            self.add_error("planned_date", _("Give the planned date or the date it took place."))
        met = cleaned.get("outcome") == ContactOutcome.MET
        if met and "actual_date" in cleaned and not cleaned["actual_date"]:
            self.add_error("actual_date", _("A contact that took place needs its date."))
        return cleaned


class IncidentForm(RecordForm):
    kind = choice_field(_("Kind of incident"), IncidentKind.choices)
    occurred_on = date_field(_("Occurred on"))
    severity = choice_field(_("Severity"), Severity.choices)
    description = long_text_field(_("Description"))
