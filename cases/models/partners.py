"""Referrals to partner NGOs, the keys that let partners and staff scripts in, and the
transactional outbox that carries webhook events to partners."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.fields import EncryptedTextField

from .base import CaseRecord, PublicIdModel, VersionedModel
from .cases import Case
from .organisation import PartnerOrganisation


class AccessKeyKind(models.TextChoices):
    STAFF = "staff", _("Staff personal token")
    PARTNER = "partner", _("Partner API key")


class AccessKey(PublicIdModel):
    """A bearer credential. Only a hash of the secret is stored; the whole key is shown once,
    when issued. A staff token acts as its user; a partner key as its partner, nothing more."""

    kind = models.CharField(max_length=16, choices=AccessKeyKind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="access_keys",
    )
    partner = models.ForeignKey(
        PartnerOrganisation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="access_keys",
    )
    name = models.CharField(max_length=100)
    lookup = models.CharField(max_length=16, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="staff", user__isnull=False, partner=None)
                | Q(kind="partner", partner__isnull=False, user=None),
                name="accesskey_owner_matches_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.lookup} ({self.name})"


class ReferralService(models.TextChoices):
    VOCATIONAL_TRAINING = "vocational_training", _("Vocational training")
    PSYCHOSOCIAL = "psychosocial_support", _("Psychosocial support")
    LEGAL_AID = "legal_aid", _("Legal aid")
    DOCUMENTATION = "documentation", _("Documentation")
    LIVELIHOOD = "livelihood", _("Livelihood")
    HEALTH = "health", _("Health")


class ReferralStatus(models.TextChoices):
    OFFERED = "offered", _("Offered to the partner")
    ACCEPTED = "accepted", _("Accepted")
    DECLINED = "declined", _("Declined")
    CLOSED = "closed", _("Closed by the partner")
    WITHDRAWN = "withdrawn", _("Withdrawn by the programme")


class SharedField(models.TextChoices):
    """What a referral may show a partner. Identity fields need the person's consent to share
    identity with partners; the rest need consent to share with partners."""

    SEX = "sex", _("Sex")
    YEAR_OF_BIRTH = "year_of_birth", _("Year of birth")
    CURRENT_DISTRICT = "current_district", _("Current district")
    HOUSEHOLD_SIZE = "household_size", _("Household size")
    PROFESSION = "profession", _("Profession")
    SKILLS = "skills", _("Skills")
    NEEDS = "needs", _("Needs from screening")
    GIVEN_NAME = "given_name", _("Given name")
    FAMILY_NAME = "family_name", _("Family name")
    PHONE = "phone", _("Phone")


IDENTITY_SHARED_FIELDS = frozenset(
    {SharedField.GIVEN_NAME, SharedField.FAMILY_NAME, SharedField.PHONE}
)


class Referral(CaseRecord, VersionedModel):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="referrals")
    partner = models.ForeignKey(
        PartnerOrganisation, on_delete=models.PROTECT, related_name="referrals"
    )
    service = models.CharField(max_length=32, choices=ReferralService.choices)
    shared_fields = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True, help_text=_("What the partner needs to know."))
    status = models.CharField(
        max_length=16, choices=ReferralStatus.choices, default=ReferralStatus.OFFERED
    )
    decline_reason = models.TextField(blank=True)
    outcome = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    responded_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["partner", "status"])]

    def __str__(self) -> str:
        return f"{self.case_id} → {self.partner}"


class WebhookEndpoint(PublicIdModel):
    partner = models.ForeignKey(
        PartnerOrganisation, on_delete=models.CASCADE, related_name="webhooks"
    )
    url = models.URLField(max_length=500)
    secret = EncryptedTextField(help_text=_("Signs deliveries (HMAC-SHA256)."))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["partner", "url"], name="webhook_unique_url"),
        ]

    def __str__(self) -> str:
        return self.url


class OutboxStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    DEAD = "dead", _("Dead-lettered")


class OutboxChannel(models.TextChoices):
    WEBHOOK = "webhook", _("Partner webhook")
    EMAIL = "email", _("Email to staff")


class OutboxEvent(PublicIdModel):
    """One message to send, written in the transaction of the change it reports, delivered
    (and retried) afterwards: a webhook call to one partner endpoint, or an email to one
    member of staff about one notification. ``uuid`` is the idempotency key."""

    channel = models.CharField(
        max_length=16, choices=OutboxChannel.choices, default=OutboxChannel.WEBHOOK
    )
    topic = models.CharField(max_length=64)
    partner = models.ForeignKey(
        PartnerOrganisation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="outbox_events",
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    notification = models.ForeignKey(
        "cases.Notification",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="emails",
    )
    payload = models.JSONField()
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status="pending"),
                name="outbox_pending_due",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(channel="webhook", endpoint__isnull=False, partner__isnull=False)
                    | Q(channel="email", notification__isnull=False)
                ),
                name="outbox_channel_target",
            ),
            # One email per notification, however many jobs try to send it.
            models.UniqueConstraint(
                fields=["notification"],
                condition=Q(channel="email"),
                name="outbox_one_email_per_notification",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.topic} {self.uuid}"


class DeliveryOutcome(models.TextChoices):
    STARTED = "started", _("Started, no outcome yet")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")
    TIMEOUT = "timeout", _("Timed out")
    ABANDONED = "abandoned", _("Abandoned: lease expired, worker gone")


class DeliveryAttempt(models.Model):
    """One attempt to deliver an outbox event (a webhook call or an email): the delivery log.

    The row is committed when the event is claimed, before anything is sent, so an attempt
    whose worker dies mid-send stays visible: ``started`` until another worker claims the
    event after the lease ran out, which marks it ``abandoned``. It keeps a status code and a
    short error, never a body or anything about the person; it lives and dies with its
    event."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    number = models.PositiveIntegerField(
        help_text=_("1 for the event's first attempt; every attempt counts, replays included.")
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(
        max_length=16, choices=DeliveryOutcome.choices, default=DeliveryOutcome.STARTED
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    worker = models.CharField(
        max_length=255, blank=True, help_text=_("The host and process that made the attempt.")
    )
    duration_ms = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["event_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["event", "number"], name="delivery_attempt_number"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} #{self.number}: {self.outcome}"
