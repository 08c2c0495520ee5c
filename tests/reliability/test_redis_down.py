"""Redis stops while the API is in use: the instance keeps serving, and says so.

The cache is configured exactly as ``reintegration/settings.py`` configures it for a
``REDIS_URL`` (read from the settings file itself), pointed at a ``redis-server`` the test
starts on a spare port; this process's Celery app publishes to the same server. Then the
server is stopped (or frozen with SIGSTOP, as a Redis that hangs), and the real API is used:
reads and writes answer JSON 2xx, the rate limit is not enforced and a warning says so, a
large caseload's competition summary is computed, ``/health/`` reports the cache and the
broker down with what that means, and once Redis is back the rate limit holds again.

No worker process is involved, so these run on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import logging
import os
import runpy
import signal
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from cases.models import OutboxChannel, OutboxEvent, OutboxStatus, Stage
from cases.services.keys import partner_key_issue
from reintegration.cache import _where, cache_outage

from .. import factories as f
from ..web.conftest import verified_client
from .conftest import RedisServer, needs_redis_server, wait_until

pytestmark = [needs_redis_server, pytest.mark.django_db]

SETTINGS_FILE = os.path.join(django_settings.BASE_DIR, "reintegration", "settings.py")
SUMMARY = "/api/v1/competition/summary/"
RATE = 3  # requests a minute, for staff and partners alike in these tests


def production_caches(monkeypatch: pytest.MonkeyPatch, url: str, **env: str) -> Any:
    """``CACHES`` as the settings file builds it when ``REDIS_URL`` is ``url`` (and ``env``)."""
    monkeypatch.setenv("REDIS_URL", url)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caches = runpy.run_path(SETTINGS_FILE)["CACHES"]
    monkeypatch.delenv("REDIS_URL")
    return caches


@pytest.fixture
def redis_cache(
    redis_server: RedisServer, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> RedisServer:
    """The project's cache on ``redis_server``, with a low rate limit for staff and partners.
    After a failure the cache waits a second before it asks Redis again."""
    settings.CACHES = production_caches(monkeypatch, redis_server.url, CACHE_CIRCUIT_SECONDS="1")
    rates = {"staff": f"{RATE}/min", "partner": f"{RATE}/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    return redis_server


@pytest.fixture
def api(world: Any) -> Any:
    """``api("alice")``: an API client signed in as that persona (password and second
    factor, as a browser session would be)."""
    return lambda persona: verified_client(getattr(world, persona), APIClient())


@pytest.fixture
def partner_client(world: Any) -> APIClient:
    """A partner organisation of programme North calling with its API key."""
    partner = f.PartnerFactory(programme=world.north, name="Partner X")
    with transaction.atomic():
        issued = partner_key_issue(actor=None, partner=partner, name="integration")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.plaintext}")
    return client


def _json(response: Any, status: int) -> Any:
    assert response.status_code == status, response.content[:500]
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    return response.json()


def _warnings(caplog: pytest.LogCaptureFixture, logger: str, words: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == logger and r.levelno == logging.WARNING and words in r.getMessage()
    ]


def test_with_redis_down_the_api_reads_and_writes_without_a_rate_limit_and_health_agrees(
    api, partner_client, make_case, redis_cache, celery_on_redis, client, caplog
):
    case = make_case(Stage.MONITORING)  # alice's, team A: carol supervises it
    alice = api("alice")
    assert _json(alice.get("/api/v1/cases/"), 200)["results"]  # Redis up: counted there
    redis_cache.stop()
    caplog.set_level(logging.INFO)

    # Reads, twice the rate limit and more: none is refused, none fails.
    for _ in range(2 * RATE):
        numbers = [c["case_number"] for c in _json(alice.get("/api/v1/cases/"), 200)["results"]]
        assert case.case_number in numbers
        detail = _json(alice.get(f"/api/v1/cases/{case.case_number}/"), 200)
        assert detail["case_number"] == case.case_number
        _json(partner_client.get("/api/v1/partner/webhooks/"), 200)

    # Writes: stored, and what they notify waits in the outbox for the broker.
    today = timezone.localdate().isoformat()
    contact = alice.post(
        f"/api/v1/cases/{case.case_number}/contacts/", {"planned_date": today}, format="json"
    )
    assert _json(contact, 201)["planned_date"] == today
    incident = alice.post(
        f"/api/v1/cases/{case.case_number}/incidents/",
        {"kind": "threat_received", "occurred_on": today, "severity": "high"},
        format="json",
    )
    _json(incident, 201)
    emails = OutboxEvent.objects.filter(channel=OutboxChannel.EMAIL)
    assert emails.exists()
    assert set(emails.values_list("status", flat=True)) == {OutboxStatus.PENDING}

    # Said once, not once a request: an outage must not flood the log.
    assert len(_warnings(caplog, "cases.api.auth", "rate limit")) == 1
    assert len(_warnings(caplog, "reintegration.cache", "unavailable")) == 1

    # /health/ says what is true: serving (200), the cache and broker down, and what it means.
    body = _json(client.get("/health/"), 200)
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["status"] == "ok"
    cache_check, broker_check = body["checks"]["cache"], body["checks"]["broker"]
    assert cache_check["status"] == "down"
    assert broker_check["status"] == "down"
    assert "rate limits are not enforced" in cache_check["effect"]
    assert "outbox" in broker_check["effect"]
    assert "effect" not in body["checks"]["database"]

    # Redis back (empty, without persistence): the rate limit holds again, in JSON.
    redis_cache.start()
    refused = wait_until(
        lambda: (r := alice.get("/api/v1/cases/")).status_code == 429 and r,
        timeout=30,
        what="the staff rate limit enforced again once Redis is back",
    )
    assert _json(refused, 429)["error"]["code"] == "throttled"
    back = _json(client.get("/health/"), 200)["checks"]["cache"]
    assert back["status"] == "ok"
    assert "effect" not in back
    assert any("back" in m for m in caplog.messages if "cache" in m)


def test_a_large_caseloads_summary_is_computed_while_redis_is_down(
    api, world, make_case, redis_cache, celery_on_redis, settings
):
    settings.COMPETITION_SUMMARY_CACHE_MIN_CASES = 1  # every summary is a "large" one
    case = make_case(Stage.INTAKE)
    alice = api("alice")
    carol_pages, alice_pages = verified_client(world.carol), verified_client(world.alice)
    redis_cache.stop()

    first = _json(alice.get(SUMMARY), 200)
    assert first["cases"] == 1
    assert first["computed_at"]
    # Kept by this web process while the cache is down: computed once, not on every request.
    assert _json(alice.get(SUMMARY), 200)["computed_at"] == first["computed_at"]
    # The pages too: the supervisor's dashboard (which shows the summary) and the caseload.
    dashboard = carol_pages.get("/team/")
    assert dashboard.status_code == 200
    assert b"chart-speed" in dashboard.content
    caseload = alice_pages.get("/caseload/")
    assert caseload.status_code == 200
    assert case.case_number.encode() in caseload.content

    redis_cache.start()
    wait_until(
        lambda: (
            _json(alice.get(SUMMARY), 200) and redis_cache.client().keys("*competition-summary*")
        ),
        timeout=30,
        what="the summary stored in Redis again once it is back",
    )


def test_health_asks_redis_itself_and_its_answer_ends_the_outage(
    api, world, redis_cache, settings, monkeypatch, client
):
    """The cache does not ask Redis again for a while after a failure; ``/health/`` does ask,
    so it reports Redis as it is now, and its success makes the cache use Redis again."""
    settings.CACHES = production_caches(monkeypatch, redis_cache.url, CACHE_CIRCUIT_SECONDS="600")
    alice = api("alice")
    redis_cache.stop()
    _json(alice.get("/api/v1/me/"), 200)
    assert cache_outage() is not None
    redis_cache.start()
    assert _json(client.get("/health/"), 200)["checks"]["cache"]["status"] == "ok"
    assert cache_outage() is None
    statuses = [alice.get("/api/v1/me/").status_code for _ in range(RATE + 1)]
    assert statuses == [200] * RATE + [429]


def test_a_hanging_redis_is_asked_once_not_on_every_request(
    api, world, redis_server, settings, monkeypatch, caplog
):
    """SIGSTOP freezes the server: connections are accepted by the kernel, nothing answers.
    Every request that asked Redis would wait the socket timeout; after the first failure the
    cache does not ask again for a while (its circuit opens), so later requests do not wait."""
    settings.CACHES = production_caches(monkeypatch, redis_server.url, CACHE_CIRCUIT_SECONDS="600")
    alice = api("alice")
    caplog.set_level(logging.WARNING)
    _json(alice.get("/api/v1/me/"), 200)
    before = _connections(redis_server)
    assert redis_server.process is not None
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    try:
        for _ in range(5):
            _json(alice.get("/api/v1/me/"), 200)
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
    # The connections Redis accepted meanwhile (the counting one excluded; it waits in the
    # kernel's queue behind them): at most one. Without the circuit each cache call after the
    # first would open one, the one before it having timed out and been dropped.
    assert _connections(redis_server) - before - 1 <= 1
    assert len(_warnings(caplog, "reintegration.cache", "unavailable")) == 1


class StillWaiting(BaseException):
    """A request found blocked on a frozen broker."""


def test_a_write_completes_while_the_broker_hangs(
    api,
    make_case,
    redis_server,
    celery_on_redis,
    settings,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    """A frozen broker accepts the connection and never answers: the publish after the
    commit gives up at the broker's socket timeout, and the incident is stored with its
    emails waiting in the outbox. (Without a socket timeout the request never returns; the
    alarm only keeps such a failure from hanging the suite.)"""
    settings.CACHES = production_caches(monkeypatch, redis_server.url, CACHE_CIRCUIT_SECONDS="600")
    assert celery_on_redis.conf.broker_transport_options["socket_timeout"] > 0
    case = make_case(Stage.MONITORING)
    alice = api("alice")
    body = {"kind": "threat_received", "occurred_on": timezone.localdate().isoformat()}

    def still_waiting(_signum: int, _frame: Any) -> None:
        # Not an Exception: the publish's own "tolerate a broker that is down" would swallow it.
        raise StillWaiting("the request was still waiting on the frozen broker")

    assert redis_server.process is not None
    previous = signal.signal(signal.SIGALRM, still_waiting)
    os.kill(redis_server.process.pid, signal.SIGSTOP)
    signal.alarm(120)
    try:
        # The test's transaction never commits: run what the request queued after its commit
        # (publishing its emails to the frozen broker) as a real commit would.
        with django_capture_on_commit_callbacks(execute=True) as after_commit:
            response = alice.post(
                f"/api/v1/cases/{case.case_number}/incidents/",
                {**body, "severity": "high"},
                format="json",
            )
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        os.kill(redis_server.process.pid, signal.SIGCONT)
    _json(response, 201)
    assert after_commit, "the incident queued its emails for after the commit"
    emails = OutboxEvent.objects.filter(channel=OutboxChannel.EMAIL)
    assert emails.exists()
    assert set(emails.values_list("status", flat=True)) == {OutboxStatus.PENDING}


def _connections(server: RedisServer) -> int:
    client = server.client()
    try:
        return int(client.info("stats")["total_connections_received"])
    finally:
        client.close()


def test_the_rate_limit_fails_open_even_on_a_cache_that_raises(
    api, world, redis_server, settings, caplog
):
    """Django's own Redis cache, which raises when Redis is down: the throttle still lets
    the request through, and says why."""
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
        }
    }
    alice = api("alice")
    redis_server.stop()
    caplog.set_level(logging.WARNING)
    for _ in range(2):
        assert _json(alice.get("/api/v1/me/"), 200)["username"] == "alice"
    assert len(_warnings(caplog, "cases.api.auth", "rate limit")) == 1


def test_the_log_names_the_redis_server_without_its_password():
    assert _where(["redis://:s3cret@cache.internal:6380/2"]) == "cache.internal:6380/2"
    assert _where(["unix:///run/redis.sock"]) == "/run/redis.sock"
