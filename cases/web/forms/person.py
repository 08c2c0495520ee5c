"""Forms for the person behind a case: why their identity is to be shown (the audited
reveal), and their identity and profile."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from cases.models import IDENTITY_FIELDS, Affiliation, FormerRole, Profession, ReturnPathway, Sex

from .base import ReasonForm, RecordForm, choice_field, date_field, long_text_field, text_field


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
