"""Load a synthetic demo programme: sites, teams, one user per role, and returnees in every stage.

Idempotent: running it again tops the demo programme up to ``--cases`` and changes nothing else.
Rows are written with bulk inserts (identity fields encrypted on the way), so 100,000 cases load
in minutes, not hours. Every person here is invented.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import random
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import models, transaction
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
from cases.models.cases import new_case_number
from cases.models.people import new_person_number
from cases.services.audit import audit_record
from cases.services.workflow import CONTACT_INTERVAL_DAYS

PROGRAMME_NAME = "Demo reintegration programme"
SITES = {
    "Mosul": ("Ninewa", "Mosul", ["Mosul East", "Mosul West"]),
    "Tel Afar": ("Ninewa", "Tel Afar", ["Tel Afar"]),
    "Sinjar": ("Ninewa", "Sinjar", ["Sinjar"]),
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
PROFESSION_WEIGHTS = [30, 1, 1, 3, 1, 2, 2, 3, 4, 20, 20, 13]  # in Profession's order
CONTACT_OUTCOMES = [ContactOutcome.MET, ContactOutcome.MISSED, ContactOutcome.PLANNED]
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


@dataclass
class Batch:
    """Rows for one chunk of cases, as plain column dicts, written table by table."""

    rows: dict[type[models.Model], list[Row]] = field(default_factory=dict)

    def add(self, model: type[models.Model], **row: Any) -> Row:
        self.rows.setdefault(model, []).append(row)
        return row


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


class Command(BaseCommand):
    help = "Create (or top up) the demo programme with synthetic returnees in every stage."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--cases", type=int, default=300, help="Total demo cases wanted.")
        parser.add_argument("--chunk", type=int, default=2000, help="Cases per transaction.")
        parser.add_argument("--seed", type=int, default=2026)

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("Demo data is never loaded in production.")
        started = time.monotonic()
        programme, teams, users = self._organisation()
        existing = Case.objects.filter(programme=programme).count()
        wanted = max(options["cases"] - existing, 0)
        rng = random.Random(options["seed"] + existing)
        self._references: set[str] = set()
        if wanted:
            self._references.update(Case.objects.values_list("case_number", flat=True))
            self._references.update(Returnee.objects.values_list("person_number", flat=True))
        caseworkers = {
            team.pk: [u for u in users.values() if self._is_caseworker_of(u, team)]
            for team in teams
        }
        created = 0
        while created < wanted:
            size = min(options["chunk"], wanted - created)
            with transaction.atomic():
                self._load_chunk(rng, programme, teams, caseworkers, users, size)
            created += size
            if wanted > options["chunk"]:
                self.stdout.write(
                    f"  {created}/{wanted} cases ({time.monotonic() - started:.0f} s)"
                )
        with transaction.atomic():
            audit_record(
                actor=None,
                action="demo.seed",
                object_type="programme",
                object_id=str(programme.uuid),
                detail={"cases_created": created, "cases_total": existing + created},
            )
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo programme ready: {existing + created} cases "
                f"({created} new, {elapsed:.1f} s)."
            )
        )
        self.stdout.write("Demo logins (demo only), password: " + settings.DEMO_PASSWORD)
        for username, (role, team_names) in DEMO_USERS.items():
            where = ", ".join(team_names) or PROGRAMME_NAME
            self.stdout.write(f"  {username:<18} {role.label} — {where}")
        self.stdout.write(
            "Second factor (demo only): every demo login has an authenticator app with the "
            f"published key {DEMO_TOTP_SECRET_BASE32}.\n"
            "  Add that key to an authenticator app, or get the current 6-digit code with:\n"
            "    python manage.py totp_code caseworker_a"
        )

    # --- organisation and users ------------------------------------------------------------

    def _organisation(self) -> tuple[Programme, list[Team], dict[str, Any]]:
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
            staff_group = self._staff_group()
            users = {}
            user_model = get_user_model()
            for username, (role, team_names) in DEMO_USERS.items():
                user = user_model.objects.filter(username=username).first()
                if user is None:
                    user = user_model(username=username, is_staff=True)
                    user.set_password(settings.DEMO_PASSWORD)
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
        return programme, list(teams_by_name.values()), users

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

    @staticmethod
    def _is_caseworker_of(user: Any, team: Team) -> bool:
        return Membership.objects.filter(user=user, team=team, role=Role.CASEWORKER).exists()

    # --- synthetic cases -------------------------------------------------------------------

    def _load_chunk(
        self,
        rng: random.Random,
        programme: Programme,
        teams: list[Team],
        caseworkers: dict[int, list[Any]],
        users: dict[str, Any],
        size: int,
    ) -> None:
        loader = BulkLoader()
        batch = Batch()
        now = timezone.now()
        person_ids = iter(loader.reserve_ids(Returnee, size))
        self._screening_ids = iter(loader.reserve_ids(ScreeningAssessment, size))
        supervisor_id = users["supervisor_mosul"].pk
        stages = [s for s, _w in STAGE_WEIGHTS]
        weights = [w for _s, w in STAGE_WEIGHTS]
        for _ in range(size):
            stage = rng.choices(stages, weights)[0]
            team = rng.choice(teams)
            staff = caseworkers[team.pk]
            caseworker_id = rng.choice(staff).pk if staff else None
            person = self._person(rng, batch, next(person_ids), now)
            opened = now - datetime.timedelta(days=rng.randint(5, 720), hours=rng.randint(0, 23))
            case = batch.add(
                Case,
                case_number=self._fresh(new_case_number),
                returnee_id=person["id"],
                programme_id=programme.pk,
                team_id=team.pk,
                caseworker_id=caseworker_id,
                stage=stage,
                stage_entered_at=opened,
                opened_at=opened,
                closed_at=None,
                outcome="",
                risk_level="",
            )
            actor_id = caseworker_id or supervisor_id
            self._history(rng, batch, case, stage, opened, now, actor_id, supervisor_id)
        for model in WRITE_ORDER:
            loader.insert(model, batch.rows.get(model, []))

    def _fresh(self, make: Any) -> str:
        """A reference not used before in this database (the odds are tiny, but a seed of
        100,000 draws should not be the one to find out)."""
        while (reference := make()) in self._references:
            pass
        self._references.add(reference)
        return str(reference)

    def _person(self, rng: random.Random, batch: Batch, pk: int, now: Any) -> Row:
        year = rng.randint(1960, 2008)
        national_id = f"{rng.randint(10**11, 10**12 - 1)}"
        phone = f"+9647{rng.randint(500000000, 999999999)}"
        profession = rng.choices(Profession.values, weights=PROFESSION_WEIGHTS)[0]
        return batch.add(
            Returnee,
            id=pk,
            uuid=uuid.uuid4(),
            person_number=self._fresh(new_person_number),
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
            former_role=rng.choices(FormerRole.values, weights=[80, 5, 5, 5, 3, 2])[0],
            detention_history=rng.random() < 0.35,
            return_pathway=rng.choice(ReturnPathway.values),
            affiliation=rng.choice(Affiliation.values),
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
            uuid=uuid.uuid4(),
            case_id=case_number,
            return_date=returned,
            first_contact_date=opened.date(),
            intake_date=opened.date(),
            referral_source=rng.choice(ReferralSource.values),
            urgent_needs=rng.sample(UrgentNeed.values, rng.randint(0, 3)),
            recorded_by_id=actor_id,
        )
        if stage != Stage.INTAKE or rng.random() < 0.6:
            batch.add(
                ConsentRecord,
                uuid=uuid.uuid4(),
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
                uuid=uuid.uuid4(),
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
                case["outcome"] = rng.choice(Outcome.values)
                case["closed_at"] = at
                batch.add(
                    Approval,
                    uuid=uuid.uuid4(),
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
        risk = rng.choices(RiskLevel.values, weights=[50, 35, 15])[0]
        case["risk_level"] = risk
        if admit is None:
            decision = ""
        elif admit:
            decision = ScreeningDecision.ADMIT
        else:
            decision = rng.choice([ScreeningDecision.REFER, ScreeningDecision.EXCLUDE])
        clearance = ClearanceStatus.CLEARED if admit else rng.choice(ClearanceStatus.values)
        screening = batch.add(
            ScreeningAssessment,
            id=next(self._screening_ids),
            uuid=uuid.uuid4(),
            case_id=case["case_number"],
            assessed_on=at.date(),
            clearance_status=clearance,
            needs=rng.sample(Need.values, rng.randint(1, 3)),
            risk_level=risk,
            decision=decision,
            decision_reason="Demo decision" if decision else "",
            assessed_by_id=actor_id,
            created_at=at,
        )
        if decision:
            batch.add(
                Approval,
                uuid=uuid.uuid4(),
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
            uuid=uuid.uuid4(),
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
        for pillar in rng.sample(Pillar.values, rng.randint(1, 4)):
            paid = pillar == Pillar.LIVELIHOOD and rng.random() < 0.7
            batch.add(
                SupportProvision,
                uuid=uuid.uuid4(),
                case_id=case["case_number"],
                pillar=pillar,
                kind=rng.choice(SUPPORT_KINDS[Pillar(pillar)]),
                provided_on=min(start + datetime.timedelta(days=rng.randint(0, 60)), now.date()),
                amount=Decimal(rng.choice([150, 250, 500])) if paid else None,
                currency="USD" if paid else "",
                recorded_by_id=actor_id,
                created_at=at,
            )

    def _monitoring(
        self,
        rng: random.Random,
        batch: Batch,
        case: Row,
        started: datetime.datetime,
        now: datetime.datetime,
        actor_id: int,
    ) -> None:
        interval = CONTACT_INTERVAL_DAYS[RiskLevel(case["risk_level"] or RiskLevel.LOW)]
        day = started.date() + datetime.timedelta(days=interval)
        horizon = now.date() + datetime.timedelta(days=60)
        count = 0
        while day <= horizon and count < 24:
            if day < now.date():
                outcome = rng.choices(CONTACT_OUTCOMES, weights=[80, 12, 8])[0]
            else:
                outcome = ContactOutcome.PLANNED
            met = outcome == ContactOutcome.MET
            batch.add(
                MonitoringContact,
                uuid=uuid.uuid4(),
                case_id=case["case_number"],
                planned_date=day,
                actual_date=day if met else None,
                mode=rng.choice(ContactMode.values) if met else "",
                outcome=outcome,
                recorded_by_id=actor_id if outcome != ContactOutcome.PLANNED else None,
                created_at=started,
            )
            day += datetime.timedelta(days=interval)
            count += 1
        if rng.random() < 0.08:
            occurred = started.date() + datetime.timedelta(days=rng.randint(1, 90))
            batch.add(
                Incident,
                uuid=uuid.uuid4(),
                case_id=case["case_number"],
                kind=rng.choice(IncidentKind.values),
                occurred_on=min(occurred, now.date()),
                severity=rng.choice(Severity.values),
                recorded_by_id=actor_id,
                created_at=started,
            )
