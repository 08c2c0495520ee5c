"""``/health/`` for load balancers and monitoring: is the service up, and is its background work
running? No login, no personal data, never cached.

    {"status": "ok" | "degraded" | "down",
     "checks": {"database": {"status": ..., "latency_ms": ...},
                "cache": {...}, "broker": {...},
                "beat": {"status": ..., "last_run_age_seconds": ...}}}

200 while the service can serve (``ok``, or ``degraded``: a part other than the database is
down or beat has not run for a while, and background work waits in the outbox); 503 when the
database is down, so a load balancer takes the instance out.
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
