"""Partner API keys from the command line: a programme manager issues a key for a partner NGO,
lists keys (never their secrets) and revokes them."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from cases.models import AccessKey, AccessKeyKind, PartnerOrganisation
from cases.services.keys import DEFAULT_PARTNER_KEY_DAYS, access_key_revoke, partner_key_issue

STORE_WARNING = (
    "Store this key now, in the partner's secret store: it is shown only this once and cannot "
    "be recovered. Hand it over through a secure channel; if it is lost, revoke it and issue "
    "a new one."
)


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


def _partner(value: str) -> PartnerOrganisation:
    """The partner named by ``value``: its uuid, or its exact name if that is unambiguous."""
    value = value.strip()
    partners = PartnerOrganisation.objects.select_related("programme")
    as_uuid = _as_uuid(value)
    if as_uuid is not None:
        found = partners.filter(uuid=as_uuid).first()
        if found is None:
            raise CommandError(f"No partner organisation has the uuid {value}.")
        return found
    matches = list(partners.filter(name=value))
    if not matches:
        raise CommandError(
            f"No partner organisation is named {value!r}: give its exact name, or its uuid "
            "(both are in the admin under Partner organisations)."
        )
    if len(matches) > 1:
        choices = "; ".join(f"{p.uuid} ({p.programme.name})" for p in matches)
        raise CommandError(
            f"{len(matches)} partner organisations are named {value!r}; give the uuid of one: "
            f"{choices}."
        )
    return matches[0]


def _partner_key(value: str) -> AccessKey:
    value = value.strip()
    keys = AccessKey.objects.filter(kind=AccessKeyKind.PARTNER).select_related("partner")
    as_uuid = _as_uuid(value)
    found = keys.filter(uuid=as_uuid).first() if as_uuid else keys.filter(lookup=value).first()
    if found is None:
        raise CommandError(f"No partner API key has the uuid or lookup {value!r}.")
    return found


def _when(value: datetime.datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _validation_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in error.message_dict.items())
    return " ".join(error.messages)


class Command(BaseCommand):
    help = (
        "Partner API keys. 'issue' prints a new key once; 'list' shows keys without their "
        "secrets; 'revoke' stops a key at once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", metavar="{issue,revoke,list}")
        actions.required = True

        issue = actions.add_parser("issue", help="Issue a key for a partner and print it once.")
        issue.add_argument("--partner", required=True, help="The partner's uuid or its exact name.")
        issue.add_argument(
            "--name", required=True, help="A label saying where the key will be used."
        )
        issue.add_argument(
            "--expires-days",
            type=int,
            default=DEFAULT_PARTNER_KEY_DAYS,
            help=f"Days until the key expires (default {DEFAULT_PARTNER_KEY_DAYS}).",
        )

        revoke = actions.add_parser("revoke", help="Revoke a partner key at once.")
        revoke.add_argument("key", help="The key's uuid or its lookup (as `list` shows it).")

        listing = actions.add_parser("list", help="List partner keys, never their secrets.")
        listing.add_argument("--partner", help="Only this partner's keys (uuid or exact name).")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "issue":
            self._issue(options["partner"], options["name"], options["expires_days"])
        elif action == "revoke":
            self._revoke(options["key"])
        else:
            self._list(options.get("partner"))

    def _issue(self, partner_ref: str, name: str, expires_days: int) -> None:
        if expires_days < 1:
            raise CommandError("--expires-days must be at least 1.")
        partner = _partner(partner_ref)
        expires_at = timezone.now() + datetime.timedelta(days=expires_days)
        try:
            with transaction.atomic():
                issued = partner_key_issue(
                    actor=None, partner=partner, name=name, expires_at=expires_at
                )
        except ValidationError as error:
            raise CommandError(f"No key issued: {_validation_message(error)}") from None
        key = issued.key
        # The key alone on stdout, so `KEY=$(manage.py partner_key issue ...)` captures it;
        # everything for the person running the command goes to stderr.
        self.stderr.write(
            f"Issued partner API key {key.lookup} ({key.name}) for {partner.name} "
            f"[{partner.uuid}], expires {_when(key.expires_at)} UTC."
        )
        self.stdout.write(issued.plaintext)
        self.stderr.write(self.style.WARNING(STORE_WARNING))

    def _revoke(self, key_ref: str) -> None:
        key = _partner_key(key_ref)
        if key.revoked_at is not None:
            self.stdout.write(
                f"Partner key {key.lookup} ({key.name}) was already revoked on "
                f"{_when(key.revoked_at)} UTC."
            )
            return
        with transaction.atomic():
            key = access_key_revoke(actor=None, key=key)
        assert key.partner is not None
        self.stdout.write(
            self.style.SUCCESS(
                f"Revoked partner key {key.lookup} ({key.name}) of {key.partner.name}; "
                "it is refused from now on."
            )
        )

    def _list(self, partner_ref: str | None) -> None:
        keys: QuerySet[AccessKey] = (
            AccessKey.objects.filter(kind=AccessKeyKind.PARTNER)
            .select_related("partner")
            .order_by("partner__name", "created_at", "id")
        )
        if partner_ref:
            keys = keys.filter(partner=_partner(partner_ref))
        header = ("lookup", "partner", "name", "created", "expires", "revoked", "last used")
        rows = [
            (
                key.lookup,
                key.partner.name if key.partner else "-",
                key.name,
                _when(key.created_at),
                _when(key.expires_at),
                _when(key.revoked_at),
                _when(key.last_used_at),
            )
            for key in keys
        ]
        if not rows:
            self.stdout.write("No partner keys.")
            return
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
        for row in [header, *rows]:
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write("  ".join(cells).rstrip())
        self.stdout.write("Times are UTC.")
