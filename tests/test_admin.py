"""The admin: case pages scoped by the selectors (out of scope is 404), no identity fields,
configuration changes audited."""

import pytest
from django.urls import reverse

from cases.models import AuditEvent, Stage

from .web.conftest import verified_client


@pytest.fixture
def cases(world, make_case):
    return {
        "a": make_case(Stage.SCREENING, team=world.team_a),
        "b": make_case(Stage.SCREENING, team=world.team_b, caseworker=world.bob),
    }


def _client(client, user):
    """A client for ``user`` past both login steps: the admin needs the second factor too."""
    return verified_client(user)


def test_case_list_shows_only_cases_in_scope(client, world, cases):
    response = _client(client, world.bob).get(reverse("admin:cases_case_changelist"))
    assert response.status_code == 200
    body = response.content.decode()
    assert cases["b"].case_number in body
    assert cases["a"].case_number not in body


@pytest.mark.parametrize(
    ("persona", "letter", "status"),
    [
        ("alice", "a", 200),
        ("alice", "b", 404),
        ("bob", "a", 404),
        ("carol", "a", 200),
        ("carol", "b", 404),
        ("mona", "b", 200),
        ("root", "a", 404),
        ("xavier", "a", 404),
    ],
)
def test_case_page_is_404_out_of_scope_and_shows_the_case_in_scope(
    client, world, cases, persona, letter, status
):
    case = cases[letter]
    url = reverse("admin:cases_case_change", args=[case.case_number])
    assert case.case_number in url  # the pseudonymous number, not a database id
    response = _client(client, getattr(world, persona)).get(url)
    assert response.status_code == status
    if status == 200:
        assert case.case_number in response.content.decode()


def test_case_page_carries_no_identity_value(client, world, cases):
    case = cases["a"]
    response = _client(client, world.alice).get(
        reverse("admin:cases_case_change", args=[case.case_number])
    )
    body = response.content.decode()
    assert case.returnee.given_name not in body
    assert case.returnee.national_id not in body


def test_cases_cannot_be_changed_through_the_admin(client, world, cases):
    case = cases["a"]
    url = reverse("admin:cases_case_change", args=[case.case_number])
    response = _client(client, world.mona).post(url, {"stage": "closed"})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.stage == Stage.SCREENING


def test_audit_log_is_listed_for_auditors_only(client, world, cases):
    url = reverse("admin:cases_auditevent_changelist")
    audrey = world.audrey
    audrey.is_staff = True
    audrey.save()
    assert _client(client, audrey).get(url).status_code == 200
    assert _client(client, world.mona).get(url).status_code == 403


def test_configuration_change_in_the_admin_is_audited(client, admin_user, world):
    from cases.models import Role

    from .factories import MembershipFactory

    MembershipFactory(user=admin_user, role=Role.PROGRAMME_MANAGER, programme=world.north)
    client = verified_client(admin_user)
    url = reverse("admin:cases_programme_change", args=[world.north.pk])
    response = client.post(
        url,
        {
            "name": "North",
            "country": "Iraq",
            "region": "Ninewa Plains",
            "contact_grace_days": 3,
            "escalate_after_days": 7,
            "plan_ahead_days": 90,
            "retention_days": 1825,
        },
        follow=False,
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="programme.update")
    assert event.actor == admin_user
    assert event.fields == ["region"]
    assert event.ip == "127.0.0.1"
    assert len(event.request_id) == 32


def test_staff_account_change_in_the_admin_is_audited_without_the_password(
    client, admin_user, world
):
    client = verified_client(admin_user)
    url = reverse("admin:auth_user_add")
    response = client.post(
        url,
        {
            "username": "newcaseworker",
            "password1": "a-long-enough-passphrase-91",
            "password2": "a-long-enough-passphrase-91",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    event = AuditEvent.objects.get(action="user.create")
    assert event.actor == admin_user
    assert "passphrase" not in str(event.content())


def test_password_change_in_the_admin_is_audited(client, admin_user, world):
    client = verified_client(admin_user)
    url = reverse("admin:auth_user_password_change", args=[world.bob.pk])
    response = client.post(
        url,
        {
            "password1": "another-long-passphrase-77",
            "password2": "another-long-passphrase-77",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="user.password_change")
    assert (event.actor, event.object_id, event.fields) == (
        admin_user,
        str(world.bob.pk),
        ["password"],
    )


def test_the_admin_lists_second_factor_devices_without_their_keys(admin_user, world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=world.alice, name="alice-phone", confirmed=True)
    client = verified_client(admin_user)

    listing = client.get(reverse("admin:otp_totp_totpdevice_changelist"))
    page = client.get(reverse("admin:otp_totp_totpdevice_change", args=[device.pk]))

    assert listing.status_code == 200
    assert "alice-phone" in listing.content.decode()
    assert page.status_code == 200
    for body in (listing.content.decode(), page.content.decode()):
        assert device.key not in body
        assert "otpauth://" not in body


def test_deleting_a_lost_phone_in_the_admin_is_audited(admin_user, world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.create(user=world.alice, name="alice-phone", confirmed=True)
    client = verified_client(admin_user)

    response = client.post(
        reverse("admin:otp_totp_totpdevice_delete", args=[device.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(pk=device.pk).exists()
    assert AuditEvent.objects.filter(action__endswith=".delete", actor=admin_user).exists()


def test_the_outbox_admin_shows_each_delivery_attempt_to_the_programmes_manager(world):
    from django.utils import timezone

    from cases.models import DeliveryAttempt, DeliveryOutcome, OutboxEvent, WebhookEndpoint

    from . import factories as f

    partner = f.PartnerFactory(programme=world.north)
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url="https://hooks.example.org/x", secret="s3cret"
    )
    event = OutboxEvent.objects.create(
        topic="referral.offered",
        partner=partner,
        endpoint=endpoint,
        payload={"case_number": "C-7KQ2-XM4P"},
        next_attempt_at=timezone.now(),
    )
    for number, outcome, worker in [
        (1, DeliveryOutcome.ABANDONED, "worker-one:101"),
        (2, DeliveryOutcome.DELIVERED, "worker-two:202"),
    ]:
        DeliveryAttempt.objects.create(
            event=event, number=number, started_at=timezone.now(), outcome=outcome, worker=worker
        )
    url = reverse("admin:cases_outboxevent_change", args=[event.pk])

    page = verified_client(world.mona).get(url)

    assert page.status_code == 200
    text = page.content.decode()
    assert "worker-one:101" in text
    assert "worker-two:202" in text
    assert "Abandoned: lease expired, worker gone" in text
    assert "C-7KQ2-XM4P" not in text  # the payload is not shown
    assert verified_client(world.alice).get(url).status_code == 404  # manages no programme
    south = f.PartnerFactory(programme=world.south)
    elsewhere = OutboxEvent.objects.create(
        topic="referral.offered",
        partner=south,
        endpoint=WebhookEndpoint.objects.create(
            partner=south, url="https://hooks.example.org/s", secret="s3cret"
        ),
        payload={},
        next_attempt_at=timezone.now(),
    )
    other = reverse("admin:cases_outboxevent_change", args=[elsewhere.pk])
    assert verified_client(world.mona).get(other).status_code == 404  # out of scope
