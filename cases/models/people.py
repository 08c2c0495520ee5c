"""The people a programme serves: identity (encrypted), non-identifying profile, and consent."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cases.fields import EncryptedDateField, EncryptedTextField

from .base import PublicIdModel, VersionedModel
from .querysets import ConsentRecordQuerySet, ReturneeQuerySet

# Crockford's base32 without look-alike letters: readable over a phone line.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def random_reference(prefix: str, length: int = 10) -> str:
    """A random reference: never derived from identity, never sequential. 50 random bits: a
    collision among a million cases has odds of about 1 in 2,000, and writers retry on one."""
    return random_references(prefix, 1, length)[0]


def random_references(prefix: str, count: int, length: int = 10) -> list[str]:
    """``count`` random references from one draw of random bytes (bulk imports). Each byte
    picks one of the 32 letters with its low five bits, so every letter is equally likely."""
    data = secrets.token_bytes(count * length)
    letters = "".join(_REFERENCE_ALPHABET[byte & 31] for byte in data)
    half = length // 2
    return [
        f"{prefix}-{letters[start : start + half]}-{letters[start + half : start + length]}"
        for start in range(0, count * length, length)
    ]


def new_person_number() -> str:
    return random_reference("P")


class Sex(models.TextChoices):
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")
    UNKNOWN = "unknown", _("Not recorded")


class Profession(models.TextChoices):
    NONE = "none", _("None / unskilled")
    EXPLOSIVES = "explosives", _("Explosives")
    CHEMISTRY = "chemistry", _("Chemistry")
    ENGINEERING = "engineering", _("Engineering")
    SCIENCE = "science", _("Science")
    MEDICINE = "medicine", _("Medicine")
    IT = "it", _("Information technology")
    MILITARY = "military", _("Military skills")
    TEACHING = "teaching", _("Teaching")
    TRADE = "trade", _("Trade / craft")
    AGRICULTURE = "agriculture", _("Agriculture")
    OTHER = "other", _("Other")


# Professions the group is documented to prize (DESIGN.md §1, "Targeting").
PRIZED_PROFESSIONS = frozenset(
    {
        Profession.EXPLOSIVES,
        Profession.CHEMISTRY,
        Profession.ENGINEERING,
        Profession.SCIENCE,
        Profession.MEDICINE,
        Profession.IT,
        Profession.MILITARY,
    }
)


class FormerRole(models.TextChoices):
    NONE = "none", _("None")
    POLICE = "police", _("Police")
    MILITARY = "military", _("Military")
    OFFICIAL = "official", _("Government official")
    TRIBAL_LEADER = "tribal_leader", _("Tribal leader")
    BUSINESS_LEADER = "business_leader", _("Business leader")


class ReturnPathway(models.TextChoices):
    CAMP_REPATRIATION = "camp_repatriation", _("Camp repatriation")
    DETENTION_RELEASE = "detention_release", _("Release from detention")
    SURRENDER = "surrender", _("Surrender / defection")
    SELF_RETURN = "self_return", _("Self-return")


class Affiliation(models.TextChoices):
    FAMILY_MEMBER = "family_member", _("Family member")
    SUPPORTER = "supporter", _("Supporter")
    MEMBER = "member", _("Member")
    FIGHTER = "fighter", _("Fighter")
    UNKNOWN = "unknown", _("Unknown")


IDENTITY_FIELDS = (
    "given_name",
    "family_name",
    "aliases",
    "date_of_birth",
    "national_id",
    "phone",
    "address",
)


class Returnee(PublicIdModel, VersionedModel):
    """A person. Identity fields are encrypted; everything else is pseudonymous profile data."""

    person_number = models.CharField(max_length=16, unique=True, default=new_person_number)

    # Identity: encrypted at rest, read only through audited services.
    given_name = EncryptedTextField(blank=True)
    family_name = EncryptedTextField(blank=True)
    aliases = EncryptedTextField(blank=True)
    date_of_birth = EncryptedDateField(blank=True, null=True)
    national_id = EncryptedTextField(blank=True)
    phone = EncryptedTextField(blank=True)
    address = EncryptedTextField(blank=True)
    national_id_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)

    # Non-identifying profile.
    sex = models.CharField(max_length=16, choices=Sex.choices, default=Sex.UNKNOWN)
    year_of_birth = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900), MaxValueValidator(2100)]
    )
    nationality = models.CharField(max_length=64, blank=True)
    origin_district = models.CharField(max_length=100, blank=True)
    current_district = models.CharField(max_length=100, blank=True, db_index=True)
    household_size = models.PositiveSmallIntegerField(null=True, blank=True)
    profession = models.CharField(max_length=32, choices=Profession.choices, default="none")
    skills = models.CharField(max_length=300, blank=True)
    former_role = models.CharField(max_length=32, choices=FormerRole.choices, default="none")
    detention_history = models.BooleanField(default=False)
    return_pathway = models.CharField(max_length=32, choices=ReturnPathway.choices)
    affiliation = models.CharField(
        max_length=32, choices=Affiliation.choices, default=Affiliation.UNKNOWN
    )

    anonymised_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ReturneeQuerySet.as_manager()

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(year_of_birth__isnull=True)
                | Q(year_of_birth__gte=1900, year_of_birth__lte=2100),
                name="returnee_year_of_birth_range",
            ),
        ]

    def __str__(self) -> str:
        return self.person_number


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("Consent")
    VITAL_INTEREST = "vital_interest", _("Vital interest")
    PUBLIC_INTEREST = "public_interest", _("Public interest")
    LEGAL_OBLIGATION = "legal_obligation", _("Legal obligation")


class ConsentScope(models.TextChoices):
    PROGRAMME_RECORDS = "programme_records", _("Keeping programme records")
    SHARE_WITH_PARTNERS = (
        "share_with_partners",
        _("Sharing case data with partner NGOs"),
    )
    SHARE_IDENTITY_WITH_PARTNERS = (
        "share_identity_with_partners",
        _("Sharing identity with partner NGOs"),
    )
    SHARE_WITH_AUTHORITIES = "share_with_authorities", _("Sharing with authorities")
    STATISTICS = "statistics", _("Anonymous statistics")


class ConsentRecord(PublicIdModel):
    """What a person agreed to, on what legal basis. Services never depend on sharing consent:
    withdrawing it stops sharing, not support."""

    returnee = models.ForeignKey(Returnee, on_delete=models.CASCADE, related_name="consents")
    legal_basis = models.CharField(max_length=32, choices=LegalBasis.choices)
    scope = models.JSONField(default=list, help_text=_("List of ConsentScope values."))
    given_at = models.DateTimeField()
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    notes = models.TextField(blank=True)

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-given_at"]

    def __str__(self) -> str:
        return f"{self.returnee} — {self.get_legal_basis_display()}"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None
