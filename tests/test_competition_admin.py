"""The competition's reference data in the admin: every change audited, who entered it kept,
and a benchmark's figures frozen once saved (revise by closing it and adding a version)."""

import datetime

import pytest
from django.urls import reverse

from cases.models import AuditEvent, Benchmark, Role, ThreatContext

from .factories import MembershipFactory
from .web.conftest import verified_client


@pytest.fixture
def manager(admin_user, world):
    """The admin account, as a manager of programme North."""
    MembershipFactory(user=admin_user, role=Role.PROGRAMME_MANAGER, programme=world.north)
    return admin_user


def test_adding_a_threat_context_is_audited_and_records_who_entered_it(client, manager, world):
    admin_user = manager
    client = verified_client(admin_user)
    response = client.post(
        reverse("admin:cases_threatcontext_add"),
        {
            "programme": world.north.pk,
            "districts": '["Sinjar"]',
            "kind": "recruiter_activity",
            "starts_on": "2026-11-01",
            "source": "Field report",
            "notes": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    threat = ThreatContext.objects.get(programme=world.north, kind="recruiter_activity")
    assert threat.entered_by == admin_user
    event = AuditEvent.objects.get(action="threatcontext.create")
    assert event.actor == admin_user
    assert event.object_type == "threatcontext"


def test_a_saved_benchmark_only_lets_valid_to_change(client, manager, world):
    client = verified_client(manager)
    benchmark = Benchmark.objects.create(
        programme=world.north,
        competing_stage="repentance",
        days_to_reach=5,
        source="Programme review",
        valid_from=datetime.date(2026, 1, 1),
    )
    url = reverse("admin:cases_benchmark_change", args=[benchmark.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="valid_to"' in page.content.decode()
    assert 'name="days_to_reach"' not in page.content.decode()
    assert 'name="source"' not in page.content.decode()


def test_target_profiles_are_listed(client, manager, world):
    client = verified_client(manager)
    assert client.get(reverse("admin:cases_targetprofile_changelist")).status_code == 200


def test_defaults_are_read_only_and_only_managers_add(client, admin_user, manager, world):
    client = verified_client(manager)
    default = Benchmark.objects.filter(programme=None).first()
    assert default is not None
    page = client.get(reverse("admin:cases_benchmark_change", args=[default.pk])).content.decode()
    assert 'name="valid_to"' not in page  # view only
    south = Benchmark.objects.create(
        programme=world.south,
        competing_stage="repentance",
        source="x",
        valid_from=default.valid_from,
    )
    assert client.get(reverse("admin:cases_benchmark_change", args=[south.pk])).status_code == 404
    world.carol.is_staff = True
    world.carol.save()
    client = verified_client(world.carol)  # a supervisor, not a manager
    assert client.get(reverse("admin:cases_threatcontext_add")).status_code == 403


def test_a_threat_context_added_in_the_admin_flags_the_cases_in_its_districts(
    manager, world, make_case, django_capture_on_commit_callbacks, eager_tasks
):
    from cases.models import CaseFlag, Stage

    case = make_case(Stage.MONITORING, team=world.team_c, caseworker=world.alice)
    case.returnee.current_district = "Sinjar"
    case.returnee.save()
    elsewhere = make_case(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    elsewhere.returnee.current_district = "Tel Keppe"
    elsewhere.returnee.save()
    client = verified_client(manager)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:cases_threatcontext_add"),
            {
                "programme": world.north.pk,
                "districts": '["Sinjar"]',
                "kind": "recruiter_activity",
                "starts_on": datetime.date.today().isoformat(),
                "source": "Field report",
                "notes": "",
            },
        )

    assert response.status_code == 302
    threat = ThreatContext.objects.get(programme=world.north, kind="recruiter_activity")
    flagged = set(CaseFlag.objects.filter(threat=threat).values_list("case_id", flat=True))
    assert case.case_number in flagged
    assert elsewhere.case_number not in flagged
