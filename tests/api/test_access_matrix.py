"""The access matrix, generated from the OpenAPI document: every operation, for every persona,
on an object in and out of the persona's scope, against a rule that says what each must answer.

Nothing here lists the endpoints: they come from the schema, so a new endpoint joins the matrix
the day it is added, and one the rules cannot classify fails the matrix until someone says who
may call it.
"""

from __future__ import annotations

import datetime
import inspect
import json
import re
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from cases.models import (
    IDENTITY_FIELDS,
    Approval,
    ApprovalKind,
    ApprovalStatus,
    Benchmark,
    ConsentScope,
    FailedTask,
    Incident,
    Notification,
    NotificationKind,
    OutboxEvent,
    OutboxStatus,
    PlanGoal,
    Referral,
    ReferralStatus,
    ReintegrationPlan,
    Stage,
    SupportProvision,
    SurveyQuestion,
    TargetProfile,
    ThreatContext,
    TrainingEnrolment,
    WebhookEndpoint,
)
from cases.selectors import survey_questions_for_programme
from cases.services.cases import returnee_set_identity_indexes
from cases.services.keys import staff_token_issue

from .. import conftest as personas
from .. import factories as f
from ..conftest import case_at
from ..services.test_case_open import CONSENT, INTAKE, PERSON
from ..web.conftest import verified_client
from . import conftest as api_personas

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
HTTP_METHODS = ("get", "post", "put", "patch", "delete")
WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
OPERATIONS = sorted(
    (path, method.upper())
    for path, item in SCHEMA["paths"].items()
    for method in item
    if method in HTTP_METHODS
)

FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STAFF = ("alice", "bob", "carol", "mona", "audrey")
PARTNERS = ("partner_x", "partner_y")
PERSONAS = (*STAFF, *PARTNERS, "anonymous")
SCOPES = ("in_scope", "out_of_scope")

# Who reaches what, from the personas in tests/conftest.py: alice works team A's cases, carol
# supervises team A, mona manages programme North; bob (team B) and audrey (auditor) do not
# see team A's cases. Only a programme's manager sees its outbox.
CASE_READERS = frozenset({"alice", "carol", "mona"})
APPROVERS = frozenset({"carol", "mona"})
OUTBOX_READERS = frozenset({"mona"})
# Dead letters of background tasks are system-wide: every programme manager sees them.
FAILED_TASK_READERS = frozenset({"mona"})

# Distinctive identity values: if one of them shows up in a response, something leaked.
IN_SCOPE_IDENTITY = {
    "given_name": "Zubaida",
    "family_name": "Qaraghuli",
    "aliases": "Umm Yahya",
    "national_id": "1987-1104-5521",
    "phone": "+9647705550101",
    "address": "Alley 7, Hay al-Muthanna",
    "date_of_birth": "1987-11-04",
}
OUT_OF_SCOPE_IDENTITY = {
    "given_name": "Haitham",
    "family_name": "Shammari",
    "aliases": "Abu Bakr al-Basri",
    "national_id": "1979-0612-9043",
    "phone": "+9647805550202",
    "address": "Street 14, Hay al-Jumhuriya",
    "date_of_birth": "1979-06-12",
}
CANARIES = (
    *IN_SCOPE_IDENTITY.values(),
    *OUT_OF_SCOPE_IDENTITY.values(),
    # The person a POST /cases/ opens a case for.
    *(str(PERSON[name]) for name in IDENTITY_FIELDS if name in PERSON),
)


def _json(data: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime.date) else v) for k, v in data.items()}


# --- the data every path parameter can be filled from ------------------------------------------


def populated_case(*, team, caseworker, partner, identity: dict[str, str]):
    """A case in screening with one of each record, and two referrals to ``partner``: one
    offered (to accept or decline) and one accepted (to report progress on or close)."""
    case = case_at(Stage.SCREENING, team=team, caseworker=caseworker)
    person = case.returnee
    for name, value in identity.items():
        setattr(person, name, value)
    returnee_set_identity_indexes(person)
    person.save()
    today = timezone.now().date()
    share = f.ConsentFactory(
        returnee=person,
        recorded_by=caseworker,
        scope=[ConsentScope.PROGRAMME_RECORDS, ConsentScope.SHARE_WITH_PARTNERS],
    )
    screening = f.ScreeningFactory(
        case=case,
        assessed_by=caseworker,
        security_findings="Named by an informant in the 2019 detention file",
    )
    plan = ReintegrationPlan.objects.create(case=case, created_by=caseworker)
    PlanGoal.objects.create(plan=plan, pillar="livelihood", goal="A stall at the market")
    offered = Referral.objects.create(
        case=case,
        partner=partner,
        service="vocational_training",
        shared_fields=["sex", "current_district"],
        created_by=caseworker,
    )
    accepted = Referral.objects.create(
        case=case,
        partner=partner,
        service="livelihood",
        shared_fields=["profession"],
        status=ReferralStatus.ACCEPTED,
        responded_at=timezone.now(),
        created_by=caseworker,
    )
    records = {
        "screenings": screening,
        "enrolments": TrainingEnrolment.objects.create(
            case=case, course="Tailoring", provider="Mosul Vocational Centre", start_date=today
        ),
        "support": SupportProvision.objects.create(
            case=case, pillar="basic_services", kind="ID card", provided_on=today
        ),
        "contacts": f.ContactFactory(case=case, recorded_by=caseworker),
        "incidents": Incident.objects.create(
            case=case,
            kind="recruiter_contact",
            occurred_on=today,
            severity="high",
            recorded_by=caseworker,
        ),
        "consents": share,
        "approvals": Approval.objects.create(
            case=case,
            kind=ApprovalKind.REINTEGRATION_PLAN,
            plan=plan,
            status=ApprovalStatus.REQUESTED,
            requested_by=caseworker,
            requested_at=timezone.now(),
        ),
        "plans": plan,
        "referrals": offered,
    }
    return SimpleNamespace(case=case, records=records, offered=offered, accepted=accepted)


def dead_event(partner) -> tuple[WebhookEndpoint, OutboxEvent]:
    endpoint = WebhookEndpoint.objects.create(
        partner=partner, url=f"https://hooks.example.org/{partner.uuid}", secret="s3cret"
    )
    event = OutboxEvent.objects.create(
        topic="referral.updated",
        partner=partner,
        endpoint=endpoint,
        payload={"referral": "x"},
        status=OutboxStatus.DEAD,
        attempts=8,
        next_attempt_at=timezone.now(),
        last_error="HTTP 503",
    )
    return endpoint, event


def build_scenario(world, partners):
    """In scope: alice's team-A case (programme North) referred to partner X. Out of scope for
    every persona: xavier's team-X case in programme South, referred to South's partner S."""
    partner_x = partners["x"][0]
    partner_s = f.PartnerFactory(programme=world.south, name="Partner S")
    inside = populated_case(
        team=world.team_a, caseworker=world.alice, partner=partner_x, identity=IN_SCOPE_IDENTITY
    )
    outside = populated_case(
        team=world.team_x,
        caseworker=world.xavier,
        partner=partner_s,
        identity=OUT_OF_SCOPE_IDENTITY,
    )
    inside.webhook, inside.event = dead_event(partner_x)
    outside.webhook, outside.event = dead_event(partner_s)
    inside.failed_task = FailedTask.objects.create(
        task_name="cases.monitoring_plan", task_id="matrix-1", error="OperationalError"
    )
    # Nothing is out of a manager's scope among dead letters: an unknown uuid stands in.
    outside.failed_task = SimpleNamespace(uuid=uuid.uuid4())
    for side, programme in ((inside, world.north), (outside, world.south)):
        side.programme = programme
        side.benchmark = Benchmark.objects.create(
            programme=programme,
            competing_stage="repentance",
            days_to_reach=5,
            source="Programme review",
            valid_from=datetime.date(2026, 1, 1),
        )
        side.threat = ThreatContext.objects.create(
            programme=programme,
            districts=["Mosul"],
            kind="recruiter_activity",
            starts_on=datetime.date(2026, 1, 1),
            source="Field report",
        )
        side.profile = TargetProfile.objects.create(
            programme=programme, name="Doctors", professions=["medicine"], source="Review"
        )
        side.survey_question = SurveyQuestion.objects.create(
            programme=programme,
            code="matrix_question",
            dimension="social",
            texts={"en": "Matrix question"},
            choices=[
                {"value": "yes", "score": 1, "labels": {"en": "Yes"}},
                {"value": "no", "score": 0, "labels": {"en": "No"}},
            ],
        )
    own_notifications = {
        persona: Notification.objects.create(
            key=f"matrix:{persona}",
            recipient=getattr(world, persona),
            kind=NotificationKind.INCIDENT_RECORDED,
            case=inside.case,
        )
        for persona in STAFF
    }
    outside.notification = Notification.objects.create(
        key="matrix:xavier",
        recipient=world.xavier,
        kind=NotificationKind.INCIDENT_RECORDED,
        case=outside.case,
    )
    with transaction.atomic():
        outside.token = staff_token_issue(actor=world.xavier, name="xavier's script").key
        own_tokens = {
            persona: staff_token_issue(actor=getattr(world, persona), name="own").key
            for persona in STAFF
        }
    return SimpleNamespace(
        world=world,
        partners=partners,
        partner_x=partner_x,
        partner_s=partner_s,
        in_scope=inside,
        out_of_scope=outside,
        own_tokens=own_tokens,
        own_notifications=own_notifications,
    )


def own_token(scenario, persona: str):
    """``persona``'s own personal token: in scope on the token endpoints."""
    return scenario.own_tokens[persona]


# --- the rules ---------------------------------------------------------------------------------


class Unclassified(Exception):
    """An operation the rules below do not know: say who may call it before shipping it."""


@dataclass(frozen=True)
class Rule:
    audience: str  # "staff" or "partner"
    readers: frozenset[str]  # personas who see the in-scope object
    actors: frozenset[str]  # of those, who may perform the operation
    listing: str | None = None  # for a list: what kind of item it lists


CASE_PATH = re.compile(r"^/api/v1/cases/\{case_number\}/")
REFERENCE_LISTS = {
    "/api/v1/competition/benchmarks/": "benchmark",
    "/api/v1/competition/threats/": "threat",
    "/api/v1/competition/profiles/": "profile",
}
REFERENCE_ITEM = re.compile(r"^/api/v1/competition/(?P<kind>benchmarks|threats|profiles)/\{uuid\}/")
APPROVER_OPERATIONS = {
    ("POST", "/api/v1/cases/{case_number}/approvals/{uuid}/decision/"),
    ("POST", "/api/v1/cases/{case_number}/assign/"),
}


def classify(path: str, method: str) -> Rule:  # noqa: C901 - the access rules: a branch per kind of path
    """Who may call ``method path``, by the kind of thing the path names."""
    everyone_staff = frozenset(STAFF)
    if path.startswith("/api/v1/partner/"):
        if path in ("/api/v1/partner/referrals/", "/api/v1/partner/webhooks/"):
            listing = path.split("/")[-2] if method == "GET" else None
            return Rule("partner", frozenset(PARTNERS), frozenset(PARTNERS), listing)
        if re.match(r"^/api/v1/partner/(referrals|webhooks)/\{uuid\}/", path):
            return Rule("partner", frozenset({"partner_x"}), frozenset({"partner_x"}))
        raise Unclassified(f"{method} {path}")
    if not path.startswith("/api/v1/"):
        raise Unclassified(f"{method} {path}")
    if CASE_PATH.match(path):
        actors = APPROVERS if (method, path) in APPROVER_OPERATIONS else CASE_READERS
        return Rule("staff", CASE_READERS, actors)
    if path == "/api/v1/cases/":
        if method == "GET":
            return Rule("staff", everyone_staff, everyone_staff, "cases")
        # A case can only be opened in a team you work in (a body naming another is a 400).
        return Rule("staff", CASE_READERS, CASE_READERS)
    if path == "/api/v1/cases/export.csv":
        # Everyone staff may export; the file holds only the cases the caller may see.
        return Rule("staff", everyone_staff, everyone_staff, "export")
    if path == "/api/v1/cases/lookup/":
        return Rule("staff", everyone_staff, everyone_staff, "lookup")
    if path == "/api/v1/cases/import/":
        # A CSV file for a team you may open cases in (tests/api/test_import.py); the JSON
        # body sent here is not a file, so every staff caller gets 415.
        return Rule("staff", CASE_READERS, CASE_READERS)
    if path == "/api/v1/outbox/":
        return Rule("staff", everyone_staff, everyone_staff, "outbox")
    if path in ("/api/v1/outbox/{uuid}/", "/api/v1/outbox/{uuid}/replay/"):
        return Rule("staff", OUTBOX_READERS, OUTBOX_READERS)
    if path == "/api/v1/failed-tasks/":
        return Rule("staff", everyone_staff, everyone_staff, "failed_tasks")
    if path == "/api/v1/failed-tasks/{uuid}/retry/":
        return Rule("staff", FAILED_TASK_READERS, FAILED_TASK_READERS)
    if path in REFERENCE_LISTS:
        if method == "GET":
            return Rule("staff", everyone_staff, everyone_staff, REFERENCE_LISTS[path])
        # Only a programme's manager adds to its reference data (anyone else: 400 programme).
        return Rule("staff", everyone_staff, frozenset({"mona"}))
    if REFERENCE_ITEM.match(path):
        actors = everyone_staff if method == "GET" else frozenset({"mona"})
        return Rule("staff", everyone_staff, actors)
    if path == "/api/v1/survey-questions/":
        # Everyone staff reads the questions of the programmes they work in.
        return Rule("staff", everyone_staff, everyone_staff, "survey_questions")
    if path == "/api/v1/me/":
        # Every staff account may ask who it is; partners and anonymous callers may not.
        return Rule("staff", everyone_staff, everyone_staff)
    if path == "/api/v1/competition/summary/":
        # Everyone staff may ask; the summary covers only the cases the caller may see.
        return Rule("staff", everyone_staff, everyone_staff)
    if path == "/api/v1/tokens/":
        return Rule("staff", everyone_staff, everyone_staff, "tokens" if method == "GET" else None)
    if path == "/api/v1/tokens/{uuid}/":
        # In scope is the caller's own token; anyone else's is out of scope.
        return Rule("staff", everyone_staff, everyone_staff)
    if path == "/api/v1/notifications/":
        return Rule("staff", everyone_staff, everyone_staff, "notifications")
    if path == "/api/v1/notifications/{uuid}/read/":
        # In scope is the caller's own notification; anyone else's is out of scope.
        return Rule("staff", everyone_staff, everyone_staff)
    raise Unclassified(f"{method} {path}")


def success_status(path: str, method: str) -> int:
    """The one 2xx the schema documents for the operation."""
    codes = [int(c) for c in SCHEMA["paths"][path][method.lower()]["responses"] if c[0] == "2"]
    assert len(codes) == 1, f"{method} {path} documents {codes}"
    return codes[0]


def expected_status(path: str, method: str, persona: str, scope: str) -> int:
    rule = classify(path, method)
    if persona not in (STAFF if rule.audience == "staff" else PARTNERS):
        return 401
    if path == "/api/v1/cases/import/":
        return 415
    success = success_status(path, method)
    if "{" in path:
        if scope == "out_of_scope" or persona not in rule.readers:
            return 404  # never 403: out of scope is absent
        return success if persona in rule.actors else 403
    if (method, path) == ("POST", "/api/v1/cases/") or (
        method == "POST" and path in REFERENCE_LISTS
    ):
        return success if scope == "in_scope" and persona in rule.actors else 400
    return success


# --- filling in a request ----------------------------------------------------------------------

NESTED = re.compile(r"^/api/v1/cases/\{case_number\}/(?P<name>[a-z]+)/\{uuid\}/")


def _target(scenario, path: str, scope: str, persona: str) -> Any:  # noqa: C901 - a branch per kind of path
    """The object the path's last parameter names, or None for a collection."""
    side = getattr(scenario, scope)
    if "{" not in path:
        return None
    if path.startswith("/api/v1/partner/referrals/{uuid}/"):
        wants_accepted = path.endswith(("/progress/", "/close/"))
        return side.accepted if wants_accepted else side.offered
    if path.startswith("/api/v1/partner/webhooks/{uuid}/"):
        return side.webhook
    if path.startswith("/api/v1/outbox/{uuid}/"):
        return side.event
    if path.startswith("/api/v1/failed-tasks/{uuid}/"):
        return side.failed_task
    reference = REFERENCE_ITEM.match(path)
    if reference:
        return getattr(side, REFERENCE_LISTS[f"/api/v1/competition/{reference['kind']}/"])
    if path.startswith("/api/v1/tokens/{uuid}/"):
        if scope == "in_scope":
            return own_token(scenario, persona if persona in STAFF else "alice")
        return side.token
    if path.startswith("/api/v1/notifications/{uuid}/"):
        if scope == "in_scope":
            return scenario.own_notifications[persona if persona in STAFF else "alice"]
        return side.notification
    match = NESTED.match(path)
    if match:
        if match["name"] not in side.records:
            raise Unclassified(f"no {match['name']} record to fill {path}")
        return side.records[match["name"]]
    if path == "/api/v1/cases/{case_number}/intake/":
        return side.case.intake
    if CASE_PATH.match(path) or path == "/api/v1/cases/{case_number}/":
        return side.case
    raise Unclassified(f"cannot fill the parameters of {path}")


def _url(scenario, path: str, scope: str, target: Any) -> str:
    side = getattr(scenario, scope)
    url = path.replace("{case_number}", side.case.case_number)
    if "{uuid}" in url:
        url = url.replace("{uuid}", str(target.uuid))
    if "{" in url:
        raise Unclassified(f"unfilled parameter in {path}")
    return url


def _body(scenario, path: str, method: str, scope: str) -> dict[str, Any] | None:
    """A minimal valid body for each write, so an allowed caller gets the success status."""
    side = getattr(scenario, scope)
    team = scenario.world.team_a if scope == "in_scope" else scenario.world.team_x
    today = timezone.now().date().isoformat()
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/api/v1/cases/"): {
            "team": str(team.uuid),
            "returnee": _json(PERSON),
            "intake": _json(INTAKE),
            "consent": CONSENT,
        },
        ("PATCH", "/api/v1/cases/{case_number}/"): {"household_size": 5},
        ("POST", "/api/v1/cases/lookup/"): {"national_id": side.case.returnee.national_id},
        ("POST", "/api/v1/cases/import/"): {"team": str(team.uuid)},
        ("POST", "/api/v1/cases/{case_number}/identity/reveal/"): {"reason": "Home visit"},
        ("POST", "/api/v1/cases/{case_number}/assign/"): {"caseworker": "alice"},
        ("POST", "/api/v1/cases/{case_number}/transitions/"): {
            "to_stage": "intake",
            "reason": "Missing documents",
        },
        ("PATCH", "/api/v1/cases/{case_number}/intake/"): {"notes": "Brought documents"},
        ("POST", "/api/v1/cases/{case_number}/screenings/"): {
            "assessed_on": today,
            "risk_level": "low",
        },
        ("PATCH", "/api/v1/cases/{case_number}/screenings/{uuid}/"): {"decision_reason": "Seen"},
        ("POST", "/api/v1/cases/{case_number}/enrolments/"): {
            "course": "Welding",
            "provider": "Centre",
            "start_date": today,
        },
        ("PATCH", "/api/v1/cases/{case_number}/enrolments/{uuid}/"): {"attendance_percent": 75},
        ("POST", "/api/v1/cases/{case_number}/support/"): {
            "pillar": "livelihood",
            "kind": "Toolkit",
            "provided_on": today,
        },
        ("POST", "/api/v1/cases/{case_number}/contacts/"): {"planned_date": today},
        ("PATCH", "/api/v1/cases/{case_number}/contacts/{uuid}/"): {"concerns": "None"},
        ("POST", "/api/v1/cases/{case_number}/incidents/"): {
            "kind": "threat_received",
            "occurred_on": today,
            "severity": "medium",
        },
        ("POST", "/api/v1/cases/{case_number}/consents/"): {
            "legal_basis": "consent",
            "scope": ["statistics"],
        },
        ("POST", "/api/v1/cases/{case_number}/consents/{uuid}/withdraw/"): None,
        ("POST", "/api/v1/cases/{case_number}/surveys/"): {
            "taken_on": today,
            "answers": {
                question.code: question.choices[0]["value"]
                for question in survey_questions_for_programme(programme_id=side.case.programme_id)
            },
        },
        ("POST", "/api/v1/cases/{case_number}/approvals/"): {
            "kind": "closure",
            "outcome": "reintegrated",
        },
        ("POST", "/api/v1/cases/{case_number}/approvals/{uuid}/decision/"): {"approve": True},
        ("POST", "/api/v1/cases/{case_number}/plans/"): {
            "goals": [{"pillar": "community", "goal": "Rejoin the family home"}]
        },
        ("POST", "/api/v1/cases/{case_number}/referrals/"): {
            "partner": str(scenario.partner_x.uuid),
            "service": "health",
        },
        ("POST", "/api/v1/cases/{case_number}/referrals/{uuid}/withdraw/"): {
            "reason": "Moved to Erbil"
        },
        ("POST", "/api/v1/outbox/{uuid}/replay/"): None,
        ("POST", "/api/v1/failed-tasks/{uuid}/retry/"): None,
        ("POST", "/api/v1/tokens/"): {"name": "matrix"},
        ("POST", "/api/v1/competition/benchmarks/"): {
            "programme": str(side.programme.uuid),
            "competing_stage": "repentance",
            "days_to_reach": 4,
            "source": "Programme review",
            "valid_from": today,
        },
        ("POST", "/api/v1/competition/benchmarks/{uuid}/revise/"): {
            "valid_from": today,
            "days_to_reach": 3,
        },
        ("POST", "/api/v1/competition/threats/"): {
            "programme": str(side.programme.uuid),
            "districts": ["Mosul"],
            "kind": "amnesty_window",
            "starts_on": today,
            "source": "Field report",
        },
        ("POST", "/api/v1/competition/threats/{uuid}/end/"): {"ends_on": today},
        ("POST", "/api/v1/competition/profiles/"): {
            "programme": str(side.programme.uuid),
            "name": "Engineers",
            "professions": ["engineering"],
            "source": "Review",
        },
        ("POST", "/api/v1/competition/profiles/{uuid}/deactivate/"): None,
        ("DELETE", "/api/v1/tokens/{uuid}/"): None,
        ("POST", "/api/v1/notifications/{uuid}/read/"): None,
        ("POST", "/api/v1/partner/referrals/{uuid}/accept/"): None,
        ("POST", "/api/v1/partner/referrals/{uuid}/decline/"): {"reason": "No places left"},
        ("POST", "/api/v1/partner/referrals/{uuid}/progress/"): {
            "kind": "attendance",
            "attendance_percent": 80,
        },
        ("POST", "/api/v1/partner/referrals/{uuid}/close/"): {"outcome": "Completed"},
        ("POST", "/api/v1/partner/webhooks/"): {"url": "https://hooks.example.org/new"},
        ("DELETE", "/api/v1/partner/webhooks/{uuid}/"): None,
    }
    if (method, path) not in bodies:
        raise Unclassified(f"no body for {method} {path}")
    return bodies[(method, path)]


def _client(scenario, persona: str) -> APIClient:
    client = APIClient()
    if persona in STAFF:
        verified_client(getattr(scenario.world, persona), client)
    elif persona in PARTNERS:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {scenario.partners[persona[-1]][2]}")
    return client


def _listed(scenario, listing: str, scope: str, persona: str, data: Any) -> tuple[bool, bool]:
    """(is the in-or-out-of-scope object in the list, should it be)."""
    side = getattr(scenario, scope)
    in_scope = scope == "in_scope"
    if listing == "cases":
        found = side.case.case_number in [c["case_number"] for c in data["results"]]
        return found, in_scope and persona in CASE_READERS
    if listing == "lookup":
        found = side.case.case_number in [c["case_number"] for c in data["results"]]
        return found, in_scope and persona in CASE_READERS
    if listing == "export":  # the CSV's text
        found = side.case.case_number in data
        return found, in_scope and persona in CASE_READERS
    if listing == "outbox":
        found = str(side.event.uuid) in [e["uuid"] for e in data["results"]]
        return found, in_scope and persona in OUTBOX_READERS
    if listing == "failed_tasks":
        found = str(side.failed_task.uuid) in [t["uuid"] for t in data["results"]]
        return found, in_scope and persona in FAILED_TASK_READERS
    if listing == "notifications":
        note = scenario.own_notifications[persona] if in_scope else side.notification
        return str(note.uuid) in [n["uuid"] for n in data["results"]], in_scope
    if listing == "tokens":
        token = own_token(scenario, persona) if in_scope else side.token
        return str(token.uuid) in [t["uuid"] for t in data["results"]], in_scope
    if listing == "referrals":
        uuids = [r["uuid"] for r in data["results"]]
        found = str(side.offered.uuid) in uuids and str(side.accepted.uuid) in uuids
        return found, in_scope and persona == "partner_x"
    if listing == "webhooks":
        found = str(side.webhook.uuid) in [w["uuid"] for w in data["results"]]
        return found, in_scope and persona == "partner_x"
    if listing == "survey_questions":
        found = str(side.survey_question.uuid) in [q["uuid"] for q in data]
        return found, in_scope
    if listing in ("benchmark", "threat", "profile"):
        found = str(getattr(side, listing).uuid) in [r["uuid"] for r in data["results"]]
        return found, in_scope
    raise Unclassified(f"unknown listing {listing}")


@pytest.fixture(scope="module")
def scenario(django_db_setup, django_db_blocker):
    """Built once for the module, inside a transaction rolled back at its end. Each test runs
    in a savepoint inside it (pytest-django's ``db``), so no test sees another's writes, and
    the ~900 requests do not each pay for building two fully recorded cases."""
    with django_db_blocker.unblock(), transaction.atomic():
        with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
            # The personas' own fixture functions, so they stay defined in one place.
            world = inspect.unwrap(personas.world)(db=None)
            partners = inspect.unwrap(api_personas.partners)(world)
            built = build_scenario(world, partners)
        yield built
        transaction.set_rollback(True)


def _ids(value: Any) -> str:
    if isinstance(value, tuple):
        return f"{value[1]} {value[0]}"
    return str(value)


def test_every_operation_in_the_schema_has_a_rule():
    """The rules know every operation in the schema (so a new endpoint cannot slip by)."""
    unknown = []
    for path, method in OPERATIONS:
        try:
            classify(path, method)
            success_status(path, method)
        except Unclassified as exc:
            unknown.append(str(exc))
    assert not unknown, f"classify these operations in the access matrix: {unknown}"
    assert len(OPERATIONS) >= 55


@pytest.mark.parametrize("scope", SCOPES)
@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("operation", OPERATIONS, ids=_ids)
def test_access(scenario, db, operation, persona, scope):
    path, method = operation
    try:
        expected = expected_status(path, method, persona, scope)
        target = _target(scenario, path, scope, persona)
        url = _url(scenario, path, scope, target)
        body = _body(scenario, path, method, scope) if method in WRITE_METHODS else None
    except Unclassified as exc:
        pytest.fail(f"the access matrix cannot classify {exc}; add it to the rules")
    headers: dict[str, Any] = {}
    if method == "PATCH":
        target.refresh_from_db()
        headers["HTTP_IF_MATCH"] = f'"{target.version}"'

    client = _client(scenario, persona)
    response = client.generic(
        method,
        url,
        data="" if body is None else json.dumps(body),
        content_type="application/json",
        **headers,
    )

    raw = response.getvalue()
    text = raw.decode()
    assert response.status_code < 500, text
    assert response.status_code == expected, (
        f"{persona} {method} {url} ({scope}): expected {expected}, got "
        f"{response.status_code}: {text[:300]}"
    )
    assert str(expected) in SCHEMA["paths"][path][method.lower()]["responses"]
    assert response["Cache-Control"] == "no-store"
    if expected == 404:
        assert response.json() == {"error": {"code": "not_found", "message": "Not found."}}
    if expected == 400:
        field = "team" if path == "/api/v1/cases/" else "programme"
        assert field in response.json()["error"]["fields"]

    rule = classify(path, method)
    if rule.listing and expected == 200:
        data = text if response.streaming else response.json()
        found, wanted = _listed(scenario, rule.listing, scope, persona, data)
        assert found == wanted, f"{persona} listing {rule.listing} ({scope}): found={found}"

    reveals = path.endswith("/identity/reveal/") and expected == 200
    leaked = [value for value in CANARIES if value in text]
    if reveals:
        assert response.json()["given_name"] == IN_SCOPE_IDENTITY["given_name"]
        leaked = [value for value in leaked if value not in IN_SCOPE_IDENTITY.values()]
    assert not leaked, f"identity in the response to {persona} {method} {url}: {leaked}"
