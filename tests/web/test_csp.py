"""Nothing from another origin, and a strict Content-Security-Policy on every response.

A crawl signs in as each persona (and as a superuser for the admin), opens the web pages, the
admin, the API documentation and the schema, follows every same-origin link and asset it finds
(``src``, ``href``, ``srcset``, htmx URLs, ``url(...)`` and ``@import`` inside the stylesheets
it loads) and fails on any URL of another origin, on anything the policy would block (inline
scripts, ``style`` attributes, event handler attributes, ``data:`` and ``javascript:`` URLs) and
on any response without the policy. tests/browser/test_csp_origins.py checks the same pages in
a real browser, scripts running.
"""

from __future__ import annotations

import functools
import re
from collections import deque
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml
from django.apps import apps
from django.conf import settings
from django.contrib.staticfiles import finders
from django.db import models
from django.test import Client
from django.urls import Resolver404, path, resolve

from cases.models import Stage

from .conftest import verified_client

HOST = "testserver"  # the Django test client's own origin
# What a browser asks for: an HTML page where the server has one (the API included).
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
STATIC = "/" + settings.STATIC_URL.strip("/") + "/"

# What every response must say, page or not (a JSON answer, a redirect, a 404 included).
REQUIRED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'"],
}
# Every page but the two API documentation pages: nothing but 'self' for styles and images.
STRICT_PAGE = {**REQUIRED, "style-src": ["'self'"], "img-src": ["'self'"]}
FORBIDDEN_SOURCES = {"'unsafe-inline'", "'unsafe-eval'", "'unsafe-hashes'", "'wasm-unsafe-eval'"}
KEYWORD = re.compile(r"^'(self|none|nonce-[A-Za-z0-9+/=]+|sha(256|384|512)-[A-Za-z0-9+/=]+)'$")

DOCS_PATHS = ("/api/docs/", "/api/redoc/")

# Attributes whose value is a URL the browser loads or navigates to.
URL_ATTRIBUTES = {
    "href",
    "src",
    "action",
    "formaction",
    "poster",
    "data",
    "cite",
    "background",
    "manifest",
    "ping",
    "xlink:href",
    "hx-get",
    "hx-post",
    "hx-put",
    "hx-patch",
    "hx-delete",
}
FOLLOWED = {("a", "href"), ("link", "href"), ("script", "src"), ("img", "src")}
FOLLOWED_ATTRIBUTES = {"hx-get"}
DATA_BLOCKS = {"application/json", "application/ld+json"}
# Schemes that name no server at all: opening an app, writing an email, calling.
NOT_FETCHED_SCHEMES = {"mailto", "tel", "otpauth"}
CSS_URL = re.compile(r"""url\(\s*(['"]?)(.*?)\1\s*\)|@import\s+(['"])(.*?)\3""", re.IGNORECASE)
HOSTNAME = r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
# Attributes whose values are tokens, not addresses: a nonce is base64 and one beginning with
# "//" once read as a protocol-relative URL to another origin.
TOKEN_ATTRIBUTES = frozenset({"nonce", "data-nonce", "integrity"})
JS_URL = re.compile(rf"""https?://{HOSTNAME}|(?<=["'`(])//{HOSTNAME}""")

# Third-party scripts are minified bundles whose strings name hosts they never load from (XML
# namespaces, specification identifiers, links in error messages). Each host one of them names
# is listed here with why nothing is fetched from it; a new one fails the crawl until someone
# has looked. The browser test is the proof that nothing is requested.
REVIEWED_SCRIPT_HOSTS = {
    "www.w3.org": "XML namespace names (SVG, XLink, XHTML, MathML)",
    "json-schema.org": "JSON Schema $schema and $id identifiers",
    "spec.openapis.org": "OpenAPI specification identifiers",
    "raw.githubusercontent.com": "ajv's meta-schema $id (an identifier, bundled)",
    "datatracker.ietf.org": "links to RFCs in Swagger UI's messages",
    "www.rfc-editor.org": "links to RFCs in Swagger UI's messages",
    "github.com": "links in libraries' error messages and licence headers",
    "git.io": "links in libraries' error messages",
    "fb.me": "links in React's error messages",
    "reactjs.org": "links in React's error messages",
    "redux.js.org": "links in Redux's error messages",
    "stackoverflow.com": "a link in a library's error message",
    "marked.js.org": "a link in marked's warning",
    "vladimirgorej.com": "a link in a Swagger UI library's comment",
    "swagger.io": "a link in Swagger UI's messages",
    "spdx.org": "licence identifiers",
    "example.com": "placeholders in examples",
    "redocly.com": "Redoc's attribution link (a link, never loaded)",
    "cdn.redoc.ly": "Redoc's attribution logo: api-docs-redoc.js never gives it a src",
    "validator.swagger.io": "Swagger UI's validator badge: api-docs-swagger.js sets it off",
    "twitter.com": "Autolinker's hashtag and mention link templates",
    "www.facebook.com": "Autolinker's hashtag link template",
    "instagram.com": "Autolinker's hashtag and mention link templates",
    "www.tiktok.com": "Autolinker's hashtag and mention link templates",
    "soundcloud.com": "Autolinker's mention link template",
    "youmightnotneedjquery.com": "a link in a comment of Django's admin scripts",
    "www.quirksmode.org": "a link in a comment of Django's admin scripts",
    "opensource.org": "a licence link in a comment of Django's admin scripts",
    "bugs.jquery.com": "links in jQuery's comments",
    "bugs.chromium.org": "links in jQuery's comments",
    "bugs.webkit.org": "links in jQuery's comments",
    "bugzilla.mozilla.org": "links in jQuery's comments",
}
THIRD_PARTY_STATIC = ("drf_spectacular_sidecar/", "admin/", "rest_framework/")

# How much of the site one crawl reads: pages of one URL pattern that differ only in which
# object they show (a case number, a uuid, an admin object id) are alike, and the query-string
# variants of a list (sorting, filters) too; a few of each are enough.
SAME_PATTERN_LIMIT = 2
IDENTIFIER_KWARG = re.compile(r"(^pk$|^object_id$|_uuid$|_number$|_id$)")


def parse_policy(header: str) -> dict[str, list[str]]:
    directives: dict[str, list[str]] = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            directives[words[0].lower()] = words[1:]
    return directives


def policy_problems(path: str, header: str | None) -> list[str]:
    """What is wrong with one response's Content-Security-Policy header."""
    if not header:
        return [f"{path}: no Content-Security-Policy header"]
    policy = parse_policy(header)
    expected = REQUIRED if path in DOCS_PATHS else STRICT_PAGE
    problems = [
        f"{path}: {name} is {policy.get(name)}, not {sources}"
        for name, sources in expected.items()
        if policy.get(name) != sources
    ]
    for name, sources in policy.items():
        for source in sources:
            if source in FORBIDDEN_SOURCES:
                problems.append(f"{path}: {name} allows {source}")
            elif not (KEYWORD.match(source) or source in ("data:", "blob:")):
                problems.append(f"{path}: {name} allows {source}, another origin")
    return problems


@functools.cache
def schema_problems(url: str, text: str) -> list[str]:
    """The places of an OpenAPI document that its viewers fetch or link: servers, $ref,
    external docs, the info block's links and Redoc's x-logo. Example values are not."""
    problems: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, dict):
            return
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                problems.append(f"{url}: $ref to another document, {value}")
            elif key in ("servers", "externalDocs", "contact", "license", "x-logo"):
                for entry in value if isinstance(value, list) else [value]:
                    target = entry.get("url", "") if isinstance(entry, dict) else ""
                    if other_origin(target):
                        problems.append(f"{url}: {key} on another origin, {target}")
            elif key == "termsOfService" and other_origin(str(value)):
                problems.append(f"{url}: termsOfService on another origin, {value}")
            if key not in ("example", "examples", "default"):
                walk(value)

    walk(yaml.load(text, Loader=yaml.CSafeLoader))
    return problems


@functools.cache
def script_problems(where: str, js: str) -> list[str]:
    """Every other origin a script names, but the reviewed hosts of third-party bundles."""
    third_party = where.startswith(STATIC) and where[len(STATIC) :].startswith(THIRD_PARTY_STATIC)
    problems = []
    for found in sorted(set(JS_URL.findall(js))):
        host = found.split("//", 1)[1].lower()
        if host != HOST and not (third_party and host in REVIEWED_SCRIPT_HOSTS):
            problems.append(f"{where}: names another origin, {found}")
    return problems


def recorded_urls() -> set[str]:
    """Every URL staff recorded as data (a benchmark's cited source, a partner's webhook):
    shown as a link where it is edited, fetched by nobody's browser."""
    urls: set[str] = set()
    for model in apps.get_models():
        names = [f.name for f in model._meta.concrete_fields if isinstance(f, models.URLField)]
        for name in names:
            urls.update(v for v in model._base_manager.values_list(name, flat=True) if v)
    return urls


class PageParser(HTMLParser):
    """Every URL an HTML page names, and everything in it the policy would block."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.urls: list[tuple[str, str, str]] = []  # (tag, attribute, value)
        self.blocked: list[str] = []
        self.inline_css: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name, value in values.items():
            self._attribute(tag, name, value)
        if tag == "meta" and values.get("http-equiv", "").lower() == "refresh":
            target = values.get("content", "").partition("url=")[2]
            if target:
                self.urls.append((tag, "content", target.strip()))
        inline = "src" not in values and values.get("type", "").lower() not in DATA_BLOCKS
        if tag == "script" and inline:
            self.blocked.append("an inline <script>")
        if tag == "style":
            self.blocked.append("an inline <style>")
            self._in = "style"

    def _attribute(self, tag: str, name: str, value: str) -> None:
        if name == "xmlns" or name.startswith("xmlns:"):
            return  # a namespace's name, never fetched
        if name in TOKEN_ATTRIBUTES:
            return  # a random token (base64 may begin with "//"), never fetched
        if name == "style":
            self.blocked.append(f'<{tag} style="{value[:60]}">')
        elif name.startswith("on"):
            self.blocked.append(f"<{tag} {name}=...> (an inline event handler)")
        elif name == "srcset":
            for candidate in value.split(","):
                if candidate.strip():
                    self.urls.append((tag, name, candidate.split()[0]))
        elif name in URL_ATTRIBUTES or re.match(r"\s*([a-z][a-z0-9+.-]*:)?//", value, re.I):
            self.urls.append((tag, name, value.strip()))

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "style":
            self.inline_css.append(data)


def other_origin(url: str) -> str | None:
    """The URL's host if it is on another origin (absolute or protocol-relative), else None."""
    parts = urlsplit(url)
    if parts.netloc and parts.scheme in ("", "http", "https") and parts.netloc != HOST:
        return parts.netloc
    return None


def static_text(path: str) -> str | None:
    """The contents of a static file by its URL path, as the server would send it."""
    found = finders.find(path[len(STATIC) :])
    if not found:
        return None
    return Path(found).read_text(encoding="utf-8", errors="replace")


@dataclass
class Crawl:
    """A breadth-first walk of the site as one signed-in client, recording every problem."""

    client: Client
    problems: list[str] = field(default_factory=list)
    visited: dict[str, int] = field(default_factory=dict)  # path and query -> status
    assets: set[str] = field(default_factory=set)
    recorded: set[str] = field(default_factory=recorded_urls)
    _queue: deque[str] = field(default_factory=deque)
    _seen: set[str] = field(default_factory=set)
    _per_pattern: dict[tuple[object, ...], int] = field(default_factory=dict)

    def run(self, seeds: list[str], *, limit: int = 400) -> Crawl:
        for seed in seeds:
            self._enqueue(seed, seed=True)
        while self._queue and len(self.visited) < limit:
            self._visit(self._queue.popleft())
        return self

    def _pattern(self, url: str) -> tuple[object, ...]:
        parts = urlsplit(url)
        try:
            match = resolve(parts.path)
        except Resolver404:
            return (parts.path,)
        kwargs = tuple(
            sorted((k, str(v)) for k, v in match.kwargs.items() if not IDENTIFIER_KWARG.search(k))
        )
        return (match.route, kwargs)

    def _enqueue(self, url: str, *, seed: bool = False) -> None:
        parts = urlsplit(url)
        key = parts.path + (f"?{parts.query}" if parts.query else "")
        if key in self._seen:
            return
        pattern = self._pattern(key)
        if not seed and self._per_pattern.get(pattern, 0) >= SAME_PATTERN_LIMIT:
            return
        self._per_pattern[pattern] = self._per_pattern.get(pattern, 0) + 1
        self._seen.add(key)
        self._queue.append(key)

    def _visit(self, url: str) -> None:
        response = self.client.get(url)
        self.visited[url] = response.status_code
        self.problems += policy_problems(
            urlsplit(url).path, response.get("Content-Security-Policy")
        )
        if response.status_code >= 500:
            self.problems.append(f"{url}: answered {response.status_code}")
        if response.status_code in (301, 302, 303, 307, 308):
            self._reference(url, "redirect", "Location", response["Location"], page_policy=None)
            return
        content_type = response.get("Content-Type", "")
        body = response.getvalue()
        text = body.decode("utf-8", errors="replace")
        policy = parse_policy(response.get("Content-Security-Policy", ""))
        if content_type.startswith("text/html"):
            self._page(url, text, policy)
        elif "javascript" in content_type:
            self._script(url, text)
        elif "css" in content_type:
            self._stylesheet(url, text, policy)
        elif url.startswith("/api/schema/"):
            self.problems += schema_problems(url, text)

    def _page(self, url: str, html: str, policy: dict[str, list[str]]) -> None:
        parser = PageParser()
        parser.feed(html)
        self.problems += [f"{url}: {what}, which the policy blocks" for what in parser.blocked]
        for css in parser.inline_css:
            self._stylesheet(url, css, policy, fetch=False)
        for tag, attribute, value in parser.urls:
            self._reference(url, tag, attribute, value, page_policy=policy)

    def _reference(
        self,
        base: str,
        tag: str,
        attribute: str,
        value: str,
        *,
        page_policy: dict[str, list[str]] | None,
    ) -> None:
        where = f"{base}: <{tag} {attribute}={value[:80]!r}>"
        if not value or value.startswith("#"):
            return
        scheme = urlsplit(value).scheme.lower()
        if scheme in NOT_FETCHED_SCHEMES:
            return
        if scheme in ("data", "javascript", "blob"):
            self.problems.append(f"{where}: a {scheme}: URL, which the policy blocks")
            return
        host = other_origin(value)
        if host is not None:
            # A link to an address staff recorded (the admin shows a URL field's value as a
            # link) is data, opened only by a click; nothing the app itself puts in a page is.
            if not (tag == "a" and attribute == "href" and value in self.recorded):
                self.problems.append(f"{where}: another origin, {host}")
            return
        target = urljoin(f"http://{HOST}{base}", value)
        path = urlsplit(target).path
        if path.startswith(STATIC):
            self._asset(base, path, page_policy or {})
        elif (tag, attribute) in FOLLOWED or attribute in FOLLOWED_ATTRIBUTES or tag == "redirect":
            parts = urlsplit(target)
            self._enqueue(parts.path + (f"?{parts.query}" if parts.query else ""))

    def _asset(self, base: str, path: str, policy: dict[str, list[str]]) -> None:
        if path in self.assets:
            return
        self.assets.add(path)
        text = static_text(path)
        if text is None:
            self.problems.append(f"{base}: {path} is not a static file")
        elif path.endswith(".css"):
            self._stylesheet(path, text, policy)
        elif path.endswith((".js", ".mjs")):
            self._script(path, text)

    def _stylesheet(
        self, where: str, css: str, policy: dict[str, list[str]], *, fetch: bool = True
    ) -> None:
        for match in CSS_URL.finditer(css):
            value = (match.group(2) or match.group(4) or "").strip()
            if not value or value.startswith("#"):
                continue
            if value.lower().startswith("data:"):
                # Allowed only where the page's policy lists data: (Swagger UI's icons).
                if "data:" not in policy.get("img-src", []) + policy.get("font-src", []):
                    self.problems.append(f"{where}: a data: URL, which the policy blocks")
                continue
            host = other_origin(value)
            if host is not None:
                self.problems.append(f"{where}: url({value[:80]}) on another origin, {host}")
                continue
            target = urlsplit(urljoin(f"http://{HOST}{where}", value)).path
            if fetch and target.startswith(STATIC):
                self._asset(where, target, policy)

    def _script(self, where: str, js: str) -> None:
        self.problems += script_problems(where, js)


@pytest.fixture
def site(world, make_case):
    """Cases at several stages in team A, so the case file and its tabs have content."""
    return [make_case(stage) for stage in (Stage.INTAKE, Stage.MONITORING, Stage.CLOSED)]


def _seeds(site) -> list[str]:
    case = site[1].case_number
    return [
        "/",
        "/caseload/",
        f"/cases/{case}/",
        "/team/",
        "/notifications/",
        "/account/",
        "/admin/",
        "/api/docs/",
        "/api/redoc/",
        "/api/schema/",
        "/api/v1/",
        "/api/v1/cases/",
        f"/api/v1/cases/{case}/",
    ]


@pytest.mark.parametrize("persona", ["alice", "carol", "mona", "audrey", "root"])
def test_crawl_as_each_persona_finds_nothing_from_another_origin(world, site, persona):
    user = getattr(world, persona)
    crawl = Crawl(verified_client(user, Client(HTTP_ACCEPT=BROWSER_ACCEPT))).run(_seeds(site))

    assert crawl.problems == []
    # The crawl read the site, not a login page: the docs, the admin and (for the personas
    # with cases) the case files and their assets.
    ok = {url for url, status in crawl.visited.items() if status == 200}
    assert {"/api/docs/", "/api/redoc/", "/api/schema/", "/admin/"} <= ok
    assert any(re.match(r"/admin/cases/\w+/(\?|$)", url) for url in ok), sorted(ok)
    assert f"{STATIC}drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js" in crawl.assets
    assert f"{STATIC}vendor/htmx/htmx.min.js" in crawl.assets
    if persona in ("alice", "carol", "mona"):
        assert any(re.match(r"/cases/C-[^/]+/\w+/$", url) for url in ok), sorted(ok)


def test_crawl_signed_out_finds_nothing_from_another_origin(db):
    crawl = Crawl(Client(HTTP_ACCEPT=BROWSER_ACCEPT)).run(
        ["/", "/account/login/", "/admin/", "/no-such-page/", "/api/v1/cases/"]
    )

    assert crawl.problems == []
    assert crawl.visited["/account/login/"] == 200
    assert crawl.visited["/no-such-page/"] == 404


@pytest.mark.parametrize(
    "url",
    ["/account/login/", "/", "/no-such-page/", "/health/", "/api/v1/cases/", "/api/schema/"],
)
def test_every_response_carries_the_strict_policy(client, db, url):
    """Pages, redirects, errors and JSON alike: scripts from this server only, never inline or
    evaluated, no plugins, no <base> elsewhere, never framed, forms posted here only."""
    response = client.get(url)

    header = response.get("Content-Security-Policy")
    assert policy_problems(url, header) == []
    policy = parse_policy(header)
    assert "'unsafe-eval'" not in header
    assert "'unsafe-inline'" not in policy["script-src"]


def _fails(request):
    raise RuntimeError("a page that fails")


urlpatterns = [path("fails/", _fails)]


@pytest.mark.urls(__name__)
def test_a_page_that_fails_carries_the_strict_policy(db):
    response = Client(raise_request_exception=False).get("/fails/")

    assert response.status_code == 500
    assert policy_problems("/fails/", response.get("Content-Security-Policy")) == []


def test_the_docs_pages_add_only_what_their_viewers_need(client, db):
    """The two documentation pages keep scripts to 'self'; Redoc's additions are a nonce and
    two hashes for styles, data: images and blob: workers, Swagger UI's data: images, and
    nothing more."""
    redoc = parse_policy(client.get("/api/redoc/")["Content-Security-Policy"])
    swagger = parse_policy(client.get("/api/docs/")["Content-Security-Policy"])

    assert redoc["script-src"] == swagger["script-src"] == ["'self'"]
    assert redoc["img-src"] == ["'self'", "data:"]
    assert redoc["worker-src"] == ["'self'", "blob:"]
    assert redoc["style-src"][0] == "'self'"
    assert [s.split("-")[0] for s in redoc["style-src"][1:]] == ["'nonce", "'sha256", "'sha256"]
    assert swagger["img-src"] == ["'self'", "data:"]
    assert swagger["style-src"] == ["'self'"]
    assert "worker-src" not in swagger


def test_a_nonce_that_begins_with_two_slashes_is_not_read_as_an_address():
    """A nonce is random base64: one in ten thousand or so begins with "//", which the crawler
    once took for a protocol-relative URL to another origin."""
    parser = PageParser()
    parser.feed('<div data-nonce="//Zm9v+YmFy=="></div><script nonce="//abc" src="/s.js"></script>')
    assert parser.urls == [("script", "src", "/s.js")]
