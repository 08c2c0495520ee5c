"""The competition summary streamed a chunk of cases at a time and tallied per team (issue #12,
worker memory): the same figures as the summary computed with the whole caseload in memory,
whatever the chunk and however the teams are combined; one chunk of case facts held at a time;
a fixed number of queries a chunk."""

from __future__ import annotations

import dataclasses
import datetime
import itertools
from collections import Counter
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase as HypothesisTestCase

from cases import competition
from cases.competition import (
    SEVERITY_RANK,
    SUMMARY_STAGES,
    CaseAttention,
    CaseFacts,
    CompetitionSummary,
    StageSummary,
    SummaryTally,
    attention_score,
    caseload_facts,
    competition_summary,
    findings_for,
    reference_data,
    team_tallies,
)
from cases.competition import facts as facts_module
from cases.competition import summary as summary_module
from cases.competition.cached import competition_summaries_warm, summary_cache_key
from cases.competition.summary import _stage_days
from cases.models import (
    COMPETES_WITH,
    Case,
    MonitoringContact,
    Pillar,
    Stage,
    StageTransition,
    SupportProvision,
    Team,
    ThreatContext,
    ThreatKind,
)

from . import factories as f
from .conftest import case_at

TODAY = datetime.date(2026, 11, 20)


# --- the summary as it was computed before issue #12: every case's facts and findings in a list


def _median_of_list(values):
    if not values:
        return None
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def summary_held_in_memory(cases, *, today, top=competition.TOP_CASES):
    """The oracle: ``summary_from_findings`` as it was, over ``caseload_facts`` (all at once)."""
    facts = caseload_facts(cases, today=today)
    refs = reference_data({one.programme_id for one in facts}, on=today)
    rows = [(one, findings_for(one, refs[one.programme_id], today)) for one in facts]
    by_stage: dict[str, list[tuple[CaseFacts, Any]]] = {s: [] for s in SUMMARY_STAGES}
    for one, found in rows:
        if one.stage in by_stage:
            by_stage[one.stage].append((one, found))
    stages = []
    threat_codes = frozenset(f"exposure.{kind}" for kind in ThreatKind.values)
    for stage, staged in by_stage.items():
        days, benchmark_days = [], []
        having: Counter[str] = Counter()
        for one, found in staged:
            actual, benchmark = _stage_days(one, refs[one.programme_id], today)
            if actual is not None:
                days.append(actual)
            if benchmark is not None:
                benchmark_days.append(benchmark)
            codes = {x.code for x in found}
            having.update(codes)
            if codes & threat_codes:
                having["exposure.threat"] += 1
        ranked = sorted(
            ((attention_score(fs), one.case_number, fs) for one, fs in staged if fs),
            key=lambda item: (-item[0], item[1]),
        )[:top]
        size = len(staged)
        stages.append(
            StageSummary(
                stage=stage,
                competing_stage=COMPETES_WITH[stage],
                cases=size,
                median_days=_median_of_list(days),
                benchmark_days=_median_of_list(benchmark_days),
                pillar_missing_share={
                    pillar: round(having[f"offer.{pillar}"] / size, 3) if size else 0.0
                    for pillar in Pillar.values
                },
                contact_shortfall=having["contact.shortfall"],
                contacts_missed=having["contact.missed"],
                exposure_profile=having["exposure.profile"],
                exposure_threat=having["exposure.threat"],
                top_cases=[
                    CaseAttention(
                        case_number=number,
                        attention_score=score,
                        reasons=[
                            x.sentence for x in sorted(fs, key=lambda x: -SEVERITY_RANK[x.severity])
                        ],
                    )
                    for score, number, fs in ranked
                ],
            )
        )
    return CompetitionSummary(today=today, cases=sum(s.cases for s in stages), stages=stages)


# --- the same figures -----------------------------------------------------------------------------

DAYS = st.integers(min_value=0, max_value=120)
case_shapes = st.fixed_dictionaries(
    {
        "team": st.integers(min_value=0, max_value=2),
        "stage": st.sampled_from(["intake", "screening", "training", "monitoring", "closed"]),
        "return_gap": DAYS,
        "intake_ago": DAYS,
        "entered_ago": DAYS,
        "pillars": st.lists(
            st.sampled_from(["security", "livelihood", "psychosocial"]), max_size=2
        ),
        "contacts": st.lists(
            st.tuples(st.sampled_from(["planned", "met", "missed"]), DAYS), max_size=3
        ),
        "profession": st.sampled_from(["none", "chemistry"]),
        "district": st.sampled_from(["Mosul", "Sinjar"]),
    }
)


class TestTheTallyGivesTheSameSummary(HypothesisTestCase):
    """Random caseloads over three teams, streamed three cases a chunk, the top cases cut
    back after every case: each set of teams' merged tally is the oracle's summary."""

    teams: list[Team]
    user: User

    @classmethod
    def setUpTestData(cls):
        cls.teams = [f.TeamFactory(), f.TeamFactory(), f.TeamFactory()]
        cls.user = f.UserFactory(username="writer")
        ThreatContext.objects.create(
            programme=None,
            districts=["Sinjar"],
            kind="recruiter_activity",
            starts_on=TODAY - datetime.timedelta(days=30),
            source="Test",
        )

    def setUp(self):
        self.saved = facts_module.FACTS_CHUNK, summary_module._RANKED_SLACK
        facts_module.FACTS_CHUNK, summary_module._RANKED_SLACK = 3, 1

    def tearDown(self):
        facts_module.FACTS_CHUNK, summary_module._RANKED_SLACK = self.saved

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(case_shapes, min_size=1, max_size=9))
    def test_every_team_set_and_the_streamed_summary_equal_the_in_memory_summary(self, shapes):
        Case.objects.filter(team__in=self.teams).delete()
        for shape in shapes:
            self._make(shape)
        mine = Case.objects.filter(team__in=self.teams)
        assert competition_summary(mine, today=TODAY) == summary_held_in_memory(mine, today=TODAY)
        assert competition_summary(mine, today=TODAY, top=2) == summary_held_in_memory(
            mine, today=TODAY, top=2
        )
        tallies = team_tallies(mine.exclude(stage=Stage.CLOSED), today=TODAY)
        for size in (1, 2, 3):
            for teams in itertools.combinations(self.teams, size):
                parts = [tallies[t.pk] for t in teams if t.pk in tallies]
                expected = summary_held_in_memory(
                    mine.filter(team__in=teams).exclude(stage=Stage.CLOSED), today=TODAY
                )
                assert SummaryTally.merged(parts).summary(today=TODAY) == expected

    def _make(self, shape):
        stage = shape["stage"]
        case = f.CaseFactory(
            team=self.teams[shape["team"]],
            stage=stage,
            risk_level="medium",
            **({"outcome": "reintegrated", "closed_at": _at(TODAY)} if stage == "closed" else {}),
        )
        person = case.returnee
        person.profession = shape["profession"]
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
        if stage in ("screening", "training", "monitoring"):
            StageTransition.objects.create(
                case=case,
                from_stage="intake",
                to_stage=stage,
                at=_at(TODAY - datetime.timedelta(days=shape["entered_ago"])),
                by=self.user,
            )
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


def _at(day):
    return datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)


# --- the warm-up ------------------------------------------------------------------------------


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(facts_module, "FACTS_CHUNK", 2)
    return 2


@pytest.fixture
def spread(world):
    """Open cases at every stage in three North teams and South's, and a closed one."""
    for team, caseworker in (
        (world.team_a, world.alice),
        (world.team_b, world.bob),
        (world.team_c, world.alice),
        (world.team_x, world.xavier),
    ):
        for stage in (Stage.INTAKE, Stage.SCREENING, Stage.MONITORING):
            case = case_at(stage, team=team, caseworker=caseworker)
            f.ContactFactory(case=case, planned_date=TODAY - datetime.timedelta(days=9))
    case_at(Stage.CLOSED, team=world.team_a, caseworker=world.alice)


@override_settings(COMPETITION_SUMMARY_CACHE_MIN_CASES=1)
def test_the_warm_up_caches_the_summary_computed_directly_for_each_team_set(
    world, spread, small_chunks
):
    cache.clear()
    assert competition_summaries_warm() >= 5
    today = timezone.localdate()
    north = [world.team_a, world.team_b, world.team_c]
    for teams in (north, [world.team_a, world.team_c], [world.team_a], [world.team_x]):
        cached = cache.get(summary_cache_key({t.pk for t in teams}, today))
        assert cached is not None
        assert cached.computed_at is not None
        direct = competition_summary(
            Case.objects.filter(team__in=teams).exclude(stage=Stage.CLOSED), today=today
        )
        assert dataclasses.replace(cached, computed_at=None) == direct
        assert direct == summary_held_in_memory(
            Case.objects.filter(team__in=teams).exclude(stage=Stage.CLOSED), today=today
        )
    cache.clear()


class _CountedFacts(CaseFacts):
    """CaseFacts that count how many of them are alive at once."""

    alive = most = made = 0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cls = _CountedFacts
        cls.alive += 1
        cls.made += 1
        cls.most = max(cls.most, cls.alive)

    def __del__(self):
        _CountedFacts.alive -= 1


@override_settings(COMPETITION_SUMMARY_CACHE_MIN_CASES=1)
def test_the_warm_up_holds_one_chunk_of_case_facts_at_a_time(
    world, spread, small_chunks, monkeypatch
):
    monkeypatch.setattr(facts_module, "CaseFacts", _CountedFacts)
    _CountedFacts.alive = _CountedFacts.most = _CountedFacts.made = 0
    competition_summaries_warm()
    assert _CountedFacts.made == 12  # every open case read
    assert _CountedFacts.most <= small_chunks  # never more than one chunk's facts at once
    cache.clear()


@override_settings(COMPETITION_SUMMARY_CACHE_MIN_CASES=1)
def test_the_warm_up_takes_a_fixed_number_of_queries_a_chunk(world, small_chunks):
    def cases(n):
        for _ in range(n):
            case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)

    cases(4)  # two chunks
    with CaptureQueriesContext(connection) as two:
        competition_summaries_warm()
    cases(4)  # four chunks
    with CaptureQueriesContext(connection) as four:
        competition_summaries_warm()
    facts = [q["sql"] for q in four.captured_queries if "cases_stagetransition" in q["sql"]]
    assert len(facts) == 4  # one lookup of stage moves a chunk
    assert len(four.captured_queries) - len(two.captured_queries) == 2 * 4
    cache.clear()
