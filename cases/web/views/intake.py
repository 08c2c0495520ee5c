"""Pages: the new-case wizard (person, consent, intake record, urgent needs, review).

Each step validates with a Django form and the model's own validation, writing nothing; the
review's "Create case" hands everything to ``cases.services.cases.case_open`` once, in one
transaction. Between steps the typed values live in the session, sealed with the project's
field encryption (``cases.crypto``): sessions are stored in the database, and identity must
never be at rest in plaintext. The wizard's state is cleared on finish and on cancel."""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from cases import crypto, selectors
from cases.models import (
    IDENTITY_FIELDS,
    ConsentRecord,
    ConsentScope,
    IntakeRecord,
    Returnee,
    Team,
    UrgentNeed,
)
from cases.services.cases import RETURNEE_INPUT_FIELDS, RETURNEE_PROFILE_FIELDS, case_open
from cases.services.errors import DomainError

from ..forms import RulesModelForm
from .common import add_domain_errors, staff_page, staff_user

SESSION_KEY = "web.intake_wizard"


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _text_input(**attrs: str) -> forms.TextInput:
    # Identity is not remembered by the browser's autofill on shared field-office laptops.
    return forms.TextInput(attrs={"autocomplete": "off", **attrs})


class TeamChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """Teams by name and site: a programme manager chooses among teams of several sites."""

    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.name} — {obj.site.name}"


class PersonForm(RulesModelForm):
    team = TeamChoiceField(
        label=_("Team"),
        queryset=Team.objects.none(),
        to_field_name="uuid",
        empty_label=_("Choose a team"),
        help_text=_("The team that will work the case."),
    )
    date_of_birth = forms.DateField(label=_("Date of birth"), required=False, widget=_date_input())

    class Meta:
        model = Returnee
        fields = list(RETURNEE_INPUT_FIELDS)
        labels = {
            "given_name": _("Given name"),
            "family_name": _("Family name"),
            "aliases": _("Other names or aliases"),
            "national_id": _("National ID number"),
            "phone": _("Phone"),
            "address": _("Address"),
            "sex": _("Sex"),
            "year_of_birth": _("Year of birth"),
            "nationality": _("Nationality"),
            "origin_district": _("District of origin"),
            "current_district": _("Current district"),
            "household_size": _("Household size"),
            "profession": _("Profession"),
            "skills": _("Skills"),
            "former_role": _("Former role"),
            "detention_history": _("Has been in detention"),
            "return_pathway": _("Return pathway"),
            "affiliation": _("Affiliation"),
        }
        help_texts = {
            "year_of_birth": _("When the exact date of birth is not known."),
            "phone": _("With the country code, or a local number."),
        }
        widgets = {
            "given_name": _text_input(),
            "family_name": _text_input(),
            "aliases": _text_input(),
            "national_id": _text_input(spellcheck="false"),
            "phone": _text_input(type="tel"),
            "address": forms.Textarea(attrs={"rows": 2, "autocomplete": "off"}),
        }

    def __init__(self, *args: Any, teams: QuerySet[Team], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["team"].queryset = teams  # type: ignore[attr-defined]
        self.order_fields(["team", *RETURNEE_INPUT_FIELDS])


class ConsentForm(RulesModelForm):
    rules_of = {"given_on": "given_at"}
    scope = forms.MultipleChoiceField(
        label=_("What the consent covers"),
        choices=ConsentScope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    given_on = forms.DateField(
        label=_("Consent given on"),
        required=False,
        widget=_date_input(),
        help_text=_("Leave empty for today."),
    )

    class Meta:
        model = ConsentRecord
        fields = ["legal_basis", "notes"]
        labels = {"legal_basis": _("Legal basis"), "notes": _("Notes on the consent")}
        widgets = {"notes": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.order_fields(["legal_basis", "scope", "given_on", "notes"])

    def clean_given_on(self) -> datetime.date | None:
        given_on: datetime.date | None = self.cleaned_data.get("given_on")
        if given_on is not None and given_on > timezone.localdate():
            raise ValidationError(_("Consent cannot be given in the future."))
        return given_on

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        self.instance.scope = cleaned.get("scope") or []
        return cleaned

    def given_at(self) -> datetime.datetime | None:
        """``None`` (the service's "now") for today; midday of an earlier day otherwise."""
        given_on = self.cleaned_data.get("given_on")
        if given_on is None or given_on == timezone.localdate():
            return None
        return timezone.make_aware(datetime.datetime.combine(given_on, datetime.time(12)))


class IntakeForm(RulesModelForm):
    class Meta:
        model = IntakeRecord
        fields = ["return_date", "first_contact_date", "intake_date", "referral_source", "notes"]
        labels = {
            "return_date": _("Date of return or release"),
            "first_contact_date": _("Date of first contact"),
            "intake_date": _("Date of intake"),
            "referral_source": _("Referred by"),
            "notes": _("Intake notes"),
        }
        help_texts = {"return_date": ""}
        widgets = {
            "return_date": _date_input(),
            "first_contact_date": _date_input(),
            "intake_date": _date_input(),
            "notes": forms.Textarea(attrs={"rows": 4}),
        }


class NeedsForm(forms.Form):
    urgent_needs = forms.MultipleChoiceField(
        label=_("Urgent needs"),
        choices=UrgentNeed.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Tick every need that cannot wait."),
    )


@dataclass(frozen=True)
class Step:
    slug: str
    url_name: str
    title: Any
    form_class: type[forms.BaseForm]

    @property
    def route(self) -> str:
        return f"web:{self.url_name}"


STEPS = (
    Step("person", "intake-start", _("Person"), PersonForm),
    Step("consent", "intake-consent", _("Consent"), ConsentForm),
    Step("intake", "intake-record", _("Intake record"), IntakeForm),
    Step("needs", "intake-needs", _("Urgent needs"), NeedsForm),
)
STEP_BY_SLUG = {step.slug: step for step in STEPS}

# Field groups of the person step, as the page shows them.
PERSON_GROUPS = (
    (None, ("team",)),
    (_("Identity (kept encrypted; shown only through an audited reveal)"), IDENTITY_FIELDS),
    (_("Profile"), RETURNEE_PROFILE_FIELDS),
)


# --- the wizard's state: sealed in the session -------------------------------------------------


def _fresh_state() -> dict[str, Any]:
    return {"data": {}, "done": [], "errors": {}}


def _load(request: HttpRequest) -> dict[str, Any]:
    token = request.session.get(SESSION_KEY)
    if not token:
        return _fresh_state()
    try:
        state = json.loads(crypto.decrypt(token))
    except ValueError:
        # Sealed under a key that has since been retired, or tampered with: start again.
        return _fresh_state()
    return state if isinstance(state, dict) else _fresh_state()


def _save(request: HttpRequest, state: dict[str, Any]) -> None:
    request.session[SESSION_KEY] = crypto.encrypt(json.dumps(state))


def _clear(request: HttpRequest) -> None:
    request.session.pop(SESSION_KEY, None)


def _submitted(form: forms.BaseForm, data: Any) -> dict[str, list[str]]:
    """What was typed into ``form``'s fields, as lists of strings (empty ones dropped)."""
    values = {name: [str(v) for v in data.getlist(name)] for name in form.fields}
    return {name: items for name, items in values.items() if items}


def _make_form(step: Step, teams: QuerySet[Team], data: Any = None) -> forms.BaseForm:
    kwargs: dict[str, Any] = {}
    if step.form_class is PersonForm:
        kwargs["teams"] = teams
    if data is None and step.form_class is IntakeForm:
        kwargs["initial"] = {"intake_date": timezone.localdate()}
    return step.form_class(data=data, **kwargs)


def _bound(step: Step, teams: QuerySet[Team], state: dict[str, Any]) -> forms.BaseForm | None:
    stored = state["data"].get(step.slug)
    if stored is None:
        return None
    return _make_form(step, teams, MultiValueDict(stored))


def _creation_teams(request: HttpRequest) -> QuerySet[Team]:
    """Teams the user may open a case in; none at all means the wizard does not exist."""
    teams = selectors.teams_for_case_creation(user=staff_user(request)).order_by(
        "site__programme__name", "name"
    )
    if not teams.exists():
        raise Http404("No team to open a case in.")
    return teams


def _first_incomplete(state: dict[str, Any], before: int = len(STEPS)) -> Step | None:
    for step in STEPS[:before]:
        if step.slug not in state["done"]:
            return step
    return None


# --- pages -------------------------------------------------------------------------------------


def _step_page(request: HttpRequest, slug: str) -> HttpResponse:
    teams = _creation_teams(request)
    step = STEP_BY_SLUG[slug]
    index = STEPS.index(step)
    state = _load(request)
    missing = _first_incomplete(state, before=index)
    if missing is not None:
        return redirect(missing.route)

    if request.method == "POST":
        form = _make_form(step, teams, request.POST)
        valid = form.is_valid()
        state["data"][slug] = _submitted(form, request.POST)
        state["errors"].pop(slug, None)
        done = [name for name in state["done"] if name != slug]
        state["done"] = [*done, slug] if valid else done
        if request.POST.get("nav") == "back" and index > 0:
            _save(request, state)
            return redirect(STEPS[index - 1].route)
        if valid:
            _save(request, state)
            following = STEPS[index + 1].route if index + 1 < len(STEPS) else "web:intake-review"
            return redirect(following)
        _save(request, state)
    else:
        form = _bound(step, teams, state) or _make_form(step, teams)
        if form.is_bound:
            form.is_valid()
        refused = state["errors"].pop(slug, None)
        if refused:
            add_domain_errors(form, ValidationError(refused))
            _save(request, state)

    return render(request, "web/intake/step.html", _step_context(step, form, state))


def _step_context(step: Step, form: forms.BaseForm, state: dict[str, Any]) -> dict[str, Any]:
    groups: list[tuple[Any, list[forms.BoundField]]]
    if step.slug == "person":
        groups = [(legend, [form[name] for name in names]) for legend, names in PERSON_GROUPS]
    else:
        groups = [(None, [form[name] for name in form.fields])]
    index = STEPS.index(step)
    return {
        "step": step,
        "form": form,
        "groups": groups,
        "progress": _progress(state, current=step.slug),
        "previous": STEPS[index - 1] if index > 0 else None,
        "is_last": index == len(STEPS) - 1,
        "next_title": STEPS[index + 1].title if index + 1 < len(STEPS) else _("Review"),
    }


def _progress(state: dict[str, Any], *, current: str) -> list[dict[str, Any]]:
    items = [
        {"title": step.title, "route": step.route, "done": step.slug in state["done"]}
        for step in STEPS
    ]
    items.append({"title": _("Review"), "route": "web:intake-review", "done": False})
    for item, slug in zip(items, [*(s.slug for s in STEPS), "review"], strict=True):
        item["current"] = slug == current
    return items


@staff_page
@never_cache
@require_http_methods(["GET", "POST"])
def person(request: HttpRequest) -> HttpResponse:
    return _step_page(request, "person")


@staff_page
@never_cache
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest) -> HttpResponse:
    return _step_page(request, "consent")


@staff_page
@never_cache
@require_http_methods(["GET", "POST"])
def intake_record(request: HttpRequest) -> HttpResponse:
    return _step_page(request, "intake")


@staff_page
@never_cache
@require_http_methods(["GET", "POST"])
def needs(request: HttpRequest) -> HttpResponse:
    return _step_page(request, "needs")


# Where a field that ``case_open`` refuses is entered: its dotted prefix, then the step.
_OWNER_BY_PREFIX = {"returnee": "person", "consent": "consent", "intake": "intake"}
_FIELD_RENAMES = {"consent.given_at": "given_on"}


def _owner_of(name: str) -> tuple[str, str] | None:
    """(step, form field) for a field name in a ``case_open`` error, ``None`` if no step."""
    if name in ("team", "caseworker"):
        return "person", "team"
    if name == "intake.urgent_needs":
        return "needs", "urgent_needs"
    prefix, _dot, field = name.partition(".")
    step = _OWNER_BY_PREFIX.get(prefix)
    if step is None:
        return None
    if name in _FIELD_RENAMES:
        field = _FIELD_RENAMES[name]
    return step, field or NON_FIELD_ERRORS


@staff_page
@never_cache
@require_http_methods(["GET", "POST"])
def review(request: HttpRequest) -> HttpResponse:
    teams = _creation_teams(request)
    state = _load(request)
    missing = _first_incomplete(state)
    if missing is not None:
        return redirect(missing.route)
    forms_by_step: dict[str, Any] = {}
    for step in STEPS:
        form = _bound(step, teams, state)
        if form is None or not form.is_valid():
            # Something changed since the step was done (e.g. a team membership): redo it.
            state["done"] = [name for name in state["done"] if name != step.slug]
            _save(request, state)
            return redirect(step.route)
        forms_by_step[step.slug] = form

    errors: list[str] = []
    if request.method == "POST":
        try:
            case = _open_case(request, forms_by_step)
        except ValidationError as exc:
            owner_step = _refusal_to_steps(state, exc, errors)
            if owner_step is not None:
                _save(request, state)
                messages.error(request, _("The case was not created: correct the marked field."))
                return redirect(owner_step.route)
        except DomainError as exc:
            errors.append(exc.message)
        else:
            _clear(request)
            messages.success(
                request, _("Case %(number)s opened at intake.") % {"number": case.case_number}
            )
            return redirect("web:case-detail", case_number=case.case_number)

    return render(
        request,
        "web/intake/review.html",
        {
            "sections": _review_sections(forms_by_step),
            "progress": _progress(state, current="review"),
            "errors": errors,
            "last_step": STEPS[-1],
        },
    )


def _open_case(request: HttpRequest, forms_by_step: dict[str, Any]) -> Any:
    person_data = forms_by_step["person"].cleaned_data
    consent_form = forms_by_step["consent"]
    intake_data = forms_by_step["intake"].cleaned_data
    return case_open(
        actor=staff_user(request),
        team=person_data["team"],
        returnee={name: person_data[name] for name in RETURNEE_INPUT_FIELDS},
        intake={
            **{name: intake_data[name] for name in IntakeForm.Meta.fields},
            "urgent_needs": forms_by_step["needs"].cleaned_data["urgent_needs"],
        },
        consent={
            "legal_basis": consent_form.cleaned_data["legal_basis"],
            "scope": consent_form.cleaned_data["scope"],
            "given_at": consent_form.given_at(),
            "notes": consent_form.cleaned_data["notes"],
        },
    )


def _refusal_to_steps(
    state: dict[str, Any], exc: ValidationError, leftovers: list[str]
) -> Step | None:
    """File each refused field under the step that owns it (shown when that step opens next);
    returns the earliest such step. Errors no step owns go to ``leftovers``."""
    owners: list[Step] = []
    details = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    for name, texts in details.items():
        owner = _owner_of(name)
        if owner is None:
            leftovers.extend(texts)
            continue
        slug, field = owner
        state["errors"].setdefault(slug, {}).setdefault(field, []).extend(texts)
        state["done"] = [done for done in state["done"] if done != slug]
        owners.append(STEP_BY_SLUG[slug])
    return min(owners, key=STEPS.index) if owners else None


def _choice_labels(field: forms.ChoiceField) -> dict[str, Any]:
    choices: Any = field.choices
    return {str(key): label for key, label in choices}


def _display(bound: forms.BoundField) -> tuple[str, Any]:
    """A field's cleaned value as the review shows it, with its kind (the template localises
    dates and yes/no): choice labels instead of codes."""
    field = bound.field
    value = bound.form.cleaned_data.get(bound.name)
    if isinstance(field, forms.ModelChoiceField):
        return "text", field.label_from_instance(value) if value is not None else ""
    if isinstance(field, forms.MultipleChoiceField):
        labels = _choice_labels(field)
        return "list", [labels.get(item, item) for item in value or []]
    if isinstance(field, forms.ChoiceField):
        return "text", _choice_labels(field).get(str(value), value)
    if isinstance(field, forms.BooleanField):
        return "bool", bool(value)
    if isinstance(value, datetime.date):
        return "date", value
    return "text", "" if value is None else value


def _review_sections(forms_by_step: dict[str, Any]) -> list[dict[str, Any]]:
    sections = []
    for step in STEPS:
        form = forms_by_step[step.slug]
        rows = []
        for name in form.fields:
            kind, value = _display(form[name])
            if name == "given_on" and not value:
                kind, value = "text", _("Today")
            rows.append({"label": form[name].label, "kind": kind, "value": value, "name": name})
        sections.append({"step": step, "rows": rows})
    return sections


@staff_page
@require_POST
def cancel(request: HttpRequest) -> HttpResponse:
    _creation_teams(request)
    _clear(request)
    messages.info(request, _("The new case was cancelled; nothing was saved."))
    return redirect("web:caseload")


urlpatterns: list[URLPattern] = [
    path("", person, name="intake-start"),
    path("consent/", consent, name="intake-consent"),
    path("intake/", intake_record, name="intake-record"),
    path("needs/", needs, name="intake-needs"),
    path("review/", review, name="intake-review"),
    path("cancel/", cancel, name="intake-cancel"),
]
