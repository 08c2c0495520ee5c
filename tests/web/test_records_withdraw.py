"""Withdrawing consent and referrals from the case file."""

from __future__ import annotations

import pytest
from django.urls import reverse
from django.utils import timezone

from cases.models import AuditEvent, ConsentScope, Referral, ReferralStatus, Stage
from tests import factories as f
from tests.web.test_records import form_values, tab_url

OUT_OF_SCOPE = ("bob", "xavier", "audrey", "root")


@pytest.fixture
def case(make_case):
    return make_case(Stage.SCREENING)


@pytest.fixture
def consent(case, world):
    return f.ConsentFactory(
        returnee=case.returnee,
        recorded_by=world.alice,
        scope=[ConsentScope.SHARE_WITH_PARTNERS],
    )


@pytest.fixture
def referral(case, consent, world):
    partner = f.PartnerFactory(programme=world.north, name="Hope Vocational")
    return Referral.objects.create(
        case=case, partner=partner, service="vocational_training", created_by=world.alice
    )


def consent_url(case, consent):
    return reverse("web:consent-withdraw", args=[case.case_number, consent.uuid])


def referral_url(case, referral):
    return reverse("web:referral-withdraw", args=[case.case_number, referral.uuid])


# --- consent ----------------------------------------------------------------------------------


def test_consent_withdraw_page_by_persona(page, client, case, consent):
    url = consent_url(case, consent)
    for name in ("alice", "carol", "mona"):
        response = page(name).get(url)
        assert response.status_code == 200, name
        body = response.content.decode()
        assert "Sharing case data with partner NGOs" in body
        assert case.case_number in body
    outsiders = [page(name) for name in OUT_OF_SCOPE]
    events = AuditEvent.objects.count()
    for outsider in outsiders:
        assert outsider.get(url).status_code == 404
        assert outsider.post(url).status_code == 404
    consent.refresh_from_db()
    assert consent.withdrawn_at is None
    assert AuditEvent.objects.count() == events
    assert client.get(url).url.startswith(reverse("web:login"))


def test_withdrawing_consent_is_saved_and_audited(page, case, consent, world):
    alice = page("alice")
    events = AuditEvent.objects.count()
    response = alice.post(consent_url(case, consent))
    assert response.status_code == 302
    assert response.url == tab_url(case, "consent")
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.actor_id) == ("consent.withdraw", world.alice.pk)


def test_withdrawing_consent_twice_is_refused(page, case, consent):
    alice = page("alice")
    alice.post(consent_url(case, consent))
    events = AuditEvent.objects.count()
    response = alice.post(consent_url(case, consent))
    assert response.status_code == 400
    assert "This consent was already withdrawn." in response.content.decode()
    assert AuditEvent.objects.count() == events


def test_another_persons_consent_is_404(page, case, make_case, world):
    other = make_case(Stage.INTAKE)
    theirs = f.ConsentFactory(returnee=other.returnee, recorded_by=world.alice)
    assert page("alice").post(consent_url(case, theirs)).status_code == 404
    theirs.refresh_from_db()
    assert theirs.withdrawn_at is None


# --- referrals --------------------------------------------------------------------------------


def test_referral_withdraw_page_by_persona(page, client, case, referral):
    url = referral_url(case, referral)
    for name in ("alice", "carol", "mona"):
        response = page(name).get(url)
        assert response.status_code == 200, name
        assert "Hope Vocational" in response.content.decode()
    outsiders = [page(name) for name in OUT_OF_SCOPE]
    for outsider in outsiders:
        assert outsider.get(url).status_code == 404
        assert outsider.post(url, {"reason": "No longer needed", "version": "1"}).status_code == 404
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.OFFERED
    assert client.get(url).url.startswith(reverse("web:login"))


def test_withdrawing_a_referral_needs_a_reason(page, case, referral):
    alice = page("alice")
    data = form_values(alice.get(referral_url(case, referral)))
    events = AuditEvent.objects.count()
    response = alice.post(referral_url(case, referral), data)
    assert response.status_code == 400
    assert '<a href="#id_reason">Reason</a>: This field is required.' in response.content.decode()
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.OFFERED
    assert AuditEvent.objects.count() == events


def test_withdrawing_a_referral_is_saved_audited_and_announced(page, case, referral, world):
    alice = page("alice")
    data = form_values(alice.get(referral_url(case, referral)))
    data["reason"] = ["The person moved to Erbil"]
    events = AuditEvent.objects.count()
    response = alice.post(referral_url(case, referral), data)
    assert response.status_code == 302
    assert response.url == tab_url(case, "referrals")
    referral.refresh_from_db()
    assert (referral.status, referral.outcome) == (
        ReferralStatus.WITHDRAWN,
        "The person moved to Erbil",
    )
    assert AuditEvent.objects.count() == events + 1
    assert AuditEvent.objects.latest("id").action == "referral.withdraw"


def test_a_referral_the_partner_changed_meanwhile_shows_both_versions(page, case, referral):
    alice = page("alice")
    data = form_values(alice.get(referral_url(case, referral)))
    data["reason"] = ["No longer needed"]
    # The partner accepts while the page is open.
    Referral.objects.filter(pk=referral.pk).update(
        status=ReferralStatus.ACCEPTED, responded_at=timezone.now(), version=2
    )
    events = AuditEvent.objects.count()

    response = alice.post(referral_url(case, referral), data)

    assert response.status_code == 409
    body = response.content.decode()
    assert 'class="conflict"' in body
    current = body.split('id="conflict-current"', 1)[1]
    assert "Accepted" in current
    again = form_values(response)
    assert (again["version"], again["reason"]) == (["2"], ["No longer needed"])
    assert AuditEvent.objects.count() == events
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.ACCEPTED

    # Having seen that the partner accepted, withdrawing still works on purpose.
    assert alice.post(referral_url(case, referral), again).status_code == 302
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.WITHDRAWN


def test_a_closed_referral_cannot_be_withdrawn(page, case, referral):
    Referral.objects.filter(pk=referral.pk).update(status=ReferralStatus.DECLINED)
    alice = page("alice")
    data = form_values(alice.get(referral_url(case, referral)))
    data["reason"] = ["Tidying up"]
    response = alice.post(referral_url(case, referral), data)
    assert response.status_code == 400
    assert "Only an open referral can be withdrawn." in response.content.decode()
