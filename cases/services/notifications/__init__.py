"""Notifications to staff: in-app rows (:mod:`.core`), each with an email through the outbox,
and the jobs that create them from the monitoring schedule (:mod:`.jobs`). What a notification
says is in :mod:`cases.services.notification_text`.
"""

from ..notification_text import EmailText, case_path, notification_email, notification_message
from .core import (
    NotificationSpec,
    notification_mark_all_read,
    notification_mark_read,
    notify_incident_recorded,
    notify_many,
)
from .jobs import JOB_BATCH, escalate_missed_contacts, notify_flagged_cases, notify_missed_contacts

__all__ = [
    "JOB_BATCH",
    "EmailText",
    "NotificationSpec",
    "case_path",
    "escalate_missed_contacts",
    "notification_email",
    "notification_mark_all_read",
    "notification_mark_read",
    "notification_message",
    "notify_flagged_cases",
    "notify_incident_recorded",
    "notify_many",
    "notify_missed_contacts",
]
