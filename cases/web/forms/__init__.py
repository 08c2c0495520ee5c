"""Forms for the records of a case file. They shape and check what a page accepts, with
translatable labels; the services (``cases.services.*``) decide what is allowed and write.

Each form knows the case and the user, so it can offer the case's own plans, screenings and
partners, and leave out the fields this user may not set (a value posted for one of those is
refused, never silently stored)."""

from .agreements import ApprovalForm, ConsentForm, ReferralForm, ReferralWithdrawForm
from .base import (
    CHOOSE,
    CONTROL_FIELDS,
    NOT_RECORDED,
    DateInput,
    ReasonForm,
    RecordForm,
    RulesModelForm,
    checks_field,
    choice_field,
    date_field,
    display_value,
    long_text_field,
    short_date,
    text_field,
)
from .person import PersonForm, RevealForm
from .records import (
    BasePlanGoalFormSet,
    ContactForm,
    EnrolmentForm,
    IncidentForm,
    IntakeForm,
    PlanForm,
    PlanGoalForm,
    PlanGoalFormSet,
    ScreeningForm,
    SupportForm,
)

__all__ = [
    "CHOOSE",
    "CONTROL_FIELDS",
    "NOT_RECORDED",
    "ApprovalForm",
    "BasePlanGoalFormSet",
    "ConsentForm",
    "ContactForm",
    "DateInput",
    "EnrolmentForm",
    "IncidentForm",
    "IntakeForm",
    "PersonForm",
    "PlanForm",
    "PlanGoalForm",
    "PlanGoalFormSet",
    "ReasonForm",
    "RecordForm",
    "ReferralForm",
    "ReferralWithdrawForm",
    "RevealForm",
    "RulesModelForm",
    "ScreeningForm",
    "SupportForm",
    "checks_field",
    "choice_field",
    "date_field",
    "display_value",
    "long_text_field",
    "short_date",
    "text_field",
]
