"""The competition lens: each rule on hand-made cases, benchmarks and threats by date, and the
caseload path equal to the per-case path."""

import datetime

import pytest
from django.contrib.auth.models import User
from django.db.models import Q
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from cases.competition import (
    case_competition,
    caseload_competition,
    reference_data,
)
from cases.models import (
    Benchmark,
    Case,
    MonitoringContact,
    Stage,
    StageTransition,
    SupportProvision,
    TargetProfile,
    Team,
    ThreatContext,
)

from . import factories as f
from .conftest import case_at

TODAY = datetime.date(2026, 11, 20)


def _at(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


def _codes(findings):
    return sorted(finding.code for finding in findings)


def _enter(case, stage, day, by):
    StageTransition.objects.create(
        case=case, from_stage="intake", to_stage=stage, at=_at(day), by=by
    )


@pytest.fixture
def quiet(db):
    """No shipped threat context, so each test names the exposure it wants."""
    ThreatContext.objects.filter(programme=None).delete()


def test_intake_slower_than_repentance_is_a_speed_finding_with_its_figures(world, quiet):
    case = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    case.intake.return_date = TODAY - datetime.timedelta(days=40)
    case.intake.first_contact_date = case.intake.intake_date = TODAY - datetime.timedelta(days=10)
    case.intake.save()
    speed = [x for x in case_competition(case, today=TODAY) if x.dimension == "speed"]
    assert len(speed) == 1
    finding = speed[0]
    assert (finding.stage, finding.competing_stage, finding.severity) == (
        "intake",
        "repentance",
        "high",
    )
    assert finding.evidence["days"] == 30
    assert finding.evidence["benchmark_days"] == 7
    assert finding.sentence == (
        "Intake came 30 days after return, 23 days behind the group's repentance "
        "registration (7 days)."
    )


def test_intake_within_the_benchmark_has_no_speed_finding(world, quiet):
    case = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    case.intake.return_date = case.intake.intake_date - datetime.timedelta(days=5)
    case.intake.save()
    assert not [x for x in case_competition(case, today=TODAY) if x.dimension == "speed"]


def test_screening_longer_than_the_institute_counts_days_to_today(world, quiet):
    case = case_at(Stage.SCREENING, team=world.team_a, caseworker=world.alice)
    _enter(case, Stage.SCREENING, TODAY - datetime.timedelta(days=60), world.alice)
    finding = next(x for x in case_competition(case, today=TODAY) if x.code == "speed.screening")
    assert finding.evidence["days"] == 60
    assert finding.severity == "medium"
    assert "Screening has taken 60 days, 15 more than" in finding.sentence


def test_missing_pillars_are_offer_findings_until_support_is_recorded(world, quiet):
    case = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    case.intake.intake_date = case.intake.first_contact_date = TODAY - datetime.timedelta(days=45)
    case.intake.save()
    offer = {x.code: x for x in case_competition(case, today=TODAY) if x.dimension == "offer"}
    assert set(offer) == {"offer.security", "offer.livelihood"}
    assert offer["offer.livelihood"].sentence == (
        "No livelihood support 45 days after intake; the group offers it at Repentance "
        "(Tawba) registration."
    )
    assert offer["offer.livelihood"].severity == "high"
    SupportProvision.objects.create(
        case=case, pillar="livelihood", kind="Stipend", provided_on=TODAY, recorded_by=world.alice
    )
    offer_codes = [x.code for x in case_competition(case, today=TODAY) if x.dimension == "offer"]
    assert offer_codes == ["offer.security"]


def test_monitoring_contacts_below_the_groups_intensity(world, quiet):
    case = case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    MonitoringContact.objects.create(
        case=case,
        planned_date=TODAY - datetime.timedelta(days=10),
        actual_date=TODAY - datetime.timedelta(days=10),
        outcome="met",
    )
    MonitoringContact.objects.create(case=case, planned_date=TODAY - datetime.timedelta(days=3))
    findings = {x.code: x for x in case_competition(case, today=TODAY) if x.dimension == "contact"}
    assert findings["contact.shortfall"].evidence["met_30"] == 1
    assert findings["contact.shortfall"].severity == "medium"
    assert findings["contact.missed"].evidence == {"missed": 1}


def test_profile_matches_are_exposure_findings(world, quiet):
    case = case_at(Stage.SCREENING, team=world.team_a, caseworker=world.alice)
    case.returnee.profession = "chemistry"
    case.returnee.detention_history = True
    case.returnee.save()
    names = sorted(
        x.sentence for x in case_competition(case, today=TODAY) if x.code == "exposure.profile"
    )
    assert names == [
        "Matches a profile the group targets: Detention history (detention_history).",
        "Matches a profile the group targets: Prized skills (chemistry).",
    ]


def test_a_threat_context_counts_only_between_its_dates(world, quiet):
    case = case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    ThreatContext.objects.create(
        programme=world.north,
        districts=["Mosul"],
        kind="amnesty_window",
        starts_on=TODAY,
        ends_on=TODAY + datetime.timedelta(days=10),
        source="Field report",
    )

    def exposed(day):
        return any(x.code == "exposure.amnesty_window" for x in case_competition(case, today=day))

    assert not exposed(TODAY - datetime.timedelta(days=1))
    assert exposed(TODAY)
    assert exposed(TODAY + datetime.timedelta(days=10))
    assert not exposed(TODAY + datetime.timedelta(days=11))


def test_benchmark_versions_apply_by_date_and_a_programmes_own_wins(world, quiet):
    default = Benchmark.objects.get(programme=None, competing_stage="repentance")
    Benchmark.objects.create(
        programme=world.north,
        competing_stage="repentance",
        days_to_reach=2,
        source="Programme review 2026",
        valid_from=TODAY,
    )
    before = reference_data([world.north.pk], on=TODAY - datetime.timedelta(days=1))
    after = reference_data([world.north.pk], on=TODAY)
    assert before[world.north.pk].benchmarks["repentance"] == default
    assert after[world.north.pk].benchmarks["repentance"].days_to_reach == 2
    other = reference_data([world.south.pk], on=TODAY)
    assert other[world.south.pk].benchmarks["repentance"] == default


def test_closed_cases_have_no_findings(world, quiet):
    case = case_at(Stage.CLOSED, team=world.team_a, caseworker=world.alice)
    assert case_competition(case, today=TODAY) == []


def test_the_comparison_changes_nothing_on_the_case(world):
    case = case_at(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    before = Case.objects.filter(pk=case.pk).values().get()
    case_competition(case, today=TODAY)
    caseload_competition(Case.objects.all(), today=TODAY)
    assert Case.objects.filter(pk=case.pk).values().get() == before


def test_caseload_path_uses_a_fixed_number_of_queries(
    world, django_assert_max_num_queries, make_case
):
    for stage in (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING):
        make_case(stage)
    with django_assert_max_num_queries(7):
        small = caseload_competition(Case.objects.all(), today=TODAY)
    for stage in (Stage.INTAKE, Stage.SCREENING, Stage.TRAINING, Stage.MONITORING) * 5:
        make_case(stage)
    with django_assert_max_num_queries(7):
        large = caseload_competition(Case.objects.all(), today=TODAY)
    assert len(small) == 4
    assert len(large) == 24


# --- the two paths agree ------------------------------------------------------------------------

DAYS = st.integers(min_value=0, max_value=200)
case_shapes = st.fixed_dictionaries(
    {
        "stage": st.sampled_from(["intake", "screening", "training", "monitoring", "closed"]),
        "return_gap": DAYS,
        "intake_ago": DAYS,
        "entries": st.lists(
            st.tuples(st.sampled_from(["screening", "training", "monitoring"]), DAYS), max_size=4
        ),
        "pillars": st.lists(
            st.sampled_from(
                ["security", "livelihood", "basic_services", "psychosocial", "community"]
            ),
            max_size=5,
        ),
        "contacts": st.lists(
            st.tuples(st.sampled_from(["planned", "met", "missed", "rescheduled"]), DAYS),
            max_size=6,
        ),
        "profession": st.sampled_from(["none", "chemistry", "trade", "it"]),
        "former_role": st.sampled_from(["none", "police", "tribal_leader"]),
        "detention": st.booleans(),
        "district": st.sampled_from(["Mosul", "Sinjar", "Basra"]),
    }
)


class TestBothPathsAgree(HypothesisTestCase):
    team: Team
    user: User

    @classmethod
    def setUpTestData(cls):
        cls.team = f.TeamFactory()
        cls.user = f.UserFactory(username="writer")
        ThreatContext.objects.create(
            programme=None,
            districts=["Sinjar"],
            kind="recruiter_activity",
            starts_on=TODAY - datetime.timedelta(days=30),
            source="Test",
        )

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(case_shapes, min_size=1, max_size=5))
    def test_caseload_findings_equal_per_case_findings(self, shapes):
        Case.objects.filter(team=self.team).delete()
        for shape in shapes:
            self._make(shape)
        cases = Case.objects.filter(team=self.team).select_related("returnee", "intake")
        together = caseload_competition(cases, today=TODAY)
        one_by_one = {c.case_number: case_competition(c, today=TODAY) for c in cases}
        assert together == one_by_one

    def _make(self, shape):
        stage = shape["stage"]
        closing = {"outcome": "reintegrated", "closed_at": timezone.now()}
        case = f.CaseFactory(
            team=self.team,
            stage=stage,
            risk_level="medium",
            **(closing if stage == "closed" else {}),
        )
        person = case.returnee
        person.profession = shape["profession"]
        person.former_role = shape["former_role"]
        person.detention_history = shape["detention"]
        person.current_district = shape["district"]
        person.save()
        intake_day = TODAY - datetime.timedelta(days=shape["intake_ago"])
        f.IntakeRecordFactory(
            case=case,
            recorded_by=self.user,
            return_date=intake_day - datetime.timedelta(days=shape["return_gap"]),
            first_contact_date=intake_day,
            intake_date=intake_day,
        )
        for to_stage, ago in shape["entries"]:
            _enter(case, to_stage, TODAY - datetime.timedelta(days=ago), self.user)
        for pillar in shape["pillars"]:
            SupportProvision.objects.create(
                case=case, pillar=pillar, kind="x", provided_on=TODAY, recorded_by=self.user
            )
        for outcome, ago in shape["contacts"]:
            day = TODAY - datetime.timedelta(days=ago)
            MonitoringContact.objects.create(
                case=case,
                planned_date=day,
                actual_date=day if outcome == "met" else None,
                outcome=outcome,
            )


def test_profiles_and_threats_are_data_not_code(world, quiet):
    assert TargetProfile.objects.filter(programme=None).count() == 3
    assert not ThreatContext.objects.filter(~Q(programme=None)).exists()
