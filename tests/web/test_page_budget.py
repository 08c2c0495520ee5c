"""Every page stays light on a slow link (under 300 KB with its stylesheets and scripts,
before images), carries the language switcher, and reads without JavaScript."""

from __future__ import annotations

import re

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from cases.models import Stage

BUDGET_BYTES = 300 * 1024
ASSET = re.compile(r'<(?:link[^>]+rel="stylesheet"[^>]+href|script[^>]+src)="/static/([^"]+)"')

TABS = (
    "intake",
    "screening",
    "plan",
    "training",
    "support",
    "monitoring",
    "incidents",
    "referrals",
    "approvals",
    "consent",
    "history",
)


def _weight(html: str) -> int:
    total = len(html.encode())
    for asset in set(ASSET.findall(html)):
        path = finders.find(asset)
        assert path, f"missing static file {asset}"
        with open(path, "rb") as handle:
            total += len(handle.read())
    return total


@pytest.fixture
def pages(world, make_case):
    case = make_case(Stage.MONITORING, team=world.team_a, caseworker=world.alice)
    number = case.case_number
    return [
        reverse("web:caseload"),
        reverse("web:intake-start"),
        reverse("web:case-detail", args=[number]),
        *(reverse("web:case-tab", args=[number, tab]) for tab in TABS),
        reverse("web:record-new", args=[number, "contact"]),
        reverse("web:record-new", args=[number, "incident"]),
        reverse("web:dashboard"),
        reverse("web:approval-queue"),
        reverse("web:workload"),
        reverse("web:account"),
    ]


def test_every_page_is_under_the_budget_and_has_the_switcher(page, pages):
    carol = page("carol")  # a supervisor sees the heaviest version of each page
    for url in pages:
        response = carol.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert _weight(html) < BUDGET_BYTES, url
        assert 'name="language"' in html, url
        assert '<html lang="en" dir="ltr">' in html, url


def test_the_login_page_is_under_the_budget(client, db):
    response = client.get(reverse("web:login"))
    assert response.status_code == 200
    assert _weight(response.content.decode()) < BUDGET_BYTES


def test_pages_render_their_content_without_javascript(page, pages):
    """The content is in the HTML the server sends, not fetched by scripts afterwards."""
    carol = page("carol")
    for url in pages:
        html = carol.get(url).content.decode()
        assert 'hx-trigger="load"' not in html, url
        main = html.split('<main id="main"', 1)[1]
        assert len(re.sub(r"<[^>]+>|\s+", "", main)) > 40, url
