"""Records nested under a case through the API: versions and If-Match, who sees security
findings, strict bodies, consent before a referral, the approval flow, and partner throttling."""

from typing import Any

import pytest
from django.core.cache import cache

from cases.api.auth import PartnerThrottle
from cases.models import (
    ApprovalStatus,
    ConsentScope,
    MonitoringContact,
    Referral,
    ScreeningAssessment,
    Stage,
    TrainingEnrolment,
)

from .. import factories as f
from ..conftest import FROZEN_NOW

# The day every test starts on (tests/conftest.py): a record dated after it is refused.
TODAY = FROZEN_NOW.date().isoformat()

# kind → (body to create, change to PATCH, the field the change sets)
RECORDS: dict[str, tuple[dict[str, Any], dict[str, Any], str]] = {
    "screenings": (
        {"assessed_on": TODAY, "risk_level": "low", "clearance_status": "pending"},
        {"clearance_status": "cleared"},
        "clearance_status",
    ),
    "enrolments": (
        {"course": "Tailoring", "provider": "Mosul Vocational Centre", "start_date": TODAY},
        {"attendance_percent": 80},
        "attendance_percent",
    ),
    "contacts": (
        {"planned_date": TODAY, "mode": "home_visit"},
        {"outcome": "met", "actual_date": TODAY},
        "outcome",
    ),
}


@pytest.fixture
def case(make_case):
    """Alice's team-A case in screening, with intake and consent to keep records."""
    return make_case(Stage.SCREENING)


def _url(case, kind, uuid=None):
    base = f"/api/v1/cases/{case.case_number}/{kind}/"
    return f"{base}{uuid}/" if uuid else base


@pytest.mark.parametrize("kind", sorted(RECORDS))
def test_record_is_created_read_and_updated_only_against_the_version_read(api, case, kind):
    body, change, field = RECORDS[kind]
    client = api("alice")

    created = client.post(_url(case, kind), body, format="json")
    assert created.status_code == 201, created.data
    assert created["ETag"] == '"1"'
    detail = _url(case, kind, created.data["uuid"])

    read = client.get(detail)
    assert read.status_code == 200
    assert read["ETag"] == '"1"'
    assert read.data["uuid"] == created.data["uuid"]
    listed = client.get(_url(case, kind))
    assert created.data["uuid"] in [row["uuid"] for row in listed.data["results"]]

    blind = client.patch(detail, change, format="json")
    assert blind.status_code == 428
    assert blind.data["error"]["code"] == "precondition_required"

    updated = client.patch(detail, change, format="json", HTTP_IF_MATCH='"1"')
    assert updated.status_code == 200, updated.data
    assert updated["ETag"] == '"2"'
    assert updated.data[field] == change[field]
    assert updated.data["version"] == 2

    stale = client.patch(detail, change, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert stale.data["error"]["code"] == "stale_version"
    weak = client.patch(detail, change, format="json", HTTP_IF_MATCH='W/"2"')
    assert weak.status_code == 200
    assert weak["ETag"] == '"2"'


def test_intake_is_read_with_its_version_and_patched_only_against_it(api, case):
    url = f"/api/v1/cases/{case.case_number}/intake/"
    client = api("alice")
    read = client.get(url)
    assert read.status_code == 200
    assert read["ETag"] == '"1"'

    assert client.patch(url, {"notes": "Brought papers"}, format="json").status_code == 428
    garbage = client.patch(url, {"notes": "x"}, format="json", HTTP_IF_MATCH="yesterday")
    assert garbage.status_code == 412

    updated = client.patch(url, {"notes": "Brought papers"}, format="json", HTTP_IF_MATCH='"1"')
    assert updated.status_code == 200
    assert updated["ETag"] == '"2"'
    assert updated.data["notes"] == "Brought papers"
    stale = client.patch(url, {"notes": "Lost them"}, format="json", HTTP_IF_MATCH='"1"')
    assert stale.status_code == 412
    assert client.get(url).data["notes"] == "Brought papers"


def test_only_supervisors_and_managers_see_security_findings(api, world, case):
    findings = "Seen with a recruiter at the Nabi Yunus market"
    body = {**RECORDS["screenings"][0], "security_findings": findings}

    refused = api("alice").post(_url(case, "screenings"), body, format="json")
    assert refused.status_code == 403
    assert refused.data["error"]["code"] == "action_not_allowed"

    created = api("carol").post(_url(case, "screenings"), body, format="json")
    assert created.status_code == 201, created.data
    assert created.data["security_findings"] == findings
    detail = _url(case, "screenings", created.data["uuid"])

    for reader in ("carol", "mona"):
        assert api(reader).get(detail).data["security_findings"] == findings
        rows = api(reader).get(_url(case, "screenings")).data["results"]
        assert [row["security_findings"] for row in rows] == [findings]

    alice = api("alice")
    assert "security_findings" not in alice.get(detail).data
    assert all(
        "security_findings" not in row
        for row in alice.get(_url(case, "screenings")).data["results"]
    )
    patched = alice.patch(detail, {"decision_reason": "Seen"}, format="json", HTTP_IF_MATCH='"1"')
    assert patched.status_code == 200
    assert "security_findings" not in patched.data
    assert findings not in str(patched.data)


@pytest.mark.parametrize(
    ("method", "kind", "body", "unknown"),
    [
        ("post", "screenings", {**RECORDS["screenings"][0], "colour": "blue"}, {"colour"}),
        ("post", "enrolments", {**RECORDS["enrolments"][0], "version": 7}, {"version"}),
        ("post", "contacts", {"planned_date": TODAY, "case": "C-1", "uuid": "x"}, {"case", "uuid"}),
        ("patch", "contacts", {"concerns": "None", "recorded_by": "bob"}, {"recorded_by"}),
        ("patch", "intake", {"notes": "x", "case": "C-2"}, {"case"}),
    ],
)
def test_unknown_or_read_only_fields_are_a_400_naming_them(api, case, method, kind, body, unknown):
    client = api("alice")
    if kind == "intake":
        url = f"/api/v1/cases/{case.case_number}/intake/"
    elif method == "patch":
        contact = f.ContactFactory(case=case)
        url = _url(case, kind, contact.uuid)
    else:
        url = _url(case, kind)
    before = (
        ScreeningAssessment.objects.count(),
        TrainingEnrolment.objects.count(),
        MonitoringContact.objects.count(),
    )
    response = getattr(client, method)(url, body, format="json", HTTP_IF_MATCH='"1"')
    assert response.status_code == 400
    assert response.data["error"]["code"] == "invalid"
    assert set(response.data["error"]["fields"]) == unknown
    after = (
        ScreeningAssessment.objects.count(),
        TrainingEnrolment.objects.count(),
        MonitoringContact.objects.count(),
    )
    assert after == before


def test_referral_without_consent_to_share_is_a_400_naming_the_partner(api, case, partners):
    partner_x = partners["x"][0]
    url = _url(case, "referrals")
    body = {"partner": str(partner_x.uuid), "service": "legal_aid"}

    refused = api("alice").post(url, body, format="json")
    assert refused.status_code == 400
    assert list(refused.data["error"]["fields"]) == ["partner"]
    assert not Referral.objects.exists()

    f.ConsentFactory(returnee=case.returnee, scope=[ConsentScope.SHARE_WITH_PARTNERS])
    identity = api("alice").post(url, {**body, "shared_fields": ["phone"]}, format="json")
    assert identity.status_code == 400
    assert list(identity.data["error"]["fields"]) == ["shared_fields"]

    created = api("alice").post(url, {**body, "shared_fields": ["sex"]}, format="json")
    assert created.status_code == 201
    assert created["ETag"] == '"1"'
    assert str(created.data["partner"]) == str(partner_x.uuid)


def test_caseworker_requests_an_approval_and_only_a_supervisor_decides_it(api, world, case):
    screening = api("alice").post(
        _url(case, "screenings"),
        {
            "assessed_on": TODAY,
            "risk_level": "medium",
            "clearance_status": "cleared",
            "decision": "admit",
            "decision_reason": "Meets the criteria",
        },
        format="json",
    )
    assert screening.status_code == 201
    requested = api("alice").post(
        _url(case, "approvals"),
        {"kind": "screening_decision", "screening": screening.data["uuid"]},
        format="json",
    )
    assert requested.status_code == 201, requested.data
    assert (requested.data["status"], requested.data["requested_by"]) == ("requested", "alice")
    decision = f"{_url(case, 'approvals', requested.data['uuid'])}decision/"

    own = api("alice").post(decision, {"approve": True}, format="json")
    assert own.status_code == 403
    assert own.data["error"]["code"] == "action_not_allowed"
    assert api("bob").post(decision, {"approve": True}, format="json").status_code == 404
    reject_silently = api("carol").post(decision, {"approve": False}, format="json")
    assert reject_silently.status_code == 400
    assert "comment" in reject_silently.data["error"]["fields"]

    approved = api("carol").post(decision, {"approve": True, "comment": "Agreed"}, format="json")
    assert approved.status_code == 200, approved.data
    assert (approved.data["status"], approved.data["decided_by"]) == ("approved", "carol")
    again = api("mona").post(decision, {"approve": False, "comment": "No"}, format="json")
    assert again.status_code == 409
    assert again.data["error"]["code"] == "already_decided"

    moves = api("alice").get(f"/api/v1/cases/{case.case_number}/").data["moves"]
    assert {m["to_stage"]: m["allowed"] for m in moves}["training"] is True
    assert case.approvals.get().status == ApprovalStatus.APPROVED


def _throttle_keys(partners):
    """The cache entries that hold each partner key's request history. Only these are
    cleared: on Redis the cache shares its database with the Celery broker and other tests."""
    lookups = [plaintext.split("_", 2)[1] for _partner, _client, plaintext in partners.values()]
    return [PartnerThrottle.cache_format % {"scope": "partner", "ident": x} for x in lookups]


@pytest.fixture
def partner_rate(settings, partners):
    """A partner may make 3 requests a minute, counted from a clean history; the throttle
    reads the rate from the settings at request time."""
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "partner": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    cache.delete_many(_throttle_keys(partners))
    yield
    cache.delete_many(_throttle_keys(partners))


def test_partner_over_its_rate_gets_429_and_other_partners_do_not(partner_rate, partners):
    _partner, client_x, _key = partners["x"]
    statuses = [client_x.get("/api/v1/partner/referrals/").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    throttled = client_x.get("/api/v1/partner/webhooks/")
    assert throttled.status_code == 429
    assert throttled.data["error"]["code"] == "throttled"
    assert int(throttled["Retry-After"]) > 0
    assert partners["y"][1].get("/api/v1/partner/referrals/").status_code == 200


def test_records_refuse_control_characters_overlong_text_and_impossible_dates(
    api, make_case, time_machine
):
    """What the services refuse comes back as a 400 naming the field, and nothing is written."""
    import datetime

    from cases.models import AuditEvent, Case, Incident

    time_machine.move_to(datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC), tick=False)
    case = make_case(Stage.MONITORING)
    client = api("alice")
    incident = {"kind": "threat_received", "occurred_on": "2026-11-19", "severity": "high"}
    future = "The date cannot be later than today (2026-11-20)."
    for kind, body, field, message in (
        ("contacts", {"outcome": "met", "actual_date": "2099-01-01"}, "actual_date", future),
        (
            "contacts",
            {"planned_date": "2099-01-01"},
            "planned_date",
            "The date cannot be more than 10 years ahead (later than 2036-11-20).",
        ),
        (
            "contacts",
            {"planned_date": "2026-12-01", "concerns": "Seen\x07"},
            "concerns",
            "Control characters are not allowed: U+0007.",
        ),
        ("incidents", {**incident, "description": "Threat\x00"}, "description", None),
        (
            "incidents",
            {**incident, "description": "d" * 20_000},
            "description",
            "Ensure this value has at most 10000 characters (it has 20000).",
        ),
        ("incidents", {**incident, "occurred_on": "2099-01-01"}, "occurred_on", future),
    ):
        before = (
            MonitoringContact.objects.count(),
            Incident.objects.count(),
            AuditEvent.objects.count(),
        )
        response = client.post(_url(case, kind), body, format="json")
        assert response.status_code == 400, (kind, field)
        message = message or "Null characters are not allowed."
        assert response.data["error"]["fields"] == {field: [message]}, (kind, field)
        after = (
            MonitoringContact.objects.count(),
            Incident.objects.count(),
            AuditEvent.objects.count(),
        )
        assert after == before
    assert Case.objects.get(pk=case.pk).version == case.version
    intake = f"/api/v1/cases/{case.case_number}/intake/"
    response = client.patch(
        intake, {"return_date": "2099-01-01"}, format="json", HTTP_IF_MATCH='"1"'
    )
    assert response.status_code == 400
    assert response.data["error"]["fields"] == {"return_date": [future]}
