"""Notifications to staff: in-app rows, each with an email through the outbox.

Every notification has a ``key`` that names the event it reports (``missed:<contact>:<user>``),
unique in the table, so a job that runs twice, or two workers racing, notify nobody twice; the
email rides the outbox (one per notification, by constraint) and goes out when the broker is
up, however long it was down.

The jobs here (missed contacts, their escalation, flagged cases) read the caseload in batches
of ``JOB_BATCH`` rows (a statement or two each) and hand each batch to :func:`notify_many` in a
transaction of its own, so a worker's memory does not grow with the caseload. Emails are sent
with the outbox's claim, lease, back-off and dead letter (shared with the partner webhooks in
``cases.services.webhooks``). A message, in the app or by email, names the case by its
pseudonymous number and links to its file; it never carries a name or any other identity value.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext, ngettext

from cases.models import (
    Case,
    CaseFlag,
    ContactOutcome,
    Incident,
    Membership,
    MonitoringContact,
    Notification,
    NotificationKind,
    OutboxChannel,
    OutboxEvent,
    OutboxStatus,
    Programme,
    Role,
    Stage,
)
from cases.selectors import Actor

from .audit import audit_record
from .errors import DomainError
from .outbox import (
    ERROR_MAX_CHARS,
    AttemptOutcome,
    error_summary,
    outbox_claim,
    outbox_due_ids,
    outbox_lease,
    outbox_record_attempt,
)

logger = logging.getLogger(__name__)


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
    now = timezone.now()
    OutboxEvent.objects.bulk_create(
        [
            OutboxEvent(
                channel=OutboxChannel.EMAIL,
                topic=f"notification.{note.kind}",
                notification=note,
                payload={"notification": str(note.uuid)},
                next_attempt_at=now,
            )
            for note in created
        ],
        ignore_conflicts=True,  # one email per notification (constraint)
    )
    emails = list(
        OutboxEvent.objects.filter(
            channel=OutboxChannel.EMAIL, notification__in=created, status="pending"
        ).values_list("pk", flat=True)
    )
    transaction.on_commit(lambda: _queue_emails(emails))
    return created


def _queue_emails(ids: list[int]) -> None:
    """Hand the emails to the broker after commit. If the broker is down they stay pending
    in the outbox and the dispatcher on beat sends them later."""
    from cases.tasks import email_deliver_task

    for event_id in ids:
        try:
            # No publish retries: a request must not wait on a broker that is down.
            email_deliver_task.apply_async((event_id,), retry=False)
        except Exception:  # the dispatcher on beat sends whatever is still pending
            logger.warning("email %s: delivery not started now; the dispatcher will", event_id)
            return


# --- who is told ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Overseers:
    """Active supervisors per team and programme managers per programme."""

    supervisors: dict[int, list[int]]
    managers: dict[int, list[int]]

    def of(self, *, team_id: int, programme_id: int) -> list[int]:
        """The team's supervisors; its programme's managers when the team has none, so a
        team without a supervisor does not silence an escalation."""
        return self.supervisors.get(team_id) or self.managers.get(programme_id, [])


def _overseers(*, team_ids: Iterable[int], programme_ids: Iterable[int]) -> _Overseers:
    """One query, whatever the number of teams."""
    teams, programmes = set(team_ids), set(programme_ids)
    supervisors: dict[int, list[int]] = defaultdict(list)
    managers: dict[int, list[int]] = defaultdict(list)
    if not teams and not programmes:
        return _Overseers({}, {})
    rows = (
        Membership.objects.filter(
            Q(role=Role.SUPERVISOR, team_id__in=teams)
            | Q(role=Role.PROGRAMME_MANAGER, programme_id__in=programmes),
            user__is_active=True,
        )
        .order_by("user_id")
        .values_list("role", "team_id", "programme_id", "user_id")
    )
    for role, team_id, programme_id, user_id in rows:
        if role == Role.SUPERVISOR:
            supervisors[team_id].append(user_id)
        else:
            managers[programme_id].append(user_id)
    return _Overseers(dict(supervisors), dict(managers))


def _caseworker_or_overseers(
    *,
    caseworker_id: int | None,
    caseworker_active: bool | None,
    team_id: int,
    programme_id: int,
    overseers: _Overseers,
) -> list[int]:
    if caseworker_id is not None and caseworker_active:
        return [caseworker_id]
    return overseers.of(team_id=team_id, programme_id=programme_id)


def _audit_batch(*, action: str, created: list[Notification]) -> None:
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


# --- the jobs ---------------------------------------------------------------------------------


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
        .exclude(case__stage=Stage.CLOSED)
        .filter(~Exists(told))
    )

    def run_batch(after: int, size: int) -> tuple[int, int | None]:
        rows = list(
            untold.filter(pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk",
                "uuid",
                "planned_date",
                "actual_date",
                "case_id",
                "case__team_id",
                "case__programme_id",
                "case__caseworker_id",
                "case__caseworker__is_active",
            )[:size]
        )
        if not rows:
            return 0, None
        last = _last_if_full([row[0] for row in rows], size)
        # Each case's contacts together, oldest first (missing dates last).
        rows.sort(key=lambda row: (row[4], row[2] is None, row[2] or datetime.date.min, row[0]))
        without_caseworker = [row for row in rows if not (row[7] is not None and row[8])]
        overseers = _overseers(
            team_ids=(row[5] for row in without_caseworker),
            programme_ids=(row[6] for row in without_caseworker),
        )
        specs = []
        for pk, contact_uuid, planned, actual, case_id, team_id, programme_id, cw_id, cw_ok in rows:
            days = _days_since(planned or actual, today)
            for user_id in _caseworker_or_overseers(
                caseworker_id=cw_id,
                caseworker_active=cw_ok,
                team_id=team_id,
                programme_id=programme_id,
                overseers=overseers,
            ):
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
            _audit_batch(action="notifications.contact_missed", created=created)
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
        .exclude(case__stage=Stage.CLOSED)
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
        overseers = _overseers(
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
            _audit_batch(action="notifications.contact_escalated", created=created)
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
    untold = (
        CaseFlag.objects.filter(cleared_at__isnull=True)
        .exclude(case__stage=Stage.CLOSED)
        .filter(~Exists(told))
    )

    def run_batch(after: int, size: int) -> tuple[int, int | None]:
        rows = list(
            untold.filter(pk__gt=after)
            .order_by("pk")
            .values_list(
                "pk",
                "uuid",
                "threat_id",
                "case_id",
                "case__team_id",
                "case__programme_id",
                "case__caseworker_id",
                "case__caseworker__is_active",
            )[:size]
        )
        if not rows:
            return 0, None
        last = _last_if_full([row[0] for row in rows], size)
        rows.sort(key=lambda row: (row[3], row[0]))  # each case's flags together
        without_caseworker = [row for row in rows if not (row[6] is not None and row[7])]
        overseers = _overseers(
            team_ids=(row[4] for row in without_caseworker),
            programme_ids=(row[5] for row in without_caseworker),
        )
        specs = [
            NotificationSpec(
                key=f"threat_flag:{flag_uuid}:{user_id}",
                recipient_id=user_id,
                kind=NotificationKind.THREAT_CONTEXT,
                case_id=case_id,
                threat_id=threat_id,
            )
            for _pk, flag_uuid, threat_id, case_id, team_id, programme_id, cw_id, cw_ok in rows
            for user_id in _caseworker_or_overseers(
                caseworker_id=cw_id,
                caseworker_active=cw_ok,
                team_id=team_id,
                programme_id=programme_id,
                overseers=overseers,
            )
        ]
        with transaction.atomic():
            created = notify_many(specs)
            _audit_batch(action="notifications.threat_context", created=created)
        return len(created), last

    return _in_batches(run_batch, batch)


def notify_incident_recorded(*, actor: Actor, case: Case, incident: Incident) -> list[Notification]:
    """Tell the supervisors of the case's team (none: the programme's managers) about a new
    incident, in the transaction that records it; whoever recorded it is not told."""
    overseers = _overseers(team_ids=[case.team_id], programme_ids=[case.programme_id])
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
            action="notification.read",
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
            action="notification.read_all",
            object_type="notification",
            object_id="all",
            fields=["read_at"],
            detail={"notifications": changed},
        )
    return changed


# --- what a notification says -----------------------------------------------------------------


def case_path(case_number: str) -> str:
    """The case file's path, ``/cases/<number>/``."""
    return reverse("web:case-detail", args=[case_number])


def notification_message(note: Notification) -> str:
    """One sentence in the active language: what happened, on which case (by number). The
    figures come from ``detail`` (counts only)."""
    case = note.case_id or ""
    detail = note.detail if isinstance(note.detail, dict) else {}
    kind = note.kind
    if kind == NotificationKind.CONTACT_MISSED:
        days = detail.get("days_overdue")
        if isinstance(days, int) and days > 0:
            return ngettext(
                "A monitoring contact on case %(case)s was missed; it was planned %(days)d day "
                "ago.",
                "A monitoring contact on case %(case)s was missed; it was planned %(days)d days "
                "ago.",
                days,
            ) % {"case": case, "days": days}
        return gettext("A monitoring contact on case %(case)s was missed.") % {"case": case}
    if kind == NotificationKind.CONTACT_ESCALATED:
        days = detail.get("days_missed")
        if isinstance(days, int):
            return ngettext(
                "A monitoring contact on case %(case)s was missed %(days)d day ago and has not "
                "been made up.",
                "A monitoring contact on case %(case)s was missed %(days)d days ago and has not "
                "been made up.",
                days,
            ) % {"case": case, "days": days}
        return gettext("A missed monitoring contact on case %(case)s has not been made up.") % {
            "case": case
        }
    if kind == NotificationKind.THREAT_CONTEXT:
        return gettext(
            "A threat context is active in the district of case %(case)s: its contacts are "
            "planned more often."
        ) % {"case": case}
    if kind == NotificationKind.INCIDENT_RECORDED:
        return gettext("An incident was recorded on case %(case)s.") % {"case": case}
    if kind == NotificationKind.SCORE_FELL:
        return gettext("The reintegration score of case %(case)s fell.") % {"case": case}
    if kind == NotificationKind.TASK_FAILED:
        return gettext("A background task failed after its last retry.")
    label = str(NotificationKind(kind).label) if kind in NotificationKind.values else kind
    return f"{label} · {case}" if case else label


@dataclass(frozen=True)
class EmailText:
    subject: str
    body: str


def notification_email(note: Notification) -> EmailText:
    """The email for ``note`` in the active language: the message, the case number and the
    link to the case file; nothing else about the person."""
    base = str(getattr(settings, "SITE_URL", "")).rstrip("/")
    kind = (
        str(NotificationKind(note.kind).label)
        if note.kind in NotificationKind.values
        else note.kind
    )
    if note.case_id:
        subject = gettext("%(kind)s: case %(case)s") % {"kind": kind, "case": note.case_id}
    else:
        subject = str(kind)
    lines = [notification_message(note), ""]
    if note.case_id:
        lines.append(
            gettext("Open the case file: %(link)s") % {"link": base + case_path(note.case_id)}
        )
    lines.append(
        gettext("All your notifications: %(link)s") % {"link": base + reverse("web:notifications")}
    )
    return EmailText(subject=subject, body="\n".join(lines) + "\n")


# --- sending the emails -----------------------------------------------------------------------

# A dispatch run stops after this many failures in a row: the mail server is down, and the
# rest wait for the next run instead of each waiting out a timeout now.
_STOP_AFTER_FAILURES = 5
NOT_SENT_NO_ADDRESS = "Not emailed: the recipient has no email address (shown in the app only)."
NOT_SENT_INACTIVE = "Not emailed: the recipient's account is disabled (shown in the app only)."


def _send_timeout() -> float:
    # Django's EMAIL_TIMEOUT defaults to none at all, which would let one stuck connection
    # outlive the lease; the outbox always bounds it.
    return float(getattr(settings, "EMAIL_TIMEOUT", None) or settings.WEBHOOK_TIMEOUT_SECONDS)


def _email_lease() -> datetime.timedelta:
    return outbox_lease(send_timeout=_send_timeout())


def recipient_language(user_id: int) -> str:
    """The language the recipient's emails are written in. Accounts keep no language of
    their own yet, so it is the site's (``LANGUAGE_CODE``)."""
    return str(settings.LANGUAGE_CODE)


@dataclass(frozen=True)
class _EmailClaim:
    event_id: int
    event_uuid: str
    to: str
    subject: str
    body: str


def _email_claim(event: OutboxEvent) -> _EmailClaim | None:
    """What to send, read at send time (the recipient's address now, not when notified). An
    email nobody can receive is settled here, delivered with a note: the notification is in
    the recipient's list all the same, and retrying would not change that."""
    note = event.notification
    if event.channel != OutboxChannel.EMAIL or note is None:
        return None  # not an email: left as it is
    recipient = note.recipient
    reason = ""
    if not recipient.is_active:
        reason = NOT_SENT_INACTIVE
    elif not recipient.email:
        reason = NOT_SENT_NO_ADDRESS
    if reason:
        event.status = OutboxStatus.DELIVERED
        event.delivered_at = timezone.now()
        event.last_error = reason
        event.save(update_fields=["status", "delivered_at", "last_error"])
        logger.info("outbox event %s settled without an email: %s", event.uuid, reason)
        return None
    with translation.override(recipient_language(recipient.pk)):
        text = notification_email(note)
    return _EmailClaim(
        event_id=event.pk,
        event_uuid=str(event.uuid),
        to=recipient.email,
        subject=text.subject,
        body=text.body,
    )


def _send(claim: _EmailClaim, backend: BaseEmailBackend) -> AttemptOutcome:
    """One attempt through Django's email backend. Every failure comes back as an outcome,
    never as an exception."""
    started = time.monotonic()

    def outcome(ok: bool, error: str, *, timed_out: bool = False) -> AttemptOutcome:
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(
            ok=ok,
            error=error[:ERROR_MAX_CHARS],
            duration_ms=duration_ms,
            timed_out=timed_out,
        )

    message = EmailMessage(
        subject=claim.subject,
        body=claim.body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[claim.to],
        connection=backend,
        # The same id on a re-send after a lost lease, so a mail system can drop the copy.
        headers={"Message-ID": f"<notification-{claim.event_uuid}@{DNS_NAME}>"},
    )
    try:
        sent = message.send()
    except TimeoutError as exc:  # socket.timeout: the mail server stopped answering
        return outcome(False, error_summary(exc), timed_out=True)
    except Exception as exc:  # any failure to send is a failed attempt; the task goes on
        return outcome(False, error_summary(exc))
    if not sent:
        return outcome(False, "The email backend accepted nothing.")
    return outcome(True, "")


def _deliver(event_id: int, backend: BaseEmailBackend) -> tuple[OutboxEvent, AttemptOutcome | None]:
    event, claim = outbox_claim(
        event_id,
        lease=_email_lease(),
        prepare=_email_claim,
        related=("notification__recipient",),
    )
    if claim is None:
        return event, None
    outcome = _send(claim.message, backend)
    return outbox_record_attempt(attempt_id=claim.attempt_id, outcome=outcome), outcome


def _backend() -> BaseEmailBackend:
    return get_connection(timeout=_send_timeout())


def email_deliver(*, event_id: int) -> OutboxEvent:
    """Send one notification email if it is pending and due; anything else is left as it is.
    Not atomic on purpose: the send runs between two short transactions, under a lease, so
    a redelivered task or a racing dispatcher finds the email claimed or sent, never sends
    it again."""
    event, _outcome = _deliver(event_id, _backend())
    return event


def email_dispatch_due(*, limit: int = 500) -> int:
    """Send every pending notification email that is due, oldest first, up to ``limit``;
    return how many were attempted. Beat runs this every minute: retries, and emails whose
    queueing failed because the broker was down."""
    due_ids = outbox_due_ids(channel=OutboxChannel.EMAIL, limit=limit)
    if not due_ids:
        return 0
    backend = _backend()
    attempted = failures = 0
    # One connection for the run when the server takes it; otherwise each send opens its own
    # and fails on its own, with back-off.
    with contextlib.suppress(Exception):
        backend.open()
    try:
        for event_id in due_ids:
            try:
                _event, outcome = _deliver(event_id, backend)
            except OutboxEvent.DoesNotExist:  # deleted with its notification since the query
                continue
            if outcome is None:
                continue
            attempted += 1
            if outcome.ok:
                failures = 0
                continue
            failures += 1
            if failures >= _STOP_AFTER_FAILURES:
                logger.warning("email dispatch stopped after %s failures in a row", failures)
                break
            with contextlib.suppress(Exception):
                backend.close()  # a broken connection must not fail the next email too
    finally:
        with contextlib.suppress(Exception):
            backend.close()
    return attempted
