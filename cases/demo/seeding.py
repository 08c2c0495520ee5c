"""Load the demo programme: check the sizes asked for, build the organisation, load the cases,
audit the load, and say what was made and how to log in."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction

from cases.demo.loading import Load, SeedError, jobs_for, load_cases, load_cases_in_processes
from cases.demo.logins import (
    DEMO_TEAM_STAFF,
    DEMO_TOTP_SECRET_BASE32,
    DEMO_USERS,
    GENERATED_CASEWORKER,
    GENERATED_SUPERVISOR,
)
from cases.demo.organisation import (
    DEMO_TEAM_NAMES,
    PROGRAMME_NAME,
    organisation,
    team_staff,
    team_weights,
)
from cases.demo.reference import RISK_LEVELS
from cases.models import AuditAction, Case, Returnee
from cases.services.audit import audit_record
from cases.services.monitoring import cadence_for


@dataclass(frozen=True)
class Seeded:
    """What a load made: cases before it and new, records, time taken, processes used and
    generated staff."""

    existing: int
    created: int
    records: int
    seconds: float
    jobs: int
    generated_staff: int

    def summary(self) -> str:
        return (
            f"Demo programme ready: {self.existing + self.created} cases "
            f"({self.created} new with {self.records} records, {self.seconds:.1f} s"
            + (f", {self.jobs} loading processes)." if self.jobs > 1 else ").")
        )

    def logins(self) -> list[str]:
        """The demo logins, their password and how to get their second factor."""
        lines = ["Demo logins (demo only), password: " + settings.DEMO_PASSWORD]
        for username, (role, team_names) in DEMO_USERS.items():
            where = ", ".join(team_names) or PROGRAMME_NAME
            lines.append(f"  {username:<18} {role.label} — {where}")
        if self.generated_staff:
            lines.append(
                f"  and {self.generated_staff} generated staff "
                f"({GENERATED_CASEWORKER.format(1)}..., "
                f"{GENERATED_SUPERVISOR.format(1)}...), same password"
            )
        lines.append(
            "Second factor (demo only): every demo login has an authenticator app with the "
            f"published key {DEMO_TOTP_SECRET_BASE32}.\n"
            "  Add that key to an authenticator app, or get the current 6-digit code with:\n"
            "    python manage.py totp_code caseworker_a"
        )
        return lines


def seed(
    *,
    cases: int = 300,
    chunk: int = 2000,
    random_seed: int = 2026,
    teams: int = len(DEMO_TEAM_NAMES),
    staff: int | None = None,
    records: int | None = None,
    jobs: int | None = None,
    skew: bool = False,
    progress: Callable[[str], object] = lambda line: None,
) -> Seeded:
    """Create (or top up to ``cases``) the demo programme; raises SeedError for sizes that
    cannot be met and in production. ``progress`` hears how a load of several chunks goes."""
    if settings.PRODUCTION:
        raise SeedError("Demo data is never loaded in production.")
    demo_teams = len(DEMO_TEAM_NAMES)
    if teams < demo_teams:
        raise SeedError(f"--teams must be at least {demo_teams} (the demo teams).")
    extra_teams = teams - demo_teams
    if staff is None:
        staff = DEMO_TEAM_STAFF + 2 * extra_teams
    if staff < DEMO_TEAM_STAFF + 2 * extra_teams:
        raise SeedError(
            f"--staff must be at least {DEMO_TEAM_STAFF + 2 * extra_teams}: the "
            f"{DEMO_TEAM_STAFF} named demo staff plus a supervisor and a caseworker for each "
            "team beyond the demo ones."
        )
    if records is not None and records < 0:
        raise SeedError("--records cannot be negative.")
    started = time.monotonic()
    programme, all_teams, users = organisation(teams, staff, random_seed, skew=skew)
    existing = Case.objects.filter(programme=programme).count()
    wanted = max(cases - existing, 0)
    rng = random.Random(random_seed + existing)  # noqa: S311 - invented data, repeatable
    references: set[str] = set()
    if wanted:
        references.update(Case.objects.values_list("case_number", flat=True))
        references.update(Returnee.objects.values_list("person_number", flat=True))
    interval_days = {level: cadence_for(programme, level).interval_days for level in RISK_LEVELS}
    staffing = team_staff(all_teams, users, skew=skew)
    plan = Load(
        programme=programme,
        team_staff=staffing,
        team_weights=team_weights(staffing) if skew else None,
        users=users,
        chunk=chunk,
        per_case=records / wanted if records and wanted else None,
        started=started,
        interval_days=interval_days,
        references=references,
        progress=progress,
    )
    processes = jobs_for(jobs, wanted, chunk)
    if processes == 1:
        created, made = load_cases(plan, rng, wanted, job=0, jobs=1)
    else:
        created, made = load_cases_in_processes(plan, random_seed + existing, wanted, processes)
    if created and connection.vendor == "postgresql":
        # A bulk load leaves the planner without statistics until autovacuum gets to the
        # tables: without them it chose whole-table scans that made a team's competition
        # summary and the export several times slower.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    with transaction.atomic():
        audit_record(
            actor=None,
            action=AuditAction.DEMO_SEED,
            object_type="programme",
            object_id=str(programme.uuid),
            detail={
                "cases_created": created,
                "cases_total": existing + created,
                "records_created": made,
            },
        )
    return Seeded(
        existing=existing,
        created=created,
        records=made,
        seconds=time.monotonic() - started,
        jobs=processes,
        generated_staff=staff - DEMO_TEAM_STAFF,
    )
