"""A member of staff's own lists: the caseload page, working lists, notifications, the survey
questions they ask, and the dead letters of background tasks for those who may retry them."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db.models import Case as SqlCase
from django.db.models import Exists, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.http import Http404

from cases.models import (
    STAGE_ORDER,
    Case,
    FailedTask,
    Membership,
    MonitoringContact,
    Notification,
    Role,
    SurveyDimension,
    SurveyQuestion,
    WorkingList,
)
from cases.models.querysets import is_active_user

from .scope import Viewer, case_list_with_summary, programmes_visible


def caseload_list(*, user: Viewer | None, mine: bool = True) -> QuerySet[Case]:
    """The caseload page's rows: ``case_list_with_summary`` (so the one scoping rule), only the
    cases assigned to ``user`` when ``mine``, with the next planned contact, in the order a
    caseworker works them: overdue contacts first, then by stage in workflow order (closed
    last), then the longest in their stage first. Identity columns are not even loaded."""
    if not is_active_user(user):
        return Case.objects.none()
    queryset = case_list_with_summary(user=user)
    if mine:
        queryset = queryset.filter(caseworker_id=user.id)
    next_contact = (
        MonitoringContact.objects.not_yet_due()
        .filter(case=OuterRef("pk"))
        .order_by("planned_date")
        .values("planned_date")[:1]
    )
    stage_rank = SqlCase(
        *(When(stage=stage.value, then=Value(rank)) for stage, rank in STAGE_ORDER.items()),
        default=Value(len(STAGE_ORDER)),
        output_field=IntegerField(),
    )
    has_overdue = SqlCase(
        When(overdue_contacts__gt=0, then=Value(1)), default=Value(0), output_field=IntegerField()
    )
    return queryset.annotate(
        next_contact_date=Subquery(next_contact),
        stage_rank=stage_rank,
        has_overdue=has_overdue,
    ).order_by("-has_overdue", "stage_rank", "stage_entered_at", "case_number")


def working_list_list(*, user: Viewer | None) -> QuerySet[WorkingList]:
    """The user's own working lists; nobody sees another user's."""
    if not is_active_user(user):
        return WorkingList.objects.none()
    return WorkingList.objects.filter(owner_id=user.id)


def working_list_get(*, user: Viewer | None, list_uuid: uuid.UUID | str) -> WorkingList:
    """One of the user's own working lists, or ``Http404``: another user's list does not exist."""
    try:
        return working_list_list(user=user).get(uuid=list_uuid)
    except (WorkingList.DoesNotExist, ValidationError):
        raise Http404("No such working list.") from None


# --- notifications to staff -------------------------------------------------------------------


def notification_list(*, user: Viewer | None, unread: bool | None = None) -> QuerySet[Notification]:
    """The user's own notifications, newest first (``unread``: only the unread ones, or only
    the read ones); nobody sees another user's."""
    queryset = Notification.objects.visible_to(user)
    if unread is not None:
        queryset = queryset.filter(read_at__isnull=unread)
    return queryset.order_by("-created_at", "-id")


def notification_get(*, user: Viewer | None, notification_uuid: uuid.UUID | str) -> Notification:
    """One of the user's own notifications, or ``Http404``: another user's does not exist."""
    try:
        return notification_list(user=user).get(uuid=notification_uuid)
    except (Notification.DoesNotExist, ValidationError, ValueError):
        raise Http404("No such notification.") from None


def notification_unread_count(*, user: Viewer | None) -> int:
    """How many of the user's notifications are unread (one query, on a partial index)."""
    if not is_active_user(user):
        return 0
    return Notification.objects.visible_to(user).filter(read_at__isnull=True).count()


# --- the reintegration survey -----------------------------------------------------------------

SURVEY_DIMENSION_ORDER: dict[str, int] = {
    str(dimension): index for index, dimension in enumerate(SurveyDimension)
}


def survey_questions_for_programme(*, programme_id: int) -> list[SurveyQuestion]:
    """The active questions a programme asks, in the order they are asked (economic, social,
    psychosocial; then each question's order): the shared questions, where a programme's own
    question replaces a shared one of the same code. One query."""
    rows = SurveyQuestion.objects.filter(is_active=True).filter(
        Q(programme__isnull=True) | Q(programme_id=programme_id)
    )
    chosen: dict[str, SurveyQuestion] = {}
    for question in rows:
        if question.code not in chosen or question.programme_id is not None:
            chosen[question.code] = question
    return sorted(
        chosen.values(),
        key=lambda q: (SURVEY_DIMENSION_ORDER.get(q.dimension, 99), q.order, q.code),
    )


def survey_question_list(*, user: Viewer | None) -> QuerySet[SurveyQuestion]:
    """Active survey questions: the shared ones and those of the programmes ``user`` works in."""
    if not is_active_user(user):
        return SurveyQuestion.objects.none()
    return (
        SurveyQuestion.objects.filter(is_active=True)
        .filter(Q(programme__isnull=True) | Q(programme__in=programmes_visible(user=user)))
        .select_related("programme")
    )


# --- dead letters of background tasks ---------------------------------------------------------


def can_manage_failed_tasks(*, user: Viewer | None) -> bool:
    """Dead letters of background tasks are system-wide (a task is not one programme's): any
    programme manager, and a superuser, sees and retries them all."""
    if not is_active_user(user):
        return False
    return user.is_superuser or Membership.objects.of(user, {Role.PROGRAMME_MANAGER}).exists()


def failed_task_list(*, user: Viewer | None) -> QuerySet[FailedTask]:
    """Dead letters, for whoever may manage them; they carry only task names, ids and a short
    error, never personal data."""
    if not is_active_user(user):
        return FailedTask.objects.none()
    if user.is_superuser:
        return FailedTask.objects.all()
    # One statement: the role check rides along as a condition.
    return FailedTask.objects.filter(Exists(Membership.objects.of(user, {Role.PROGRAMME_MANAGER})))
