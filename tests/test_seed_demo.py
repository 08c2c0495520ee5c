"""Demo data: every stage present, records consistent with the workflow, idempotent."""

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

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

ROOT = Path(__file__).resolve().parent.parent


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
            assert given_name.startswith("enc1:")
            assert national_id.startswith("enc1:")


def test_seeded_people_are_found_through_the_blind_index(seeded):
    from cases.crypto import national_id_index, phone_index

    person = Returnee.objects.order_by("?").first()
    assert person is not None
    assert person.national_id_index == national_id_index(person.national_id)
    assert person.phone_index == phone_index(person.phone)


# --- the national-size options (--teams, --staff, --records, --skew) --------------------------

NAMED = {
    "caseworker_a": [("caseworker", "Mosul East")],
    "caseworker_b": [("caseworker", "Mosul West")],
    "caseworker_c": [("caseworker", "Tel Afar")],
    "caseworker_d": [("caseworker", "Sinjar")],
    "supervisor_mosul": [("supervisor", "Mosul East"), ("supervisor", "Mosul West")],
    "supervisor_north": [("supervisor", "Sinjar"), ("supervisor", "Tel Afar")],
    "manager": [("programme_manager", None)],
    "auditor": [("auditor", None)],
}


def _memberships(username):
    from cases.models import Membership

    return sorted(
        Membership.objects.filter(user__username=username).values_list("role", "team__name"),
        key=lambda pair: (pair[0], pair[1] or ""),
    )


def _team_staff_count():
    from cases.models import Membership, Role

    return (
        Membership.objects.filter(role__in=[Role.CASEWORKER, Role.SUPERVISOR])
        .values("user")
        .distinct()
        .count()
    )


def _records():
    from cases.demo import PEOPLE_CASES, WRITE_ORDER

    return sum(m._default_manager.count() for m in WRITE_ORDER if m not in PEOPLE_CASES)


def test_defaults_are_the_small_demo(seeded):
    from django.contrib.auth import get_user_model

    from cases.models import Team

    assert Team.objects.count() == 4
    assert set(get_user_model().objects.values_list("username", flat=True)) == set(NAMED)
    for username, memberships in NAMED.items():
        assert _memberships(username) == memberships


@pytest.fixture
def national(db):
    call_command(
        "seed_demo", cases=800, teams=12, staff=70, records=16000, skew=True, stdout=StringIO()
    )


def test_teams_and_staff_as_asked_every_team_staffed(national):
    from cases.models import Membership, Role, Team

    assert Team.objects.count() == 12
    assert _team_staff_count() == 70
    for team in Team.objects.all():
        roles = set(Membership.objects.filter(team=team).values_list("role", flat=True))
        assert {Role.CASEWORKER, Role.SUPERVISOR} <= roles, team.name
    assert Case.objects.count() == 800
    assert Case.objects.filter(caseworker__isnull=True).count() == 0


def test_named_demo_users_stay_as_they_are(national):
    from django.contrib.auth import authenticate
    from django.test import RequestFactory

    for username, memberships in NAMED.items():
        assert _memberships(username) == memberships
    request = RequestFactory().post("/")
    assert authenticate(request, username="caseworker_a", password="demo-password-2026")
    assert authenticate(request, username="caseworker_0001", password="demo-password-2026")


def test_records_roughly_as_asked_with_overdue_and_future_contacts(national):
    import datetime

    from django.utils import timezone

    from cases.models import ContactOutcome

    assert 0.9 * 16000 <= _records() <= 1.1 * 16000
    today = timezone.localdate()
    planned = MonitoringContact.objects.filter(outcome=ContactOutcome.PLANNED)
    assert planned.filter(planned_date__lt=today - datetime.timedelta(days=7)).exists()
    assert planned.filter(planned_date__gt=today).exists()
    # Contacts are in monitoring or after it, never on a case that never got there.
    assert not MonitoringContact.objects.filter(
        case__stage__in=[Stage.INTAKE, Stage.SCREENING, Stage.TRAINING]
    ).exists()


def test_skew_gives_some_caseworkers_large_caseloads(national):
    import statistics

    from django.db.models import Count

    loads = sorted(
        n for _id, n in Case.objects.values_list("caseworker").annotate(n=Count("pk")).order_by()
    )
    assert loads[-1] >= 3 * statistics.median(loads)


def test_even_without_skew(db):
    import statistics

    from django.db.models import Count

    call_command("seed_demo", cases=600, teams=6, staff=20, stdout=StringIO())
    loads = [n for _id, n in Case.objects.values_list("caseworker").annotate(n=Count("pk"))]
    assert max(loads) < 3 * statistics.median(loads)


def test_national_seed_is_idempotent(national):
    from django.contrib.auth import get_user_model

    from cases.models import Membership, Team

    users = get_user_model().objects.count()
    memberships = Membership.objects.count()
    call_command(
        "seed_demo", cases=800, teams=12, staff=70, records=16000, skew=True, stdout=StringIO()
    )
    assert Case.objects.count() == 800
    assert Team.objects.count() == 12
    assert get_user_model().objects.count() == users
    assert Membership.objects.count() == memberships


@pytest.mark.parametrize(
    ("options", "message"),
    [({"teams": 3}, "--teams"), ({"teams": 10, "staff": 12}, "--staff")],
)
def test_impossible_sizes_are_refused(db, options, message):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match=message):
        call_command("seed_demo", cases=10, stdout=StringIO(), **options)
    assert Case.objects.count() == 0


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_parallel_load_on_postgresql():
    """Two processes load side by side, each with its own connection; nothing drawn twice.

    The command runs as it does for an operator, in a process of its own: forked from the test
    runner, the loaders would inherit the runner's threads' database sockets."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("several loading processes only on PostgreSQL")
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "reintegration.settings"}
    env.pop("REDIS_URL", None)  # tasks in-process, as in development
    command = [sys.executable, "manage.py", "seed_demo", "--cases", "400", "--chunk", "50"]
    command += ["--records", "8000", "--jobs", "2", "--teams", "6", "--staff", "20"]
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments, no shell
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "2 loading processes" in done.stdout
    assert Case.objects.count() == 400
    assert Returnee.objects.values("person_number").distinct().count() == 400
    assert 0.9 * 8000 <= _records() <= 1.1 * 8000
    assert AuditEvent.objects.filter(action="demo.seed").get().detail["cases_created"] == 400
