"""Load a synthetic demo programme: sites, teams, one user per role, and returnees in every stage.

Idempotent: running it again tops the demo programme up to ``--cases`` and changes nothing else.
Rows are written with bulk inserts (identity fields encrypted on the way), so 100,000 cases load
in minutes, not hours. Every person here is invented.

The defaults make the small demo that ``make run`` serves: four teams, the eight named demo
users. The benchmark asks for a national programme instead (``--teams 50 --staff 500 --records
2000000 --skew``): more teams over more sites, generated caseworkers and supervisors, a target
for the number of stage records and monitoring contacts, and uneven team sizes and caseloads.
The named demo users stay exactly as they are in every case.
"""

from __future__ import annotations

import base64
import bisect
import datetime
import itertools
import math
import multiprocessing
import os
import queue
import random
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections, models, transaction
from django.utils import timezone
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases import crypto
from cases.bulkload import BulkLoader, Row
from cases.models import (
    Affiliation,
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Case,
    ClearanceStatus,
    ConsentRecord,
    ConsentScope,
    ContactMode,
    ContactOutcome,
    EnrolmentStatus,
    FormerRole,
    Incident,
    IncidentKind,
    IntakeRecord,
    LegalBasis,
    Membership,
    MonitoringContact,
    Need,
    Outcome,
    Pillar,
    Profession,
    Programme,
    ReferralSource,
    Returnee,
    ReturnPathway,
    RiskLevel,
    Role,
    ScreeningAssessment,
    ScreeningDecision,
    Severity,
    Sex,
    Site,
    Stage,
    StageTransition,
    SupportProvision,
    Team,
    TrainingEnrolment,
    UrgentNeed,
)
from cases.models.people import random_references
from cases.services.audit import audit_record
from cases.services.monitoring import cadence_for

PROGRAMME_NAME = "Demo reintegration programme"
SITES = {
    "Mosul": ("Ninewa", "Mosul", ["Mosul East", "Mosul West"]),
    "Tel Afar": ("Ninewa", "Tel Afar", ["Tel Afar"]),
    "Sinjar": ("Ninewa", "Sinjar", ["Sinjar"]),
}
# Where the teams beyond the four demo ones work (``--teams``): site -> (governorate, district).
MORE_SITES = {
    "Hamdaniya": ("Ninewa", "Hamdaniya"),
    "Baaj": ("Ninewa", "Baaj"),
    "Qayyarah": ("Ninewa", "Mosul"),
    "Hawija": ("Kirkuk", "Hawija"),
    "Kirkuk": ("Kirkuk", "Kirkuk"),
    "Tikrit": ("Salah al-Din", "Tikrit"),
    "Baiji": ("Salah al-Din", "Baiji"),
    "Samarra": ("Salah al-Din", "Samarra"),
    "Ramadi": ("Anbar", "Ramadi"),
    "Fallujah": ("Anbar", "Fallujah"),
    "Al-Qaim": ("Anbar", "Al-Qaim"),
    "Baqubah": ("Diyala", "Baqubah"),
    "Baghdad": ("Baghdad", "Baghdad"),
    "Erbil": ("Erbil", "Erbil"),
    "Dohuk": ("Dohuk", "Dohuk"),
    "Basra": ("Basra", "Basra"),
}
# The demo users' TOTP key: published here, so for development and demos only (seed_demo
# refuses production). Hex as django-otp stores it; base32 as authenticator apps take it.
DEMO_TOTP_KEY_HEX = b"reintegration-demo!!".hex()
DEMO_TOTP_SECRET_BASE32 = base64.b32encode(bytes.fromhex(DEMO_TOTP_KEY_HEX)).decode("ascii")
# username -> (role, team names or None for programme roles)
DEMO_USERS: dict[str, tuple[Role, list[str]]] = {
    "caseworker_a": (Role.CASEWORKER, ["Mosul East"]),
    "caseworker_b": (Role.CASEWORKER, ["Mosul West"]),
    "caseworker_c": (Role.CASEWORKER, ["Tel Afar"]),
    "caseworker_d": (Role.CASEWORKER, ["Sinjar"]),
    "supervisor_mosul": (Role.SUPERVISOR, ["Mosul East", "Mosul West"]),
    "supervisor_north": (Role.SUPERVISOR, ["Tel Afar", "Sinjar"]),
    "manager": (Role.PROGRAMME_MANAGER, []),
    "auditor": (Role.AUDITOR, []),
}
DEMO_TEAM_STAFF = sum(
    1 for role, _teams in DEMO_USERS.values() if role in (Role.CASEWORKER, Role.SUPERVISOR)
)
# Case and person numbers: what ``new_case_number`` and ``new_person_number`` make, drawn a
# chunk at a time.
CASE_PREFIX = "C"
PERSON_PREFIX = "P"
# Generated staff (``--staff``): ``caseworker_0001``..., ``supervisor_0001``...
GENERATED_CASEWORKER = "caseworker_{:04d}"
GENERATED_SUPERVISOR = "supervisor_{:04d}"
GIVEN_NAMES = [
    "Ahmed",
    "Omar",
    "Ali",
    "Hassan",
    "Yusuf",
    "Fatima",
    "Aisha",
    "Maryam",
    "Zainab",
]
GIVEN_NAMES += [
    "Khalid",
    "Ibrahim",
    "Mustafa",
    "Noor",
    "Huda",
    "Samir",
    "Layla",
    "Karim",
]
FAMILY_NAMES = [
    "al-Jubouri",
    "al-Obeidi",
    "al-Shammari",
    "al-Dulaimi",
    "al-Hamdani",
    "Kareem",
]
FAMILY_NAMES += ["al-Tai", "al-Azzawi", "Saleh", "Mahmoud", "al-Rawi", "al-Ani"]
DISTRICTS = ["Mosul", "Tel Afar", "Sinjar", "Hamdaniya", "Baaj", "Qayyarah", "Hawija"]
COURSES = [
    ("Carpentry", "Ninewa Vocational Centre"),
    ("Tailoring", "Al-Amal Women's Association"),
    ("Mobile phone repair", "Mosul Technical Institute"),
    ("Agriculture and irrigation", "Ninewa Agricultural Extension"),
    ("Small business management", "Partner NGO livelihoods unit"),
    ("Electrical installation", "Mosul Technical Institute"),
]
SUPPORT_KINDS = {
    Pillar.SECURITY: ["Protection plan agreed", "Relocation support"],
    Pillar.LIVELIHOOD: ["Monthly stipend", "Start-up grant", "Job placement"],
    Pillar.BASIC_SERVICES: ["Civil documentation", "Shelter kit", "Health referral"],
    Pillar.PSYCHOSOCIAL: ["Counselling session", "Religious dialogue session"],
    Pillar.COMMUNITY: ["Family mediation", "Tribal reconciliation meeting"],
}
# Choices' value lists, computed once (Django builds a new list on every ``.values``).
PROFESSIONS = Profession.values
FORMER_ROLES = FormerRole.values
RETURN_PATHWAYS = ReturnPathway.values
AFFILIATIONS = Affiliation.values
REFERRAL_SOURCES = ReferralSource.values
URGENT_NEEDS = UrgentNeed.values
OUTCOMES = Outcome.values
RISK_LEVELS = RiskLevel.values
CLEARANCES = ClearanceStatus.values
NEEDS = Need.values
PILLARS = Pillar.values
CONTACT_MODES = ContactMode.values
INCIDENT_KINDS = IncidentKind.values
SEVERITIES = Severity.values
PROFESSION_WEIGHTS = [30, 1, 1, 3, 1, 2, 2, 3, 4, 20, 20, 13]  # in Profession's order
CONTACT_OUTCOMES = [ContactOutcome.MET, ContactOutcome.MISSED, ContactOutcome.PLANNED]
# Contacts before today: met, missed, or still planned (the overdue-marking job's work).
PAST_CONTACT_WEIGHTS = [80, 12, 8]
PAST_CONTACT_CUMULATIVE = list(itertools.accumulate(PAST_CONTACT_WEIGHTS))
STAGE_WEIGHTS = [
    (Stage.INTAKE, 15),
    (Stage.SCREENING, 20),
    (Stage.TRAINING, 25),
    (Stage.MONITORING, 30),
    (Stage.CLOSED, 10),
]
PATH_TO = {
    Stage.INTAKE: [Stage.INTAKE],
    Stage.SCREENING: [Stage.INTAKE, Stage.SCREENING],
    Stage.TRAINING: [Stage.INTAKE, Stage.SCREENING, Stage.TRAINING],
    Stage.MONITORING: [Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING],
}
# Planned contacts reach this far ahead of today.
PLAN_AHEAD = datetime.timedelta(days=60)
# The version (4) and variant (RFC 4122) bits of a random UUID.
UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
UUID4_SET = (0x4000 << 64) | (0x8000 << 48)
# With ``--records``: the records beyond each case's basic history go three quarters to
# monitoring contacts, one quarter to support payments (monthly stipends).
EXTRA_CONTACT_SHARE = 0.75
# With ``--skew``: team sizes fall off as 1/rank**TEAM_SKEW and caseloads within a team as
# 1/rank**CASELOAD_SKEW (Zipf): a few large teams, a few caseworkers with large caseloads.
TEAM_SKEW = 0.5
CASELOAD_SKEW = 1.0
# Loading processes (``--jobs``): at most this many by default; each has its own random stream.
MAX_JOBS = 2
JOB_SEED_STRIDE = 1_000_003


@dataclass
class Batch:
    """Rows for one chunk of cases, as plain column dicts, written table by table."""

    rows: dict[type[models.Model], list[Row]] = field(default_factory=dict)

    def add(self, model: type[models.Model], **row: Any) -> Row:
        self.rows.setdefault(model, []).append(row)
        return row

    def records(self) -> int:
        """Stage records and monitoring contacts: every row but the people and cases."""
        return sum(len(rows) for model, rows in self.rows.items() if model not in PEOPLE_CASES)


# Parents before the rows that point at them.
WRITE_ORDER: list[type[models.Model]] = [
    Returnee,
    Case,
    IntakeRecord,
    ConsentRecord,
    ScreeningAssessment,
    Approval,
    StageTransition,
    TrainingEnrolment,
    SupportProvision,
    MonitoringContact,
    Incident,
]
PEOPLE_CASES = (Returnee, Case)


@dataclass
class TeamStaff:
    """Who works in a team, as user ids, and how cases are spread over them."""

    team: Team
    caseworkers: list[int]
    supervisor_id: int | None
    caseload_weights: list[float] | None = None  # cumulative, with --skew


@dataclass
class Load:
    """What every chunk of a load needs."""

    programme: Programme
    team_staff: list[TeamStaff]
    team_weights: list[float] | None
    users: dict[str, Any]
    chunk: int
    per_case: float | None
    started: float


@dataclass
class Deferred:
    """Contacts and payments left until the chunk's basic history is known, so that
    ``--records`` can size them (case row, first day, who recorded)."""

    contacts: list[tuple[Row, datetime.datetime, int]] = field(default_factory=list)
    payments: list[tuple[Row, datetime.date, int]] = field(default_factory=list)


class ChunkWriter:
    """Writes chunks of rows while the next chunk is being generated: on PostgreSQL, outside
    any transaction, a second thread with its own connection does the COPYs (the database
    works on one core while Python builds rows on the other). Elsewhere, or inside a
    transaction (tests), it writes in the caller's thread."""

    def __init__(self) -> None:
        self.threaded = connection.vendor == "postgresql" and not connection.in_atomic_block
        self.error: BaseException | None = None
        self._queue: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self._thread: threading.Thread | None = None
        if self.threaded:
            self._thread = threading.Thread(target=self._run, name="seed-writer", daemon=True)
            self._thread.start()

    @staticmethod
    def write(batch: Batch) -> None:
        loader = BulkLoader()
        with transaction.atomic():
            for model in WRITE_ORDER:
                loader.insert(model, batch.rows.get(model, []))

    def _run(self) -> None:
        try:
            while (batch := self._queue.get()) is not None:
                if self.error is None:
                    self.write(batch)
        except BaseException as exc:  # handed to the main thread
            self.error = exc
            while self._queue.get() is not None:  # drain, so put() never blocks
                pass
        finally:
            connection.close()

    def put(self, batch: Batch) -> None:
        if self.error is not None:
            raise self.error
        if self._thread is None:
            self.write(batch)
        else:
            self._queue.put(batch)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None
        if self.error is not None:
            raise self.error


def cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


def zipf_weights(count: int, exponent: float) -> list[float]:
    return [1 / (rank**exponent) for rank in range(1, count + 1)]


class Command(BaseCommand):
    help = "Create (or top up) the demo programme with synthetic returnees in every stage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=300, help="Total demo cases wanted.")
        parser.add_argument("--chunk", type=int, default=2000, help="Cases per transaction.")
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument(
            "--teams",
            type=int,
            default=len([t for _g, _d, names in SITES.values() for t in names]),
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
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded in production.")
        demo_teams = sum(len(names) for _g, _d, names in SITES.values())
        if options["teams"] < demo_teams:
            raise CommandError(f"--teams must be at least {demo_teams} (the demo teams).")
        extra_teams = options["teams"] - demo_teams
        staff = options["staff"]
        if staff is None:
            staff = DEMO_TEAM_STAFF + 2 * extra_teams
        if staff < DEMO_TEAM_STAFF + 2 * extra_teams:
            raise CommandError(
                f"--staff must be at least {DEMO_TEAM_STAFF + 2 * extra_teams}: the "
                f"{DEMO_TEAM_STAFF} named demo staff plus a supervisor and a caseworker for each "
                "team beyond the demo ones."
            )
        if options["records"] is not None and options["records"] < 0:
            raise CommandError("--records cannot be negative.")
        started = time.monotonic()
        self.skew = options["skew"]
        programme, teams, users = self._organisation(options["teams"], staff, options["seed"])
        existing = Case.objects.filter(programme=programme).count()
        wanted = max(options["cases"] - existing, 0)
        rng = random.Random(options["seed"] + existing)
        self._references: set[str] = set()
        self._uuid_bits = random.Random(uuid.uuid4().int).getrandbits
        if wanted:
            self._references.update(Case.objects.values_list("case_number", flat=True))
            self._references.update(Returnee.objects.values_list("person_number", flat=True))
        self.interval_days = {
            level: cadence_for(programme, level).interval_days for level in RISK_LEVELS
        }
        team_staff = self._team_staff(teams, users)
        team_weights = self._team_weights(team_staff) if self.skew else None
        per_case = options["records"] / wanted if options["records"] and wanted else None
        jobs = self._jobs(options["jobs"], wanted, options["chunk"])
        load = Load(
            programme=programme,
            team_staff=team_staff,
            team_weights=team_weights,
            users=users,
            chunk=options["chunk"],
            per_case=per_case,
            started=started,
        )
        if jobs == 1:
            created, records = self._load(load, rng, wanted, job=0, jobs=1)
        else:
            created, records = self._load_in_processes(
                load, options["seed"] + existing, wanted, jobs
            )
        if created and connection.vendor == "postgresql":
            # A bulk load leaves the planner without statistics until autovacuum gets to the
            # tables: without them it chose whole-table scans that made a team's competition
            # summary and the export several times slower.
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        with transaction.atomic():
            audit_record(
                actor=None,
                action="demo.seed",
                object_type="programme",
                object_id=str(programme.uuid),
                detail={
                    "cases_created": created,
                    "cases_total": existing + created,
                    "records_created": records,
                },
            )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo programme ready: {existing + created} cases "
                f"({created} new with {records} records, {elapsed:.1f} s"
                + (f", {jobs} loading processes)." if jobs > 1 else ").")
            )
        )
        self.stdout.write("Demo logins (demo only), password: " + settings.DEMO_PASSWORD)
        for username, (role, team_names) in DEMO_USERS.items():
            where = ", ".join(team_names) or PROGRAMME_NAME
            self.stdout.write(f"  {username:<18} {role.label} — {where}")
        generated = staff - DEMO_TEAM_STAFF
        if generated:
            self.stdout.write(
                f"  and {generated} generated staff ({GENERATED_CASEWORKER.format(1)}..., "
                f"{GENERATED_SUPERVISOR.format(1)}...), same password"
            )
        self.stdout.write(
            "Second factor (demo only): every demo login has an authenticator app with the "
            f"published key {DEMO_TOTP_SECRET_BASE32}.\n"
            "  Add that key to an authenticator app, or get the current 6-digit code with:\n"
            "    python manage.py totp_code caseworker_a"
        )

    # --- loading ---------------------------------------------------------------------------

    @staticmethod
    def _jobs(asked: int | None, wanted: int, chunk: int) -> int:
        """Processes to load with: several only on PostgreSQL outside a transaction (each has
        its own connection and commits its own chunks), and only for several chunks' worth."""
        if connection.vendor != "postgresql" or connection.in_atomic_block:
            return 1
        if asked is not None:
            return max(asked, 1)
        if wanted < 4 * chunk:
            return 1
        return max(min(os.cpu_count() or 1, MAX_JOBS), 1)

    def _load(
        self, load: Load, rng: random.Random, wanted: int, *, job: int, jobs: int
    ) -> tuple[int, int]:
        """Generate and write ``wanted`` cases, chunk by chunk; returns (cases, records). Job
        ``job`` of ``jobs`` draws only the case and person numbers that are its own, so
        processes loading side by side never draw the same one."""
        self._job, self._jobs_total = job, jobs
        created = records = 0
        writer = ChunkWriter()
        prefix = f"  [{job + 1}/{jobs}] " if jobs > 1 else "  "
        try:
            while created < wanted:
                size = min(load.chunk, wanted - created)
                target = (
                    round(load.per_case * (created + size)) - records if load.per_case else None
                )
                batch = self._chunk(
                    rng,
                    load.programme,
                    load.team_staff,
                    load.team_weights,
                    load.users,
                    size,
                    target,
                )
                writer.put(batch)
                created += size
                records += batch.records()
                if wanted > load.chunk:
                    self.stdout.write(
                        f"{prefix}{created}/{wanted} cases, {records} records "
                        f"({time.monotonic() - load.started:.0f} s)"
                    )
        finally:
            writer.close()
        return created, records

    def _load_in_processes(self, load: Load, seed: int, wanted: int, jobs: int) -> tuple[int, int]:
        """``_load`` in ``jobs`` forked processes, each with its share of the cases, its own
        random streams and its own database connection."""
        context = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[tuple[int, int]] = context.Queue()
        shares = [wanted // jobs + (1 if k < wanted % jobs else 0) for k in range(jobs)]
        connections.close_all()  # each process opens its own

        def work(job: int) -> None:
            self._uuid_bits = random.Random(uuid.uuid4().int).getrandbits
            rng = random.Random(seed + job * JOB_SEED_STRIDE)
            results.put(self._load(load, rng, shares[job], job=job, jobs=jobs))
            connections.close_all()

        processes = [context.Process(target=work, args=(k,), daemon=True) for k in range(jobs)]
        for process in processes:
            process.start()
        answers: list[tuple[int, int]] = []
        try:
            for process in processes:
                process.join()
            while len(answers) < jobs and all(p.exitcode == 0 for p in processes):
                answers.append(results.get(timeout=10))
        finally:
            for process in processes:
                if process.is_alive():
                    process.terminate()
        failed = [p.exitcode for p in processes if p.exitcode != 0]
        if failed:
            raise CommandError(
                f"{len(failed)} of {jobs} loading processes failed (exit status {failed}); the "
                "chunks they committed stay, and running the command again tops up."
            )
        return sum(a[0] for a in answers), sum(a[1] for a in answers)

    # --- organisation and users ------------------------------------------------------------

    def _organisation(
        self, team_count: int, staff: int, seed: int
    ) -> tuple[Programme, list[Team], dict[str, Any]]:
        with transaction.atomic():
            programme, _ = Programme.objects.get_or_create(
                name=PROGRAMME_NAME, defaults={"country": "Iraq", "region": "Ninewa"}
            )
            teams_by_name: dict[str, Team] = {}
            for site_name, (governorate, district, team_names) in SITES.items():
                site, _ = Site.objects.get_or_create(
                    programme=programme,
                    name=site_name,
                    defaults={"governorate": governorate, "district": district},
                )
                for team_name in team_names:
                    teams_by_name[team_name], _ = Team.objects.get_or_create(
                        site=site, name=team_name
                    )
            demo_team_names = list(teams_by_name)
            more = self._more_teams(programme, team_count - len(teams_by_name))
            staff_group = self._staff_group()
            users = {}
            user_model = get_user_model()
            for username, (role, team_names) in DEMO_USERS.items():
                user = user_model.objects.filter(username=username).first()
                if user is None:
                    user = user_model(
                        username=username, is_staff=True, password=self._demo_password()
                    )
                    user.save()
                    user.groups.add(staff_group)
                self._demo_totp_device(user)
                for team_name in team_names:
                    Membership.objects.get_or_create(
                        user=user, role=role, team=teams_by_name[team_name]
                    )
                if not team_names:
                    Membership.objects.get_or_create(user=user, role=role, programme=programme)
                users[username] = user
            teams = [teams_by_name[name] for name in demo_team_names] + more
            generated = staff - DEMO_TEAM_STAFF
            if generated:
                users.update(self._generated_staff(teams, generated, staff_group, seed))
        return programme, teams, users

    @staticmethod
    def _more_teams(programme: Programme, count: int) -> list[Team]:
        """``count`` teams beyond the demo ones, dealt over MORE_SITES in turn:
        ``Ramadi 1``, ``Ramadi 2``..."""
        if count <= 0:
            return []
        sites = []
        for name, (governorate, district) in MORE_SITES.items():
            site, _ = Site.objects.get_or_create(
                programme=programme,
                name=name,
                defaults={"governorate": governorate, "district": district},
            )
            sites.append(site)
        teams = []
        for index in range(count):
            site = sites[index % len(sites)]
            name = f"{site.name} {index // len(sites) + 1}"
            team, _ = Team.objects.get_or_create(site=site, name=name)
            teams.append(team)
        return teams

    def _generated_staff(
        self, teams: list[Team], count: int, staff_group: Group, seed: int
    ) -> dict[str, Any]:
        """``count`` generated caseworkers and supervisors, created in bulk (one shared
        password hash: the demo password): a supervisor for every team beyond the demo ones
        (and for the demo teams once there are enough), the rest caseworkers, dealt over the
        teams by size (``--skew``: some teams much bigger). Deterministic for a given seed and
        counts; users and memberships that exist already are left as they are."""
        demo_names = {name for _g, _d, names in SITES.values() for name in names}
        new_teams = [t for t in teams if t.name not in demo_names]
        supervisors = len(new_teams)
        if count - supervisors >= 2 * len(teams):
            supervisors = len(teams)  # enough staff: every team gets its own supervisor too
        caseworkers = count - supervisors
        plan: list[tuple[str, Role, Team]] = []
        supervised = new_teams + [t for t in teams if t not in new_teams]
        for index, team in enumerate(supervised[:supervisors]):
            plan.append((GENERATED_SUPERVISOR.format(index + 1), Role.SUPERVISOR, team))
        # Caseworkers: one for every new team first (demo teams have their named one), the rest
        # in proportion to team size.
        sizes = self._team_sizes(teams, seed)
        seats = [0 if t.name in demo_names else 1 for t in teams]
        rest = caseworkers - sum(seats)
        total = sum(sizes)
        shares = [rest * size / total for size in sizes]
        seats = [s + math.floor(share) for s, share in zip(seats, shares, strict=True)]
        by_remainder = sorted(range(len(teams)), key=lambda i: -(shares[i] % 1))
        for i in by_remainder[: caseworkers - sum(seats)]:
            seats[i] += 1
        number = itertools.count(1)
        for team, seat_count in zip(teams, seats, strict=True):
            for _ in range(seat_count):
                plan.append((GENERATED_CASEWORKER.format(next(number)), Role.CASEWORKER, team))

        user_model = get_user_model()
        names = [username for username, _r, _t in plan]
        have = set(user_model.objects.filter(username__in=names).values_list("username", flat=True))
        user_model.objects.bulk_create(
            [
                user_model(username=name, is_staff=True, password=self._demo_password())
                for name in names
                if name not in have
            ]
        )
        users = {u.username: u for u in user_model.objects.filter(username__in=names)}
        fresh = [users[name] for name in names if name not in have]
        staff_group.user_set.through.objects.bulk_create(
            [staff_group.user_set.through(user_id=u.pk, group_id=staff_group.pk) for u in fresh]
        )
        TOTPDevice.objects.bulk_create(
            [
                TOTPDevice(user=u, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True)
                for u in fresh
            ]
        )
        memberships = set(
            Membership.objects.filter(user__in=users.values()).values_list(
                "user_id", "role", "team_id"
            )
        )
        Membership.objects.bulk_create(
            [
                Membership(user=users[name], role=role, team=team)
                for name, role, team in plan
                if (users[name].pk, role.value, team.pk) not in memberships
            ]
        )
        return users

    def _team_sizes(self, teams: list[Team], seed: int) -> list[float]:
        """Relative team sizes: equal, or with ``--skew`` Zipf over a shuffled order (the
        biggest team is not always the first)."""
        if not self.skew:
            return [1.0] * len(teams)
        ranks = list(range(len(teams)))
        random.Random(seed).shuffle(ranks)
        weights = zipf_weights(len(teams), TEAM_SKEW)
        return [weights[rank] for rank in ranks]

    def _demo_password(self) -> str:
        """The demo password's hash, computed once: hashing is slow on purpose, and every
        demo user has the same password anyway."""
        if not hasattr(self, "_password_hash"):
            self._password_hash = make_password(settings.DEMO_PASSWORD)
        return self._password_hash

    @staticmethod
    def _demo_totp_device(user: Any) -> None:
        """A confirmed authenticator app with the published demo key, unless the user already
        has one (a device enrolled by hand is kept)."""
        if not TOTPDevice.objects.filter(user=user, confirmed=True).exists():
            TOTPDevice.objects.create(
                user=user, name="Demo authenticator", key=DEMO_TOTP_KEY_HEX, confirmed=True
            )

    @staticmethod
    def _staff_group() -> Group:
        group, _ = Group.objects.get_or_create(name="Programme staff (demo)")
        group.permissions.add(
            *Permission.objects.filter(
                content_type__app_label="cases",
                codename__in=["view_case", "view_auditevent"],
            )
        )
        return group

    def _team_staff(self, teams: list[Team], users: dict[str, Any]) -> list[TeamStaff]:
        """Each team's caseworkers (named demo users first, then generated ones by name) and
        supervisor, in one query."""
        order = {user.pk: index for index, user in enumerate(users.values())}
        members: dict[tuple[int, str], list[int]] = {}
        for team_id, role, user_id in Membership.objects.filter(
            team__in=teams, user_id__in=order
        ).values_list("team_id", "role", "user_id"):
            members.setdefault((team_id, role), []).append(user_id)
        fallback = users["supervisor_mosul"].pk
        result = []
        for team in teams:
            caseworkers = sorted(members.get((team.pk, Role.CASEWORKER), []), key=order.__getitem__)
            supervisors = sorted(members.get((team.pk, Role.SUPERVISOR), []), key=order.__getitem__)
            staff = TeamStaff(team, caseworkers, supervisors[0] if supervisors else fallback)
            if self.skew and caseworkers:
                staff.caseload_weights = cumulative(zipf_weights(len(caseworkers), CASELOAD_SKEW))
            result.append(staff)
        return result

    def _team_weights(self, team_staff: list[TeamStaff]) -> list[float]:
        """With ``--skew``, cases go to teams in proportion to their caseworkers (bigger teams
        carry more cases); a team without caseworkers gets the share of one."""
        return cumulative([max(len(s.caseworkers), 1) for s in team_staff])

    # --- synthetic cases -------------------------------------------------------------------

    def _chunk(
        self,
        rng: random.Random,
        programme: Programme,
        team_staff: list[TeamStaff],
        team_weights: list[float] | None,
        users: dict[str, Any],
        size: int,
        target: int | None,
    ) -> Batch:
        """The rows of ``size`` new cases; with a ``target``, about that many records."""
        loader = BulkLoader()
        batch = Batch()
        now = timezone.now()
        person_ids = iter(loader.reserve_ids(Returnee, size))
        case_numbers = iter(self._fresh(CASE_PREFIX, size))
        self._person_numbers = iter(self._fresh(PERSON_PREFIX, size))
        self._screening_ids = iter(loader.reserve_ids(ScreeningAssessment, size))
        self._deferred = Deferred() if target is not None else None
        stages = [s for s, _w in STAGE_WEIGHTS]
        weights = [w for _s, w in STAGE_WEIGHTS]
        for _ in range(size):
            stage = rng.choices(stages, weights)[0]
            if team_weights is None:
                staff = rng.choice(team_staff)
            else:
                staff = team_staff[self._pick(rng, team_weights)]
            caseworker_id = None
            if staff.caseworkers:
                if staff.caseload_weights is None:
                    caseworker_id = rng.choice(staff.caseworkers)
                else:
                    caseworker_id = staff.caseworkers[self._pick(rng, staff.caseload_weights)]
            person = self._person(rng, batch, next(person_ids), now)
            opened = now - datetime.timedelta(days=rng.randint(5, 720), hours=rng.randint(0, 23))
            case = batch.add(
                Case,
                case_number=next(case_numbers),
                returnee_id=person["id"],
                programme_id=programme.pk,
                team_id=staff.team.pk,
                caseworker_id=caseworker_id,
                stage=stage,
                stage_entered_at=opened,
                opened_at=opened,
                closed_at=None,
                outcome="",
                risk_level="",
            )
            supervisor_id = staff.supervisor_id or users["supervisor_mosul"].pk
            actor_id = caseworker_id or supervisor_id
            self._history(rng, batch, case, stage, opened, now, actor_id, supervisor_id)
        if target is not None:
            self._sized_extras(rng, batch, now, max(target - batch.records(), 0))
        return batch

    @staticmethod
    def _pick(rng: random.Random, cumulative_weights: list[float]) -> int:
        return bisect.bisect_right(cumulative_weights, rng.random() * cumulative_weights[-1])

    def _fresh(self, prefix: str, count: int) -> list[str]:
        """``count`` references not used before in this database (the odds are tiny, but a
        seed of 100,000 draws should not be the one to find out)."""
        fresh: list[str] = []
        while len(fresh) < count:
            for reference in random_references(prefix, count - len(fresh)):
                # Side-by-side processes each keep the references of their own last letter.
                if ord(reference[-1]) % self._jobs_total != self._job:
                    continue
                if reference not in self._references:
                    self._references.add(reference)
                    fresh.append(reference)
        return fresh

    def _uuid(self) -> str:
        """A random (version 4) UUID, as text: ``uuid.uuid4()`` asks the kernel for every
        one, which costs more than the rest of a row. Seeded from the kernel once per run."""
        bits = self._uuid_bits(128) & UUID4_CLEAR | UUID4_SET
        return f"{bits:032x}"

    def _person(self, rng: random.Random, batch: Batch, pk: int, now: Any) -> Row:
        year = rng.randint(1960, 2008)
        national_id = f"{rng.randint(10**11, 10**12 - 1)}"
        phone = f"+9647{rng.randint(500000000, 999999999)}"
        profession = rng.choices(PROFESSIONS, weights=PROFESSION_WEIGHTS)[0]
        return batch.add(
            Returnee,
            id=pk,
            uuid=self._uuid(),
            person_number=next(self._person_numbers),
            given_name=rng.choice(GIVEN_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            date_of_birth=datetime.date(year, rng.randint(1, 12), rng.randint(1, 28)),
            national_id=national_id,
            phone=phone,
            address=f"House {rng.randint(1, 400)}, {rng.choice(DISTRICTS)}",
            national_id_index=crypto.national_id_index(national_id),
            phone_index=crypto.blind_index("phone", phone),  # already E.164
            sex=rng.choice([Sex.MALE, Sex.MALE, Sex.FEMALE]),
            year_of_birth=year,
            nationality="Iraqi",
            origin_district=rng.choice(DISTRICTS),
            current_district=rng.choice(DISTRICTS),
            household_size=rng.randint(1, 11),
            profession=profession,
            former_role=rng.choices(FORMER_ROLES, weights=[80, 5, 5, 5, 3, 2])[0],
            detention_history=rng.random() < 0.35,
            return_pathway=rng.choice(RETURN_PATHWAYS),
            affiliation=rng.choice(AFFILIATIONS),
            created_at=now,
            updated_at=now,
        )

    def _history(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        stage: str,
        opened: datetime.datetime,
        now: datetime.datetime,
        actor_id: int,
        supervisor_id: int,
    ) -> None:
        case_number = case["case_number"]
        returned = opened.date() - datetime.timedelta(days=rng.randint(3, 120))
        batch.add(
            IntakeRecord,
            uuid=self._uuid(),
            case_id=case_number,
            return_date=returned,
            first_contact_date=opened.date(),
            intake_date=opened.date(),
            referral_source=rng.choice(REFERRAL_SOURCES),
            urgent_needs=rng.sample(URGENT_NEEDS, rng.randint(0, 3)),
            recorded_by_id=actor_id,
        )
        if stage != Stage.INTAKE or rng.random() < 0.6:
            batch.add(
                ConsentRecord,
                uuid=self._uuid(),
                returnee_id=case["returnee_id"],
                legal_basis=rng.choice([LegalBasis.CONSENT, LegalBasis.PUBLIC_INTEREST]),
                scope=[ConsentScope.PROGRAMME_RECORDS, ConsentScope.SHARE_WITH_PARTNERS],
                given_at=opened,
                recorded_by_id=actor_id,
            )
        closed_from = None
        if stage == Stage.CLOSED:
            closed_from = rng.choice([Stage.SCREENING, Stage.TRAINING, Stage.MONITORING])
        path = PATH_TO[closed_from or Stage(stage)]
        if closed_from:
            path = [*path, Stage.CLOSED]
        step = max(max((now - opened).days, len(path)) // len(path), 1)
        at = opened
        for previous, current in itertools.pairwise(path):
            at = min(at + datetime.timedelta(days=rng.randint(max(step // 2, 1), step)), now)
            batch.add(
                StageTransition,
                uuid=self._uuid(),
                case_id=case_number,
                from_stage=previous,
                to_stage=current,
                at=at,
                by_id=actor_id,
            )
            if current == Stage.TRAINING or (
                current == Stage.CLOSED and previous == Stage.SCREENING
            ):
                admit = current == Stage.TRAINING
                self._screening(rng, batch, case, at, actor_id, supervisor_id, admit=admit)
            if current == Stage.MONITORING:
                self._monitoring(rng, batch, case, at, now, actor_id)
            if current == Stage.CLOSED:
                case["outcome"] = rng.choice(OUTCOMES)
                case["closed_at"] = at
                batch.add(
                    Approval,
                    uuid=self._uuid(),
                    case_id=case_number,
                    kind=ApprovalKind.CLOSURE,
                    status=ApprovalStatus.APPROVED,
                    outcome=case["outcome"],
                    requested_by_id=actor_id,
                    requested_at=at,
                    decided_by_id=supervisor_id,
                    decided_at=at,
                    used_at=at,
                )
        case["stage_entered_at"] = at
        if stage == Stage.SCREENING:
            self._screening(rng, batch, case, at, actor_id, supervisor_id, admit=None)
        if stage in (Stage.TRAINING, Stage.MONITORING) or closed_from in (
            Stage.TRAINING,
            Stage.MONITORING,
        ):
            finished = stage != Stage.TRAINING
            self._training(rng, batch, case, at, now, actor_id, finished=finished)

    def _screening(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        at: datetime.datetime,
        actor_id: int,
        supervisor_id: int,
        *,
        admit: bool | None,
    ) -> None:
        risk = rng.choices(RISK_LEVELS, weights=[50, 35, 15])[0]
        case["risk_level"] = risk
        if admit is None:
            decision = ""
        elif admit:
            decision = ScreeningDecision.ADMIT
        else:
            decision = rng.choice([ScreeningDecision.REFER, ScreeningDecision.EXCLUDE])
        clearance = ClearanceStatus.CLEARED if admit else rng.choice(CLEARANCES)
        screening = batch.add(
            ScreeningAssessment,
            id=next(self._screening_ids),
            uuid=self._uuid(),
            case_id=case["case_number"],
            assessed_on=at.date(),
            clearance_status=clearance,
            needs=rng.sample(NEEDS, rng.randint(1, 3)),
            risk_level=risk,
            decision=decision,
            decision_reason="Demo decision" if decision else "",
            assessed_by_id=actor_id,
            created_at=at,
        )
        if decision:
            batch.add(
                Approval,
                uuid=self._uuid(),
                case_id=case["case_number"],
                kind=ApprovalKind.SCREENING_DECISION,
                status=ApprovalStatus.APPROVED,
                screening_id=screening["id"],
                requested_by_id=actor_id,
                requested_at=at,
                decided_by_id=supervisor_id,
                decided_at=at,
            )

    def _training(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        at: datetime.datetime,
        now: datetime.datetime,
        actor_id: int,
        *,
        finished: bool,
    ) -> None:
        course, provider = rng.choice(COURSES)
        start = at.date()
        end = start + datetime.timedelta(days=rng.randint(30, 120))
        batch.add(
            TrainingEnrolment,
            uuid=self._uuid(),
            case_id=case["case_number"],
            course=course,
            provider=provider,
            start_date=start,
            end_date=end if finished else None,
            attendance_percent=rng.randint(40, 100),
            status=EnrolmentStatus.COMPLETED if finished else EnrolmentStatus.IN_PROGRESS,
            certificate=f"CERT-{rng.randint(1000, 9999)}" if finished else "",
            created_at=at,
        )
        for pillar in rng.sample(PILLARS, rng.randint(1, 4)):
            paid = pillar == Pillar.LIVELIHOOD and rng.random() < 0.7
            batch.add(
                SupportProvision,
                uuid=self._uuid(),
                case_id=case["case_number"],
                pillar=pillar,
                kind=rng.choice(SUPPORT_KINDS[Pillar(pillar)]),
                provided_on=min(start + datetime.timedelta(days=rng.randint(0, 60)), now.date()),
                amount=Decimal(rng.choice([150, 250, 500])) if paid else None,
                currency="USD" if paid else "",
                recorded_by_id=actor_id,
                created_at=at,
            )
        if self._deferred is not None:
            self._deferred.payments.append((case, start, actor_id))

    def _monitoring(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        started: datetime.datetime,
        now: datetime.datetime,
        actor_id: int,
    ) -> None:
        if self._deferred is not None:
            self._deferred.contacts.append((case, started, actor_id))
        else:
            interval = self.interval_days[case["risk_level"] or RiskLevel.LOW]
            day = started.date() + datetime.timedelta(days=interval)
            horizon = now.date() + PLAN_AHEAD
            count = 0
            while day <= horizon and count < 24:
                self._contact(rng, batch, case, day, now.date(), started, actor_id)
                day += datetime.timedelta(days=interval)
                count += 1
        if rng.random() < 0.08:
            occurred = started.date() + datetime.timedelta(days=rng.randint(1, 90))
            batch.add(
                Incident,
                uuid=self._uuid(),
                case_id=case["case_number"],
                kind=rng.choice(INCIDENT_KINDS),
                occurred_on=min(occurred, now.date()),
                severity=rng.choice(SEVERITIES),
                recorded_by_id=actor_id,
                created_at=started,
            )

    def _contact(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        day: datetime.date,
        today: datetime.date,
        created: datetime.datetime,
        actor_id: int,
    ) -> None:
        """One contact on ``day``: before today met, missed or (overdue) still planned; from
        today on planned."""
        if day < today:
            outcome = rng.choices(CONTACT_OUTCOMES, cum_weights=PAST_CONTACT_CUMULATIVE)[0]
        else:
            outcome = ContactOutcome.PLANNED
        met = outcome == ContactOutcome.MET
        batch.add(
            MonitoringContact,
            uuid=self._uuid(),
            case_id=case["case_number"],
            planned_date=day,
            actual_date=day if met else None,
            mode=rng.choice(CONTACT_MODES) if met else "",
            outcome=outcome,
            recorded_by_id=actor_id if outcome != ContactOutcome.PLANNED else None,
            created_at=created,
        )

    # --- --records: contacts and payments sized to the target ------------------------------

    def _sized_extras(
        self, rng: random.Random, batch: Batch, now: datetime.datetime, budget: int
    ) -> None:
        """Spend about ``budget`` rows on the chunk's monitoring contacts (every case in
        monitoring gets at least one) and monthly stipend payments, each case's share in
        proportion to how long it has been in monitoring (or since its training began)."""
        assert self._deferred is not None
        today = now.date()
        contacts = self._deferred.contacts
        payments = self._deferred.payments
        contact_budget = max(round(budget * EXTRA_CONTACT_SHARE), len(contacts))
        if not payments:
            contact_budget = max(budget, len(contacts))
        payment_budget = max(budget - contact_budget, 0)

        spans = []
        for case, started, _actor in contacts:
            end = case["closed_at"].date() if case["closed_at"] else today + PLAN_AHEAD
            spans.append(max((end - started.date()).days, 1))
        for (case, started, actor_id), span, count in zip(
            contacts, spans, self._shares(rng, spans, contact_budget), strict=True
        ):
            count = min(max(count, 1), span)
            step = span / count
            first = started.date()
            for k in range(1, count + 1):
                day = first + datetime.timedelta(days=round(k * step))
                self._contact(rng, batch, case, day, today, started, actor_id)

        months = [max((today - start).days // 30, 0) for _case, start, _actor in payments]
        for (case, start, actor_id), span, count in zip(
            payments, months, self._shares(rng, months, payment_budget), strict=True
        ):
            count = min(count, span)
            for k in range(1, count + 1):
                paid_on = start + datetime.timedelta(days=30 * k)
                batch.add(
                    SupportProvision,
                    uuid=self._uuid(),
                    case_id=case["case_number"],
                    pillar=Pillar.LIVELIHOOD,
                    kind="Monthly stipend",
                    provided_on=paid_on,
                    amount=Decimal(rng.choice([150, 250])),
                    currency="USD",
                    recorded_by_id=actor_id,
                    created_at=datetime.datetime.combine(paid_on, datetime.time(9), datetime.UTC),
                )

    @staticmethod
    def _shares(rng: random.Random, weights: list[int], total: int) -> list[int]:
        """``total`` split in proportion to ``weights``, as whole numbers (fractions rounded
        at random, so the sum is right on average)."""
        whole = sum(weights)
        if not whole or total <= 0:
            return [0] * len(weights)
        shares = []
        for weight in weights:
            exact = total * weight / whole
            shares.append(int(exact) + (rng.random() < exact % 1))
        return shares
