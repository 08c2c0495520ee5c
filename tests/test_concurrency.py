"""Concurrent writers on PostgreSQL: row locks plus versions mean no lost update, and the audit
chain stays one chain however many transactions append at once."""

import threading

import pytest
from django.db import connection, connections, transaction

from cases.models import AuditAction, AuditEvent, Case, Stage, StageTransition
from cases.services.audit import audit_record, audit_verify
from cases.services.errors import StaleVersion
from cases.services.workflow import case_transition

from .conftest import case_at
from .factories import MembershipFactory, TeamFactory, UserFactory

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; set DATABASE_URL to run these")


def _run_together(workers):
    """Start every worker at the same moment; collect what each returned or raised."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(index, work):
        try:
            barrier.wait()
            results[index] = work()
        except Exception as exc:
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_people_moving_the_same_version_one_wins_one_is_told(transactional_db):
    team = TeamFactory()
    users = [UserFactory(username=f"cw{n}") for n in range(2)]
    for user in users:
        MembershipFactory(user=user, role="caseworker", team=team)
    case = case_at(Stage.INTAKE, team=team, caseworker=users[0])

    def move(user):
        return lambda: case_transition(
            actor=user,
            case=Case.objects.get(pk=case.pk),
            to_stage=Stage.SCREENING,
            expected_version=1,
        )

    results = _run_together([move(users[0]), move(users[1])])
    assert sum(isinstance(r, StageTransition) for r in results) == 1
    assert sum(isinstance(r, StaleVersion) for r in results) == 1
    assert StageTransition.objects.filter(case=case).count() == 1
    assert Case.objects.get(pk=case.pk).version == 2


def test_concurrent_appends_keep_a_single_verifiable_chain(transactional_db):
    def append(n):
        def work():
            for i in range(15):
                with transaction.atomic():
                    audit_record(
                        actor=None,
                        action=AuditAction.DEMO_SEED,
                        object_type="x",
                        object_id=f"{n}-{i}",
                    )

        return work

    results = _run_together([append(n) for n in range(4)])
    assert results == [None] * 4
    assert AuditEvent.objects.count() == 60
    report = audit_verify()
    assert report.ok, report
