"""In a real browser, scripts running: no request leaves for another origin and the
Content-Security-Policy blocks nothing, on the staff pages, the admin and both API docs pages,
and the docs render.

The site is opened as http://reintegration.test:<port>, not localhost: Swagger UI shows its
third-party validator badge only off localhost, as in production. Every request goes through
one route: this host's are passed to the live server, any other is refused and recorded.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

from cases.models import Stage
from tests.web.conftest import verified_client

pytestmark = pytest.mark.django_db(transaction=True)

HOST = "reintegration.test"
API_TITLE = settings.SPECTACULAR_SETTINGS["TITLE"]

# Every violation the page sees, whatever the console says about it.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(
    `${event.violatedDirective} blocked ${event.blockedURI || "inline"} ` +
    `(${event.sourceFile}:${event.lineNumber}) ${event.sample}`
  );
});
"""


@dataclass
class Watch:
    """What one browser context asked for and what its pages' policy refused."""

    origin: str
    other_origins: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def violations(self, tab) -> list[str]:
        return [*tab.evaluate("window.__cspViolations"), *self.console]


@pytest.fixture
def open_as(browser, live_server) -> Iterator[Callable[..., tuple[Any, Watch]]]:
    """``open_as(user)`` → a page of a new context signed in as ``user`` (or signed out for
    None) on http://reintegration.test:<port>, and its Watch."""
    server = urlsplit(live_server.url)
    origin = f"http://{HOST}:{server.port}"
    contexts = []

    def make(user):
        watch = Watch(origin)
        context = browser.new_context(base_url=origin, locale="en-GB")
        context.set_default_timeout(20_000)
        contexts.append(context)

        def route(route) -> None:
            url = route.request.url
            parts = urlsplit(url)
            if f"{parts.scheme}://{parts.netloc}" != origin:
                watch.other_origins.append(url)
                route.abort("blockedbyclient")
                return
            watch.seen.append(parts.path)
            live = f"{live_server.url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
            route.fulfill(response=route.fetch(url=live, max_redirects=0))

        context.route("**/*", route)
        if user is not None:
            session = verified_client(user).cookies[settings.SESSION_COOKIE_NAME].value
            context.add_cookies(
                [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": origin}]
            )
        tab = context.new_page()
        tab.add_init_script(RECORD_VIOLATIONS)
        tab.on(
            "console",
            lambda message: (
                watch.console.append(message.text)
                if "Content Security Policy" in message.text or "Refused to" in message.text
                else None
            ),
        )
        return tab, watch

    try:
        yield make
    finally:
        for context in contexts:
            # A request still on its way (a favicon) must not reach a route of a closed context.
            context.unroute_all(behavior="ignoreErrors")
            context.close()


def visit(tab, watch: Watch, path: str) -> None:
    response = tab.goto(path)
    assert response is not None, path
    assert response.status == 200, path
    assert response.headers.get("content-security-policy"), path
    tab.wait_for_load_state("networkidle")


def test_staff_pages_load_nothing_from_another_origin_and_break_no_policy(
    open_as, world, make_case
):
    case = make_case(Stage.MONITORING)
    tab, watch = open_as(world.carol)  # a supervisor sees the most pages

    for path in (
        "/caseload/",
        f"/cases/{case.case_number}/",
        "/cases/new/",
        f"/cases/{case.case_number}/records/contact/new/",
        "/team/",
        "/team/approvals/",
        "/team/workload/",
        "/notifications/",
        "/account/",
    ):
        visit(tab, watch, path)
        assert watch.violations(tab) == [], path
    # htmx still swaps under the policy: a case tab replaces the panel, the page stays.
    visit(tab, watch, f"/cases/{case.case_number}/")
    tab.evaluate("window.__sameDocument = true")
    with tab.expect_response(re.compile(r"/monitoring/$")):
        tab.click(f"a[href='/cases/{case.case_number}/monitoring/']")
    tab.wait_for_url(re.compile(r"/monitoring/$"))
    assert tab.evaluate("window.__sameDocument") is True

    assert watch.other_origins == []
    assert watch.violations(tab) == []
    assert "/static/vendor/htmx/htmx.min.js" in watch.seen


def test_the_login_page_loads_nothing_from_another_origin(open_as, db):
    tab, watch = open_as(None)

    visit(tab, watch, "/account/login/")

    assert watch.other_origins == []
    assert watch.violations(tab) == []


def test_the_admin_loads_nothing_from_another_origin_and_breaks_no_policy(open_as, world):
    tab, watch = open_as(world.root)

    for path in ("/admin/", "/admin/cases/case/", "/admin/cases/benchmark/"):
        visit(tab, watch, path)
        assert watch.violations(tab) == [], path
    # django-celery-beat's form script, moved to a file, still runs: it hides a field.
    visit(tab, watch, "/admin/django_celery_beat/periodictask/add/")
    assert tab.locator(".field-crontab_translation").is_hidden()

    assert watch.other_origins == []
    assert watch.violations(tab) == []


def test_redoc_renders_from_this_server_alone(open_as, world):
    tab, watch = open_as(world.alice)

    visit(tab, watch, "/api/redoc/")
    heading = tab.locator("h1")
    heading.wait_for()
    tab.locator("a[href='https://redocly.com/redoc/']").wait_for(state="attached")
    tab.wait_for_load_state("networkidle")

    assert API_TITLE in heading.inner_text()
    assert watch.other_origins == []  # no Google Fonts, no Redocly logo
    # A message names the hash of a blocked <style>: cases/csp.py lists the allowed ones.
    assert watch.violations(tab) == []
    assert "/api/schema/" in watch.seen
    # Redoc's attribution logo is in the page, but never given its CDN address.
    logo = tab.locator("img[alt='redocly logo']")
    logo.wait_for(state="attached")
    assert logo.get_attribute("src") is None


def test_swagger_ui_renders_from_this_server_alone(open_as, world):
    tab, watch = open_as(world.alice)

    visit(tab, watch, "/api/docs/")
    title = tab.locator(".swagger-ui .info .title")
    title.wait_for()
    tab.locator(".opblock").first.wait_for()
    tab.wait_for_load_state("networkidle")

    assert API_TITLE in title.inner_text()
    # No "online validator" badge (it would send the schema's address to validator.swagger.io):
    # BaseLayout has none, and api-docs-swagger.js turns the validator off besides.
    assert tab.locator("img[alt='Online validator badge']").count() == 0
    assert watch.other_origins == []
    assert watch.violations(tab) == []
    assert "/api/schema/" in watch.seen
