"""``manage.py partner_key``: issue prints the key once and it works; revoke and expiry shut it
out; list never shows a secret; unknown partners and keys are clear errors."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import AccessKey, AuditEvent

from . import factories as f

REFERRALS = "/api/v1/partner/referrals/"


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("partner_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def issue(partner, *extra: str) -> str:
    out, _err = run("issue", "--partner", str(partner.uuid), "--name", "integration", *extra)
    return out.strip()


def status_with(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client.get(REFERRALS).status_code


@pytest.fixture
def partner(world):
    return f.PartnerFactory(programme=world.north, name="Hope Vocational Centre")


@pytest.fixture
def staff_token(world):
    from django.db import transaction

    from cases.services.keys import staff_token_issue

    with transaction.atomic():
        return staff_token_issue(actor=world.alice, name="script").plaintext


def test_issue_prints_the_key_once_with_a_warning_and_it_authenticates(partner):
    out, err = run("issue", "--partner", str(partner.uuid), "--name", "production")

    key = out.strip()
    assert key.startswith("pk_")
    assert "\n" not in key
    assert "Store this key now" in err
    assert "shown only this once" in err
    assert key not in err
    stored = AccessKey.objects.get(partner=partner)
    assert stored.name == "production"
    assert stored.revoked_at is None
    assert key.split("_", 2)[2] not in stored.secret_hash
    assert status_with(key) == 200
    audit = AuditEvent.objects.get(action="access_key.issue")
    assert audit.actor is None
    assert audit.actor_label == "system"
    assert audit.object_id == str(stored.uuid)


def test_issue_finds_the_partner_by_exact_name_and_sets_the_expiry(partner):
    before = timezone.now()
    out, _err = run(
        "issue", "--partner", "Hope Vocational Centre", "--name", "staging", "--expires-days", "30"
    )
    stored = AccessKey.objects.get(partner=partner)
    assert stored.expires_at is not None
    assert (
        before + datetime.timedelta(days=30)
        <= stored.expires_at
        <= timezone.now() + datetime.timedelta(days=30)
    )
    assert status_with(out.strip()) == 200


def test_issue_defaults_to_a_year(partner):
    issue(partner)
    stored = AccessKey.objects.get(partner=partner)
    assert stored.expires_at is not None
    assert abs((stored.expires_at - timezone.now()) - datetime.timedelta(days=365)) < (
        datetime.timedelta(minutes=1)
    )


def test_revoked_key_gets_401(partner):
    key = issue(partner)
    stored = AccessKey.objects.get(partner=partner)

    out, _err = run("revoke", stored.lookup)

    assert "Revoked partner key" in out
    assert stored.lookup in out
    assert status_with(key) == 401
    assert AuditEvent.objects.filter(
        action="access_key.revoke", object_id=str(stored.uuid)
    ).exists()


def test_revoke_by_uuid_and_twice_is_harmless(partner):
    key = issue(partner)
    stored = AccessKey.objects.get(partner=partner)
    run("revoke", str(stored.uuid))
    out, _err = run("revoke", str(stored.uuid))
    assert "already revoked" in out
    assert AuditEvent.objects.filter(action="access_key.revoke").count() == 1
    assert status_with(key) == 401


def test_expired_key_gets_401(partner):
    key = issue(partner, "--expires-days", "1")
    assert status_with(key) == 200
    AccessKey.objects.filter(partner=partner).update(
        expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert status_with(key) == 401


def test_list_shows_every_column_but_never_the_secret_or_its_hash(world, partner):
    key = issue(partner)
    other = f.PartnerFactory(programme=world.north, name="Second Chance Legal Aid")
    issue(other)
    revoked = AccessKey.objects.get(partner=other)
    run("revoke", revoked.lookup)
    status_with(key)  # marks the key as used
    stored = AccessKey.objects.get(partner=partner)

    out, _err = run("list")

    header, *lines = out.splitlines()
    for column in ("lookup", "partner", "name", "created", "expires", "revoked", "last used"):
        assert column in header
    secret = key.split("_", 2)[2]
    for value in (key, secret, stored.secret_hash, revoked.secret_hash):
        assert value not in out
    line = next(line for line in lines if stored.lookup in line)
    assert "Hope Vocational Centre" in line
    assert "integration" in line
    assert stored.last_used_at is not None
    assert stored.last_used_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M") in line
    revoked.refresh_from_db()
    assert revoked.revoked_at is not None
    revoked_line = next(line for line in lines if revoked.lookup in line)
    assert "Second Chance Legal Aid" in revoked_line
    assert revoked.revoked_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M") in revoked_line
    assert revoked_line.rstrip().endswith("-")  # never used

    only, _err = run("list", "--partner", "Second Chance Legal Aid")
    assert revoked.lookup in only
    assert stored.lookup not in only


def test_list_without_keys_says_so(db):
    out, _err = run("list")
    assert "No partner keys." in out


def test_staff_tokens_are_not_listed_or_revoked_here(world, partner, staff_token):
    token = AccessKey.objects.get(kind="staff")
    out, _err = run("list")
    assert token.lookup not in out
    with pytest.raises(CommandError, match="No partner API key"):
        run("revoke", token.lookup)
    assert AccessKey.objects.get(pk=token.pk).revoked_at is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("issue", "--partner", "Nobody", "--name", "x"), "No partner organisation is named"),
        (
            ("issue", "--partner", "0f0e0d0c-0000-4000-8000-000000000000", "--name", "x"),
            "No partner organisation has the uuid",
        ),
        (("revoke", "deadbeef0000"), "No partner API key"),
        (("revoke", "0f0e0d0c-0000-4000-8000-000000000000"), "No partner API key"),
        (("list", "--partner", "Nobody"), "No partner organisation is named"),
        (
            ("issue", "--partner", "Hope Vocational Centre", "--name", "x", "--expires-days", "0"),
            "--expires-days must be at least 1",
        ),
        (("issue", "--partner", "Hope Vocational Centre", "--name", "  "), "name"),
    ],
)
def test_unknown_partner_or_key_and_bad_input_are_clear_errors(partner, args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not AccessKey.objects.exists()


def test_an_inactive_partner_gets_no_key(partner):
    partner.is_active = False
    partner.save(update_fields=["is_active"])
    with pytest.raises(CommandError, match="not active"):
        issue(partner)
    assert not AccessKey.objects.exists()


def test_a_name_shared_by_two_programmes_asks_for_the_uuid(world, partner):
    twin = f.PartnerFactory(programme=world.south, name="Hope Vocational Centre")
    with pytest.raises(CommandError, match="give the uuid") as refused:
        run("issue", "--partner", "Hope Vocational Centre", "--name", "x")
    assert str(partner.uuid) in str(refused.value)
    assert str(twin.uuid) in str(refused.value)
    issue(twin)
    assert AccessKey.objects.get().partner == twin
