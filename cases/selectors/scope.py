"""Who sees what: the cases, teams, programmes, reference data and logs a user may read, and
what their roles on one case let them do."""

from __future__ import annotations

import uuid
from typing import TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet
from django.http import Http404

from cases.models import (
    IDENTITY_FIELDS,
    AuditEvent,
    Benchmark,
    Case,
    Membership,
    OutboxEvent,
    PartnerOrganisation,
    Programme,
    Referral,
    Role,
    TargetProfile,
    Team,
    ThreatContext,
)
from cases.models.querysets import CaseQuerySet, case_scope, is_active_user

RefModel = TypeVar("RefModel", "Benchmark", "ThreatContext", "TargetProfile")

# Anyone who may ask (pages and the API pass request.user, which may be anonymous).
Viewer = User | AnonymousUser
# Staff who act: services take an authenticated account.
Actor = User

CASE_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
APPROVER_ROLES = frozenset({Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
SECURITY_READER_ROLES = APPROVER_ROLES

# The person's identity columns and blind indexes, which pages that list or head a case never
# load: they are read only through the audited reveal.
_IDENTITY_COLUMNS = (
    *(f"returnee__{name}" for name in IDENTITY_FIELDS),
    "returnee__national_id_index",
    "returnee__phone_index",
)


def case_scope_filter(user: Viewer | None) -> Q | None:
    """The condition a case must meet to be visible to ``user``; ``None`` means nothing."""
    return case_scope(user)


def case_list(*, user: Viewer | None) -> CaseQuerySet:
    """Every case ``user`` may see. Superusers get no special pass: case data needs a role."""
    return Case.objects.visible_to(user)


def case_list_with_summary(*, user: Viewer | None) -> CaseQuerySet:
    """``case_list`` with what list pages show beside each case, in the same query: team,
    caseworker, profile, and the count of overdue planned contacts. The person's identity
    columns and blind indexes are not loaded: lists never show them, and decrypting a page of
    them would cost more than the rest of the request."""
    return (
        case_list(user=user)
        .select_related("team", "programme", "caseworker", "returnee")
        .defer(*_IDENTITY_COLUMNS)
        .with_overdue_count()
    )


def case_get(*, user: Viewer | None, case_number: str, for_update: bool = False) -> Case:
    """One case by its number, or ``Http404`` when it is missing or out of scope."""
    queryset = case_list(user=user).select_related("returnee", "programme", "team__site")
    if for_update:
        queryset = queryset.select_for_update(of=("self",))
    try:
        return queryset.get(case_number=case_number)
    except Case.DoesNotExist:
        raise Http404("No such case.") from None


def roles_on_case(*, user: Viewer | None, case: Case) -> frozenset[Role]:
    """The roles through which ``user`` reaches ``case``: empty when out of scope."""
    if not is_active_user(user):
        return frozenset()
    rows = Membership.objects.filter(user_id=user.id).filter(
        Q(team_id=case.team_id, role__in=[Role.CASEWORKER, Role.SUPERVISOR])
        | Q(programme_id=case.programme_id, role=Role.PROGRAMME_MANAGER)
    )
    return frozenset(Role(role) for role in rows.values_list("role", flat=True))


def can_read_security_findings(*, user: Viewer | None, case: Case) -> bool:
    return bool(roles_on_case(user=user, case=case) & SECURITY_READER_ROLES)


def can_approve(*, user: Viewer | None, case: Case) -> bool:
    return bool(roles_on_case(user=user, case=case) & APPROVER_ROLES)


def teams_for_case_creation(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams in which ``user`` may open a case: those whose cases they see."""
    return case_teams(user=user)


def case_teams_filtered(
    *,
    user: Viewer | None,
    programme: uuid.UUID | None = None,
    site: uuid.UUID | None = None,
    team: uuid.UUID | None = None,
) -> QuerySet[Team]:
    """``case_teams`` narrowed to a programme, site or team (by uuid); one outside the scope
    narrows to nothing, as a missing one does."""
    teams = case_teams(user=user)
    if programme is not None:
        teams = teams.filter(site__programme__uuid=programme)
    if site is not None:
        teams = teams.filter(site__uuid=site)
    if team is not None:
        teams = teams.filter(uuid=team)
    return teams


def case_teams(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams whose cases ``user`` may see: ``case_list``'s rule, by team (a case's programme
    is its team's, set when the case opens and never changed)."""
    if not is_active_user(user):
        return Team.objects.none()
    team_ids = Membership.objects.of(user, {Role.CASEWORKER, Role.SUPERVISOR}).values("team_id")
    programme_ids = Membership.objects.of(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def supervised_teams(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams whose caseload ``user`` oversees: as their supervisor, or as manager of their
    programme. The supervisor pages (dashboard, approvals, reassignment) start here."""
    if not is_active_user(user):
        return Team.objects.none()
    team_ids = Membership.objects.of(user, {Role.SUPERVISOR}).values("team_id")
    programme_ids = Membership.objects.of(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def programmes_managed(*, user: Viewer | None) -> QuerySet[Programme]:
    if not is_active_user(user):
        return Programme.objects.none()
    return Programme.objects.filter(
        id__in=Membership.objects.of(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    )


def programmes_visible(*, user: Viewer | None) -> QuerySet[Programme]:
    """Programmes ``user`` works in, through any team or programme membership."""
    if not is_active_user(user):
        return Programme.objects.none()
    memberships = Membership.objects.filter(user_id=user.id)
    return Programme.objects.filter(
        Q(id__in=memberships.values("programme_id"))
        | Q(sites__teams__id__in=memberships.values("team_id"))
    ).distinct()


def reference_list(*, user: Viewer | None, model: type[RefModel]) -> QuerySet[RefModel]:
    """Benchmarks, threat contexts or target profiles: the shipped defaults and those of the
    programmes ``user`` works in (maintained by those programmes' managers)."""
    if not is_active_user(user):
        return model._default_manager.none()
    return model._default_manager.filter(
        Q(programme__isnull=True) | Q(programme__in=programmes_visible(user=user))
    )


def is_auditor(*, user: Viewer | None) -> bool:
    if not is_active_user(user):
        return False
    return Membership.objects.of(user, {Role.AUDITOR}).exists()


def audit_event_list(*, user: Viewer | None) -> QuerySet[AuditEvent]:
    """Auditors read the whole log; nobody else reads it through this selector."""
    if not is_auditor(user=user):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def outbox_event_list(*, user: Viewer | None) -> QuerySet[OutboxEvent]:
    """Webhook events to partners of the programmes ``user`` manages, and notification emails
    about those programmes' cases (one without a case: to staff who work there)."""
    managed = programmes_managed(user=user)
    staff_there = Membership.objects.filter(
        Q(programme__in=managed) | Q(team__site__programme__in=managed)
    ).values("user_id")
    return OutboxEvent.objects.filter(
        Q(partner__programme__in=managed)
        | Q(channel="email", notification__case__programme__in=managed)
        | Q(
            channel="email",
            notification__case__isnull=True,
            notification__recipient_id__in=staff_there,
        )
    ).select_related("partner", "notification__recipient")


def referral_list_for_partner(*, partner: PartnerOrganisation) -> QuerySet[Referral]:
    """A partner's referrals: only its own, never another partner's."""
    return (
        Referral.objects.filter(partner=partner)
        .select_related("case__returnee")
        .prefetch_related("case__returnee__consents", "case__screenings")
    )
