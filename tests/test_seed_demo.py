"""Demo data: every stage present, records consistent with the workflow, idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command

from cases.models import (
    AuditEvent,
    Case,
    IntakeRecord,
    MonitoringContact,
    Returnee,
    Stage,
    StageTransition,
)
from cases.services.audit import audit_verify
from cases.services.workflow import move_refusals


@pytest.fixture
def seeded(db):
    out = StringIO()
    call_command("seed_demo", cases=120, stdout=out)
    return out.getvalue()


def test_seed_creates_cases_in_every_stage_and_prints_the_logins(seeded):
    assert Case.objects.count() == 120
    assert set(Case.objects.values_list("stage", flat=True)) == set(Stage.values)
    for login in ("caseworker_a", "supervisor_mosul", "manager", "auditor"):
        assert login in seeded


def test_seed_is_idempotent_and_tops_up(seeded):
    call_command("seed_demo", cases=120, stdout=StringIO())
    assert Case.objects.count() == 120
    call_command("seed_demo", cases=150, stdout=StringIO())
    assert Case.objects.count() == 150
    assert Returnee.objects.count() == 150


def test_seeded_records_match_each_stage(seeded):
    assert IntakeRecord.objects.count() == Case.objects.count()
    for case in Case.objects.exclude(stage=Stage.INTAKE):
        assert StageTransition.objects.filter(case=case).exists()
    monitored = Case.objects.filter(stage=Stage.MONITORING)
    assert MonitoringContact.objects.filter(case__in=monitored).exists()
    closed = Case.objects.filter(stage=Stage.CLOSED)
    assert all(case.outcome and case.closed_at for case in closed)


def test_seeded_training_cases_met_the_workflow_preconditions(seeded):
    """A seeded case in training must be one the workflow would have let into training."""
    for case in Case.objects.filter(stage=Stage.TRAINING)[:10]:
        case.stage = Stage.SCREENING
        assert move_refusals(case, Stage.TRAINING) == []


def test_seed_is_audited_and_the_chain_verifies(seeded):
    assert AuditEvent.objects.filter(action="demo.seed").count() == 1
    assert audit_verify().ok


def test_seeded_identities_are_encrypted(seeded):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT given_name, national_id FROM cases_returnee")
        for given_name, national_id in cursor.fetchall():
            assert given_name.startswith("enc1:") and national_id.startswith("enc1:")


def test_seeded_people_are_found_through_the_blind_index(seeded):
    from cases.crypto import national_id_index, phone_index

    person = Returnee.objects.order_by("?").first()
    assert person.national_id_index == national_id_index(person.national_id)
    assert person.phone_index == phone_index(person.phone)
