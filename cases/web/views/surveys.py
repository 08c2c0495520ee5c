"""Pages: the reintegration survey. Filling it in (one group of choices per question, grouped
by dimension, in the user's language with English where a text has no translation), and a
case's scores over time as a line chart with its table; the monitoring tab shows the same
chart through ``score_panel``.

The case comes from ``case_for`` (404 out of scope); the write goes through
``cases.services.surveys.survey_record``, which validates, scores, audits and notifies.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from cases import selectors
from cases.models import (
    Case,
    ContactOutcome,
    MonitoringContact,
    Stage,
    SurveyDimension,
    SurveyQuestion,
    SurveyResponse,
)
from cases.services.errors import DomainError
from cases.services.surveys import localised, survey_record
from cases.web import charts

from .common import add_domain_errors, case_for, staff_page, staff_user

FIELD_PREFIX = "q-"
SCORE_FIELDS = (
    ("overall_score", _("Overall")),
    ("economic_score", SurveyDimension.ECONOMIC.label),
    ("social_score", SurveyDimension.SOCIAL.label),
    ("psychosocial_score", SurveyDimension.PSYCHOSOCIAL.label),
)


def field_name(question: SurveyQuestion) -> str:
    return f"{FIELD_PREFIX}{question.code}"


# --- the form --------------------------------------------------------------------------------


def _contact_label(contact: MonitoringContact) -> str:
    day = contact.actual_date or contact.planned_date
    when = date_format(day, "SHORT_DATE_FORMAT") if day else "—"
    mode = contact.get_mode_display()
    return f"{when} · {mode}" if mode else when


class SurveyForm(forms.Form):
    """The date, the contact it was taken at (optional) and one required choice per question.
    Field names are ``q-<code>``; the service's ``answers.<code>`` errors map back to them."""

    error_css_class = "field-error"

    taken_on = forms.DateField(
        label=_("Date the survey was taken"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={
            "required": _("Give the date the survey was taken."),
            "invalid": _("Give a date as YYYY-MM-DD."),
        },
    )
    contact = forms.ChoiceField(
        label=_("Monitoring contact"),
        required=False,
        help_text=_("The contact at which the survey was taken, if it is recorded."),
    )

    def __init__(
        self,
        *args: Any,
        questions: list[SurveyQuestion],
        contacts: list[MonitoringContact],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.questions = questions
        self.contacts = {str(contact.uuid): contact for contact in contacts}
        contact_field = self.fields["contact"]
        assert isinstance(contact_field, forms.ChoiceField)
        contact_field.choices = [("", _("Not at a recorded contact"))] + [
            (key, _contact_label(contact)) for key, contact in self.contacts.items()
        ]
        for question in questions:
            self.fields[field_name(question)] = forms.ChoiceField(
                label=localised(question.texts),
                choices=[
                    (choice["value"], localised(choice.get("labels")))
                    for choice in question.choices
                    if isinstance(choice, dict) and isinstance(choice.get("value"), str)
                ],
                widget=forms.RadioSelect,
                error_messages={
                    "required": _("Answer this question."),
                    "invalid_choice": _("Choose one of the answers given."),
                },
            )

    def sections(self) -> list[tuple[Any, list[forms.BoundField]]]:
        """The date and contact first, then one group of questions per dimension."""
        out: list[tuple[Any, list[forms.BoundField]]] = [
            (None, [self["taken_on"], self["contact"]])
        ]
        for dimension in SurveyDimension:
            fields = [self[field_name(q)] for q in self.questions if q.dimension == dimension]
            if fields:
                out.append((dimension.label, fields))
        return out

    def answers(self) -> dict[str, str]:
        return {q.code: self.cleaned_data[field_name(q)] for q in self.questions}

    def chosen_contact(self) -> MonitoringContact | None:
        return self.contacts.get(self.cleaned_data.get("contact") or "")


def _form_errors(exc: ValidationError) -> ValidationError:
    """The service names answers ``answers.<code>``; the form names them ``q-<code>``."""
    if not hasattr(exc, "error_dict"):
        return exc
    renamed = {
        (f"{FIELD_PREFIX}{name.split('.', 1)[1]}" if name.startswith("answers.") else name): errors
        for name, errors in exc.error_dict.items()
    }
    return ValidationError(renamed)


def _open_contacts(case: Case, user: User) -> list[MonitoringContact]:
    """Contacts that took place and have no survey yet, the latest first."""
    return list(
        MonitoringContact.objects.visible_to(user)
        .filter(case=case, outcome=ContactOutcome.MET, survey__isnull=True)
        .order_by("-actual_date", "-id")
    )


def monitoring_tab_url(case: Case) -> str:
    return reverse("web:case-tab", args=[case.case_number, "monitoring"])


@never_cache
@staff_page
@require_http_methods(["GET", "POST"])
def survey_new(request: HttpRequest, case_number: str) -> HttpResponse:
    case = case_for(request, case_number)
    questions = selectors.survey_questions_for_programme(programme_id=case.programme_id)
    contacts = _open_contacts(case, staff_user(request))
    status = 200
    if request.method == "POST":
        form = SurveyForm(request.POST, questions=questions, contacts=contacts)
        status = 400
        if form.is_valid():
            try:
                survey_record(
                    actor=staff_user(request),
                    case=case,
                    contact=form.chosen_contact(),
                    taken_on=form.cleaned_data["taken_on"],
                    answers=form.answers(),
                )
            except ValidationError as exc:
                add_domain_errors(form, _form_errors(exc))
            except DomainError as exc:
                add_domain_errors(form, exc)
            else:
                messages.success(request, _("The reintegration survey was recorded."))
                return redirect(monitoring_tab_url(case))
    else:
        wanted = request.GET.get("contact", "")
        chosen = next((c for c in contacts if str(c.uuid) == wanted), None)
        initial: dict[str, Any] = {"taken_on": timezone.localdate()}
        if chosen is not None:
            initial = {"contact": str(chosen.uuid), "taken_on": chosen.actual_date}
        form = SurveyForm(initial=initial, questions=questions, contacts=contacts)
    return render(
        request,
        "web/surveys/form.html",
        {
            "case": case,
            "form": form,
            "closed": case.stage == Stage.CLOSED,
            "no_questions": not questions,
            "cancel_url": monitoring_tab_url(case),
        },
        status=status,
    )


# --- the scores over time --------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreRow:
    response: SurveyResponse
    scores: list[float | None]


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def score_panel(case: Case) -> dict[str, Any]:
    """What the monitoring tab and the scores page show: every survey of the case (one
    query) and, when there is one, the line chart of the overall and dimension scores."""
    responses = list(selectors.case_survey_list(case=case))
    rows = [
        ScoreRow(
            response=response,
            scores=[_number(getattr(response, name)) for name, _label in SCORE_FIELDS],
        )
        for response in responses
    ]
    chart = None
    if responses:
        days: list[datetime.date] = [response.taken_on for response in responses]
        chart = charts.line_chart(
            chart_id="chart-scores",
            title=str(_("Reintegration score over time (0 to 100)")),
            days=days,
            series=[
                (str(label), [row.scores[index] for row in rows])
                for index, (_name, label) in enumerate(SCORE_FIELDS)
            ],
        )
    return {
        "survey_rows": rows,
        "survey_chart": chart,
        "survey_columns": [label for _name, label in SCORE_FIELDS],
    }


@staff_page
@require_http_methods(["GET", "HEAD"])
def survey_scores(request: HttpRequest, case_number: str) -> HttpResponse:
    case = case_for(request, case_number)
    return render(
        request,
        "web/surveys/scores.html",
        {"case": case, "can_write": case.stage != Stage.CLOSED, **score_panel(case)},
    )


urlpatterns: list[URLPattern] = [
    path("<str:case_number>/survey/new/", survey_new, name="survey-new"),
    path("<str:case_number>/scores/", survey_scores, name="survey-scores"),
]
