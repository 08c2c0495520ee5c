"""Every list endpoint answers in a pinned number of queries, whatever the page size and however
many rows there are (NetBox's query_counts.json): an N+1 fails here before it reaches a
caseload of thousands.

The lists come from the OpenAPI document, so a new list endpoint fails until it has a seeder
below and a count in query_counts.json.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from cases.models import (
    AccessKey,
    AccessKeyKind,
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Benchmark,
    ConsentScope,
    FailedTask,
    Incident,
    Notification,
    NotificationKind,
    OutboxEvent,
    OutboxStatus,
    PlanGoal,
    Referral,
    ReintegrationPlan,
    Stage,
    StageTransition,
    SupportProvision,
    SurveyQuestion,
    SurveyResponse,
    TargetProfile,
    ThreatContext,
    TrainingEnrolment,
    WebhookEndpoint,
)

from .. import factories as f
from ..web.conftest import verified_client

PINNED = json.loads((Path(__file__).parent / "query_counts.json").read_text())
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
LISTS = sorted(
    path
    for path, item in SCHEMA["paths"].items()
    if "get" in item and item["get"]["operationId"].endswith("_list")
)
N = 12  # more than the small page, fewer than the large one; then 3N
PAGE_SIZES = (10, 50)


# --- seeders: add ``n`` more rows to one list ---------------------------------------------------


def _each(n: int, make: Callable[[int], Any]) -> None:
    for i in range(n):
        make(i)


def _referral(ctx, i: int, *, case=None) -> Referral:
    case = case or ctx.case
    return Referral.objects.create(
        case=case,
        partner=ctx.partner_x,
        service="vocational_training",
        shared_fields=["sex", "current_district", "needs"],
        created_by=ctx.world.alice,
    )


def _partner_case(ctx, i: int) -> None:
    """A case of its own per referral (with consent to share), as a partner's list really
    is: one referral per person."""
    case = f.CaseFactory(team=ctx.world.team_a, caseworker=ctx.world.alice)
    f.ConsentFactory(
        returnee=case.returnee,
        scope=[ConsentScope.PROGRAMME_RECORDS, ConsentScope.SHARE_WITH_PARTNERS],
    )
    f.ScreeningFactory(case=case, needs=["livelihood"])
    _referral(ctx, i, case=case)


def _approval(ctx, i: int) -> None:
    Approval.objects.create(
        case=ctx.case,
        kind=ApprovalKind.CLOSURE,
        outcome="reintegrated",
        status=ApprovalStatus.REJECTED,
        requested_by=ctx.world.alice,
        requested_at=timezone.now(),
        decided_by=ctx.world.carol,
        decided_at=timezone.now(),
        comment="Not yet",
    )


def _plan(ctx, i: int) -> None:
    plan = ReintegrationPlan.objects.create(case=ctx.case, created_by=ctx.world.alice)
    PlanGoal.objects.bulk_create(
        PlanGoal(plan=plan, pillar=pillar, goal=f"Goal {i}")
        for pillar in ("livelihood", "security")
    )


def _outbox_event(ctx, i: int) -> None:
    OutboxEvent.objects.create(
        topic="referral.updated",
        partner=ctx.partner_x,
        endpoint=ctx.endpoint,
        payload={"n": i},
        status=OutboxStatus.DEAD,
        next_attempt_at=timezone.now(),
    )


def _notification(ctx, i: int) -> None:
    Notification.objects.create(
        key=f"count:{i}",
        recipient=ctx.world.alice,
        kind=NotificationKind.CONTACT_MISSED,
        case=ctx.case,
        detail={"days_overdue": i},
    )


def _survey(ctx, i: int) -> None:
    response = SurveyResponse.objects.create(
        case=ctx.case,
        taken_on=today(),
        overall_score=50 + i % 50,
        economic_score=40,
        recorded_by=ctx.world.alice if i % 2 else ctx.world.carol,
        contact=f.ContactFactory(case=ctx.case, outcome="met", actual_date=today()),
    )
    question = SurveyQuestion.objects.filter(programme=None).order_by("id")[i % 3]
    response.answers.create(question=question, value=question.choices[0]["value"], score=1)


def _survey_question(ctx, i: int) -> None:
    SurveyQuestion.objects.create(
        programme=ctx.world.north,
        code=f"count_{i}",
        dimension="social",
        texts={"en": f"Question {i}"},
        choices=[
            {"value": "yes", "score": 1, "labels": {"en": "Yes"}},
            {"value": "no", "score": 0, "labels": {"en": "No"}},
        ],
    )


def _token(ctx, i: int) -> None:
    AccessKey.objects.create(
        kind=AccessKeyKind.STAFF,
        user=ctx.world.alice,
        name=f"script {i}",
        lookup=secrets.token_hex(6),
        secret_hash="0" * 64,
    )


def _webhook(ctx, i: int) -> None:
    WebhookEndpoint.objects.create(
        partner=ctx.partner_x, url=f"https://hooks.example.org/{secrets.token_hex(4)}", secret="s"
    )


def today():
    return timezone.now().date()


# list path → (who asks, what adds one row)
SEEDERS: dict[str, tuple[str, Callable[[Any, int], Any]]] = {
    "/api/v1/cases/": (
        "alice",
        lambda ctx, i: f.ContactFactory(
            case=f.CaseFactory(team=ctx.world.team_a, caseworker=ctx.world.alice)
        ),
    ),
    "/api/v1/cases/{case_number}/screenings/": (
        "carol",  # a supervisor: security findings are shown, so their check runs too
        lambda ctx, i: f.ScreeningFactory(case=ctx.case, security_findings=f"Finding {i}"),
    ),
    "/api/v1/cases/{case_number}/enrolments/": (
        "alice",
        lambda ctx, i: TrainingEnrolment.objects.create(
            case=ctx.case, course=f"Course {i}", provider="Centre", start_date=today()
        ),
    ),
    "/api/v1/cases/{case_number}/support/": (
        "alice",
        lambda ctx, i: SupportProvision.objects.create(
            case=ctx.case, pillar="livelihood", kind=f"Grant {i}", provided_on=today()
        ),
    ),
    "/api/v1/cases/{case_number}/contacts/": (
        "alice",
        lambda ctx, i: f.ContactFactory(case=ctx.case, recorded_by=ctx.world.alice),
    ),
    "/api/v1/cases/{case_number}/incidents/": (
        "alice",
        lambda ctx, i: Incident.objects.create(
            case=ctx.case,
            kind="threat_received",
            occurred_on=today(),
            severity="low",
            recorded_by=ctx.world.alice,
        ),
    ),
    "/api/v1/cases/{case_number}/consents/": (
        "alice",
        lambda ctx, i: f.ConsentFactory(returnee=ctx.case.returnee, recorded_by=ctx.world.alice),
    ),
    "/api/v1/cases/{case_number}/approvals/": ("alice", _approval),
    "/api/v1/cases/{case_number}/plans/": ("alice", _plan),
    "/api/v1/cases/{case_number}/referrals/": ("alice", _referral),
    "/api/v1/cases/{case_number}/transitions/": (
        "alice",
        lambda ctx, i: StageTransition.objects.create(
            case=ctx.case,
            from_stage="intake",
            to_stage="screening",
            at=timezone.now(),
            by=ctx.world.carol if i % 2 else ctx.world.alice,
        ),
    ),
    "/api/v1/cases/{case_number}/surveys/": ("alice", _survey),
    "/api/v1/survey-questions/": ("bob", _survey_question),
    "/api/v1/outbox/": ("mona", _outbox_event),
    "/api/v1/failed-tasks/": (
        "mona",
        lambda ctx, i: FailedTask.objects.create(
            task_name="cases.monitoring_plan",
            task_id=f"query-count-{secrets.token_hex(6)}",
            error="OperationalError",
        ),
    ),
    "/api/v1/tokens/": ("alice", _token),
    "/api/v1/notifications/": ("alice", _notification),
    "/api/v1/partner/referrals/": ("partner_x", _partner_case),
    "/api/v1/partner/webhooks/": ("partner_x", _webhook),
    "/api/v1/competition/benchmarks/": (
        "mona",
        lambda ctx, i: Benchmark.objects.create(
            programme=ctx.world.north,
            competing_stage="repentance",
            days_to_reach=i,
            source=f"Review {i}",
            valid_from=today(),
        ),
    ),
    "/api/v1/competition/threats/": (
        "alice",
        lambda ctx, i: ThreatContext.objects.create(
            programme=ctx.world.north,
            districts=[f"District {i}"],
            kind="recruiter_activity",
            starts_on=today(),
            source="Field report",
        ),
    ),
    "/api/v1/competition/profiles/": (
        "bob",
        lambda ctx, i: TargetProfile.objects.create(
            programme=ctx.world.north, name=f"Profile {i}", source="Review"
        ),
    ),
}

# Savepoints are not counted: a test runs inside a transaction, so every ``atomic`` block a
# request enters shows up as SAVEPOINT/RELEASE, where in production (autocommit) an atomic block
# without a query inside it sends nothing. A query inside one still counts.
SAVEPOINT_SQL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")


@pytest.fixture
def ctx(world, partners, make_case):
    partner_x, client_x, _key = partners["x"]
    endpoint = WebhookEndpoint.objects.create(
        partner=partner_x, url="https://hooks.example.org/base", secret="s"
    )
    return SimpleNamespace(
        world=world,
        partner_x=partner_x,
        partner_client=client_x,
        endpoint=endpoint,
        case=make_case(Stage.SCREENING),
    )


def _client(ctx, persona: str) -> APIClient:
    if persona == "partner_x":
        return ctx.partner_client
    client = APIClient()
    verified_client(getattr(ctx.world, persona), client)
    return client


def _measure(client: APIClient, url: str, page_size: int) -> tuple[int, int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200, response.content
    data = response.json()
    rows = len(data["results"] if isinstance(data, dict) else data)
    statements = [q["sql"] for q in queries.captured_queries]
    statements = [sql for sql in statements if not sql.startswith(SAVEPOINT_SQL)]
    return len(statements), rows, statements


def test_every_list_endpoint_has_a_seeder_and_a_pinned_count():
    assert set(LISTS) == set(SEEDERS), "add the new list endpoint to SEEDERS"
    assert set(LISTS) == set(PINNED), "pin the new list endpoint in query_counts.json"


@pytest.mark.parametrize("path", LISTS)
def test_list_query_count_is_pinned_and_independent_of_page_and_caseload_size(ctx, path):
    persona, seed = SEEDERS[path]
    url = path.replace("{case_number}", ctx.case.case_number)
    client = _client(ctx, persona)
    _each(N, lambda i: seed(ctx, i))
    client.get(url)  # warm-up: a partner key's first use records when it was last used

    measured = {}
    for total in (N, 3 * N):
        for page_size in PAGE_SIZES:
            measured[(total, page_size)] = _measure(client, url, page_size)
        if total == N:
            _each(2 * N, lambda i: seed(ctx, N + i))

    rows = {key: value[1] for key, value in measured.items()}
    assert len(set(rows.values())) > 1, f"the pages should differ in size: {rows}"
    counts = {key: value[0] for key, value in measured.items()}
    baseline_key = (N, PAGE_SIZES[0])
    assert len(set(counts.values())) == 1, (
        f"{path}: queries by (rows, page size) {counts} for rows on the page {rows}; "
        f"first page's SQL: {measured[baseline_key][2]}"
    )
    assert counts[baseline_key] == PINNED[path], (
        f"{path} takes {counts[baseline_key]} queries, pinned at {PINNED[path]}: "
        f"{measured[baseline_key][2]}"
    )
