"""With REDIS_URL set, Redis really is the cache and the Celery broker and result store."""

import os
import uuid

import pytest
from django.db import transaction

from cases.models import AuditAction

needs_redis = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"), reason="set REDIS_URL to run against a real Redis server"
)
pytestmark = [pytest.mark.redis, needs_redis]


def test_cache_round_trips_through_the_redis_server():
    import redis
    from django.core.cache import caches
    from django.core.cache.backends.redis import RedisCache

    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    key = f"probe-{uuid.uuid4().hex}"
    cache.set(key, {"cases": 3}, timeout=30)
    assert cache.get(key) == {"cases": 3}
    server = redis.Redis.from_url(os.environ["REDIS_URL"])
    assert any(key in name.decode() for name in server.scan_iter(match=f"*{key}*"))
    cache.delete(key)


def test_a_task_goes_through_redis_to_a_real_worker(transactional_db):
    from celery.contrib.testing.worker import start_worker

    from cases.services.audit import audit_record
    from cases.tasks import audit_verify_task
    from reintegration.celery import app

    assert not app.conf.task_always_eager
    assert app.conf.broker_url.startswith("redis://")
    for n in range(3):
        with transaction.atomic():
            audit_record(
                actor=None, action=AuditAction.DEMO_SEED, object_type="x", object_id=str(n)
            )
    # Other tests queue tasks (emails, flagging) on this Redis with no worker to run them;
    # this worker must run only the task below.
    app.control.purge()
    with start_worker(app, perform_ping_check=False, pool="solo", loglevel="WARNING"):
        result = audit_verify_task.delay()
        assert result.get(timeout=30) == {
            "checked": 3,
            "first_broken_id": None,
            "problems": [],
            "checkpoint": 3,
        }
