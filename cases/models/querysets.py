"""Scope and the domain's recurring conditions, as queryset methods.

Need-to-know lives on the queryset, as NetBox's ``RestrictedQuerySet`` does: every read of case
data starts from ``Case.objects.visible_to(user)`` or ``<Record>.objects.visible_to(user)``, so a
new model, view or job cannot forget it. Out of scope means absent: an empty queryset, which the
callers turn into a 404.

The conditions that many pages, reports and jobs share ("an open case", "an overdue contact",
"an active membership") are written here once, so a caseload badge and a supervisor's count can
never disagree about what they mean.
"""

from __future__ import annotations

import datetime
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from django.apps import apps
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

if TYPE_CHECKING:  # named in the querysets' type parameters, which ruff does not read as types
    from .cases import Case  # noqa: F401
    from .organisation import Membership  # noqa: F401
    from .people import ConsentRecord, Returnee  # noqa: F401
    from .records import MonitoringContact  # noqa: F401

Viewer = User | AnonymousUser
_M = TypeVar("_M", bound=models.Model)

# Role values, not the Role enum: organisation.py imports this module.
_TEAM_CASE_ROLES = ("caseworker", "supervisor")
_PROGRAMME_CASE_ROLES = ("programme_manager",)
_CLOSED = "closed"
_PLANNED = "planned"


def is_active_user(user: Viewer | None) -> TypeGuard[User]:
    """A signed-in account that is not switched off: the only kind that may see case data."""
    return isinstance(user, User) and user.is_authenticated and user.is_active


def local_today() -> datetime.date:
    """Today in the programme's time zone (``TIME_ZONE``): the day a caseworker means when a
    contact is "due today". Never ``timezone.now().date()``, which is UTC's day."""
    return timezone.localdate()


def case_scope(user: Viewer | None, *, prefix: str = "") -> Q | None:
    """The condition a case (reached through ``prefix``, e.g. ``"case__"``) must meet to be
    visible to ``user``: a caseworker or supervisor of its team, or a manager of its programme.
    ``None`` means nothing is visible. Superusers get no special pass: case data needs a role."""
    if not is_active_user(user):
        return None
    mine = apps.get_model("cases", "Membership").objects.filter(user_id=user.id)
    team_ids = mine.filter(role__in=_TEAM_CASE_ROLES).values("team_id")
    programme_ids = mine.filter(role__in=_PROGRAMME_CASE_ROLES).values("programme_id")
    return Q(**{f"{prefix}team_id__in": team_ids}) | Q(
        **{f"{prefix}programme_id__in": programme_ids}
    )


class CaseQuerySet(models.QuerySet["Case"]):
    def visible_to(self, user: Viewer | None) -> CaseQuerySet:
        """The cases ``user`` may see."""
        scope = case_scope(user)
        return self.none() if scope is None else self.filter(scope)

    def open(self) -> CaseQuerySet:
        """Cases still in the programme: every stage but closed."""
        return self.exclude(stage=_CLOSED)

    def having_overdue_contacts(self, today: datetime.date | None = None) -> CaseQuerySet:
        """Cases with at least one overdue contact (a semi-join on the partial index of planned
        contacts, cheap even on a whole caseload)."""
        return self.filter(Exists(_overdue_of_outer_case(today)))

    def without_overdue_contacts(self, today: datetime.date | None = None) -> CaseQuerySet:
        return self.filter(~Exists(_overdue_of_outer_case(today)))

    def with_overdue_count(self, today: datetime.date | None = None) -> CaseQuerySet:
        """Each case with ``overdue_contacts``: how many of its contacts are overdue."""
        counted = (
            _overdue_of_outer_case(today).order_by().values("case").annotate(n=Count("id"))
        ).values("n")
        return self.annotate(overdue_contacts=Coalesce(Subquery(counted), 0))

    def with_overdue_contacts(self, today: datetime.date | None = None) -> CaseQuerySet:
        """``with_overdue_count`` plus ``oldest_overdue``, the earliest overdue planned date."""
        oldest = _overdue_of_outer_case(today).order_by("planned_date").values("planned_date")
        return self.with_overdue_count(today).annotate(oldest_overdue=Subquery(oldest[:1]))


def _overdue_of_outer_case(today: datetime.date | None) -> MonitoringContactQuerySet:
    contacts: MonitoringContactQuerySet = apps.get_model("cases", "MonitoringContact").objects.all()
    return contacts.overdue(today).filter(case=OuterRef("pk"))


class CaseRecordQuerySet(models.QuerySet[_M]):
    """Records that belong to a case are visible exactly when their case is."""

    def visible_to(self, user: Viewer | None) -> CaseRecordQuerySet[_M]:
        scope = case_scope(user, prefix="case__")
        return self.none() if scope is None else self.filter(scope)

    def of_open_cases(self) -> CaseRecordQuerySet[_M]:
        return self.exclude(case__stage=_CLOSED)


class ReturneeQuerySet(models.QuerySet["Returnee"]):
    def visible_to(self, user: Viewer | None) -> ReturneeQuerySet:
        """A person is visible through any case of theirs that is."""
        cases = apps.get_model("cases", "Case").objects.visible_to(user)
        return self.filter(pk__in=cases.values("returnee_id"))


class ConsentRecordQuerySet(models.QuerySet["ConsentRecord"]):
    def visible_to(self, user: Viewer | None) -> ConsentRecordQuerySet:
        """Consent is the person's: visible through any case of theirs that is."""
        cases = apps.get_model("cases", "Case").objects.visible_to(user)
        return self.filter(returnee_id__in=cases.values("returnee_id"))


class MonitoringContactQuerySet(CaseRecordQuerySet["MonitoringContact"]):
    def planned(self) -> MonitoringContactQuerySet:
        """Contacts planned and not yet held, missed or cancelled."""
        return self.filter(outcome=_PLANNED)

    def overdue(self, today: datetime.date | None = None) -> MonitoringContactQuerySet:
        """Planned contacts whose date has passed: the one meaning of "overdue", in the local
        day (``local_today``)."""
        return self.planned().filter(planned_date__lt=today or local_today())

    def not_yet_due(self, today: datetime.date | None = None) -> MonitoringContactQuerySet:
        return self.planned().filter(planned_date__gte=today or local_today())


def overdue_condition(today: datetime.date | None = None, *, prefix: str = "") -> Q:
    """``MonitoringContactQuerySet.overdue`` as a condition, for counts over contacts reached
    through a relation (``prefix`` e.g. ``"contacts__"``) in one aggregate query."""
    return Q(**{f"{prefix}outcome": _PLANNED, f"{prefix}planned_date__lt": today or local_today()})


class RecipientQuerySet(models.QuerySet[_M]):
    """Messages addressed to one member of staff are visible to that member only."""

    def visible_to(self, user: Viewer | None) -> RecipientQuerySet[_M]:
        if not is_active_user(user):
            return self.none()
        return self.filter(recipient_id=user.id)


class MembershipQuerySet(models.QuerySet["Membership"]):
    def active(self) -> MembershipQuerySet:
        """Memberships of accounts that are not switched off: who is notified and counted."""
        return self.filter(user__is_active=True)

    def of(self, user: Viewer | None, roles: Any) -> MembershipQuerySet:
        """``user``'s memberships in any of ``roles``."""
        if not is_active_user(user):
            return self.none()
        return self.filter(user_id=user.id, role__in=[str(role) for role in roles])
