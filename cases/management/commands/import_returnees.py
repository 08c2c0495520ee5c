"""Import returnees, each with a case at intake, from a CSV file: all rows or none.

    manage.py import_returnees people.csv --team <team uuid> --as <username> [--dry-run]

The columns and formats are described in ``cases.services.imports``. Errors are printed one per
line as ``row N, column: message`` and the command exits with status 1, having written nothing.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import context
from cases.services.imports import (
    ImportInvalid,
    ImportTooLarge,
    import_team,
    max_bytes,
    returnees_import,
)


class Command(BaseCommand):
    help = "Import returnees with their cases from a CSV file, all rows or none."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV file, or - for standard input.")
        parser.add_argument("--team", required=True, help="The uuid of the team.")
        parser.add_argument(
            "--as",
            dest="username",
            required=True,
            help="The staff account the import is done (and audited) as.",
        )
        parser.add_argument("--dry-run", action="store_true", help="Check, write nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = (
            get_user_model().objects.filter(username=options["username"], is_active=True).first()
        )
        if actor is None:
            raise CommandError(f"No active account is named {options['username']!r}.")
        team = import_team(actor=actor, team_uuid=options["team"])
        if team is None:
            raise CommandError(
                f"{actor.get_username()} cannot open cases in a team with the uuid "
                f"{options['team']}."
            )
        data = self._read(options["file"])
        started = time.perf_counter()
        with context.bound(request_id=f"cli-{context.new_request_id()}"):
            try:
                result = returnees_import(
                    actor=actor, team=team, data=data, dry_run=options["dry_run"]
                )
            except ImportInvalid as exc:
                for error in exc.errors:
                    self.stderr.write(f"row {error.row}, {error.field}: {error.message}")
                raise CommandError(exc.message) from None
            except ImportTooLarge as exc:
                raise CommandError(exc.message) from None
        elapsed = time.perf_counter() - started
        if result.dry_run:
            self.stdout.write(
                self.style.SUCCESS(f"All {result.rows} rows are valid; nothing was written.")
            )
            return
        if options["verbosity"] >= 2:
            for number in result.case_numbers:
                self.stdout.write(number)
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {result.created} returnees into {team.name} "
                f"({elapsed:.1f} s, {result.created / max(elapsed, 1e-9):.0f} rows/s)."
            )
        )

    @staticmethod
    def _read(path: str) -> bytes:
        limit = max_bytes()
        try:
            if path == "-":
                data = sys.stdin.buffer.read(limit + 1)
            else:
                with open(path, "rb") as handle:
                    data = handle.read(limit + 1)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}.") from None
        if len(data) > limit:
            raise CommandError(f"The file is larger than {limit // (1024 * 1024)} MB; split it.")
        return data
