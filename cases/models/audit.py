"""The append-only, hash-chained audit log: who did or saw what, when, and from where."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any, NoReturn

from django.conf import settings
from django.db import models


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit event."""


class AuditAction(models.TextChoices):
    """Every action the audit log can record: the log's vocabulary, in one place. Auditors
    filter and count by these values, and every stored event's hash covers its action, so a
    value is never renamed once it has been written (a few older forms, such as
    ``cases.export`` beside ``case.open``, stay for that reason); a new action is a new member.
    ``audit_record`` refuses an action that is not here."""

    # What staff and partners do with cases and their records.
    ACCESS_KEY_ISSUE = "access_key.issue"
    ACCESS_KEY_REVOKE = "access_key.revoke"
    APPROVAL_APPROVE = "approval.approve"
    APPROVAL_REJECT = "approval.reject"
    APPROVAL_REQUEST = "approval.request"
    BENCHMARK_CLOSE = "benchmark.close"
    BENCHMARK_CREATE = "benchmark.create"
    CASE_ASSIGN = "case.assign"
    CASE_IMPORT = "case.import"
    CASE_OPEN = "case.open"
    CASE_TRANSITION = "case.transition"
    CASE_FLAGS_THREAT_CONTEXT = "case_flags.threat_context"
    CASE_EXPORT = "cases.export"
    COMPETITION_SNAPSHOT = "competition.snapshot"
    CONSENT_CREATE = "consent.create"
    CONSENT_WITHDRAW = "consent.withdraw"
    CONTACT_CREATE = "contact.create"
    CONTACT_UPDATE = "contact.update"
    CONTACTS_MARK_MISSED = "contacts.mark_missed"
    CONTACTS_PLAN = "contacts.plan"
    CONTACTS_PLAN_AHEAD = "contacts.plan_ahead"
    CONTACTS_REPLAN = "contacts.replan"
    DEMO_SEED = "demo.seed"
    ENROLMENT_CREATE = "enrolment.create"
    ENROLMENT_UPDATE = "enrolment.update"
    IDENTITY_PARTNER_READ = "identity.partner_read"
    IDENTITY_REENCRYPT = "identity.reencrypt"
    IDENTITY_REVEAL = "identity.reveal"
    IDENTITY_SEARCH = "identity.search"
    INCIDENT_CREATE = "incident.create"
    INTAKE_UPDATE = "intake.update"
    LOGIN_FAILURE = "login.failure"
    LOGIN_LOCKOUT = "login.lockout"
    LOGIN_LOGOUT = "login.logout"
    LOGIN_SECOND_FACTOR_FAILURE = "login.second_factor_failure"
    LOGIN_SECOND_FACTOR_SUCCESS = "login.second_factor_success"
    LOGIN_SUCCESS = "login.success"
    NOTIFICATION_READ = "notification.read"
    NOTIFICATION_READ_ALL = "notification.read_all"
    NOTIFICATIONS_CONTACT_ESCALATED = "notifications.contact_escalated"
    NOTIFICATIONS_CONTACT_MISSED = "notifications.contact_missed"
    NOTIFICATIONS_THREAT_CONTEXT = "notifications.threat_context"
    OTP_BACKUP_CODES_REGENERATE = "otp.backup_codes_regenerate"
    OTP_DEVICE_ENROL = "otp.device_enrol"
    OUTBOX_REPLAY = "outbox.replay"
    PLAN_CREATE = "plan.create"
    REFERRAL_ACCEPT = "referral.accept"
    REFERRAL_CLOSE = "referral.close"
    REFERRAL_CREATE = "referral.create"
    REFERRAL_DECLINE = "referral.decline"
    REFERRAL_WITHDRAW = "referral.withdraw"
    REFERRAL_PROGRESS_ATTENDANCE = "referral.progress.attendance"
    REFERRAL_PROGRESS_COMPLETION = "referral.progress.completion"
    REFERRAL_PROGRESS_CERTIFICATE = "referral.progress.certificate"
    REFERRAL_PROGRESS_JOB_PLACEMENT = "referral.progress.job_placement"
    RETENTION_ANONYMISE = "retention.anonymise"
    RETURNEE_UPDATE = "returnee.update"
    SCREENING_CREATE = "screening.create"
    SCREENING_UPDATE = "screening.update"
    SUPPORT_CREATE = "support.create"
    SURVEY_RECORD = "survey.record"
    TARGET_PROFILE_CREATE = "target_profile.create"
    TARGET_PROFILE_DEACTIVATE = "target_profile.deactivate"
    TASK_DEAD_LETTER = "task.dead_letter"
    TASK_RETRY = "task.retry"
    THREAT_CONTEXT_CREATE = "threat_context.create"
    THREAT_CONTEXT_END = "threat_context.end"
    USER_PASSWORD_CHANGE = "user.password_change"  # noqa: S105 (an action name, no secret)
    USER_SESSIONS_END = "user.sessions_end"
    WEBHOOK_REGISTER = "webhook.register"
    WEBHOOK_REMOVE = "webhook.remove"
    WORKING_LIST_CREATE = "working_list.create"
    WORKING_LIST_DELETE = "working_list.delete"
    # Configuration changed in the admin: "<model>.create", ".update" or ".delete".
    BENCHMARK_UPDATE = "benchmark.update"
    BENCHMARK_DELETE = "benchmark.delete"
    GROUP_CREATE = "group.create"
    GROUP_UPDATE = "group.update"
    GROUP_DELETE = "group.delete"
    MEMBERSHIP_CREATE = "membership.create"
    MEMBERSHIP_UPDATE = "membership.update"
    MEMBERSHIP_DELETE = "membership.delete"
    MONITORINGCADENCE_CREATE = "monitoringcadence.create"
    MONITORINGCADENCE_UPDATE = "monitoringcadence.update"
    MONITORINGCADENCE_DELETE = "monitoringcadence.delete"
    PARTNERORGANISATION_CREATE = "partnerorganisation.create"
    PARTNERORGANISATION_UPDATE = "partnerorganisation.update"
    PARTNERORGANISATION_DELETE = "partnerorganisation.delete"
    PROGRAMME_CREATE = "programme.create"
    PROGRAMME_UPDATE = "programme.update"
    PROGRAMME_DELETE = "programme.delete"
    SITE_CREATE = "site.create"
    SITE_UPDATE = "site.update"
    SITE_DELETE = "site.delete"
    STATICDEVICE_CREATE = "staticdevice.create"
    STATICDEVICE_UPDATE = "staticdevice.update"
    STATICDEVICE_DELETE = "staticdevice.delete"
    SURVEYQUESTION_CREATE = "surveyquestion.create"
    SURVEYQUESTION_UPDATE = "surveyquestion.update"
    SURVEYQUESTION_DELETE = "surveyquestion.delete"
    TARGETPROFILE_CREATE = "targetprofile.create"
    TARGETPROFILE_UPDATE = "targetprofile.update"
    TARGETPROFILE_DELETE = "targetprofile.delete"
    TEAM_CREATE = "team.create"
    TEAM_UPDATE = "team.update"
    TEAM_DELETE = "team.delete"
    THREATCONTEXT_CREATE = "threatcontext.create"
    THREATCONTEXT_UPDATE = "threatcontext.update"
    THREATCONTEXT_DELETE = "threatcontext.delete"
    TOTPDEVICE_CREATE = "totpdevice.create"
    TOTPDEVICE_UPDATE = "totpdevice.update"
    TOTPDEVICE_DELETE = "totpdevice.delete"
    USER_CREATE = "user.create"
    USER_UPDATE = "user.update"
    USER_DELETE = "user.delete"


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be updated.")

    def delete(self) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """One audited action. Never holds identity values: only names of fields and pseudonymous
    object identifiers."""

    at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    actor_label = models.CharField(max_length=200, help_text="Who acted, kept if the user goes.")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    case_number = models.CharField(max_length=16, blank=True, db_index=True)
    fields = models.JSONField(default=list, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64, unique=True)
    # Which AUDIT_CHAIN_KEYS key chained this event (its fingerprint), so events chained before
    # a key rotation still verify with the old key. Empty: a legacy event, written before the
    # chain was keyed, hashed with plain SHA-256 (migration 0012).
    key_id = models.CharField(max_length=16, blank=True, default="")

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_label} {self.action} {self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("Audit events cannot be updated.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise AppendOnlyError("Audit events cannot be deleted.")

    def content(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor_id": self.actor_id,
            "actor_label": self.actor_label,
            "action": self.action,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "case_number": self.case_number,
            "fields": list(self.fields),
            "detail": self.detail,
            "request_id": self.request_id,
            "ip": self.ip,
        }

    def compute_hash(self, key: bytes | None) -> str:
        """The event's link in the chain: HMAC-SHA256 under ``key`` of the previous hash and
        the canonical content, so nobody without the key can recompute the chain after an
        edit. ``None`` computes the legacy, unkeyed SHA-256 of events written before the
        chain was keyed (``key_id`` empty)."""
        canonical = json.dumps(self.content(), sort_keys=True, separators=(",", ":"), default=str)
        message = (self.prev_hash + canonical).encode("utf-8")
        if key is None:
            return hashlib.sha256(message).hexdigest()
        return hmac.new(key, message, hashlib.sha256).hexdigest()
