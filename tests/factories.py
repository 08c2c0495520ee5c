"""factory_boy factories for the domain. Rows made here bypass the services on purpose: they set
up a state; the behaviour under test always goes through the services."""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.utils import timezone
from factory.django import DjangoModelFactory

from cases import crypto
from cases.models import (
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Case,
    ClearanceStatus,
    ConsentRecord,
    ConsentScope,
    IntakeRecord,
    LegalBasis,
    Membership,
    MonitoringContact,
    PartnerOrganisation,
    Programme,
    ReferralSource,
    Returnee,
    ReturnPathway,
    RiskLevel,
    Role,
    ScreeningAssessment,
    ScreeningDecision,
    Site,
    Stage,
    Team,
)

PASSWORD = "correct-horse-battery-staple-42"

M = TypeVar("M")


class ModelFactory(DjangoModelFactory[M]):
    """A factory whose call is typed as the model it makes, so tests see a `Case`, not the
    factory (factory_boy leaves `__new__` untyped)."""

    class Meta:
        abstract = True

    if TYPE_CHECKING:
        # mypy wants `__new__` to return the class's own instance; factory_boy's returns the model.
        def __new__(cls, *args: Any, **kwargs: Any) -> M: ...  # type: ignore[misc]


class UserFactory(ModelFactory[User]):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", PASSWORD)

    @factory.post_generation
    def save_password(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


class ProgrammeFactory(ModelFactory[Programme]):
    class Meta:
        model = Programme

    name = factory.Sequence(lambda n: f"Programme {n}")
    country = "Iraq"
    region = "Ninewa"


class SiteFactory(ModelFactory[Site]):
    class Meta:
        model = Site

    programme = factory.SubFactory(ProgrammeFactory)
    name = factory.Sequence(lambda n: f"Site {n}")
    governorate = "Ninewa"
    district = "Mosul"


class TeamFactory(ModelFactory[Team]):
    class Meta:
        model = Team

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"Team {n}")


class MembershipFactory(ModelFactory[Membership]):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    role = Role.CASEWORKER
    team = None
    programme = None


class PartnerFactory(ModelFactory[PartnerOrganisation]):
    class Meta:
        model = PartnerOrganisation

    programme = factory.SubFactory(ProgrammeFactory)
    name = factory.Sequence(lambda n: f"Partner {n}")


class ReturneeFactory(ModelFactory[Returnee]):
    class Meta:
        model = Returnee

    given_name = "Omar"
    family_name = "al-Obeidi"
    date_of_birth = datetime.date(1990, 5, 17)
    national_id = factory.Sequence(lambda n: f"1990{n:08d}")
    phone = factory.Sequence(lambda n: f"+96477{n:08d}")
    address = "House 12, Hay al-Zahra, Mosul"
    national_id_index = factory.LazyAttribute(lambda o: crypto.national_id_index(o.national_id))
    phone_index = factory.LazyAttribute(lambda o: crypto.phone_index(o.phone))
    year_of_birth = 1990
    current_district = "Mosul"
    return_pathway = ReturnPathway.CAMP_REPATRIATION


class CaseFactory(ModelFactory[Case]):
    class Meta:
        model = Case

    returnee = factory.SubFactory(ReturneeFactory)
    team = factory.SubFactory(TeamFactory)
    programme = factory.LazyAttribute(lambda o: o.team.site.programme)
    stage = Stage.INTAKE
    stage_entered_at = factory.LazyFunction(timezone.now)
    opened_at = factory.LazyFunction(timezone.now)


class IntakeRecordFactory(ModelFactory[IntakeRecord]):
    class Meta:
        model = IntakeRecord

    case = factory.SubFactory(CaseFactory)
    return_date = datetime.date(2026, 9, 1)
    first_contact_date = datetime.date(2026, 9, 10)
    intake_date = datetime.date(2026, 9, 12)
    referral_source = ReferralSource.CAMP_AUTHORITY
    recorded_by = factory.SubFactory(UserFactory)


class ConsentFactory(ModelFactory[ConsentRecord]):
    class Meta:
        model = ConsentRecord

    returnee = factory.SubFactory(ReturneeFactory)
    legal_basis = LegalBasis.CONSENT
    scope = factory.LazyFunction(lambda: [ConsentScope.PROGRAMME_RECORDS])
    given_at = factory.LazyFunction(timezone.now)
    recorded_by = factory.SubFactory(UserFactory)


class ScreeningFactory(ModelFactory[ScreeningAssessment]):
    class Meta:
        model = ScreeningAssessment

    case = factory.SubFactory(CaseFactory)
    assessed_on = factory.LazyFunction(lambda: timezone.now().date())
    clearance_status = ClearanceStatus.CLEARED
    risk_level = RiskLevel.MEDIUM
    decision = ScreeningDecision.ADMIT
    decision_reason = "Meets the programme's criteria"
    assessed_by = factory.SubFactory(UserFactory)


class ApprovalFactory(ModelFactory[Approval]):
    class Meta:
        model = Approval

    case = factory.SubFactory(CaseFactory)
    kind = ApprovalKind.CLOSURE
    status = ApprovalStatus.APPROVED
    outcome = "reintegrated"
    requested_by = factory.SubFactory(UserFactory)
    requested_at = factory.LazyFunction(timezone.now)
    decided_by = factory.SubFactory(UserFactory)
    decided_at = factory.LazyFunction(timezone.now)


class ContactFactory(ModelFactory[MonitoringContact]):
    class Meta:
        model = MonitoringContact

    case = factory.SubFactory(CaseFactory)
    planned_date = factory.LazyFunction(lambda: timezone.now().date())
