"""The partner flow end to end, over HTTP only: a caseworker refers a case, partner X works the
referral and its webhooks arrive signed at a real receiver, partner Y sees none of it, and the
person's consent decides what X may see."""

from __future__ import annotations

import datetime
import json
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient
from werkzeug import Request

from cases.api.partner import PartnerReferralSerializer
from cases.models import AuditEvent, OutboxEvent, OutboxStatus, Stage
from cases.services.outbox import webhook_dispatch_due, webhook_verify

from .. import factories as f

SHARED = ["sex", "year_of_birth", "current_district", "needs"]
PROGRESS = [
    {"kind": "attendance", "attendance_percent": 85, "course": "Tailoring, level 1"},
    {"kind": "completion", "completed": True, "end_date": "2027-03-31"},
    {"kind": "certificate", "certificate": "HVC-2027-0142"},
    {
        "kind": "job_placement",
        "employer": "Al-Noor tailoring workshop",
        "start_date": "2027-04-10",
        "monthly_income": "450000",
        "currency": "IQD",
    },
]


def partner_client(partner) -> APIClient:
    """A client holding a key issued the way a programme manager issues it."""
    out = StringIO()
    args = ["issue", "--partner", str(partner.uuid), "--name", "integration"]
    call_command("partner_key", *args, stdout=out, stderr=StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {out.getvalue().strip()}")
    return client


def hook_requests(server, path: str) -> list[Request]:
    return [request for request, _response in server.log if request.path == path]


@pytest.fixture
def flow(world, make_case, api, httpserver, settings):
    """Case of alice's with consent to share, partners X and Y with keys and webhooks, and
    X offered a referral by alice — every step through the API."""
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver listens on localhost
    x = f.PartnerFactory(programme=world.north, name="Partner X")
    y = f.PartnerFactory(programme=world.north, name="Partner Y")
    ns = SimpleNamespace(x=x, y=y, px=partner_client(x), py=partner_client(y), alice=api("alice"))
    ns.case = make_case(Stage.TRAINING)
    ns.base = f"/api/v1/cases/{ns.case.case_number}"

    consent = ns.alice.post(
        f"{ns.base}/consents/",
        {"legal_basis": "consent", "scope": ["programme_records", "share_with_partners"]},
        format="json",
    )
    assert consent.status_code == 201, consent.data
    ns.consent = consent.data["uuid"]

    ns.secrets = {}
    for name, client in (("x", ns.px), ("y", ns.py)):
        url = httpserver.url_for(f"/hooks/{name}")
        registered = client.post("/api/v1/partner/webhooks/", {"url": url}, format="json")
        assert registered.status_code == 201, registered.data
        ns.secrets[name] = registered.data["secret"]

    created = ns.alice.post(
        f"{ns.base}/referrals/",
        {
            "partner": str(x.uuid),
            "service": "vocational_training",
            "shared_fields": SHARED,
            "note": "Interested in tailoring; mornings only.",
        },
        format="json",
    )
    assert created.status_code == 201, created.data
    ns.referral = created.data["uuid"]
    ns.url = f"/api/v1/partner/referrals/{ns.referral}/"
    return ns


def test_partner_x_lists_the_referral_by_case_number_and_y_sees_nothing(flow):
    listing = flow.px.get("/api/v1/partner/referrals/")
    assert listing.status_code == 200
    assert listing["Cache-Control"] == "no-store"
    (item,) = listing.data["results"]
    assert (item["uuid"], item["case_number"]) == (flow.referral, flow.case.case_number)
    assert item["status"] == "offered"
    assert item["version"] == 1

    assert flow.py.get("/api/v1/partner/referrals/").data["results"] == []
    missing = flow.py.get(flow.url)
    assert missing.status_code == 404
    assert missing.data == {"error": {"code": "not_found", "message": "Not found."}}
    for action, body in (("accept", {}), ("decline", {"reason": "x"}), ("close", {"outcome": "x"})):
        assert flow.py.post(f"{flow.url}{action}/", body, format="json").status_code == 404
    progress = flow.py.post(f"{flow.url}progress/", PROGRESS[0], format="json")
    assert progress.status_code == 404
    assert flow.px.get(flow.url).data["status"] == "offered"


def test_partner_sees_only_the_shared_fields_and_no_identity(flow):
    detail = flow.px.get(flow.url)

    assert detail.status_code == 200
    assert detail["ETag"] == '"1"'
    assert set(detail.data) == set(PartnerReferralSerializer.Meta.fields)
    assert set(detail.data["shared"]) == set(SHARED)
    assert detail.data["shared"]["year_of_birth"] == 1990
    assert detail.data["shared"]["current_district"] == "Mosul"
    person = flow.case.returnee
    text = json.dumps(detail.data)
    for secret in (person.given_name, person.family_name, person.phone, person.national_id):
        assert secret not in text
    assert "partner" not in detail.data
    assert "created_by" not in detail.data


def test_identity_is_shared_only_with_consent_to_share_identity(flow):
    identity = {
        "partner": str(flow.x.uuid),
        "service": "legal_aid",
        "shared_fields": ["given_name", "phone"],
    }
    refused = flow.alice.post(f"{flow.base}/referrals/", identity, format="json")
    assert refused.status_code == 400
    assert "shared_fields" in refused.data["error"]["fields"]

    more = {"legal_basis": "consent", "scope": ["share_identity_with_partners"]}
    assert flow.alice.post(f"{flow.base}/consents/", more, format="json").status_code == 201
    created = flow.alice.post(f"{flow.base}/referrals/", identity, format="json")
    assert created.status_code == 201, created.data

    shared = flow.px.get(f"/api/v1/partner/referrals/{created.data['uuid']}/").data["shared"]
    assert shared == {"given_name": "Omar", "phone": flow.case.returnee.phone}
    read = AuditEvent.objects.get(action="identity.partner_read")
    assert read.actor_label == f"partner:{flow.x.uuid}"
    assert read.actor is None
    assert read.fields == ["given_name", "phone"]
    assert read.case_number == flow.case.case_number


def test_only_staff_in_scope_can_refer_and_only_with_consent(world, flow, api):
    body = {"partner": str(flow.x.uuid), "service": "health", "shared_fields": ["sex"]}
    assert api("bob").post(f"{flow.base}/referrals/", body, format="json").status_code == 404
    assert flow.px.post(f"{flow.base}/referrals/", body, format="json").status_code == 401

    other = f.CaseFactory(team=world.team_a, caseworker=world.alice, stage=Stage.TRAINING)
    refused = flow.alice.post(f"/api/v1/cases/{other.case_number}/referrals/", body, format="json")
    assert refused.status_code == 400
    assert "partner" in refused.data["error"]["fields"]


def test_the_whole_flow_lands_on_the_case_is_audited_and_is_announced_signed(flow, api, httpserver):
    httpserver.expect_request("/hooks/x", method="POST").respond_with_data("ok")
    httpserver.expect_request("/hooks/y", method="POST").respond_with_data("ok")

    accepted = flow.px.post(f"{flow.url}accept/", HTTP_IF_MATCH='"1"')
    assert accepted.status_code == 200, accepted.data
    assert (accepted.data["status"], accepted["ETag"]) == ("accepted", '"2"')
    stale = flow.px.post(f"{flow.url}close/", {"outcome": "x"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412

    records = []
    for report in PROGRESS:
        response = flow.px.post(f"{flow.url}progress/", report, format="json")
        assert response.status_code == 201, response.data
        assert response.data["referral"]["status"] == "accepted"
        records.append(response.data["record"])

    # Staff see the partner's reports on the case.
    enrolments = flow.alice.get(f"{flow.base}/enrolments/").data["results"]
    (enrolment,) = enrolments
    assert enrolment["uuid"] == records[0] == records[1] == records[2]
    assert (enrolment["course"], enrolment["provider"]) == ("Tailoring, level 1", "Partner X")
    assert (enrolment["attendance_percent"], enrolment["status"]) == (85, "completed")
    assert (enrolment["end_date"], enrolment["certificate"]) == ("2027-03-31", "HVC-2027-0142")
    (support,) = flow.alice.get(f"{flow.base}/support/").data["results"]
    assert support["uuid"] == records[3]
    assert (support["pillar"], support["kind"]) == (
        "livelihood",
        "Job placement: Al-Noor tailoring workshop",
    )
    assert (support["amount"], support["currency"], support["provided_on"]) == (
        "450000.00",
        "IQD",
        "2027-04-10",
    )

    closed = flow.px.post(
        f"{flow.url}close/", {"outcome": "Completed and placed in a job"}, format="json"
    )
    assert closed.status_code == 200, closed.data
    assert (closed.data["status"], closed.data["shared"]) == ("closed", {})
    staff_view = flow.alice.get(f"{flow.base}/referrals/{flow.referral}/").data
    assert (staff_view["status"], staff_view["outcome"]) == (
        "closed",
        "Completed and placed in a job",
    )

    label = f"partner:{flow.x.uuid}"
    partner_events = AuditEvent.objects.filter(actor_label=label)
    assert all(event.actor is None for event in partner_events)
    assert [e.action for e in partner_events.filter(object_type="referral")] == [
        "referral.accept",
        "referral.progress.attendance",
        "referral.progress.completion",
        "referral.progress.certificate",
        "referral.progress.job_placement",
        "referral.close",
    ]
    assert partner_events.filter(action="webhook.register").count() == 1
    assert not AuditEvent.objects.filter(actor_label=f"partner:{flow.y.uuid}").exclude(
        action="webhook.register"
    )

    # Delivery: the dispatcher sends what is due (whether or not Celery runs eagerly).
    assert webhook_dispatch_due() == 7
    assert webhook_dispatch_due() == 0
    delivered = hook_requests(httpserver, "/hooks/x")
    assert hook_requests(httpserver, "/hooks/y") == []
    payloads = []
    for request in delivered:
        body = request.get_data()
        assert webhook_verify(
            secret=flow.secrets["x"], header=request.headers["X-Signature"], body=body
        )
        assert not webhook_verify(
            secret=flow.secrets["y"], header=request.headers["X-Signature"], body=body
        )
        payload = json.loads(body)
        assert request.headers["X-Idempotency-Key"] == payload["event_id"]
        assert request.headers["X-Event-Topic"] == payload["event"]
        payloads.append(payload)
    assert [(p["event"], p["status"], p["version"]) for p in payloads] == [
        ("referral.created", "offered", 1),
        ("referral.updated", "accepted", 2),
        ("referral.updated", "accepted", 3),
        ("referral.updated", "accepted", 4),
        ("referral.updated", "accepted", 5),
        ("referral.updated", "accepted", 6),
        ("referral.updated", "closed", 7),
    ]
    assert {p["case_number"] for p in payloads} == {flow.case.case_number}
    assert len({p["event_id"] for p in payloads}) == 7
    for payload in payloads:  # the body names the referral; shared fields never travel
        assert set(payload) == {
            "case_number",
            "event",
            "event_id",
            "occurred_at",
            "referral",
            "service",
            "status",
            "version",
        }


def test_a_failed_delivery_is_retried_after_its_backoff_and_then_delivered(
    flow, api, httpserver, monkeypatch
):
    monkeypatch.setattr("cases.services.outbox.core.random.uniform", lambda low, high: high)
    httpserver.expect_oneshot_request("/hooks/x", method="POST").respond_with_data(
        "down", status=500
    )
    httpserver.expect_request("/hooks/x", method="POST").respond_with_data("ok")
    (event,) = OutboxEvent.objects.filter(partner=flow.x)

    assert webhook_dispatch_due() == 1
    event.refresh_from_db()
    assert (event.status, event.attempts, event.last_error) == (OutboxStatus.PENDING, 1, "HTTP 500")
    assert event.next_attempt_at > timezone.now() + datetime.timedelta(seconds=25)
    assert webhook_dispatch_due() == 0  # not due yet: the back-off holds it

    OutboxEvent.objects.filter(pk=event.pk).update(
        next_attempt_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    assert webhook_dispatch_due() == 1

    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED
    assert event.attempts == 1
    first, second = hook_requests(httpserver, "/hooks/x")
    assert first.headers["X-Idempotency-Key"] == second.headers["X-Idempotency-Key"]
    assert first.get_data() == second.get_data()
    for request in (first, second):
        assert webhook_verify(
            secret=flow.secrets["x"],
            header=request.headers["X-Signature"],
            body=request.get_data(),
        )
    assert list(event.deliveries.values_list("status_code", flat=True)) == [500, 200]
    # The programme manager sees the event and its history in the outbox.
    (listed,) = api("mona").get("/api/v1/outbox/").data["results"]
    assert (listed["uuid"], listed["status"], listed["attempts"]) == (
        str(event.uuid),
        "delivered",
        1,
    )


def test_withdrawing_consent_to_share_empties_shared_for_the_partner(flow):
    assert flow.px.post(f"{flow.url}accept/").status_code == 200
    assert set(flow.px.get(flow.url).data["shared"]) == set(SHARED)

    withdrawn = flow.alice.post(f"{flow.base}/consents/{flow.consent}/withdraw/")
    assert withdrawn.status_code == 200
    assert withdrawn.data["withdrawn_at"]

    assert flow.px.get(flow.url).data["shared"] == {}
    (item,) = flow.px.get("/api/v1/partner/referrals/").data["results"]
    assert (item["case_number"], item["shared"]) == (flow.case.case_number, {})
    body = {"partner": str(flow.x.uuid), "service": "health", "shared_fields": ["sex"]}
    refused = flow.alice.post(f"{flow.base}/referrals/", body, format="json")
    assert refused.status_code == 400
    assert "partner" in refused.data["error"]["fields"]
