"""``/health/`` for load balancers and monitoring: is the service up, and is its background work
running? No login, no personal data, never cached.

    {"status": "ok" | "degraded" | "down",
     "checks": {"database": {"status": ..., "latency_ms": ...},
                "cache": {...}, "broker": {...},
                "beat": {"status": ..., "last_run_age_seconds": ...}}}

A part that is down (or beat, stale) also carries ``"effect"``: what that means for what this
instance serves.

200 while the instance serves pages and the API, reads and writes (``ok``, or ``degraded``:
the cache or the broker is down, or beat has not run for a while; requests still succeed,
without API rate limits while the cache is down, and background work waits in the outbox);
503 when the database is down, so a load balancer takes the instance out. A Redis outage
therefore keeps the instance in service, which is right only because requests really do
succeed without Redis: tests/reliability/test_redis_down.py shows both with Redis stopped.
"""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.http import require_safe

from cases.services.tasks_health import health_report


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    report = health_report()
    response = JsonResponse(report.as_dict(), status=503 if report.status == "down" else 200)
    response["Cache-Control"] = "no-store"
    return response


urlpatterns = [path("", health, name="health")]
