"""Check the audit log's keyed hash chain against its signed checkpoints, then sign a new one."""

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases.services.audit import audit_checkpoint_write, audit_verify


class Command(BaseCommand):
    help = (
        "Verify the audit log's hash chain under its keys and against every signed checkpoint "
        "(AUDIT_CHECKPOINT_PATH and any --checkpoints copies); exits non-zero naming each "
        "problem: a broken or recomputed chain, a removed tail, a rewritten or forged "
        "checkpoint, events whose key is gone. A chain that verifies gets a new checkpoint."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--checkpoints",
            action="append",
            default=[],
            type=Path,
            metavar="FILE",
            help=(
                "Also compare with the checkpoints in FILE: a copy of the checkpoint file, or "
                "the 'audit-checkpoint' lines kept from the process log. Repeatable."
            ),
        )
        parser.add_argument(
            "--no-checkpoint",
            action="store_true",
            help="Only check: do not sign and record a new checkpoint afterwards.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = audit_verify(checkpoint_copies=options["checkpoints"])
        for note in report.notes:
            self.stderr.write(self.style.WARNING(note))
        if not report.ok:
            headlines = report.headlines()
            for headline in headlines[1:]:
                self.stderr.write(self.style.ERROR(headline))
            more = f" ({len(headlines) - 1} more problems above.)" if len(headlines) > 1 else ""
            raise CommandError(headlines[0] + more)
        anchored = ""
        if report.latest_checkpoint is not None:
            anchored = (
                f", matching {report.checkpoints} signed checkpoints "
                f"(the latest: {report.latest_checkpoint.describe()})"
            )
        self.stdout.write(
            self.style.SUCCESS(f"Audit chain intact: {report.checked} events{anchored}.")
        )
        if options["no_checkpoint"]:
            return
        outcome = audit_checkpoint_write(report=report)
        assert outcome.checkpoint is not None  # the report verified
        where = outcome.path or "the process log only (AUDIT_CHECKPOINT_PATH is not set)"
        self.stdout.write(
            f"Checkpoint signed with key {outcome.checkpoint.key_id}: "
            f"{outcome.checkpoint.count} events up to event {outcome.checkpoint.head_id}, "
            f"written to {where}."
        )
