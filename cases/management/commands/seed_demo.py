"""Load a synthetic demo programme: sites, teams, one user per role, and returnees in every stage.

Idempotent: running it again tops the demo programme up to ``--cases`` and changes nothing else.
Rows are written with bulk inserts (identity fields encrypted on the way), so 100,000 cases load
in minutes, not hours. Every person here is invented.
"""

from __future__ import annotations

import datetime
import itertools
import random
import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from cases import crypto
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
from cases.services.audit import audit_record

PROGRAMME_NAME = "Demo reintegration programme"
SITES = {
    "Mosul": ("Ninewa", "Mosul", ["Mosul East", "Mosul West"]),
    "Tel Afar": ("Ninewa", "Tel Afar", ["Tel Afar"]),
    "Sinjar": ("Ninewa", "Sinjar", ["Sinjar"]),
}
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
    """Rows for one chunk of cases, inserted table by table."""

    returnees: list[Returnee] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    children: dict[type, list[Any]] = field(default_factory=dict)

    def add(self, row: Any) -> None:
        self.children.setdefault(type(row), []).append(row)


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
                self.stdout.write(f"  {created}/{wanted} cases")
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
                for team_name in team_names:
                    Membership.objects.get_or_create(
                        user=user, role=role, team=teams_by_name[team_name]
                    )
                if not team_names:
                    Membership.objects.get_or_create(user=user, role=role, programme=programme)
                users[username] = user
        return programme, list(teams_by_name.values()), users

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
        batch = Batch()
        today = timezone.now()
        plans = []
        for _ in range(size):
            stage = rng.choices([s for s, _w in STAGE_WEIGHTS], [w for _s, w in STAGE_WEIGHTS])[0]
            team = rng.choice(teams)
            person = self._person(rng)
            opened = today - datetime.timedelta(days=rng.randint(5, 720), hours=rng.randint(0, 23))
            case = Case(
                returnee=person,
                programme=programme,
                team=team,
                caseworker=rng.choice(caseworkers[team.pk]) if caseworkers[team.pk] else None,
                stage=stage,
                stage_entered_at=opened,
                opened_at=opened,
            )
            batch.returnees.append(person)
            batch.cases.append(case)
            plans.append((case, person, stage, opened))

        Returnee.objects.bulk_create(batch.returnees, batch_size=1000)
        supervisor = users["supervisor_mosul"]
        for case, _person, stage, opened in plans:
            self._history(rng, batch, case, stage, opened, today, supervisor)
        Case.objects.bulk_create(batch.cases, batch_size=1000)
        # Screening assessments first: approvals point at them.
        order = [
            IntakeRecord,
            ConsentRecord,
            ScreeningAssessment,
            Approval,
            StageTransition,
        ]
        order += [TrainingEnrolment, SupportProvision, MonitoringContact, Incident]
        for model in order:
            model._default_manager.bulk_create(batch.children.get(model, []), batch_size=2000)

    def _person(self, rng: random.Random) -> Returnee:
        year = rng.randint(1960, 2008)
        national_id = f"{rng.randint(10**11, 10**12 - 1)}"
        phone = f"+9647{rng.randint(500000000, 999999999)}"
        profession = rng.choices(
            Profession.values, weights=[30, 1, 1, 3, 1, 2, 2, 3, 4, 20, 20, 13]
        )[0]
        person = Returnee(
            given_name=rng.choice(GIVEN_NAMES),
            family_name=rng.choice(FAMILY_NAMES),
            date_of_birth=datetime.date(year, rng.randint(1, 12), rng.randint(1, 28)),
            national_id=national_id,
            phone=phone,
            address=f"House {rng.randint(1, 400)}, {rng.choice(DISTRICTS)}",
            national_id_index=crypto.national_id_index(national_id),
            phone_index=crypto.phone_index(phone),
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
        )
        return person

    def _history(
        self,
        rng: random.Random,
        batch: Batch,
        case: Case,
        stage: Stage,
        opened: datetime.datetime,
        now: datetime.datetime,
        supervisor: Any,
    ) -> None:
        actor = case.caseworker or supervisor
        returned = opened.date() - datetime.timedelta(days=rng.randint(3, 120))
        batch.add(
            IntakeRecord(
                case=case,
                return_date=returned,
                first_contact_date=opened.date(),
                intake_date=opened.date(),
                referral_source=rng.choice(ReferralSource.values),
                urgent_needs=rng.sample(UrgentNeed.values, rng.randint(0, 3)),
                recorded_by=actor,
            )
        )
        consented = stage != Stage.INTAKE or rng.random() < 0.6
        if consented:
            batch.add(
                ConsentRecord(
                    returnee=case.returnee,
                    legal_basis=rng.choice([LegalBasis.CONSENT, LegalBasis.PUBLIC_INTEREST]),
                    scope=[
                        ConsentScope.PROGRAMME_RECORDS,
                        ConsentScope.SHARE_WITH_PARTNERS,
                    ],
                    given_at=opened,
                    recorded_by=actor,
                )
            )
        closed_from = None
        if stage == Stage.CLOSED:
            closed_from = rng.choice([Stage.SCREENING, Stage.TRAINING, Stage.MONITORING])
        path = PATH_TO[closed_from or stage]
        if closed_from:
            path = [*path, Stage.CLOSED]
        elapsed = max((now - opened).days, len(path))
        step = max(elapsed // len(path), 1)
        at = opened
        for previous, current in itertools.pairwise(path):
            at = at + datetime.timedelta(days=rng.randint(max(step // 2, 1), step))
            at = min(at, now)
            batch.add(
                StageTransition(case=case, from_stage=previous, to_stage=current, at=at, by=actor)
            )
            if current == Stage.TRAINING or (
                current == Stage.CLOSED and previous == Stage.SCREENING
            ):
                self._screening(
                    rng,
                    batch,
                    case,
                    at,
                    actor,
                    supervisor,
                    admit=current == Stage.TRAINING,
                )
            if current == Stage.MONITORING:
                self._monitoring(rng, batch, case, at, now, actor)
            if current == Stage.CLOSED:
                case.outcome = rng.choice(Outcome.values)
                case.closed_at = at
                batch.add(
                    Approval(
                        case=case,
                        kind=ApprovalKind.CLOSURE,
                        status=ApprovalStatus.APPROVED,
                        outcome=case.outcome,
                        requested_by=actor,
                        requested_at=at,
                        decided_by=supervisor,
                        decided_at=at,
                        used_at=at,
                    )
                )
        case.stage_entered_at = at
        if stage == Stage.SCREENING:
            self._screening(rng, batch, case, at, actor, supervisor, admit=None)
        if stage in (Stage.TRAINING, Stage.MONITORING) or closed_from in (
            Stage.TRAINING,
            Stage.MONITORING,
        ):
            self._training(rng, batch, case, at, now, actor, finished=stage != Stage.TRAINING)

    def _screening(
        self,
        rng: random.Random,
        batch: Batch,
        case: Case,
        at: datetime.datetime,
        actor: Any,
        supervisor: Any,
        *,
        admit: bool | None,
    ) -> None:
        risk = rng.choices(RiskLevel.values, weights=[50, 35, 15])[0]
        case.risk_level = risk
        decision = (
            ""
            if admit is None
            else ScreeningDecision.ADMIT
            if admit
            else rng.choice([ScreeningDecision.REFER, ScreeningDecision.EXCLUDE])
        )
        assessment = ScreeningAssessment(
            case=case,
            assessed_on=at.date(),
            clearance_status=ClearanceStatus.CLEARED
            if admit
            else rng.choice(ClearanceStatus.values),
            needs=rng.sample(Need.values, rng.randint(1, 3)),
            risk_level=risk,
            decision=decision,
            decision_reason="Demo decision" if decision else "",
            assessed_by=actor,
        )
        batch.add(assessment)
        if decision:
            batch.add(
                Approval(
                    case=case,
                    kind=ApprovalKind.SCREENING_DECISION,
                    status=ApprovalStatus.APPROVED,
                    screening=assessment,
                    requested_by=actor,
                    requested_at=at,
                    decided_by=supervisor,
                    decided_at=at,
                )
            )

    def _training(
        self,
        rng: random.Random,
        batch: Batch,
        case: Case,
        at: datetime.datetime,
        now: datetime.datetime,
        actor: Any,
        *,
        finished: bool,
    ) -> None:
        course, provider = rng.choice(COURSES)
        start = at.date()
        end = start + datetime.timedelta(days=rng.randint(30, 120))
        batch.add(
            TrainingEnrolment(
                case=case,
                course=course,
                provider=provider,
                start_date=start,
                end_date=end if finished else None,
                attendance_percent=rng.randint(40, 100),
                status=EnrolmentStatus.COMPLETED if finished else EnrolmentStatus.IN_PROGRESS,
                certificate=f"CERT-{rng.randint(1000, 9999)}" if finished else "",
            )
        )
        for pillar in rng.sample(Pillar.values, rng.randint(1, 4)):
            batch.add(
                SupportProvision(
                    case=case,
                    pillar=pillar,
                    kind=rng.choice(SUPPORT_KINDS[Pillar(pillar)]),
                    provided_on=min(
                        start + datetime.timedelta(days=rng.randint(0, 60)), now.date()
                    ),
                    amount=rng.choice([None, 150, 250, 500])
                    if pillar == Pillar.LIVELIHOOD
                    else None,
                    currency="USD" if pillar == Pillar.LIVELIHOOD else "",
                    recorded_by=actor,
                )
            )

    def _monitoring(
        self,
        rng: random.Random,
        batch: Batch,
        case: Case,
        started: datetime.datetime,
        now: datetime.datetime,
        actor: Any,
    ) -> None:
        interval = {RiskLevel.HIGH: 7, RiskLevel.MEDIUM: 14, RiskLevel.LOW: 30}[
            RiskLevel(case.risk_level or RiskLevel.LOW)
        ]
        day = started.date() + datetime.timedelta(days=interval)
        horizon = now.date() + datetime.timedelta(days=60)
        count = 0
        while day <= horizon and count < 24:
            if day < now.date():
                outcome = rng.choices(
                    [ContactOutcome.MET, ContactOutcome.MISSED, ContactOutcome.PLANNED],
                    weights=[80, 12, 8],
                )[0]
            else:
                outcome = ContactOutcome.PLANNED
            batch.add(
                MonitoringContact(
                    case=case,
                    planned_date=day,
                    actual_date=day if outcome == ContactOutcome.MET else None,
                    mode=rng.choice(ContactMode.values) if outcome == ContactOutcome.MET else "",
                    outcome=outcome,
                    recorded_by=actor if outcome != ContactOutcome.PLANNED else None,
                )
            )
            day += datetime.timedelta(days=interval)
            count += 1
        if rng.random() < 0.08:
            batch.add(
                Incident(
                    case=case,
                    kind=rng.choice(IncidentKind.values),
                    occurred_on=min(
                        started.date() + datetime.timedelta(days=rng.randint(1, 90)),
                        now.date(),
                    ),
                    severity=rng.choice(Severity.values),
                    recorded_by=actor,
                )
            )
