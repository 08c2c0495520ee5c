"""Load a synthetic demo programme (``cases.demo``): sites, teams, one user per role, and
returnees in every stage. Idempotent: running it again tops the demo programme up to
``--cases`` and changes nothing else."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cases import demo


class Command(BaseCommand):
    help = "Create (or top up) the demo programme with synthetic returnees in every stage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=300, help="Total demo cases wanted.")
        parser.add_argument("--chunk", type=int, default=2000, help="Cases per transaction.")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--teams",
            type=int,
            default=len(demo.DEMO_TEAM_NAMES),
            help="Teams in the programme: the four demo teams, then more over more sites.",
        )
        parser.add_argument(
            "--staff",
            type=int,
            default=None,
            help=(
                "Caseworkers and supervisors in all (the six named demo ones included); every "
                "team gets a supervisor and caseworkers. Default: the named ones, plus one "
                "supervisor and one caseworker for each team beyond the demo four."
            ),
        )
        parser.add_argument(
            "--records",
            type=int,
            default=None,
            help=(
                "Stage records and monitoring contacts wanted for the new cases in all "
                "(roughly): more contacts per monitoring case and more support payments. "
                "Default: each case's basic history only (about 12 a case)."
            ),
        )
        parser.add_argument(
            "--jobs",
            type=int,
            default=None,
            help=(
                "Processes that generate and write cases side by side (PostgreSQL only). "
                "Default: one per CPU, at most 2, for loads of several chunks."
            ),
        )
        parser.add_argument(
            "--skew",
            action="store_true",
            help="Uneven team sizes and caseloads (Zipf): a few caseworkers carry large ones.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            seeded = demo.seed(
                cases=options["cases"],
                chunk=options["chunk"],
                random_seed=options["seed"],
                teams=options["teams"],
                staff=options["staff"],
                records=options["records"],
                jobs=options["jobs"],
                skew=options["skew"],
                progress=self.stdout.write,
            )
        except demo.SeedError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(seeded.summary()))
        for line in seeded.logins():
            self.stdout.write(line)
