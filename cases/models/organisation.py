"""Who runs the programme: programmes, sites, teams, staff memberships and partner NGOs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .base import PublicIdModel
from .querysets import MembershipQuerySet


class Role(models.TextChoices):
    CASEWORKER = "caseworker", _("Caseworker")
    SUPERVISOR = "supervisor", _("Supervisor")
    PROGRAMME_MANAGER = "programme_manager", _("Programme manager")
    AUDITOR = "auditor", _("Auditor")


TEAM_ROLES = (Role.CASEWORKER, Role.SUPERVISOR)
PROGRAMME_ROLES = (Role.PROGRAMME_MANAGER, Role.AUDITOR)


class Programme(PublicIdModel):
    name = models.CharField(max_length=200, unique=True)
    country = models.CharField(max_length=100)
    region = models.CharField(max_length=100, blank=True)
    allow_self_approval = models.BooleanField(
        default=False,
        help_text=_("Whether a supervisor may approve a request they made themselves."),
    )
    contact_grace_days = models.PositiveSmallIntegerField(
        default=3,
        help_text=_("Days after its planned date before a contact not recorded is missed."),
    )
    escalate_after_days = models.PositiveSmallIntegerField(
        default=7,
        help_text=_("Days a missed contact stays unresolved before the supervisor is told."),
    )
    plan_ahead_days = models.PositiveSmallIntegerField(
        default=90, help_text=_("How far ahead monitoring contacts are planned.")
    )
    retention_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=5 * 365,
        help_text=_(
            "Days after closing before a case's identity is erased (statistics are kept). "
            "Empty: never."
        ),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(PublicIdModel):
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="sites")
    name = models.CharField(max_length=200)
    governorate = models.CharField(max_length=100)
    district = models.CharField(max_length=100)

    class Meta:
        ordering = ["programme", "name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="site_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.district})"


class Team(PublicIdModel):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["site", "name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="team_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def programme_id(self) -> int:
        return self.site.programme_id


class Membership(models.Model):
    """A role for a user: caseworkers and supervisors in a team, managers and auditors in a
    programme."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=32, choices=Role.choices)
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
    )
    programme = models.ForeignKey(
        Programme,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="memberships",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(
                    Q(
                        role__in=[r.value for r in TEAM_ROLES],
                        team__isnull=False,
                        programme=None,
                    )
                    | Q(
                        role__in=[r.value for r in PROGRAMME_ROLES],
                        programme__isnull=False,
                        team=None,
                    )
                ),
                name="membership_scope_matches_role",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "team"],
                condition=Q(team__isnull=False),
                name="membership_unique_team_role",
            ),
            models.UniqueConstraint(
                fields=["user", "role", "programme"],
                condition=Q(programme__isnull=False),
                name="membership_unique_programme_role",
            ),
        ]
        indexes = [models.Index(fields=["user", "role"])]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} — {self.team or self.programme}"


class PartnerOrganisation(PublicIdModel):
    programme = models.ForeignKey(Programme, on_delete=models.PROTECT, related_name="partners")
    name = models.CharField(max_length=200)
    contact_email = models.EmailField(blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "name"], name="partner_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name
