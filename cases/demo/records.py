"""The rows of new demo cases: a person, a case, and the history its stage implies (intake,
consent, screening and its approval, training and support, closure), drawn from one random
stream so a seed gives the same programme every time."""

from __future__ import annotations

import bisect
import datetime
import itertools
import random
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.utils import timezone

from cases import crypto
from cases.bulkload import BulkLoader, Row
from cases.demo import monitoring
from cases.demo.organisation import TeamStaff
from cases.demo.reference import (
    AFFILIATIONS,
    CASE_PREFIX,
    CLEARANCES,
    COURSES,
    DISTRICTS,
    FAMILY_NAMES,
    FORMER_ROLES,
    GIVEN_NAMES,
    NEEDS,
    OUTCOMES,
    PATH_TO,
    PERSON_PREFIX,
    PILLARS,
    PROFESSION_WEIGHTS,
    PROFESSIONS,
    REFERRAL_SOURCES,
    RETURN_PATHWAYS,
    RISK_LEVELS,
    STAGE_WEIGHTS,
    SUPPORT_KINDS,
    URGENT_NEEDS,
)
from cases.demo.rows import Batch
from cases.models import (
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Case,
    ClearanceStatus,
    ConsentRecord,
    ConsentScope,
    EnrolmentStatus,
    IntakeRecord,
    LegalBasis,
    Pillar,
    Programme,
    Returnee,
    ScreeningAssessment,
    ScreeningDecision,
    Sex,
    Stage,
    StageTransition,
    SupportProvision,
    TrainingEnrolment,
)
from cases.models.people import random_references

# The version (4) and variant (RFC 4122) bits of a random UUID.
UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
UUID4_SET = (0x4000 << 64) | (0x8000 << 48)


def pick(rng: random.Random, cumulative_weights: list[float]) -> int:
    return bisect.bisect_right(cumulative_weights, rng.random() * cumulative_weights[-1])


class CaseRows:
    """Makes the rows of new cases, a chunk at a time, for job ``job`` of ``jobs`` loading
    side by side: it draws only the case and person numbers that are its own, so processes
    never draw the same one, and none that ``references`` already holds."""

    def __init__(
        self, *, interval_days: dict[str, int], references: set[str], job: int, jobs: int
    ) -> None:
        self.interval_days = interval_days
        self.references = references
        self.job, self.jobs = job, jobs
        self.uuid_bits = random.Random(uuid.uuid4().int).getrandbits  # noqa: S311 - row ids
        self.deferred: monitoring.Deferred | None = None
        self.person_numbers: Iterator[str] = iter(())
        self.screening_ids: Iterator[int] = iter(())

    def chunk(
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
        case_numbers = iter(self.fresh(CASE_PREFIX, size))
        self.person_numbers = iter(self.fresh(PERSON_PREFIX, size))
        self.screening_ids = iter(loader.reserve_ids(ScreeningAssessment, size))
        self.deferred = monitoring.Deferred() if target is not None else None
        stages = [s for s, _w in STAGE_WEIGHTS]
        weights = [w for _s, w in STAGE_WEIGHTS]
        for _ in range(size):
            stage = rng.choices(stages, weights)[0]
            if team_weights is None:
                staff = rng.choice(team_staff)
            else:
                staff = team_staff[pick(rng, team_weights)]
            caseworker_id = None
            if staff.caseworkers:
                if staff.caseload_weights is None:
                    caseworker_id = rng.choice(staff.caseworkers)
                else:
                    caseworker_id = staff.caseworkers[pick(rng, staff.caseload_weights)]
            person = self.person(rng, batch, next(person_ids), now)
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
            self.history(rng, batch, case, stage, opened, now, actor_id, supervisor_id)
        if target is not None:
            monitoring.sized_extras(self, rng, batch, now, max(target - batch.records(), 0))
        return batch

    def fresh(self, prefix: str, count: int) -> list[str]:
        """``count`` references not used before in this database (the odds are tiny, but a
        seed of 100,000 draws should not be the one to find out)."""
        fresh: list[str] = []
        while len(fresh) < count:
            for reference in random_references(prefix, count - len(fresh)):
                # Side-by-side processes each keep the references of their own last letter.
                if ord(reference[-1]) % self.jobs != self.job:
                    continue
                if reference not in self.references:
                    self.references.add(reference)
                    fresh.append(reference)
        return fresh

    def new_uuid(self) -> str:
        """A random (version 4) UUID, as text: ``uuid.uuid4()`` asks the kernel for every
        one, which costs more than the rest of a row. Seeded from the kernel once per run."""
        bits = self.uuid_bits(128) & UUID4_CLEAR | UUID4_SET
        return f"{bits:032x}"

    def person(self, rng: random.Random, batch: Batch, pk: int, now: Any) -> Row:
        year = rng.randint(1960, 2008)
        national_id = f"{rng.randint(10**11, 10**12 - 1)}"
        phone = f"+9647{rng.randint(500000000, 999999999)}"
        profession = rng.choices(PROFESSIONS, weights=PROFESSION_WEIGHTS)[0]
        return batch.add(
            Returnee,
            id=pk,
            uuid=self.new_uuid(),
            person_number=next(self.person_numbers),
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

    def history(
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
            uuid=self.new_uuid(),
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
                uuid=self.new_uuid(),
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
                uuid=self.new_uuid(),
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
                self.screening(rng, batch, case, at, actor_id, supervisor_id, admit=admit)
            if current == Stage.MONITORING:
                monitoring.entered(self, rng, batch, case, at, now, actor_id)
            if current == Stage.CLOSED:
                case["outcome"] = rng.choice(OUTCOMES)
                case["closed_at"] = at
                batch.add(
                    Approval,
                    uuid=self.new_uuid(),
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
            self.screening(rng, batch, case, at, actor_id, supervisor_id, admit=None)
        if stage in (Stage.TRAINING, Stage.MONITORING) or closed_from in (
            Stage.TRAINING,
            Stage.MONITORING,
        ):
            finished = stage != Stage.TRAINING
            self.training(rng, batch, case, at, now, actor_id, finished=finished)

    def screening(
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
            id=next(self.screening_ids),
            uuid=self.new_uuid(),
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
                uuid=self.new_uuid(),
                case_id=case["case_number"],
                kind=ApprovalKind.SCREENING_DECISION,
                status=ApprovalStatus.APPROVED,
                screening_id=screening["id"],
                requested_by_id=actor_id,
                requested_at=at,
                decided_by_id=supervisor_id,
                decided_at=at,
            )

    def training(
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
            uuid=self.new_uuid(),
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
                uuid=self.new_uuid(),
                case_id=case["case_number"],
                pillar=pillar,
                kind=rng.choice(SUPPORT_KINDS[Pillar(pillar)]),
                provided_on=min(start + datetime.timedelta(days=rng.randint(0, 60)), now.date()),
                amount=Decimal(rng.choice([150, 250, 500])) if paid else None,
                currency="USD" if paid else "",
                recorded_by_id=actor_id,
                created_at=at,
            )
        if self.deferred is not None:
            self.deferred.payments.append((case, start, actor_id))
