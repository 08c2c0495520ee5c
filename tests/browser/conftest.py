"""Browser tests: Playwright driving Debian's Chromium against a live test server.

They run wherever ``/usr/bin/chromium`` exists (``make test`` skips them, saying why, where it
does not); ``.ci/run`` installs Chromium and sets ``REQUIRE_BROWSER=1``, which turns a missing
browser into a failure instead of a skip. A failing test leaves a screenshot and the page's
HTML in ``test-artifacts/browser/``, which CI prints.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API keeps an event loop on the test thread; the Django ORM calls the
# tests make between browser steps are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    if os.environ.get("REQUIRE_BROWSER") == "1":
        raise pytest.UsageError(
            f"REQUIRE_BROWSER=1 but {CHROMIUM} does not exist: apt-get install chromium"
        )
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def tab(browser, live_server, request):
    """A fresh browser context and page; on failure its screenshot and HTML are kept."""
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        yield page
    finally:
        report = getattr(request.node, "report_call", None)
        if report is not None and report.failed:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid)[-150:]
            page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            (ARTIFACTS / f"{name}.html").write_text(page.content(), encoding="utf-8")
        context.close()
