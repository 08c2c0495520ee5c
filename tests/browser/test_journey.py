"""The day's work in a real browser: a caseworker signs in with a TOTP code, opens a case
through the intake wizard, moves it to screening, records the screening and asks for its
approval; the supervisor signs in, approves it, sees the competing-stage lane and reads the
case file in Arabic, right to left."""

from __future__ import annotations

import datetime
import re

import pytest
from django.utils import timezone
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import Approval, ApprovalStatus, AuditEvent, Case, Stage
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def _day(days_ago: int) -> str:
    return (timezone.localdate() - datetime.timedelta(days=days_ago)).isoformat()


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def sign_in(tab, user) -> None:
    """Password, then the current code of the user's authenticator."""
    device = TOTPDevice.objects.create(user=user, name="phone", confirmed=True)
    tab.goto("/")
    assert "/account/login/" in tab.url
    tab.fill("input[name=username]", user.username)
    tab.fill("input[name=password]", PASSWORD)
    tab.click("form:has(input[name=password]) button[type=submit]")
    tab.wait_for_url(re.compile(r"/account/verify/"))
    tab.fill("input[name=code]", _code(device))
    tab.click("form:has(input[name=code]) button[type=submit]")
    tab.wait_for_url(lambda url: "/account/" not in url)


def sign_out(tab) -> None:
    tab.click("form[action='/account/logout/'] button")
    tab.wait_for_url(re.compile(r"/account/login/"))


def next_step(tab) -> None:
    tab.click("button[name=nav][value=next]")


def open_case_through_intake(tab, world) -> str:
    tab.click("nav a[href='/cases/new/']")
    tab.select_option("#id_team", str(world.team_a.uuid))
    tab.fill("#id_given_name", "Amina")
    tab.fill("#id_family_name", "Khalil")
    tab.fill("#id_national_id", "NID-4471-AB")
    tab.select_option("#id_sex", "female")
    tab.fill("#id_year_of_birth", "1994")
    tab.fill("#id_current_district", "Mosul")
    tab.select_option("#id_return_pathway", "camp_repatriation")
    tab.select_option("#id_affiliation", "family_member")
    next_step(tab)

    tab.select_option("#id_legal_basis", "consent")
    tab.check("#id_scope_0")
    next_step(tab)

    tab.fill("#id_return_date", _day(40))
    tab.fill("#id_first_contact_date", _day(30))
    tab.fill("#id_intake_date", _day(25))
    tab.select_option("#id_referral_source", "camp_authority")
    next_step(tab)

    tab.check("#id_urgent_needs_0")
    next_step(tab)

    tab.click("button[name=nav][value=create]")
    tab.wait_for_url(re.compile(r"/cases/C-[0-9A-Z-]+/"))
    found = re.search(r"/cases/(C-[0-9A-Z-]+)/", tab.url)
    assert found, tab.url
    return found.group(1)


def move(tab, case_number: str, target: str) -> None:
    tab.goto(f"/cases/{case_number}/")
    tab.click(f"form.move:has(input[name=to_stage][value={target}]) button[type=submit]")
    tab.wait_for_load_state()


def test_caseworker_and_supervisor_take_a_case_from_intake_to_an_approved_screening(tab, world):
    # The caseworker: sign in with the second factor, open a case through the wizard.
    sign_in(tab, world.alice)
    assert "/caseload/" in tab.url
    case_number = open_case_through_intake(tab, world)
    case = Case.objects.get(case_number=case_number)
    assert case.stage == Stage.INTAKE
    assert case.caseworker == world.alice
    # The header never shows the name unless it is revealed.
    assert "Amina" not in tab.content()

    move(tab, case_number, Stage.SCREENING)
    case.refresh_from_db()
    assert case.stage == Stage.SCREENING

    tab.goto(f"/cases/{case_number}/records/screening/new/")
    tab.fill("#id_assessed_on", _day(1))
    tab.select_option("#id_clearance_status", "cleared")
    tab.select_option("#id_risk_level", "medium")
    tab.select_option("#id_decision", "admit")
    tab.fill("#id_decision_reason", "Meets the criteria")
    tab.select_option("#id_judicial_status", "no_proceedings")
    tab.select_option("#id_compliance", "not_applicable")
    # A caseworker is never offered the security section.
    assert tab.locator("#id_security_findings").count() == 0
    tab.click("main form button[type=submit]")
    tab.wait_for_url(re.compile(rf"/cases/{case_number}/screening/"))

    tab.goto(f"/cases/{case_number}/records/approval/new/")
    tab.select_option("#id_kind", "screening_decision")
    tab.select_option("#id_screening", index=1)
    tab.click("main form button[type=submit]")
    tab.wait_for_url(re.compile(rf"/cases/{case_number}/approvals/"))
    approval = Approval.objects.get(case=case)
    assert approval.status == ApprovalStatus.REQUESTED
    sign_out(tab)

    # The supervisor: the approval queue, approve with a comment.
    sign_in(tab, world.carol)
    assert "/team/" in tab.url
    tab.goto("/team/approvals/")
    row = tab.locator(f"article#approval-{approval.uuid}")
    assert case_number in row.inner_text()
    row.locator("textarea[name=comment]").fill("Agreed: admit to training.")
    row.locator("button[name=decision][value=approve]").click()
    tab.wait_for_load_state()
    approval.refresh_from_db()
    assert approval.status == ApprovalStatus.APPROVED
    assert approval.decided_by == world.carol

    # The case file's competing-stage lane sits beside the programme's stages.
    tab.goto(f"/cases/{case_number}/")
    lanes = tab.locator(".timeline .lane-head")
    assert lanes.count() == 2
    assert tab.locator(".timeline .step.competing").count() >= 1
    programme_lane, competing_lane = lanes.nth(0).bounding_box(), lanes.nth(1).bounding_box()
    assert programme_lane["x"] < competing_lane["x"]  # left to right in English

    # Arabic: the switcher on the page, then the same case file right to left, mirrored.
    tab.select_option("#language-select", "ar")
    tab.click("form.language-form button[type=submit]")
    tab.wait_for_load_state()
    assert tab.locator("html").get_attribute("dir") == "rtl"
    assert tab.locator("html").get_attribute("lang") == "ar"
    assert f"/cases/{case_number}/" in tab.url
    lanes = tab.locator(".timeline .lane-head")
    programme_lane, competing_lane = lanes.nth(0).bounding_box(), lanes.nth(1).bounding_box()
    assert programme_lane["x"] > competing_lane["x"]  # the programme lane is on the right
    assert tab.evaluate("getComputedStyle(document.body).direction") == "rtl"
    assert "البرنامج" in lanes.nth(0).inner_text()

    # Every step above left its mark in the audit log.
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"case.open", "case.transition", "approval.request", "approval.approve"} <= actions
    assert {"login.success", "login.second_factor_success"} <= actions


def test_a_wrong_second_factor_code_does_not_let_anyone_in(tab, world):
    device = TOTPDevice.objects.create(user=world.bob, name="phone", confirmed=True)
    tab.goto("/caseload/")
    tab.fill("input[name=username]", "bob")
    tab.fill("input[name=password]", PASSWORD)
    tab.click("form:has(input[name=password]) button[type=submit]")
    tab.wait_for_url(re.compile(r"/account/verify/"))
    wrong = f"{(int(_code(device)) + 1) % 1_000_000:06d}"
    tab.fill("input[name=code]", wrong)
    tab.click("form:has(input[name=code]) button[type=submit]")
    tab.wait_for_load_state()
    tab.goto("/caseload/")
    assert "/account/" in tab.url
    assert AuditEvent.objects.filter(action="login.second_factor_failure").exists()
