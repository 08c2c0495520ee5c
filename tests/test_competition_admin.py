"""The competition's reference data in the admin: every change audited, who entered it kept,
and a benchmark's figures frozen once saved (revise by closing it and adding a version)."""

from django.urls import reverse

from cases.models import AuditEvent, Benchmark, ThreatContext


def test_adding_a_threat_context_is_audited_and_records_who_entered_it(client, admin_user, world):
    client.force_login(admin_user)
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
    assert event.actor == admin_user and event.object_type == "threatcontext"


def test_a_saved_benchmark_only_lets_valid_to_change(client, admin_user, world):
    client.force_login(admin_user)
    benchmark = Benchmark.objects.filter(programme=None).first()
    assert benchmark is not None
    url = reverse("admin:cases_benchmark_change", args=[benchmark.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert 'name="valid_to"' in page.content.decode()
    assert 'name="days_to_reach"' not in page.content.decode()
    assert 'name="source"' not in page.content.decode()


def test_target_profiles_are_listed(client, admin_user, world):
    client.force_login(admin_user)
    assert client.get(reverse("admin:cases_targetprofile_changelist")).status_code == 200
