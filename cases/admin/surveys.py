"""The reintegration survey's questions: data, not code, so a programme can adapt its survey
without a release; every change audited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from cases.models import SurveyQuestion
from cases.services.surveys import survey_question_check

from .base import ProgrammeReferenceAdmin


class SurveyQuestionForm(forms.ModelForm):
    """Refuses a question that cannot be asked or scored (see ``survey_question_check``)."""

    class Meta:
        model = SurveyQuestion
        fields = [
            "programme",
            "code",
            "dimension",
            "texts",
            "choices",
            "weight",
            "order",
            "is_active",
        ]
        help_texts = {
            "texts": _(
                'The wording per language, e.g. {"en": "…", "ar": "…"}; English is required.'
            ),
            "choices": _(
                'At least two, e.g. [{"value": "yes", "score": 1, "labels": {"en": "Yes", '
                '"ar": "نعم"}}, …]; each score from 0 (worst) to 1 (best).'
            ),
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.has_error("texts") and not self.has_error("choices"):
            try:
                survey_question_check(
                    texts=cleaned.get("texts"),
                    choices=cleaned.get("choices"),
                    # An unreadable weight already has its error: check the rest.
                    weight=1 if self.has_error("weight") else cleaned.get("weight"),
                )
            except ValidationError as exc:
                for name, errors in exc.message_dict.items():
                    for message in errors:
                        self.add_error(name if name in self.fields else None, message)
        return cleaned


@admin.register(SurveyQuestion)
class SurveyQuestionAdmin(ProgrammeReferenceAdmin):
    """The shared questions and those of the user's programmes. A programme's manager adds
    and changes its own (one with a shared question's code replaces it in that programme);
    the shared defaults are changed by a superuser."""

    form = SurveyQuestionForm
    list_display = ["code", "dimension", "programme", "weight", "order", "is_active"]
    list_filter = ["dimension", "programme", "is_active"]
    search_fields = ["code"]

    def _manages(self, request: HttpRequest, obj: Any) -> bool:
        if request.user.is_superuser and (obj is None or obj.programme_id is None):
            return True
        return super()._manages(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if db_field.name == "programme" and request.user.is_superuser:
            field.required = False  # empty: a shared question, asked in every programme
        return field
