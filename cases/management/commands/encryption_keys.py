"""Field-encryption key management: make a new key, re-encrypt everything with the newest."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases import crypto
from cases.services.identity import identity_reencrypt


class Command(BaseCommand):
    help = (
        "'generate' prints a new key to put first in FIELD_ENCRYPTION_KEYS; 'rotate' "
        "re-encrypts every encrypted value with the first key, after which older keys can go."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["generate", "rotate"])
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "generate":
            self.stdout.write(crypto.generate_key())
            return
        count = identity_reencrypt(actor=None, batch_size=options["batch_size"])
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {count} records."))
