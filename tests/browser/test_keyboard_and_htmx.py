"""What only a browser can show: signing in with the keyboard alone, and the htmx swaps of the
caseload filter and the case tabs (the table and the panel change, the page does not reload,
the address follows)."""

from __future__ import annotations

import re

import pytest
from django_otp.plugins.otp_totp.models import TOTPDevice

from cases.models import Stage
from tests.browser.test_journey import _code, sign_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)


def test_signing_in_needs_only_the_keyboard(tab, world):
    device = TOTPDevice.objects.create(user=world.alice, name="phone", confirmed=True)
    tab.goto("/account/login/")
    tab.keyboard.press("Tab")  # the skip link comes first
    focused = ""
    for _ in range(15):  # move on with Tab until the username field has the focus
        focused = tab.evaluate("document.activeElement.name || ''")
        if focused == "username":
            break
        tab.keyboard.press("Tab")
    assert focused == "username"
    tab.keyboard.type("alice")
    tab.keyboard.press("Tab")
    assert tab.evaluate("document.activeElement.name") == "password"
    tab.keyboard.type(PASSWORD)
    tab.keyboard.press("Enter")
    tab.wait_for_url(re.compile(r"/account/verify/"))
    # The code field has the focus as the page opens, or is the first field Tab reaches.
    if tab.evaluate("document.activeElement.name || ''") != "code":
        tab.focus("input[name=code]")
    tab.keyboard.type(_code(device))
    tab.keyboard.press("Enter")
    tab.wait_for_url(re.compile(r"/caseload/"))


def test_the_caseload_filter_swaps_only_the_table(tab, world, make_case):
    screening = make_case(Stage.SCREENING, team=world.team_a, caseworker=world.alice)
    training = make_case(Stage.TRAINING, team=world.team_a, caseworker=world.alice)
    sign_in(tab, world.alice)
    assert screening.case_number in tab.content()
    assert training.case_number in tab.content()
    tab.evaluate("window.__sameDocument = true")

    tab.check("input[name=stage][value=screening]")
    with tab.expect_response(re.compile(r"/caseload/\?")) as answer:
        tab.click("form.caseload-filters button[type=submit]")
    assert answer.value.request.headers.get("hx-request") == "true"
    tab.wait_for_function("n => !document.body.innerText.includes(n)", arg=training.case_number)

    assert tab.evaluate("window.__sameDocument") is True  # no full page load
    assert "stage=screening" in tab.url
    results = tab.locator("#caseload-results")
    assert screening.case_number in results.inner_text()
    assert training.case_number not in results.inner_text()


def test_case_tabs_swap_the_panel_and_follow_in_the_address(tab, world, make_case):
    case = make_case(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    sign_in(tab, world.alice)
    tab.goto(f"/cases/{case.case_number}/")
    tab.evaluate("window.__sameDocument = true")

    tab.click(f"#case-tabs a[href='/cases/{case.case_number}/incidents/']")
    tab.wait_for_url(re.compile(rf"/cases/{case.case_number}/incidents/"))

    assert tab.evaluate("window.__sameDocument") is True
    current = tab.locator("#case-tabs a[aria-current=page]")
    assert current.get_attribute("href") == f"/cases/{case.case_number}/incidents/"
