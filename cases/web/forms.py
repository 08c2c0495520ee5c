"""Forms for the records of a case file. They shape and check what a page accepts, with
translatable labels; the services (``cases.services.*``) decide what is allowed and write.

Each form knows the case and the user, so it can offer the case's own plans, screenings and
partners, and leave out the fields this user may not set (a value posted for one of those is
refused, never silently stored)."""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, ClassVar, cast

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Count
from django.utils import formats, timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cases import selectors, validators
from cases.models import (
    IDENTITY_FIELDS,
    Affiliation,
    ApprovalKind,
    Case,
    ClearanceStatus,
    Compliance,
    ConsentScope,
    ContactMode,
    ContactOutcome,
    EnrolmentStatus,
    FormerRole,
    IncidentKind,
    JudicialStatus,
    LegalBasis,
    Need,
    Outcome,
    PartnerOrganisation,
    Pillar,
    Profession,
    ReferralService,
    ReferralSource,
    ReintegrationPlan,
    ReleaseCondition,
    ReturnPathway,
    RiskLevel,
    ScreeningAssessment,
    ScreeningDecision,
    Severity,
    Sex,
    SharedField,
    UrgentNeed,
)

CHOOSE = ("", _("Choose…"))
NOT_RECORDED = ("", _("Not recorded"))
# Fields a form carries for the page, not for the record.
CONTROL_FIELDS = frozenset({"version", "reason"})


class DateInput(forms.DateInput):
    """A native date picker; the value travels as ISO 8601 whatever the page's language."""

    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


def date_field(label: Any, *, required: bool = True, help_text: Any = "") -> forms.DateField:
    return forms.DateField(label=label, required=required, widget=DateInput(), help_text=help_text)


def choice_field(
    label: Any,
    choices: Iterable[tuple[str, Any]],
    *,
    required: bool = True,
    blank: tuple[str, Any] | None = CHOOSE,
    help_text: Any = "",
) -> forms.ChoiceField:
    options = list(choices)
    if blank is not None and not any(value == "" for value, _label in options):
        options = [blank, *options]
    return forms.ChoiceField(label=label, choices=options, required=required, help_text=help_text)


def checks_field(
    label: Any, choices: Iterable[tuple[str, Any]], *, required: bool = False, help_text: Any = ""
) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=label,
        choices=list(choices),
        required=required,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text,
    )


def text_field(label: Any, *, max_length: int | None = None, required: bool = False) -> Any:
    return forms.CharField(label=label, max_length=max_length, required=required)


def long_text_field(label: Any, *, required: bool = False, help_text: Any = "") -> Any:
    return forms.CharField(
        label=label,
        required=required,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=help_text,
    )


def short_date(value: datetime.date | datetime.datetime) -> str:
    if isinstance(value, datetime.datetime):
        value = timezone.localtime(value).date()
    return formats.date_format(value, "SHORT_DATE_FORMAT")


class RulesModelForm(forms.ModelForm):  # type: ignore[type-arg]
    """A model form that also applies the input rules every way in shares
    (``cases.validators``: control characters, the column's length, the dates a field can
    hold), so a page refuses on the field, as soon as it is sent, what the service that later
    writes the record would refuse. ``rules_of`` maps a form field that is not a model field to
    the model field whose rules it takes."""

    rules_of: ClassVar[dict[str, str]] = {}

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]
        today = timezone.localdate()
        refused = []
        for name, value in self.cleaned_data.items():
            if self.has_error(name):
                continue
            try:
                field = self._meta.model._meta.get_field(self.rules_of.get(name, name))
            except FieldDoesNotExist:
                continue
            if isinstance(field, models.Field):
                refused += [
                    (name, message)
                    for message in validators.value_errors(field, value, today=today)
                ]
        for name, message in refused:
            self.add_error(name, message)


class RecordForm(forms.Form):
    """The fields of one kind of record.

    ``restricted_fields()`` names the fields this user may not set: they are left out of the
    form, and a value posted for one of them makes the whole submission invalid. An edit form
    (``versioned=True``) carries the version the user read, which the service checks.
    """

    error_css_class = "field-error"
    # Fields whose values are not attributes of the record (derived in ``values_of``).
    derived_fields: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *args: Any,
        case: Case,
        user: User,
        versioned: bool = False,
        **kwargs: Any,
    ) -> None:
        self.case = case
        self.user = user
        super().__init__(*args, **kwargs)
        self.refused = {
            name: self.fields.pop(name).label
            for name in self.restricted_fields()
            if name in self.fields
        }
        if versioned:
            self.fields["version"] = forms.IntegerField(
                label=_("Version"), min_value=1, widget=forms.HiddenInput
            )

    def restricted_fields(self) -> list[str]:
        return []

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        """The visible fields in groups, each with its legend (``None``: no group)."""
        return [(None, self.visible_fields())]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        for name, label in self.refused.items():
            posted = self.data.getlist(name) if hasattr(self.data, "getlist") else []
            if any(str(value).strip() for value in posted):
                self.add_error(
                    None,
                    _("Your role does not allow you to set “%(field)s”.") % {"field": label},
                )
        return cleaned

    def record_field_names(self) -> list[str]:
        return [name for name in self.fields if name not in CONTROL_FIELDS]

    def service_data(self) -> dict[str, Any]:
        """What the service takes, from the cleaned values."""
        return {name: self.cleaned_data[name] for name in self.record_field_names()}

    @classmethod
    def values_of(cls, instance: Any) -> dict[str, Any]:
        """A saved record's values, in the shape ``cleaned_data`` has."""
        return {
            name: getattr(instance, name)
            for name in cls.base_fields
            if name not in CONTROL_FIELDS and name not in cls.derived_fields
        }

    @classmethod
    def to_initial(cls, values: dict[str, Any]) -> dict[str, Any]:
        """Cleaned-shape values as the widgets' initial values."""
        return dict(values)

    def changes_from(self, instance: Any) -> dict[str, Any]:
        """The record fields whose submitted value differs from ``instance`` (a list that
        holds the same choices in another order is no change)."""
        saved = self.values_of(instance)
        changes = {}
        for name in self.record_field_names():
            new, old = self.cleaned_data.get(name), saved.get(name)
            if isinstance(new, list) and isinstance(old, list) and sorted(new) == sorted(old):
                continue
            if new != old:
                changes[name] = new
        return changes

    def display_rows(self, values: dict[str, Any]) -> list[tuple[str, Any, str]]:
        """(name, label, value for people) for each record field, for the conflict view."""
        return [
            (name, self.fields[name].label, display_value(self.fields[name], values.get(name)))
            for name in self.record_field_names()
        ]


def display_value(field: forms.Field, value: Any) -> str:
    """A value as a person reads it: choice labels, localised dates, "—" for nothing."""
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if isinstance(field, forms.BooleanField):
        return str(_("Yes") if value else _("No"))
    if isinstance(field, forms.MultipleChoiceField):
        labels = dict(cast(Iterable[tuple[Any, Any]], field.choices))
        return ", ".join(str(labels.get(item, item)) for item in value)
    if isinstance(field, forms.ChoiceField):
        labels = dict(cast(Iterable[tuple[Any, Any]], field.choices))
        key = value if isinstance(value, str) else str(getattr(value, "uuid", value))
        return str(labels.get(key, value))
    if isinstance(value, (datetime.date, datetime.datetime)):
        return short_date(value)
    if isinstance(value, dict):
        return "\n".join(f"{question}: {answer}" for question, answer in value.items())
    return str(value)


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


# --- consent, approvals, referrals ------------------------------------------------------------


class ConsentForm(RecordForm):
    legal_basis = choice_field(_("Legal basis"), LegalBasis.choices)
    scope = checks_field(_("What the consent covers"), ConsentScope.choices, required=True)
    given_at = date_field(
        _("Given on"), required=False, help_text=_("Leave empty if it is given today.")
    )
    notes = long_text_field(_("Notes"))

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        given: datetime.date | None = data["given_at"]
        if given is None or given == timezone.localdate():
            data["given_at"] = None  # the service stamps "now"
        else:
            data["given_at"] = timezone.make_aware(
                datetime.datetime.combine(given, datetime.time.min)
            )
        return data


class ApprovalForm(RecordForm):
    kind = choice_field(_("What needs approval"), ApprovalKind.choices)
    screening = choice_field(
        _("Screening assessment"),
        [],
        required=False,
        blank=("", _("—")),
        help_text=_("For a screening decision."),
    )
    plan = choice_field(
        _("Reintegration plan"),
        [],
        required=False,
        blank=("", _("—")),
        help_text=_("For a reintegration plan."),
    )
    outcome = choice_field(
        _("Closing outcome"),
        Outcome.choices,
        required=False,
        blank=("", _("—")),
        help_text=_("For a closure."),
    )
    note = long_text_field(_("Note to the supervisor"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._screenings = {
            str(s.uuid): s
            for s in ScreeningAssessment.objects.filter(case=self.case).order_by(
                "-assessed_on", "-id"
            )
        }
        self._plans = {
            str(p.uuid): p
            for p in ReintegrationPlan.objects.filter(case=self.case)
            .annotate(goal_count=Count("goals"))
            .order_by("-created_at", "-id")
        }
        screening_field = self.fields["screening"]
        plan_field = self.fields["plan"]
        assert isinstance(screening_field, forms.ChoiceField)
        assert isinstance(plan_field, forms.ChoiceField)
        screening_field.choices = [
            ("", _("—")),
            *(
                (key, f"{short_date(s.assessed_on)} · {s.get_decision_display()}")
                for key, s in self._screenings.items()
            ),
        ]
        plan_field.choices = [
            ("", _("—")),
            *(
                (
                    key,
                    ngettext(
                        "%(date)s · %(status)s · %(goals)s goal",
                        "%(date)s · %(status)s · %(goals)s goals",
                        p.goal_count,
                    )
                    % {
                        "date": short_date(p.created_at),
                        "status": p.get_status_display(),
                        "goals": p.goal_count,
                    },
                )
                for key, p in self._plans.items()
            ),
        ]

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        data["screening"] = self._screenings.get(data["screening"])
        data["plan"] = self._plans.get(data["plan"])
        return data


class ReferralForm(RecordForm):
    partner = choice_field(_("Partner organisation"), [])
    service = choice_field(_("Service"), ReferralService.choices)
    shared_fields = checks_field(
        _("Fields shared with the partner"),
        SharedField.choices,
        help_text=_(
            "Share the minimum. Names and phone need the person's consent to share identity "
            "with partners."
        ),
    )
    note = long_text_field(_("What the partner needs to know"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._partners = {
            str(p.uuid): p
            for p in PartnerOrganisation.objects.filter(
                programme_id=self.case.programme_id, is_active=True
            ).order_by("name")
        }
        field = self.fields["partner"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [CHOOSE, *((key, p.name) for key, p in self._partners.items())]

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        data["partner"] = self._partners[data["partner"]]
        return data


class ReasonForm(forms.Form):
    error_css_class = "field-error"

    reason = forms.CharField(
        label=_("Reason"), max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


class ReferralWithdrawForm(ReasonForm):
    version = forms.IntegerField(label=_("Version"), min_value=1, widget=forms.HiddenInput)


# --- the person -------------------------------------------------------------------------------


class RevealForm(ReasonForm):
    reason = forms.CharField(
        label=_("Why do you need to see this person's identity?"),
        min_length=5,
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded in the audit log with your name."),
    )


class PersonForm(RecordForm):
    """Identity (shown only after an audited reveal) and the non-identifying profile."""

    given_name = text_field(_("Given name"))
    family_name = text_field(_("Family name"))
    aliases = text_field(_("Aliases"))
    date_of_birth = date_field(_("Date of birth"), required=False)
    national_id = text_field(_("National ID"))
    phone = text_field(_("Phone"))
    address = long_text_field(_("Address"))
    sex = choice_field(_("Sex"), Sex.choices, blank=None)
    year_of_birth = forms.IntegerField(
        label=_("Year of birth"), min_value=1900, max_value=2100, required=False
    )
    nationality = text_field(_("Nationality"), max_length=64)
    origin_district = text_field(_("District of origin"), max_length=100)
    current_district = text_field(_("Current district"), max_length=100)
    household_size = forms.IntegerField(label=_("Household size"), min_value=0, required=False)
    profession = choice_field(_("Profession"), Profession.choices, blank=None)
    skills = text_field(_("Skills"), max_length=300)
    former_role = choice_field(_("Former role"), FormerRole.choices, blank=None)
    detention_history = forms.BooleanField(label=_("Has been in detention"), required=False)
    return_pathway = choice_field(_("Return pathway"), ReturnPathway.choices)
    affiliation = choice_field(_("Affiliation"), Affiliation.choices, blank=None)
    reason = forms.CharField(
        label=_("Reason"), min_length=5, max_length=500, widget=forms.HiddenInput, required=True
    )

    IDENTITY = IDENTITY_FIELDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.IDENTITY:
            self.fields[name].widget.attrs["autocomplete"] = "off"

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        visible = {field.name: field for field in self.visible_fields()}
        identity = [visible[name] for name in self.IDENTITY if name in visible]
        profile = [field for name, field in visible.items() if name not in self.IDENTITY]
        return [(_("Identity"), identity), (_("Profile"), profile)]
