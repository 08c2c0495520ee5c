"""What a notification says, in the active language: the one sentence shown in the app, and the
email that carries it. Either names the case by its pseudonymous number and links to its file;
neither carries a name or any other identity value.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext, ngettext

from cases.models import Notification, NotificationKind


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
