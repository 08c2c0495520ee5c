"""The helpers run.py runs in a subprocess with the server's settings (``--in-process-helper
NAME JSON``): preparation, the jobs timed in-process, query counts; each prints its JSON
answer."""

from __future__ import annotations

import datetime
import json
import os
import statistics
import sys
import time
from typing import Any

from common import REPO
from loadtest import endpoints_for


def _django() -> None:
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reintegration.settings")
    import django

    django.setup()


def h_prepare(kw: dict[str, Any]) -> dict[str, Any]:
    """Credentials and request samples: the caseworker with the largest caseload, a supervisor
    of that caseworker's team, the programme manager; a personal token each (as
    ``staff_token_issue`` gives them), OTP-verified sessions for the supervisor (as the login
    and django_otp's ``login`` leave them), and the cases to rotate over. On a reused database,
    first puts back the contacts an earlier run's overdue job marked (missed by the job: no
    recorder, version 2), so every run finds the same work."""
    import importlib

    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.db import connection
    from django.db.models import Count
    from django.utils import timezone
    from django_otp import DEVICE_ID_SESSION_KEY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cases.demo import PROGRAMME_NAME, WRITE_ORDER
    from cases.middleware import _SESSION_STARTED
    from cases.models import (
        Case,
        ContactOutcome,
        DeliveryAttempt,
        Membership,
        MonitoringContact,
        Notification,
        NotificationKind,
        OutboxEvent,
        Programme,
        Returnee,
        Role,
        Stage,
    )
    from cases.services.keys import staff_token_issue

    reset = MonitoringContact.objects.filter(
        outcome=ContactOutcome.MISSED, recorded_by__isnull=True, version=2
    ).update(outcome=ContactOutcome.PLANNED, version=1)
    # And what the missed-contact jobs notified, with their emails and delivery attempts, so
    # they notify the same again (the scratch database only; SQL, not a cascade in Python).
    kinds = [NotificationKind.CONTACT_MISSED.value, NotificationKind.CONTACT_ESCALATED.value]
    # Table names from the models, values as parameters.
    notes = f"SELECT id FROM {Notification._meta.db_table} WHERE kind IN (%s, %s)"  # noqa: S608
    events = f"SELECT id FROM {OutboxEvent._meta.db_table} WHERE notification_id IN ({notes})"  # noqa: S608
    with connection.cursor() as cursor:
        for table, column, ids in (
            (DeliveryAttempt._meta.db_table, "event_id", events),
            (OutboxEvent._meta.db_table, "id", events),
            (Notification._meta.db_table, "id", notes),
        ):
            cursor.execute(f"DELETE FROM {table} WHERE {column} IN ({ids})", kinds)  # noqa: S608
    programme = Programme.objects.get(name=PROGRAMME_NAME)
    loads = list(
        Case.objects.filter(programme=programme, caseworker__isnull=False)
        .values_list("caseworker_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "caseworker_id")
    )
    user_model = get_user_model()
    caseworker = user_model.objects.get(pk=loads[0][0])
    team_id = (
        Case.objects.filter(caseworker=caseworker)
        .values_list("team_id")
        .annotate(n=Count("pk"))
        .order_by("-n")[0][0]
    )
    supervisor = (
        Membership.objects.filter(team_id=team_id, role=Role.SUPERVISOR)
        .select_related("user", "team")
        .order_by("user__username")
        .first()
    )
    assert supervisor is not None, "the caseworker's team has no supervisor"
    team = supervisor.team
    assert team is not None
    manager = user_model.objects.get(username="manager")
    expires = timezone.now() + datetime.timedelta(days=1)
    tokens = {
        role: staff_token_issue(actor=user, name="benchmark", expires_at=expires).plaintext
        for role, user in (
            ("caseworker", caseworker),
            ("supervisor", supervisor.user),
            ("manager", manager),
        )
    }
    device = TOTPDevice.objects.filter(user=supervisor.user, confirmed=True).first()
    assert device is not None, "the supervisor has no confirmed authenticator"
    store = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    sessions = []
    for _ in range(int(kw.get("sessions", 16))):
        session = store()
        session[SESSION_KEY] = str(supervisor.user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = supervisor.user.get_session_auth_hash()
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
        session[_SESSION_STARTED] = time.time()
        session.create()
        sessions.append(session.session_key)

    own = Case.objects.filter(caseworker=caseworker).order_by("?")
    detail = list(own.values_list("case_number", flat=True)[:2000])
    contact = list(own.filter(stage=Stage.MONITORING).values_list("case_number", flat=True)[:2000])
    if not contact:
        contact = detail[:50]
    team_cases = list(
        Case.objects.filter(team=team).order_by("?").values_list("case_number", flat=True)[:1000]
    )
    # Full numbers and the first letters of one (as read out over the phone), in turn.
    search = [n if i % 2 == 0 else n[:6] for i, n in enumerate(team_cases)]

    with connection.cursor() as cursor:
        # Fresh statistics, as after any bulk load (seed_demo does this too; a reused
        # database may have been changed since).
        cursor.execute("ANALYZE")
        records = 0
        for model in WRITE_ORDER:
            if model not in (Returnee, Case):
                cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # noqa: S608
                records += cursor.fetchone()[0]
    caseloads = sorted(n for _id, n in loads)
    return {
        "reset_contacts": reset,
        "caseworker": caseworker.username,
        "supervisor": supervisor.user.username,
        "team_uuid": str(team.uuid),
        "programme_uuid": str(programme.uuid),
        "tokens": tokens,
        "sessions": sessions,
        "session_cookie_name": settings.SESSION_COOKIE_NAME,
        "detail_cases": detail,
        "contact_cases": contact,
        "search_terms": search,
        "today": timezone.localdate().isoformat(),
        "counts": {
            "cases": Case.objects.count(),
            "records": records,
            "teams": programme.sites.aggregate(n=Count("teams"))["n"],
            "staff": Membership.objects.filter(role__in=[Role.CASEWORKER, Role.SUPERVISOR])
            .values("user")
            .distinct()
            .count(),
            "largest_caseload": caseloads[-1],
            "median_caseload": int(statistics.median(caseloads)),
        },
    }


def h_mark_missed(kw: dict[str, Any]) -> dict[str, Any]:
    """The overdue-marking job over the whole database, timed, then rolled back."""
    from django.db import transaction

    from cases.services.monitoring import contacts_mark_missed

    with transaction.atomic():
        started = time.perf_counter()
        marked = contacts_mark_missed()
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {"seconds": seconds, "marked": marked}


def h_tasks(kw: dict[str, Any]) -> dict[str, Any]:
    """Send the tasks ``names`` to the running worker through the broker, together, and wait
    for each one's result: seconds from sending to its result, and the result."""
    from reintegration.celery import app

    started = time.perf_counter()
    pending = {name: app.send_task(name) for name in kw["names"]}
    done: dict[str, Any] = {}
    deadline = started + float(kw.get("timeout", 3600))
    while pending and time.perf_counter() < deadline:
        for name, result in list(pending.items()):
            if result.ready():
                value = result.get(propagate=False)
                done[name] = {
                    "id": result.id,
                    "seconds": time.perf_counter() - started,
                    "status": result.status,
                    "result": value if isinstance(value, int | float | str | dict) else repr(value),
                }
                del pending[name]
        time.sleep(0.2)
    for name, result in pending.items():
        done[name] = {"id": result.id, "seconds": None, "status": "TIMEOUT", "result": None}
    return {"tasks": done}


def import_csv(rows: int, today: datetime.date) -> bytes:
    """``rows`` invented returnees in the import's CSV format (cases.services.imports)."""
    import csv
    import io
    import random

    rng = random.Random()
    out = io.StringIO()
    columns = [
        "given_name", "family_name", "date_of_birth", "national_id", "phone", "address", "sex",
        "year_of_birth", "current_district", "profession", "detention_history",
        "return_pathway", "return_date", "first_contact_date", "intake_date", "referral_source",
        "urgent_needs", "consent_legal_basis", "consent_scope", "consent_given_on",
    ]  # fmt: skip
    writer = csv.writer(out)
    writer.writerow(columns)
    returned = today - datetime.timedelta(days=20)
    for _ in range(rows):
        year = rng.randint(1965, 2005)
        writer.writerow(
            [
                rng.choice(["Ahmed", "Omar", "Fatima", "Maryam", "Yusuf", "Noor"]),
                rng.choice(["al-Jubouri", "al-Obeidi", "Saleh", "al-Rawi"]),
                f"{year}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                f"{rng.randint(10**13, 10**14 - 1)}",  # 14 digits: never one the seed made
                f"077{rng.randint(10**7, 10**8 - 1)}",
                f"House {rng.randint(1, 400)}, Mosul",
                rng.choice(["male", "female"]),
                str(year),
                "Mosul",
                "agriculture",
                rng.choice(["yes", "no"]),
                "camp_repatriation",
                returned.isoformat(),
                (returned + datetime.timedelta(days=3)).isoformat(),
                (returned + datetime.timedelta(days=4)).isoformat(),
                "camp_authority",
                "documents;shelter",
                "consent",
                "programme_records;share_with_partners",
                (returned + datetime.timedelta(days=4)).isoformat(),
            ]
        )
    return out.getvalue().encode("utf-8")


def h_import(kw: dict[str, Any]) -> dict[str, Any]:
    """``returnees_import`` of a generated file (full validation, then the bulk write), timed,
    then rolled back; as ``manage.py import_returnees`` and the import endpoint run it."""
    from django.contrib.auth import get_user_model
    from django.db import transaction
    from django.utils import timezone

    from cases import context

    try:
        from cases.services.imports import import_team, returnees_import
    except ImportError:
        return {"error": "cases.services.imports not found"}
    actor = get_user_model().objects.get(username=kw["user"])
    team = import_team(actor=actor, team_uuid=kw["team"])
    if team is None:
        return {"error": f"{kw['user']} cannot import into team {kw['team']}"}
    data = import_csv(int(kw["rows"]), timezone.localdate())
    with context.bound(request_id="bench-import-0001"), transaction.atomic():
        started = time.perf_counter()
        result = returnees_import(actor=actor, team=team, data=data)
        seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return {
        "rows": result.created,
        "seconds": seconds,
        "rows_per_second": result.created / seconds if seconds else 0.0,
    }


def _client() -> Any:
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https")


def h_queries(kw: dict[str, Any]) -> dict[str, Any]:
    """Queries of one request to each list (and the detail, summary and dashboard), counted
    with CaptureQueriesContext; each asked twice, the second counted (the first warms
    per-process caches)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    prep = kw["prep"]
    rows = []
    for endpoint in endpoints_for(prep):
        if endpoint.method != "GET":
            continue
        client = _client()
        line = endpoint.requests[0]
        path, _, header = line.partition("\t")
        extra = {}
        if endpoint.user.endswith("(session)"):
            client.cookies[prep["session_cookie_name"]] = header.split("=", 1)[1]
        else:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {prep['tokens'][endpoint.user]}"
        status = count = 0
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                response = client.get(path, **extra)
            status, count = response.status_code, len(queries)
        rows.append({"title": endpoint.title, "status": status, "queries": count})
    return {"rows": rows}


def h_export_memory(kw: dict[str, Any]) -> dict[str, Any]:
    """The CSV export in-process, peak Python memory traced (tracemalloc)."""
    import tracemalloc

    from django.contrib.auth import get_user_model

    from cases.services.keys import staff_token_issue

    user = get_user_model().objects.get(username=kw["user"])
    token = staff_token_issue(actor=user, name="benchmark export").plaintext
    client = _client()
    tracemalloc.start()
    started = time.perf_counter()
    response = client.get("/api/v1/cases/export.csv", HTTP_AUTHORIZATION=f"Bearer {token}")
    rows = size = 0
    if response.status_code == 200:
        content = response.streaming_content if response.streaming else [response.content]
        for chunk in content:
            size += len(chunk)
            rows += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "status": response.status_code,
        "rows": max(rows - 1, 0),
        "bytes": size,
        "seconds": seconds,
        "peak_mb": peak / 1e6,
    }


HELPERS = {
    "prepare": h_prepare,
    "mark_missed": h_mark_missed,
    "tasks": h_tasks,
    "import": h_import,
    "queries": h_queries,
    "export_memory": h_export_memory,
}


def run_helper(name: str, raw: str) -> int:
    _django()
    answer = HELPERS[name](json.loads(raw))
    print(json.dumps(answer))
    return 0
