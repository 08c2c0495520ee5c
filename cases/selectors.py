"""Scoped reads: the one place that says which cases a user may see and what they may do there.

The web pages, the API, the admin and background jobs all start from these querysets, so
need-to-know is enforced once. Out of scope means absent: callers get ``Http404``, never a
"forbidden" that would confirm the case exists.
"""

from __future__ import annotations

from typing import TypeGuard, TypeVar

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from cases.models import (
    AuditEvent,
    Benchmark,
    Case,
    Membership,
    MonitoringContact,
    OutboxEvent,
    PartnerOrganisation,
    Programme,
    Referral,
    Role,
    TargetProfile,
    Team,
    ThreatContext,
)

RefModel = TypeVar("RefModel", "Benchmark", "ThreatContext", "TargetProfile")

# Anyone who may ask (pages and the API pass request.user, which may be anonymous).
Viewer = User | AnonymousUser
# Staff who act: services take an authenticated account.
Actor = User

CASE_ROLES = frozenset({Role.CASEWORKER, Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
APPROVER_ROLES = frozenset({Role.SUPERVISOR, Role.PROGRAMME_MANAGER})
SECURITY_READER_ROLES = APPROVER_ROLES


def _is_active_user(user: Viewer | None) -> TypeGuard[User]:
    return isinstance(user, User) and user.is_authenticated and user.is_active


def _memberships(user: User, roles: frozenset[Role] | set[Role]) -> QuerySet[Membership]:
    return Membership.objects.filter(user_id=user.id, role__in=[r.value for r in roles])


def case_scope_filter(user: Viewer | None) -> Q | None:
    """The condition a case must meet to be visible to ``user``; ``None`` means nothing."""
    if not _is_active_user(user):
        return None
    team_ids = _memberships(user, {Role.CASEWORKER, Role.SUPERVISOR}).values("team_id")
    programme_ids = _memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Q(team_id__in=team_ids) | Q(programme_id__in=programme_ids)


def case_list(*, user: Viewer | None) -> QuerySet[Case]:
    """Every case ``user`` may see. Superusers get no special pass: case data needs a role."""
    scope = case_scope_filter(user)
    if scope is None:
        return Case.objects.none()
    return Case.objects.filter(scope)


def case_list_with_summary(*, user: Viewer | None) -> QuerySet[Case]:
    """``case_list`` with what list pages show beside each case, in the same query: team,
    caseworker, profile, and the count of overdue planned contacts."""
    overdue = (
        MonitoringContact.objects.filter(
            case=OuterRef("pk"), outcome="planned", planned_date__lt=timezone.now().date()
        )
        .order_by()
        .values("case")
        .annotate(n=Count("id"))
        .values("n")
    )
    return (
        case_list(user=user)
        .select_related("team", "programme", "caseworker", "returnee")
        .annotate(overdue_contacts=Coalesce(Subquery(overdue), 0))
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
    if not _is_active_user(user):
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
    """Teams in which ``user`` may open a case."""
    if not _is_active_user(user):
        return Team.objects.none()
    team_ids = _memberships(user, {Role.CASEWORKER, Role.SUPERVISOR}).values("team_id")
    programme_ids = _memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def supervised_teams(*, user: Viewer | None) -> QuerySet[Team]:
    """Teams whose caseload ``user`` oversees: as their supervisor, or as manager of their
    programme. The supervisor pages (dashboard, approvals, reassignment) start here."""
    if not _is_active_user(user):
        return Team.objects.none()
    team_ids = _memberships(user, {Role.SUPERVISOR}).values("team_id")
    programme_ids = _memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    return Team.objects.filter(
        Q(id__in=team_ids) | Q(site__programme_id__in=programme_ids)
    ).select_related("site__programme")


def programmes_managed(*, user: Viewer | None) -> QuerySet[Programme]:
    if not _is_active_user(user):
        return Programme.objects.none()
    return Programme.objects.filter(
        id__in=_memberships(user, {Role.PROGRAMME_MANAGER}).values("programme_id")
    )


def is_auditor(*, user: Viewer | None) -> bool:
    if not _is_active_user(user):
        return False
    return _memberships(user, {Role.AUDITOR}).exists()


def audit_event_list(*, user: Viewer | None) -> QuerySet[AuditEvent]:
    """Auditors read the whole log; nobody else reads it through this selector."""
    if not is_auditor(user=user):
        return AuditEvent.objects.none()
    return AuditEvent.objects.all()


def outbox_event_list(*, user: Viewer | None) -> QuerySet[OutboxEvent]:
    """Webhook events to partners of the programmes ``user`` manages."""
    return OutboxEvent.objects.filter(
        partner__programme__in=programmes_managed(user=user)
    ).select_related("partner")


def referral_list_for_partner(*, partner: PartnerOrganisation) -> QuerySet[Referral]:
    """A partner's referrals: only its own, never another partner's."""
    return (
        Referral.objects.filter(partner=partner)
        .select_related("case__returnee")
        .prefetch_related("case__returnee__consents", "case__screenings")
    )


def case_history(*, user: Viewer | None, case: Case) -> QuerySet[AuditEvent]:
    """A case's audit trail, for its supervisors and programme managers."""
    if not can_approve(user=user, case=case):
        return AuditEvent.objects.none()
    return AuditEvent.objects.filter(case_number=case.case_number)


def programmes_visible(*, user: Viewer | None) -> QuerySet[Programme]:
    """Programmes ``user`` works in, through any team or programme membership."""
    if not _is_active_user(user):
        return Programme.objects.none()
    memberships = Membership.objects.filter(user_id=user.id)
    return Programme.objects.filter(
        Q(id__in=memberships.values("programme_id"))
        | Q(sites__teams__id__in=memberships.values("team_id"))
    ).distinct()


def reference_list(*, user: Viewer | None, model: type[RefModel]) -> QuerySet[RefModel]:
    """Benchmarks, threat contexts or target profiles: the shipped defaults and those of the
    programmes ``user`` works in (maintained by those programmes' managers)."""
    if not _is_active_user(user):
        return model._default_manager.none()
    return model._default_manager.filter(
        Q(programme__isnull=True) | Q(programme__in=programmes_visible(user=user))
    )
