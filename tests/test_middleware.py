"""Request context for the audit log, and the session's absolute lifetime."""

import time

from django.urls import reverse

from .web.conftest import verified_client


def test_a_valid_request_id_is_kept_and_a_bad_one_replaced(client, world):
    response = client.get(reverse("admin:login"), HTTP_X_REQUEST_ID="abcdef12-3456")
    assert response["X-Request-ID"] == "abcdef12-3456"
    response = client.get(reverse("admin:login"), HTTP_X_REQUEST_ID="<script>")
    assert response["X-Request-ID"] != "<script>"
    assert len(response["X-Request-ID"]) == 32


def test_session_ends_after_its_absolute_lifetime_even_when_active(world, settings):
    settings.SESSION_ABSOLUTE_LIFETIME_SECONDS = 60
    client = verified_client(world.alice)
    url = reverse("admin:cases_case_changelist")
    assert client.get(url).status_code == 200
    session = client.session
    session["session_started_at"] = time.time() - 61
    session.save()
    response = client.get(url)
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_disabled_account_is_logged_out_at_its_next_request(world):
    client = verified_client(world.alice)
    url = reverse("admin:cases_case_changelist")
    assert client.get(url).status_code == 200
    world.alice.is_active = False
    world.alice.save()
    assert client.get(url).status_code == 302


def test_behind_a_trusted_proxy_the_audit_log_gets_the_client_address(world, settings):
    from django.test import RequestFactory

    from cases.middleware import client_ip

    request = RequestFactory().get(
        "/", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.7", REMOTE_ADDR="10.0.0.2"
    )
    assert client_ip(request) == "10.0.0.2"  # no proxy trusted: the peer
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_ip(request) == "203.0.113.7"  # the entry our proxy appended, not the spoof
