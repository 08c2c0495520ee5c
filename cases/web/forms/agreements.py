"""Forms for what needs another's agreement or leaves a trace with someone else: the person's
consent, a supervisor's approval, a referral to a partner, and withdrawing one."""

from __future__ import annotations

import datetime
from typing import Any

from django import forms
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from cases.models import (
    ApprovalKind,
    ConsentScope,
    LegalBasis,
    Outcome,
    PartnerOrganisation,
    ReferralService,
    ReintegrationPlan,
    ScreeningAssessment,
    SharedField,
)

from .base import (
    CHOOSE,
    ReasonForm,
    RecordForm,
    checks_field,
    choice_field,
    date_field,
    long_text_field,
    short_date,
)

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
        screenings = ScreeningAssessment.objects.visible_to(self.user).filter(case=self.case)
        self._screenings = {str(s.uuid): s for s in screenings.order_by("-assessed_on", "-id")}
        plans = ReintegrationPlan.objects.visible_to(self.user).filter(case=self.case)
        self._plans = {
            str(p.uuid): p
            for p in plans.annotate(goal_count=Count("goals")).order_by("-created_at", "-id")
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


class ReferralWithdrawForm(ReasonForm):
    version = forms.IntegerField(label=_("Version"), min_value=1, widget=forms.HiddenInput)
