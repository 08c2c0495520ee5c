"""In-app notifications to staff: creating them, once each, with an email through the outbox,
and marking them read.

Every notification has a ``key`` that names the event it reports (``missed:<contact>:<user>``),
unique in the table, so a job that runs twice, or two workers racing, notify nobody twice; the
email rides the outbox (one per notification, by constraint) and goes out when the broker is
up, however long it was down.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from cases.models import (
    AuditAction,
    Case,
    Incident,
    Membership,
    Notification,
    NotificationKind,
    Role,
)
from cases.selectors import Actor

from ..audit import audit_record
from ..errors import DomainError
from ..outbox import notification_emails_enqueue


@dataclass(frozen=True)
class NotificationSpec:
    key: str
    recipient_id: int
    kind: str
    case_id: str | None = None
    contact_id: int | None = None
    threat_id: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def notify_many(specs: Iterable[NotificationSpec]) -> list[Notification]:
    """Create the notifications not created before (by key) and an email for each, in the
    caller's transaction; returns the new ones. A handful of statements, whatever the count."""
    if not connection.in_atomic_block:
        raise RuntimeError("notify_many must run inside the transaction of the change.")
    wanted = {spec.key: spec for spec in specs}
    if not wanted:
        return []
    taken = set(Notification.objects.filter(key__in=wanted).values_list("key", flat=True))
    fresh = [spec for key, spec in wanted.items() if key not in taken]
    if not fresh:
        return []
    Notification.objects.bulk_create(
        [
            Notification(
                key=spec.key,
                recipient_id=spec.recipient_id,
                kind=spec.kind,
                case_id=spec.case_id,
                contact_id=spec.contact_id,
                threat_id=spec.threat_id,
                detail=spec.detail,
            )
            for spec in fresh
        ],
        ignore_conflicts=True,  # a racing job inserted the same key: theirs stands
    )
    created = list(Notification.objects.filter(key__in=[spec.key for spec in fresh]))
    notification_emails_enqueue(created)
    return created


# --- who is told ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Overseers:
    """Active supervisors per team and programme managers per programme."""

    supervisors: dict[int, list[int]]
    managers: dict[int, list[int]]

    def of(self, *, team_id: int, programme_id: int) -> list[int]:
        """The team's supervisors; its programme's managers when the team has none, so a
        team without a supervisor does not silence an escalation."""
        return self.supervisors.get(team_id) or self.managers.get(programme_id, [])


def overseers_of(*, team_ids: Iterable[int], programme_ids: Iterable[int]) -> Overseers:
    """One query, whatever the number of teams."""
    teams, programmes = set(team_ids), set(programme_ids)
    supervisors: dict[int, list[int]] = defaultdict(list)
    managers: dict[int, list[int]] = defaultdict(list)
    if not teams and not programmes:
        return Overseers({}, {})
    rows = (
        Membership.objects.active()
        .filter(
            Q(role=Role.SUPERVISOR, team_id__in=teams)
            | Q(role=Role.PROGRAMME_MANAGER, programme_id__in=programmes)
        )
        .order_by("user_id")
        .values_list("role", "team_id", "programme_id", "user_id")
    )
    for role, team_id, programme_id, user_id in rows:
        if role == Role.SUPERVISOR:
            supervisors[team_id].append(user_id)
        else:
            managers[programme_id].append(user_id)
    return Overseers(dict(supervisors), dict(managers))


def caseworker_or_overseers(
    *,
    caseworker_id: int | None,
    caseworker_active: bool | None,
    team_id: int,
    programme_id: int,
    overseers: Overseers,
) -> list[int]:
    if caseworker_id is not None and caseworker_active:
        return [caseworker_id]
    return overseers.of(team_id=team_id, programme_id=programme_id)


def notify_incident_recorded(*, actor: Actor, case: Case, incident: Incident) -> list[Notification]:
    """Tell the supervisors of the case's team (none: the programme's managers) about a new
    incident, in the transaction that records it; whoever recorded it is not told."""
    overseers = overseers_of(team_ids=[case.team_id], programme_ids=[case.programme_id])
    specs = [
        NotificationSpec(
            key=f"incident:{incident.uuid}:{user_id}",
            recipient_id=user_id,
            kind=NotificationKind.INCIDENT_RECORDED,
            case_id=case.case_number,
        )
        for user_id in overseers.of(team_id=case.team_id, programme_id=case.programme_id)
        if user_id != actor.pk
    ]
    return notify_many(specs)


# --- reading them -----------------------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, actor: Actor, notification: Notification) -> Notification:
    """Mark one of the actor's own notifications read (already read: nothing changes)."""
    if notification.recipient_id != actor.pk:
        raise DomainError("Not found.", code="not_found")
    now = timezone.now()
    changed = Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=now
    )
    if changed:
        notification.read_at = now
        audit_record(
            actor=actor,
            action=AuditAction.NOTIFICATION_READ,
            object_type="notification",
            object_id=str(notification.uuid),
            case_number=notification.case_id or "",
            fields=["read_at"],
        )
    else:
        notification.refresh_from_db(fields=["read_at"])
    return notification


@transaction.atomic
def notification_mark_all_read(*, actor: Actor) -> int:
    """Mark every unread notification of the actor's read; returns how many."""
    changed = Notification.objects.filter(recipient_id=actor.pk, read_at__isnull=True).update(
        read_at=timezone.now()
    )
    if changed:
        audit_record(
            actor=actor,
            action=AuditAction.NOTIFICATION_READ_ALL,
            object_type="notification",
            object_id="all",
            fields=["read_at"],
            detail={"notifications": changed},
        )
    return changed
