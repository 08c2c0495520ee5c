"""Sign-in: password then a TOTP or backup code, enrolment by QR code, lockout with one answer
for every username, the audit of every step, idle and absolute session limits, logout
everywhere when an account is disabled, and the second factor on the admin and the API."""

from __future__ import annotations

import re
import time
from base64 import b32encode
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import AuditEvent
from cases.services import accounts
from cases.services.audit import audit_record

from ..factories import PASSWORD
from .conftest import verified_client

# Stopped time: django-otp's throttle, TOTP codes and session expiry all count seconds, and a
# loaded machine must not let a throttle lapse between two requests of one test.
pytestmark = pytest.mark.usefixtures("clock")

LOGIN = reverse("web:login")
VERIFY = reverse("web:otp-verify")
ENROL = reverse("web:otp-enrol")
ACCOUNT = reverse("web:account")
BACKUP = reverse("web:backup-codes")
LOGOUT = reverse("web:logout")
REFUSED = "The username or password is not correct, or the account is disabled."


def code_for(device: TOTPDevice, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app with this device's key shows now."""
    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift + steps_ahead)
    totp.time = time.time()
    return str(totp.token()).zfill(device.digits)


def phone(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="phone", confirmed=True)


def password_step(client: Client, username: str, password: str = PASSWORD, next_url: str = ""):
    data = {"username": username, "password": password}
    if next_url:
        data["next"] = next_url
    return client.post(LOGIN, data)


def actions() -> list[str]:
    return list(AuditEvent.objects.values_list("action", flat=True))


def main_content(response) -> str:
    """The page body without the per-request CSRF tokens."""
    body = response.content.decode()
    body = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", body)


@pytest.fixture(autouse=True)
def _no_axes_cache_surprises(settings):
    settings.AXES_FAILURE_LIMIT = 3


# --- the password step ----------------------------------------------------------------------


def test_login_page_offers_a_labelled_form(client, db):
    response = client.get(LOGIN)
    assert response.status_code == 200
    body = response.content.decode()
    assert '<label for="id_username">' in body
    assert '<label for="id_password">' in body
    assert 'autocomplete="current-password"' in body
    assert "csrfmiddlewaretoken" in body


def test_unknown_user_wrong_password_and_disabled_account_get_the_same_answer(client, world):
    answers = []
    for username, password in [
        ("nobody-at-all", PASSWORD),
        ("alice", "wrong-password"),
        ("ivan", PASSWORD),  # disabled, with his real password
    ]:
        response = password_step(Client(), username, password)
        answers.append((response.status_code, REFUSED in response.content.decode()))
        assert SESSION_KEY not in Client().session
    assert answers == [(200, True)] * 3


def test_password_step_leads_to_the_code_or_to_enrolment_keeping_next(client, world):
    phone(world.alice)
    response = password_step(client, "alice", next_url="/account/")
    assert response.status_code == 302
    assert response["Location"] == f"{VERIFY}?next=%2Faccount%2F"
    response = password_step(Client(), "bob", next_url="/account/")
    assert response["Location"] == f"{ENROL}?next=%2Faccount%2F"


def test_a_next_on_another_host_is_replaced_by_the_home_page(client, world):
    device = phone(world.alice)
    password_step(client, "alice", next_url="https://evil.example/steal")
    response = client.post(VERIFY, {"code": code_for(device), "next": "https://evil.example/x"})
    assert response.status_code == 302
    assert response["Location"] == reverse("web:home")


# --- the second factor ----------------------------------------------------------------------


def test_full_login_with_a_totp_code(client, world):
    device = phone(world.alice)
    password_step(client, "alice", next_url=ACCOUNT)
    assert client.get(ACCOUNT).status_code == 302  # password alone is not enough
    page = client.get(f"{VERIFY}?next={ACCOUNT}")
    assert page.status_code == 200
    assert 'name="code"' in page.content.decode()

    response = client.post(VERIFY, {"code": code_for(device), "next": ACCOUNT})

    assert response.status_code == 302
    assert response["Location"] == ACCOUNT
    assert client.session[DEVICE_ID_SESSION_KEY] == device.persistent_id
    account = client.get(ACCOUNT)
    assert account.status_code == 200
    assert "alice" in account.content.decode()
    assert actions() == [accounts.LOGIN_SUCCESS, accounts.SECOND_FACTOR_SUCCESS]
    success = AuditEvent.objects.get(action=accounts.SECOND_FACTOR_SUCCESS)
    assert success.actor == world.alice
    assert success.detail == {"method": "totp"}


def test_a_wrong_code_is_refused_and_audited(client, world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    device = phone(world.alice)
    password_step(client, "alice")
    wrong = str((int(code_for(device)) + 1) % 1_000_000).zfill(6)

    response = client.post(VERIFY, {"code": wrong})

    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(VERIFY)
    failure = AuditEvent.objects.get(action=accounts.SECOND_FACTOR_FAILURE)
    assert failure.actor == world.alice
    assert wrong not in str(failure.detail)
    # The right code still works after a wrong one.
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert client.get(ACCOUNT).status_code == 200


def test_django_otp_throttles_a_device_after_a_wrong_code(client, world):
    device = phone(world.alice)
    password_step(client, "alice")
    client.post(VERIFY, {"code": "000000" if code_for(device) != "000000" else "111111"})

    response = client.post(VERIFY, {"code": code_for(device)})  # at once: still throttled

    assert response.status_code == 200
    assert "Too many wrong codes" in response.content.decode()


def test_a_backup_code_works_once(client, world):
    phone(world.alice)
    with_codes = StaticDevice.objects.create(user=world.alice, name="Backup codes")
    StaticToken.objects.create(device=with_codes, token="abcd2345")
    StaticToken.objects.create(device=with_codes, token="efgh6789")

    password_step(client, "alice")
    assert client.post(VERIFY, {"code": "ABCD 2345"}).status_code == 302
    assert client.get(ACCOUNT).status_code == 200
    assert AuditEvent.objects.get(action=accounts.SECOND_FACTOR_SUCCESS).detail == {
        "method": "backup_code",
        "backup_codes_left": 1,
    }

    again = Client()
    password_step(again, "alice")
    response = again.post(VERIFY, {"code": "abcd2345"})
    assert response.status_code == 200
    assert "That code is not valid" in response.content.decode()
    assert list(StaticToken.objects.values_list("token", flat=True)) == ["efgh6789"]


def test_enrolment_shows_a_qr_code_then_confirms_with_a_code(client, world, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 0
    password_step(client, "bob", next_url=ACCOUNT)

    page = client.get(f"{ENROL}?next={ACCOUNT}")

    assert page.status_code == 200
    device = TOTPDevice.objects.get(user=world.bob)
    assert not device.confirmed
    body = page.content.decode()
    assert re.search(r'<svg [^>]*class="qr"><title>QR code', body)  # drawn on the server
    assert "<path" in body
    secret = b32encode(device.bin_key).decode()
    assert " ".join(secret[i : i + 4] for i in range(0, len(secret), 4)) in body
    assert "otpauth://" not in body
    assert "<img" not in body
    assert len(page.content) < 300_000
    # A reload shows the same key; it does not pile up devices.
    client.get(ENROL)
    assert TOTPDevice.objects.filter(user=world.bob).count() == 1

    refused = client.post(ENROL, {"code": "12345x", "next": ACCOUNT})
    assert refused.status_code == 200
    assert "That code is not valid" in refused.content.decode()
    device.refresh_from_db()
    assert not device.confirmed
    assert not StaticDevice.objects.filter(user=world.bob).exists()

    response = client.post(ENROL, {"code": code_for(device), "next": ACCOUNT})

    assert response.status_code == 302
    assert response["Location"] == BACKUP
    device.refresh_from_db()
    assert device.confirmed
    shown = client.get(BACKUP)
    assert shown.status_code == 200
    assert shown["Cache-Control"].startswith("max-age=0")
    stored = set(StaticToken.objects.filter(device__user=world.bob).values_list("token", flat=True))
    assert len(stored) == 10
    assert all(code in shown.content.decode() for code in stored)
    assert f'href="{ACCOUNT}"' in shown.content.decode()  # continues to next
    assert client.get(BACKUP)["Location"] == ACCOUNT  # shown once only
    assert client.get(ACCOUNT).status_code == 200  # the session is verified
    assert accounts.DEVICE_ENROL in actions()
    assert accounts.SECOND_FACTOR_SUCCESS in actions()
    enrol = AuditEvent.objects.get(action=accounts.DEVICE_ENROL)
    assert enrol.actor == world.bob
    assert enrol.detail == {"device": "totp", "backup_codes": 10}


def test_the_issuer_from_settings_is_in_the_provisioning_url(world, settings):
    settings.OTP_TOTP_ISSUER = "Programme North"
    from django.db import transaction

    with transaction.atomic():
        device = accounts.totp_enrolment_device(user=world.bob)
    assert device.config_url.startswith("otpauth://totp/Programme%20North%3Abob?")


def test_enrolment_is_not_offered_to_someone_with_a_device(client, world):
    phone(world.alice)
    password_step(client, "alice")
    assert client.get(ENROL)["Location"].startswith(VERIFY)
    assert client.post(ENROL, {"code": "123456"})["Location"].startswith(VERIFY)


def test_regenerating_backup_codes_shows_new_ones_once_and_voids_the_old(world):
    client = verified_client(world.alice)
    old = StaticDevice.objects.create(user=world.alice, name="Backup codes")
    StaticToken.objects.create(device=old, token="oldcode1")
    page = client.get(ACCOUNT)
    assert re.search(r'id="backup-codes-left">1<', page.content.decode())

    response = client.post(BACKUP)

    assert response.status_code == 302
    assert response["Location"] == BACKUP
    codes = set(
        StaticToken.objects.filter(device__user=world.alice).values_list("token", flat=True)
    )
    assert len(codes) == 10
    assert "oldcode1" not in codes
    shown = client.get(BACKUP).content.decode()
    assert all(code in shown for code in codes)
    assert client.get(BACKUP)["Location"] == ACCOUNT
    assert re.search(r'id="backup-codes-left">10<', client.get(ACCOUNT).content.decode())
    event = AuditEvent.objects.get(action=accounts.BACKUP_CODES_REGENERATE)
    assert event.actor == world.alice
    assert event.detail == {"count": 10}
    assert not any(code in str(event.content()) for code in codes)


def test_regenerating_backup_codes_needs_a_verified_session(client, world):
    client.force_login(world.alice)
    response = client.post(BACKUP)
    assert response.status_code == 302
    assert response["Location"].startswith(ENROL)
    assert not StaticToken.objects.exists()


# --- lockout --------------------------------------------------------------------------------


def _lock_out(username: str) -> list[int]:
    client = Client()
    return [password_step(client, username, "not-the-password").status_code for _ in range(3)]


def test_lockout_answers_the_same_for_a_real_and_an_unknown_username(world):
    assert _lock_out("alice") == [200, 200, 429]
    assert _lock_out("nobody-at-all") == [200, 200, 429]

    real = password_step(Client(), "alice", PASSWORD)  # even the right password now
    unknown = password_step(Client(), "nobody-at-all", PASSWORD)

    assert real.status_code == unknown.status_code == 429
    assert main_content(real) == main_content(unknown)
    assert "Sign-in paused" in real.content.decode()
    assert "Try again in 30 minutes." in real.content.decode()  # LOGIN_LOCKOUT_HOURS=0.5
    assert "alice" not in real.content.decode()
    assert SESSION_KEY not in Client().session


def test_lockout_is_per_username_and_address(world):
    _lock_out("alice")
    assert password_step(Client(), "bob", PASSWORD).status_code == 302  # another user
    other_address = Client(REMOTE_ADDR="198.51.100.7")
    assert password_step(other_address, "alice", PASSWORD).status_code == 302


def test_wrong_codes_lock_out_too_and_end_the_half_signed_in_session(client, world):
    device = phone(world.alice)
    password_step(client, "alice")
    wrong = "000000" if code_for(device) != "000000" else "111111"
    statuses = [client.post(VERIFY, {"code": wrong}).status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert SESSION_KEY not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(LOGIN)
    # The password alone does not get back in while locked out.
    assert password_step(Client(), "alice", PASSWORD).status_code == 429
    assert actions().count(accounts.SECOND_FACTOR_FAILURE) == 3
    assert accounts.LOGIN_LOCKOUT in actions()
    attempt = AccessAttempt.objects.get(username="alice")
    assert "code=****" in attempt.post_data
    assert wrong not in attempt.post_data


def test_failures_are_forgotten_only_after_both_factors(client, world):
    device = phone(world.alice)
    password_step(Client(), "alice", "not-the-password")
    password_step(client, "alice", PASSWORD)
    assert AccessAttempt.objects.filter(username="alice").exists()  # not after the password

    client.post(VERIFY, {"code": code_for(device)})

    assert not AccessAttempt.objects.filter(username="alice").exists()


# --- the audit log --------------------------------------------------------------------------


def test_every_sign_in_event_is_audited_without_secrets(client, world):
    device = phone(world.alice)
    password_step(Client(), "nobody-at-all", "secret-guess-1")
    password_step(Client(), "alice", "secret-guess-2")
    password_step(client, "alice", PASSWORD)
    client.post(VERIFY, {"code": code_for(device)})
    client.post(LOGOUT)
    _lock_out("carol")

    events = list(AuditEvent.objects.order_by("id"))
    assert [e.action for e in events[:5]] == [
        accounts.LOGIN_FAILURE,
        accounts.LOGIN_FAILURE,
        accounts.LOGIN_SUCCESS,
        accounts.SECOND_FACTOR_SUCCESS,
        accounts.LOGOUT,
    ]
    unknown, wrong_password = events[0], events[1]
    assert (unknown.object_id, unknown.detail, unknown.actor_label) == (
        "",
        {"account": "unknown"},
        "anonymous",
    )
    assert (wrong_password.object_id, wrong_password.detail) == (
        str(world.alice.pk),
        {"username": "alice"},
    )
    assert events[2].actor == world.alice
    assert events[4].actor == world.alice
    lockout = AuditEvent.objects.get(action=accounts.LOGIN_LOCKOUT)
    assert lockout.object_id == str(world.carol.pk)
    assert lockout.detail["username"] == "carol"
    everything = " ".join(str(e.content()) for e in events)
    assert "secret-guess" not in everything
    assert PASSWORD not in everything
    assert "nobody-at-all" not in everything


def test_an_audit_failure_leaves_no_one_signed_in(client, world, monkeypatch):
    device = phone(world.alice)
    real = audit_record

    def failing(**kwargs):
        if kwargs["action"] in (accounts.LOGIN_SUCCESS, accounts.SECOND_FACTOR_SUCCESS):
            raise RuntimeError("audit log unavailable")
        return real(**kwargs)

    monkeypatch.setattr(accounts, "audit_record", failing)
    with pytest.raises(RuntimeError):
        password_step(client, "alice", PASSWORD)
    assert SESSION_KEY not in client.session
    assert not AuditEvent.objects.filter(action=accounts.LOGIN_SUCCESS).exists()

    monkeypatch.setattr(accounts, "audit_record", real)
    password_step(client, "alice", PASSWORD)
    monkeypatch.setattr(accounts, "audit_record", failing)
    with pytest.raises(RuntimeError):
        client.post(VERIFY, {"code": code_for(device)})
    assert DEVICE_ID_SESSION_KEY not in client.session
    assert client.get(ACCOUNT)["Location"].startswith(VERIFY)
    device.refresh_from_db()
    assert device.last_t == -1  # the code was not used up either


# --- logout and sessions --------------------------------------------------------------------


def test_logout_is_a_post_and_is_audited(world):
    client = verified_client(world.alice)
    assert client.get(LOGOUT).status_code == 405
    assert client.get(ACCOUNT).status_code == 200

    response = client.post(LOGOUT)

    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert client.get(ACCOUNT)["Location"] == f"{LOGIN}?next=%2Faccount%2F"
    event = AuditEvent.objects.get(action=accounts.LOGOUT)
    assert event.actor == world.alice


def test_an_idle_session_ends_after_the_idle_timeout(world, settings, clock):
    settings.SESSION_COOKIE_AGE = 600
    client = verified_client(world.alice)
    assert client.get(ACCOUNT).status_code == 200
    clock.shift(500)
    assert client.get(ACCOUNT).status_code == 200  # activity renews the expiry
    clock.shift(500)
    assert client.get(ACCOUNT).status_code == 200  # 1000 s after the start, never 600 idle

    clock.shift(601)

    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_a_session_ends_at_its_absolute_lifetime_counted_from_login(client, world, settings, clock):
    settings.SESSION_COOKIE_AGE = 600
    settings.SESSION_ABSOLUTE_LIFETIME_SECONDS = 1000
    device = phone(world.alice)
    stale = client.session
    stale["session_started_at"] = time.time() - 5000  # left over from before login
    stale.save()
    password_step(client, "alice", PASSWORD)
    assert client.session["session_started_at"] == time.time()  # the clock stands still
    client.post(VERIFY, {"code": code_for(device)})
    for _ in range(2):
        clock.shift(400)
        assert client.get(ACCOUNT).status_code == 200  # active, never idle

    clock.shift(400)

    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)
    assert accounts.LOGOUT in actions()


def _sessions_of(user) -> int:
    return sum(1 for s in Session.objects.all() if s.get_decoded().get(SESSION_KEY) == str(user.pk))


def test_disabling_an_account_signs_it_out_everywhere(world):
    laptop, tablet = verified_client(world.alice), verified_client(world.alice)
    bob = verified_client(world.bob)
    assert laptop.get(ACCOUNT).status_code == tablet.get(ACCOUNT).status_code == 200
    assert _sessions_of(world.alice) == 2

    world.alice.is_active = False
    world.alice.save()

    assert _sessions_of(world.alice) == 0
    for client in (laptop, tablet):
        response = client.get(ACCOUNT)
        assert response.status_code == 302
        assert response["Location"].startswith(LOGIN)
    assert bob.get(ACCOUNT).status_code == 200  # nobody else
    event = AuditEvent.objects.get(action=accounts.SESSIONS_END)
    assert event.object_id == str(world.alice.pk)
    assert event.detail["sessions"] == 2


def test_disabling_an_account_in_the_admin_signs_it_out_everywhere(world):
    laptop, tablet = verified_client(world.alice), verified_client(world.alice)
    admin = verified_client(world.root)
    url = reverse("admin:auth_user_change", args=[world.alice.pk])
    joined = timezone.localtime(world.alice.date_joined)

    response = admin.post(
        url,
        {
            "username": "alice",
            "first_name": "",
            "last_name": "",
            "email": "",
            "is_staff": "on",
            # is_active left out: the box is unticked
            "date_joined_0": joined.strftime("%Y-%m-%d"),
            "date_joined_1": joined.strftime("%H:%M:%S"),
            "initial-date_joined_0": joined.strftime("%Y-%m-%d"),
            "initial-date_joined_1": joined.strftime("%H:%M:%S"),
            "last_login_0": "",
            "last_login_1": "",
        },
    )

    assert response.status_code == 302, response.content.decode()[:3000]
    world.alice.refresh_from_db()
    assert not world.alice.is_active
    assert _sessions_of(world.alice) == 0
    for client in (laptop, tablet):
        assert client.get(ACCOUNT)["Location"].startswith(LOGIN)
    assert admin.get(reverse("admin:index")).status_code == 200  # the admin's own session


def test_saving_an_active_account_ends_no_session(world):
    client = verified_client(world.alice)
    world.alice.first_name = "A"
    world.alice.save()
    assert client.get(ACCOUNT).status_code == 200
    assert not AuditEvent.objects.filter(action=accounts.SESSIONS_END).exists()


# --- every page behind both factors, the admin and the API too -------------------------------


def test_pages_send_anonymous_visitors_to_login_with_next(client, db):
    response = client.get(ACCOUNT)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next=%2Faccount%2F"


def test_pages_send_a_password_only_session_to_the_code_or_enrolment(client, world):
    phone(world.alice)
    client.force_login(world.alice)
    assert client.get(ACCOUNT)["Location"] == f"{VERIFY}?next=%2Faccount%2F"
    other = Client()
    other.force_login(world.bob)
    assert other.get(ACCOUNT)["Location"] == f"{ENROL}?next=%2Faccount%2F"


def test_a_signed_in_visitor_of_the_login_page_goes_on(world):
    client = verified_client(world.alice)
    assert client.get(f"{LOGIN}?next=/account/")["Location"] == "/account/"
    half = Client()
    phone(world.bob)
    half.force_login(world.bob)
    assert half.get(LOGIN)["Location"].startswith(VERIFY)


def test_the_admin_needs_the_second_factor_and_has_no_login_of_its_own(client, world):
    admin_index = reverse("admin:index")
    assert client.get(reverse("admin:login"))["Location"] == f"{LOGIN}?next=%2Fadmin%2F"
    client.force_login(world.root)  # password only
    response = client.get(admin_index, follow=True)
    assert response.redirect_chain[-1][0].startswith(ENROL)
    assert f"next={admin_index.replace('/', '%2F')}" in response.redirect_chain[-1][0]

    assert verified_client(world.root).get(admin_index).status_code == 200


def test_the_admin_login_of_a_verified_non_staff_user_is_refused_not_looped(world):
    world.alice.is_staff = False
    world.alice.save()
    client = verified_client(world.alice)
    response = client.get(reverse("admin:index"), follow=True)
    assert response.status_code == 403


def test_the_api_refuses_a_session_without_the_second_factor(client, world):
    from rest_framework.test import APIClient

    half = APIClient()
    half.force_login(world.alice)
    response = half.get("/api/v1/cases/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "second_factor_required"

    assert verified_client(world.alice).get("/api/v1/cases/").status_code == 200


def test_personal_tokens_and_partner_keys_need_no_second_factor(world):
    from django.db import transaction
    from rest_framework.test import APIClient

    from cases.services.keys import partner_key_issue, staff_token_issue
    from tests import factories as f

    with transaction.atomic():
        token = staff_token_issue(actor=world.alice, name="script").plaintext
        partner = f.PartnerFactory(programme=world.north, name="Partner X")
        key = partner_key_issue(actor=None, partner=partner, name="integration").plaintext
    staff = APIClient()
    staff.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert staff.get("/api/v1/cases/").status_code == 200
    partner_client = APIClient()
    partner_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert partner_client.get("/api/v1/partner/referrals/").status_code == 200


# --- the demo convenience ---------------------------------------------------------------------


def test_totp_code_prints_a_code_the_verify_page_accepts(client, world):
    device = phone(world.alice)
    out, err = StringIO(), StringIO()
    call_command("totp_code", "alice", stdout=out, stderr=err)
    code = out.getvalue().strip()
    assert re.fullmatch(r"\d{6}", code)
    assert code in {code_for(device, steps_ahead=-1), code_for(device)}  # a step may have passed

    password_step(client, "alice", PASSWORD)
    assert client.post(VERIFY, {"code": code}).status_code == 302
    assert "Valid for" in err.getvalue()
    TOTPDevice.objects.filter(pk=device.pk).update(last_t=10**12)  # the current code used up
    call_command("totp_code", "alice", stdout=StringIO(), stderr=err)
    assert "used already" in err.getvalue()


def test_totp_code_is_refused_in_production_and_for_users_without_a_device(world, settings):
    with pytest.raises(CommandError, match="no confirmed authenticator"):
        call_command("totp_code", "bob", stdout=StringIO(), stderr=StringIO())
    phone(world.bob)
    settings.PRODUCTION = True
    with pytest.raises(CommandError, match="never production"):
        call_command("totp_code", "bob", stdout=StringIO(), stderr=StringIO())


def test_seed_demo_gives_demo_users_the_published_key_and_says_how_to_get_a_code(db, client):
    from django.conf import settings

    from cases.demo import DEMO_TOTP_KEY_HEX

    out = StringIO()
    call_command("seed_demo", cases=1, stdout=out)
    assert "manage.py totp_code" in out.getvalue()
    device = TOTPDevice.objects.get(user__username="caseworker_a")
    assert device.confirmed
    assert device.key == DEMO_TOTP_KEY_HEX
    call_command("seed_demo", cases=1, stdout=StringIO())
    assert TOTPDevice.objects.filter(user__username="caseworker_a").count() == 1

    password_step(client, "caseworker_a", settings.DEMO_PASSWORD)
    assert client.post(VERIFY, {"code": code_for(device)}).status_code == 302
    assert client.get(ACCOUNT).status_code == 200
