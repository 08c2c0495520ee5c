"""The jobs that notify staff about the monitoring schedule: missed contacts, their escalation
to supervisors, and cases flagged for a threat context in their district.

Each reads the caseload in batches of ``JOB_BATCH`` rows (a statement or two each) and hands
each batch to :func:`~.core.notify_many` in a transaction of its own, so a worker's memory does
not grow with the caseload.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Iterator
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from cases.models import (
    AuditAction,
    CaseFlag,
    ContactOutcome,
    MonitoringContact,
    Notification,
    NotificationKind,
    Programme,
)

from ..audit import audit_record
from .core import NotificationSpec, caseworker_or_overseers, notify_many, overseers_of


def _audit_batch(*, action: AuditAction, created: list[Notification]) -> None:
    """One audit event for a job's run: how many notifications, on which cases."""
    if not created:
        return
    audit_record(
        actor=None,
        label="job:notifications",
        action=action,
        object_type="notification",
        object_id="batch",
        detail={
            "notifications": len(created),
            "cases": sorted({note.case_id for note in created if note.case_id}),
        },
    )


def _days_since(day: datetime.date | None, today: datetime.date) -> int | None:
    return (today - day).days if day is not None else None


# The jobs below work through their rows this many at a time, oldest first (by id), each batch
# in its own transaction with its own audit event: a worker holds one batch's rows whatever
# the caseload, and a run stopped midway keeps the batches it committed (the next run goes on
# from there, since what was told is never told again).
JOB_BATCH = 2000


def _in_batches(run_batch: Callable[[int, int], tuple[int, int | None]], batch: int | None) -> int:
    """Call ``run_batch(after, size)`` (it handles the rows with an id above ``after``, at most
    ``size`` of them, and returns how many notifications it created and the last id it read,
    or None when it read fewer than ``size``) until the rows run out; returns the total."""
    size = batch or JOB_BATCH
    total, after = 0, 0
    while True:
        created, last = run_batch(after, size)
        total += created
        if last is None:
            return total
        after = last


# Who hears about a record of a case: its caseworker, or, when it has no active one, the team's
# supervisors (none: the programme's managers). The jobs' rows end with these columns.
RECIPIENT_COLUMNS = (
    "case_id",
    "case__team_id",
    "case__programme_id",
    "case__caseworker_id",
    "case__caseworker__is_active",
)


def _with_recipients(rows: list[tuple[Any, ...]]) -> Iterator[tuple[tuple[Any, ...], int]]:
    """Each row (ending with ``RECIPIENT_COLUMNS``) with each user to tell about it; the
    overseers of the rows without an active caseworker are read once for the whole batch."""
    tail = len(RECIPIENT_COLUMNS)
    without_caseworker = [row for row in rows if not (row[-2] is not None and row[-1])]
    overseers = overseers_of(
        team_ids=(row[-4] for row in without_caseworker),
        programme_ids=(row[-3] for row in without_caseworker),
    )
    for row in rows:
        _case_id, team_id, programme_id, caseworker_id, caseworker_active = row[-tail:]
        for user_id in caseworker_or_overseers(
            caseworker_id=caseworker_id,
            caseworker_active=caseworker_active,
            team_id=team_id,
            programme_id=programme_id,
            overseers=overseers,
        ):
            yield row, user_id


def _last_if_full(ids: list[int], size: int) -> int | None:
    return ids[-1] if len(ids) >= size else None


def notify_missed_contacts(*, today: datetime.date | None = None, batch: int | None = None) -> int:
    """Tell each case's caseworker, once, about every missed contact nobody was told about
    yet (no active caseworker: the team's supervisors). Returns how many notifications were
    created. Closed cases are left alone. ``batch`` contacts at a time (``JOB_BATCH``)."""
    today = today or timezone.localdate()
    told = Notification.objects.filter(contact=OuterRef("pk"), kind=NotificationKind.CONTACT_MISSED)
    untold = (
        MonitoringContact.objects.filter(outcome=ContactOutcome.MISSED)
        .of_open_cases()
        .filter(~Exists(told))
    )

    def run_batch(after: int, size: int) -> tuple[int, int | None]:
        rows = list(
            untold.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "uuid", "planned_date", "actual_date", *RECIPIENT_COLUMNS)[:size]
        )
        if not rows:
            return 0, None
        last = _last_if_full([row[0] for row in rows], size)
        # Each case's contacts together, oldest first (missing dates last).
        rows.sort(key=lambda row: (row[4], row[2] is None, row[2] or datetime.date.min, row[0]))
        specs = []
        for (pk, contact_uuid, planned, actual, case_id, *_), user_id in _with_recipients(rows):
            days = _days_since(planned or actual, today)
            specs.append(
                NotificationSpec(
                    key=f"contact_missed:{contact_uuid}:{user_id}",
                    recipient_id=user_id,
                    kind=NotificationKind.CONTACT_MISSED,
                    case_id=case_id,
                    contact_id=pk,
                    detail={"days_overdue": days} if days is not None else {},
                )
            )
        with transaction.atomic():
            created = notify_many(specs)
            _audit_batch(action=AuditAction.NOTIFICATIONS_CONTACT_MISSED, created=created)
        return len(created), last

    return _in_batches(run_batch, batch)


def escalate_missed_contacts(
    *, today: datetime.date | None = None, batch: int | None = None
) -> int:
    """Tell each supervisor of the case's team, once, about a contact still missed — no met
    contact on the case since its planned date — more than the programme's
    ``escalate_after_days`` after that date (a team without supervisors: the programme's
    managers). Returns how many notifications were created. ``batch`` contacts at a time."""
    today = today or timezone.localdate()
    escalated = Notification.objects.filter(
        contact=OuterRef("pk"), kind=NotificationKind.CONTACT_ESCALATED
    )
    made_up = MonitoringContact.objects.filter(
        case=OuterRef("case"),
        outcome=ContactOutcome.MET,
        actual_date__gte=OuterRef("planned_date"),
    )
    # Past each programme's threshold, in the query: one term per distinct threshold (a
    # handful), so a batch holds only contacts to escalate.
    overdue = Q(pk__in=[])
    for after in (
        Programme.objects.order_by().values_list("escalate_after_days", flat=True).distinct()
    ):
        overdue |= Q(
            case__programme__escalate_after_days=after,
            planned_date__lt=today - datetime.timedelta(days=after),
        )
    due = (
        MonitoringContact.objects.filter(
            overdue,
            outcome=ContactOutcome.MISSED,
            planned_date__isnull=False,
            planned_date__lt=today,
        )
        .of_open_cases()
        .filter(~Exists(escalated), ~Exists(made_up))
    )

    def run_batch(after: int, size: int) -> tuple[int, int | None]:
        rows = list(
            due.filter(pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk", "uuid", "planned_date", "case_id", "case__team_id", "case__programme_id"
            )[:size]
        )
        if not rows:
            return 0, None
        last = _last_if_full([row[0] for row in rows], size)
        rows.sort(key=lambda row: (row[3], row[2], row[0]))  # each case's together, oldest first
        overseers = overseers_of(
            team_ids=(row[4] for row in rows), programme_ids=(row[5] for row in rows)
        )
        specs = [
            NotificationSpec(
                key=f"contact_escalated:{contact_uuid}:{user_id}",
                recipient_id=user_id,
                kind=NotificationKind.CONTACT_ESCALATED,
                case_id=case_id,
                contact_id=pk,
                detail={"days_missed": _days_since(planned, today)},
            )
            for pk, contact_uuid, planned, case_id, team_id, programme_id in rows
            for user_id in overseers.of(team_id=team_id, programme_id=programme_id)
        ]
        with transaction.atomic():
            created = notify_many(specs)
            _audit_batch(action=AuditAction.NOTIFICATIONS_CONTACT_ESCALATED, created=created)
        return len(created), last

    return _in_batches(run_batch, batch)


def notify_flagged_cases(*, batch: int | None = None) -> int:
    """Tell each flagged case's caseworker (no active caseworker: the team's supervisors),
    once per flag, that a threat context is active in the person's district. Cleared flags
    and closed cases are left alone. Returns how many notifications were created. ``batch``
    flags at a time."""
    told = Notification.objects.filter(
        kind=NotificationKind.THREAT_CONTEXT, case=OuterRef("case"), threat=OuterRef("threat")
    )
    untold = CaseFlag.objects.filter(cleared_at__isnull=True).of_open_cases().filter(~Exists(told))

    def run_batch(after: int, size: int) -> tuple[int, int | None]:
        rows = list(
            untold.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "uuid", "threat_id", *RECIPIENT_COLUMNS)[:size]
        )
        if not rows:
            return 0, None
        last = _last_if_full([row[0] for row in rows], size)
        rows.sort(key=lambda row: (row[3], row[0]))  # each case's flags together
        specs = [
            NotificationSpec(
                key=f"threat_flag:{flag_uuid}:{user_id}",
                recipient_id=user_id,
                kind=NotificationKind.THREAT_CONTEXT,
                case_id=case_id,
                threat_id=threat_id,
            )
            for (_pk, flag_uuid, threat_id, case_id, *_), user_id in _with_recipients(rows)
        ]
        with transaction.atomic():
            created = notify_many(specs)
            _audit_batch(action=AuditAction.NOTIFICATIONS_THREAT_CONTEXT, created=created)
        return len(created), last

    return _in_batches(run_batch, batch)
