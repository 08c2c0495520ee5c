"""docs/partner-api.md is run, so the partner quickstart cannot go stale.

1. Its ``bash`` blocks run in order against the app: ``curl`` lines through Django's test
   client (no network), ``manage.py partner_key`` lines through call_command, and every
   ``# → <status> {json}`` line is checked against the answer of the command above it.
2. Its ``sh`` block generates a client with openapi-python-client from the live server's
   OpenAPI document; its ``python`` blocks then work a referral through that client over real
   HTTP, and its signature snippet checks the webhooks a real receiver got.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from io import StringIO
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from cases.api.partner import PartnerReferralSerializer, RegisteredWebhookSerializer
from cases.models import (
    AccessKey,
    AuditEvent,
    ConsentScope,
    EnrolmentStatus,
    OutboxEvent,
    Pillar,
    Referral,
    ReferralStatus,
    SharedField,
    Stage,
    SupportProvision,
    TrainingEnrolment,
    WebhookEndpoint,
)
from cases.services.keys import partner_key_issue
from cases.services.outbox import webhook_dispatch_due, webhook_sign, webhook_verify
from cases.services.referrals import partner_label, referral_create

from . import factories as f

DOC = Path(__file__).resolve().parent.parent / "docs" / "partner-api.md"
# The server the examples name; the tests swap in their own.
EXAMPLE_ORIGIN = "https://cases.example.org"
PARTNER_NAME = "Hope Vocational Centre"
SHARED = ["sex", "year_of_birth", "current_district", "skills", "needs"]
HOOK_PATH = "/hooks/reintegration"

_BLOCK = re.compile(
    r"(?:<!--\s*quickstart:\s*(?P<directive>[^>]*?)\s*-->\s*\n)?"
    r"^```(?P<lang>\w+)[ \t]*\n(?P<body>.*?)^```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_EXPECT = re.compile(r"#\s*→\s*(?P<status>\d{3})\s*(?P<body>.*)$")
_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
_ASSIGNMENT = re.compile(r"(?:export\s+)?(?P<name>[A-Z_][A-Z0-9_]*)=(?P<value>.*)")


@dataclass(frozen=True)
class Block:
    lang: str
    body: str
    directive: str


def doc_blocks(lang: str | None = None) -> list[Block]:
    text = DOC.read_text(encoding="utf-8")
    blocks = [
        Block(m["lang"], m["body"], (m["directive"] or "").strip()) for m in _BLOCK.finditer(text)
    ]
    return [b for b in blocks if lang is None or b.lang == lang]


def doc_block_containing(lang: str, needle: str) -> Block:
    (block,) = [b for b in doc_blocks(lang) if needle in b.body]
    return block


# --- A tiny shell for the bash blocks ------------------------------------------------------


@dataclass
class Step:
    command: str
    expect_status: int | None = None
    expect_body: Any = None


def steps_of(block: Block) -> list[Step]:
    steps: list[Step] = []
    for line in block.body.replace("\\\n", " ").splitlines():
        line = line.strip()
        expectation = _EXPECT.match(line)
        if expectation:
            assert steps, f"an expectation with no command before it: {line}"
            steps[-1].expect_status = int(expectation["status"])
            body = expectation["body"].strip()
            steps[-1].expect_body = json.loads(body) if body else None
        elif line and not line.startswith("#"):
            steps.append(Step(line))
    return steps


def expand(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` outside single quotes, as a shell would."""
    out = []
    for part in re.split(r"('[^']*')", text):
        if part.startswith("'") and part.endswith("'") and len(part) > 1:
            out.append(part)
            continue

        def value(match: re.Match[str]) -> str:
            name = match[1] or match[2]
            assert name in env, f"the quickstart uses ${name} before setting it"
            return env[name]

        out.append(_VARIABLE.sub(value, part))
    return "".join(out)


def contains(actual: Any, expected: Any) -> bool:
    """``expected`` is a part of ``actual``: objects by their keys (an empty object must be
    empty), anything else equal."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return False
        if not expected:
            return actual == {}
        return all(k in actual and contains(actual[k], v) for k, v in expected.items())
    return bool(actual == expected)


def jq(args: list[str], data: str) -> str:
    raw = "-r" in args
    (path,) = [a for a in args if a != "-r"]
    value: Any = json.loads(data)
    for name, index in re.findall(r"\.(\w+)|\[(\d+)\]", path):
        value = value[name] if name else value[int(index)]
    return value if raw and isinstance(value, str) else json.dumps(value)


@dataclass
class Shell:
    client: Client
    env: dict[str, str]
    fresh_referral: Any
    responses: list[tuple[str, str, Any]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)

    def run_block(self, block: Block) -> None:
        saved = dict(self.env)
        if block.directive == "fresh referral":
            self.env["REFERRAL"] = str(self.fresh_referral().uuid)
        elif block.directive:
            raise AssertionError(f"unknown quickstart directive {block.directive!r}")
        for step in steps_of(block):
            self.run_step(step)
        if block.directive:
            self.env = {**saved, **{k: v for k, v in self.env.items() if k not in saved}}

    def run_step(self, step: Step) -> None:
        before = len(self.responses)
        assignment = _ASSIGNMENT.fullmatch(step.command)
        if assignment:
            name, value = assignment["name"], assignment["value"].strip()
            if value.startswith("$(") and value.endswith(")"):
                self.env[name] = self.pipeline(value[2:-1]).strip()
            elif name not in self.env:  # a value the test already has beats a placeholder
                (literal,) = shlex.split(value, comments=True)
                self.env[name] = literal.replace(EXAMPLE_ORIGIN, "")
        else:
            self.pipeline(step.command)
        if step.expect_status is None:
            return
        assert len(self.responses) > before, f"nothing answered {step.command!r}"
        method, path, response = self.responses[-1]
        where = f"{method} {path} (from: {step.command})"
        assert response.status_code == step.expect_status, (where, response.content)
        if step.expect_body is not None:
            assert contains(response.json(), step.expect_body), (where, response.json())

    def pipeline(self, text: str) -> str:
        lexer = shlex.shlex(expand(text, self.env), posix=True, punctuation_chars="|")
        lexer.whitespace_split = True
        commands: list[list[str]] = [[]]
        for token in lexer:
            if token == "|":
                commands.append([])
            else:
                commands[-1].append(token)
        first, *filters = commands
        if first[0] == "curl":
            output = self.curl(first[1:])
        elif "manage.py" in first:
            output = self.manage(first[first.index("manage.py") + 1 :])
        else:
            raise AssertionError(f"the quickstart test cannot run {first[0]!r}")
        for command in filters:
            assert command[0] == "jq", f"only jq may follow a pipe, not {command[0]!r}"
            output = jq(command[1:], output)
        return output

    def curl(self, args: list[str]) -> str:
        method, data, url = None, None, None
        headers: dict[str, str] = {}
        arguments = iter(args)
        for arg in arguments:
            if arg in ("-s", "-S", "-sS", "--silent", "--show-error"):
                continue
            if arg in ("-X", "--request"):
                method = next(arguments)
            elif arg in ("-H", "--header"):
                name, _, value = next(arguments).partition(":")
                headers[name.strip()] = value.strip()
            elif arg in ("-d", "--data", "--data-raw"):
                data = next(arguments)
            elif arg.startswith("-"):
                raise AssertionError(f"the quickstart test does not know curl's {arg}")
            else:
                url = arg
        assert url is not None
        assert url.startswith("/api/"), url
        method = method or ("POST" if data is not None else "GET")
        # curl's own default for -d: a form, which the API refuses.
        content_type = headers.pop("Content-Type", "application/x-www-form-urlencoded")
        response = self.client.generic(
            method, url, data=data or "", content_type=content_type, headers=headers
        )
        self.responses.append((method, url, response))
        return response.content.decode()

    def manage(self, args: list[str]) -> str:
        assert args[0] == "partner_key", f"the quickstart runs only partner_key, not {args[0]}"
        out, err = StringIO(), StringIO()
        call_command(*args, stdout=out, stderr=err)
        if args[1] == "issue":
            key = out.getvalue().strip()
            self.issued.append(key)
            if len(self.issued) == 1:  # the key the manager hands over in step 1
                self.env["KEY"] = key
                self.env["OLD_LOOKUP"] = key.split("_")[1]
        return out.getvalue()


# --- Shared set-up -------------------------------------------------------------------------


def consenting_case(make_case):
    case = make_case(Stage.TRAINING)
    scope = [ConsentScope.PROGRAMME_RECORDS, ConsentScope.SHARE_WITH_PARTNERS]
    f.ConsentFactory(returnee=case.returnee, scope=scope)
    return case


def refer(world, case, partner, note: str = "Interested in tailoring; mornings only."):
    return referral_create(
        actor=world.alice,
        case=case,
        partner=partner,
        service="vocational_training",
        shared_fields=SHARED,
        note=note,
    )


@pytest.fixture
def hope(world):
    return f.PartnerFactory(programme=world.north, name=PARTNER_NAME)


# --- 1. The curl walkthrough ---------------------------------------------------------------


def test_the_curl_walkthrough_runs_as_written(world, make_case, hope, settings):
    # The example webhook host is not resolved: registration needs no network here.
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    referral = refer(world, consenting_case(make_case), hope)
    fresh: list[Referral] = []

    def fresh_referral() -> Referral:
        fresh.append(refer(world, consenting_case(make_case), hope, note="Second referral"))
        return fresh[-1]

    shell = Shell(client=Client(), env={}, fresh_referral=fresh_referral)
    blocks = doc_blocks("bash")
    for block in blocks:
        shell.run_block(block)

    assert len(blocks) >= 10, "the walkthrough lost its steps"
    assert len(shell.responses) >= 18, "the walkthrough lost its steps"
    # Step 1 issued the key the walkthrough used; section 10 rotated it.
    assert len(shell.issued) == 2
    assert shell.env["KEY"] == shell.issued[0]
    old, new = AccessKey.objects.filter(partner=hope).order_by("created_at", "id")
    assert old.revoked_at is not None
    assert new.revoked_at is None
    assert shell.env["REFERRAL"] == str(referral.uuid)
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.CLOSED
    assert referral.outcome == "Completed the course and placed in a job"
    (declined,) = fresh
    declined.refresh_from_db()
    assert declined.status == ReferralStatus.DECLINED
    enrolment = TrainingEnrolment.objects.get(referral=referral)
    assert (enrolment.course, enrolment.attendance_percent) == ("Tailoring, level 1", 85)
    assert (enrolment.status, enrolment.certificate) == (EnrolmentStatus.COMPLETED, "HVC-2027-0142")
    support = SupportProvision.objects.get(referral=referral)
    assert support.pillar == Pillar.LIVELIHOOD
    assert support.currency == "IQD"
    assert not WebhookEndpoint.objects.filter(partner=hope, is_active=True).exists()
    actions = set(
        AuditEvent.objects.filter(actor_label=partner_label(hope)).values_list("action", flat=True)
    )
    assert {"referral.accept", "referral.decline", "referral.close", "webhook.remove"} <= actions
    assert "referral.progress.job_placement" in actions

    # The JSON examples have the shape of the real answers.
    examples = [json.loads(b.body) for b in doc_blocks("json")]
    (listing,) = [e for e in examples if "results" in e]
    assert set(listing) == {"next", "previous", "results"}
    assert set(listing["results"][0]) == set(PartnerReferralSerializer.Meta.fields)
    assert set(listing["results"][0]["shared"]) <= set(SharedField.values)
    assert set(listing["results"][0]["shared"]) == set(SHARED)
    shape = re.compile(r"[A-Z0-9]")
    example_number = listing["results"][0]["case_number"]
    assert shape.sub("X", example_number) == shape.sub("X", referral.case_id)
    assert DOC.read_text(encoding="utf-8").count(example_number) >= 3
    (registered,) = [e for e in examples if "secret" in e]
    assert set(registered) == set(RegisteredWebhookSerializer.Meta.fields)
    real_registration = next(
        r for m, p, r in shell.responses if m == "POST" and p.endswith("/partner/webhooks/")
    )
    assert set(real_registration.json()) == set(registered)
    (event,) = [e for e in examples if "event_id" in e]
    real_event = OutboxEvent.objects.filter(partner=hope).first()
    assert real_event is not None
    assert set(real_event.payload) == set(event)
    (error,) = [e for e in examples if "error" in e]
    assert set(error["error"]) <= {"code", "message", "fields", "reasons"}


# --- 2. The generated Python client, over real HTTP ----------------------------------------


def run_sh_block(block: Block, *, cwd: Path, base_url: str) -> None:
    """pip (checked, not run), curl -o (from the live server) and the generator itself."""
    for line in block.body.splitlines():
        args = shlex.split(line, comments=True)
        if not args:
            continue
        if args[:2] == ["pip", "install"]:
            for requirement in args[2:]:
                name, _, pinned = requirement.partition("==")
                installed = importlib.metadata.version(name)
                assert not pinned or installed == pinned, (name, installed, pinned)
        elif args[0] == "curl":
            output = args[args.index("-o") + 1]
            (url,) = [a for a in args[1:] if a.startswith("http")]
            assert url.startswith(EXAMPLE_ORIGIN), url
            response = httpx.get(base_url + url.removeprefix(EXAMPLE_ORIGIN), timeout=60)
            assert response.status_code == 200
            (cwd / output).write_bytes(response.content)
        elif args[0] == "openapi-python-client":
            generated = subprocess.run(  # noqa: S603 - the doc's own arguments, no shell
                [sys.executable, "-m", "openapi_python_client", *args[1:]],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=120,
            )
            assert generated.returncode == 0, generated.stdout + generated.stderr
            # Warnings would mean parts of the schema the client cannot express.
            assert "warning" not in (generated.stdout + generated.stderr).lower(), generated
        else:
            raise AssertionError(f"the quickstart test cannot run {line!r}")


@pytest.fixture
def generated_client(tmp_path, monkeypatch):
    """Where the generated package may be imported from; forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [
        m for m in sys.modules if m == "partner_client" or m.startswith("partner_client.")
    ]:
        del sys.modules[name]


def test_the_generated_python_client_works_a_referral_and_webhooks_verify(
    transactional_db,
    live_server,
    httpserver,
    world,
    make_case,
    hope,
    settings,
    generated_client,
    monkeypatch,
):
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True  # the receiver is on localhost
    httpserver.expect_request(HOOK_PATH, method="POST").respond_with_data("ok")
    with transaction.atomic():
        key = partner_key_issue(actor=None, partner=hope, name="quickstart").plaintext
    referral = refer(world, consenting_case(make_case), hope)

    config = doc_block_containing("yaml", "post_hooks")
    (config_name,) = re.findall(r"^#\s*(\S+\.yaml)", config.body, re.MULTILINE)
    (generated_client / config_name).write_text(config.body, encoding="utf-8")
    started = time.monotonic()
    run_sh_block(
        doc_block_containing("sh", "openapi-python-client generate"),
        cwd=generated_client,
        base_url=live_server.url,
    )
    assert (generated_client / "partner_client" / "client.py").exists()
    assert time.monotonic() - started < 45

    monkeypatch.setenv("REINTEGRATION_URL", live_server.url)
    monkeypatch.setenv("PARTNER_API_KEY", key)
    monkeypatch.setenv("WEBHOOK_URL", httpserver.url_for(HOOK_PATH))
    namespace: dict[str, Any] = {}
    client_blocks = [
        b for b in doc_blocks("python") if "partner_client" in b.body or "ok(" in b.body
    ]
    assert len(client_blocks) == 3
    try:
        for block in client_blocks:
            exec(compile(block.body, f"{DOC.name}:python", "exec"), namespace)  # noqa: S102
    finally:
        # An open keep-alive connection would outlive the live server's database access.
        if "client" in namespace:
            namespace["client"].get_httpx_client().close()

    closed = namespace["closed"]
    assert (closed.case_number, str(closed.status)) == (referral.case_id, "closed")
    referral.refresh_from_db()
    assert referral.status == ReferralStatus.CLOSED
    enrolment = TrainingEnrolment.objects.get(referral=referral)
    assert (enrolment.attendance_percent, enrolment.status) == (85, EnrolmentStatus.COMPLETED)
    assert enrolment.certificate == "HVC-2027-0142"
    assert SupportProvision.objects.get(referral=referral).amount == 450000
    partner_actions = AuditEvent.objects.filter(actor_label=partner_label(hope))
    assert partner_actions.filter(action="referral.close").exists()

    # Eager Celery delivered at each commit; with a real broker the dispatcher sends them.
    webhook_dispatch_due()
    deliveries = [r for r, _response in httpserver.log if r.path == HOOK_PATH]
    assert len(deliveries) == 6  # accept, four progress reports, close
    snippet: dict[str, Any] = {}
    exec(  # noqa: S102
        compile(doc_block_containing("python", "def verify_signature").body, DOC.name, "exec"),
        snippet,
    )
    verify, handle = snippet["verify_signature"], snippet["handle_delivery"]
    secret = namespace["webhook_secret"]
    seen: set[str] = set()
    for request in deliveries:
        body, headers = request.get_data(), request.headers
        assert verify(secret, headers["X-Signature"], body)
        assert webhook_verify(secret=secret, header=headers["X-Signature"], body=body)
        assert handle(secret, headers, body, seen) == 200
        assert not verify(secret, headers["X-Signature"], body + b" ")
        assert not verify("another secret", headers["X-Signature"], body)
    assert len(seen) == 6
    assert handle(secret, deliveries[0].headers, deliveries[0].get_data(), seen) == 200
    assert len(seen) == 6  # a retry is acknowledged, not processed again
    assert handle(secret, {"X-Signature": "t=1,v1=00"}, deliveries[0].get_data(), seen) == 401
    last = json.loads(deliveries[-1].get_data())
    assert (last["status"], last["case_number"]) == ("closed", referral.case_id)


# --- 3. The signature snippet is the server's algorithm ------------------------------------


@pytest.mark.parametrize(
    "case",
    ["valid", "tampered", "wrong secret", "stale", "future", "two v1", "no t", "bad t", "empty"],
)
def test_the_docs_signature_snippet_agrees_with_webhook_verify(case):
    snippet: dict[str, Any] = {}
    exec(  # noqa: S102
        compile(doc_block_containing("python", "def verify_signature").body, DOC.name, "exec"),
        snippet,
    )
    secret, body, now = (
        "whsec-for-tests",
        b'{"event":"referral.updated","version":3}',
        1_800_000_000,
    )
    signed = webhook_sign(secret=secret, timestamp=now, body=body)
    header, check_body, check_secret, at = signed, body, secret, now + 10
    if case == "tampered":
        check_body = body.replace(b"3", b"4")
    elif case == "wrong secret":
        check_secret = "another"
    elif case == "stale":
        at = now + 301
    elif case == "future":
        at = now - 301
    elif case == "two v1":
        header = f"{signed},v1={'0' * 64}"
    elif case == "no t":
        header = signed.split(",", 1)[1]
    elif case == "bad t":
        header = signed.replace(f"t={now}", "t=soon")
    elif case == "empty":
        header = ""

    ours = snippet["verify_signature"](check_secret, header, check_body, now=at)
    server = webhook_verify(secret=check_secret, header=header, body=check_body, now=at)
    assert ours == server
    assert ours == (case in ("valid", "two v1"))
