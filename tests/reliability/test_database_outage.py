"""PostgreSQL goes down under a running web server: the API answers 503 in the project's JSON
error shape with ``Retry-After``, pages answer a plain 503 page, ``/health/`` answers 503, and
the same server process serves again once the database is back.

Real processes, no mocks: a PostgreSQL cluster of the test's own on a spare port (the shared
server is never touched), holding a copy of this test's database (``pg_dump`` of the rows the
test committed), and gunicorn serving the project against it as the Dockerfile runs it. The test
stops that cluster with ``pg_ctl stop`` and starts it again.

Runs where the tests run on PostgreSQL (``DATABASE_URL``; CI's second run) and PostgreSQL's
server binaries (``initdb``, ``pg_ctl``) are installed; skipped elsewhere.
"""

from __future__ import annotations

import glob
import http.client
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db import transaction as db_transaction

from cases.services.keys import partner_key_issue, staff_token_issue

from .. import factories as f
from ..web.conftest import verified_client
from .conftest import ON_POSTGRES, REPO, free_port, wait_until

pytestmark = pytest.mark.postgres


def _binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


BINARIES = {name: _binary(name) for name in ("initdb", "pg_ctl", "pg_dump", "psql")}


def _cluster_user() -> dict[str, Any]:
    """PostgreSQL refuses to run as root: as root, the cluster runs as the ``postgres`` user."""
    if os.geteuid() != 0:
        return {}
    try:
        account = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run a cluster as")
    return {"user": account.pw_uid, "group": account.pw_gid}


class Cluster:
    """A PostgreSQL cluster in a temporary directory, on a spare port of 127.0.0.1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.as_user = _cluster_user()

    def _run(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (PostgreSQL's own binaries, our arguments)
            args, check=True, capture_output=True, timeout=60, **self.as_user
        )

    def init(self) -> None:
        self._run(
            str(BINARIES["initdb"]), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off"
        )
        self._run(
            str(BINARIES["pg_ctl"]), "-D", str(self.data), "-o", options,
            "-l", str(self.directory / "server.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        self._run(str(BINARIES["pg_ctl"]), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    if not ON_POSTGRES:
        pytest.skip("needs PostgreSQL: set DATABASE_URL to run it (CI's second run)")
    missing = [name for name, path in BINARIES.items() if path is None]
    if missing:
        pytest.skip(f"PostgreSQL's binaries are not installed here: {', '.join(missing)}")
    directory = Path(tempfile.mkdtemp(prefix="pg-outage-"))
    as_user = _cluster_user()
    if as_user:
        os.chown(directory, as_user["user"], as_user["group"])
    server = Cluster(directory)
    try:
        server.init()
        server.start()
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(directory, ignore_errors=True)


def _test_database_dsn() -> str:
    db = connection.settings_dict
    parts = {
        "host": db["HOST"] or "localhost",
        "port": db["PORT"] or 5432,
        "user": db["USER"],
        "password": db["PASSWORD"],
        "dbname": db["NAME"],
    }
    return " ".join(f"{key}='{value}'" for key, value in parts.items() if value)


def copy_test_database(cluster: Cluster, database: str) -> None:
    """The rows this test committed, schema and all, into ``database`` on ``cluster``."""
    psql = [str(BINARIES["psql"]), "-q", "-v", "ON_ERROR_STOP=1"]
    subprocess.run(  # noqa: S603
        [*psql, "-d", cluster.url("postgres"), "-c", f"CREATE DATABASE {database}"],
        check=True,
        capture_output=True,
        timeout=60,
    )
    dump = subprocess.run(  # noqa: S603
        [str(BINARIES["pg_dump"]), "--no-owner", "--no-privileges", "-d", _test_database_dsn()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(  # noqa: S603
        [*psql, "-d", cluster.url(database)],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class WebServer:
    """gunicorn serving the project, as the Dockerfile runs it (one worker)."""

    def __init__(self, *, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.log_path = log
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "DEBUG": "false",
            # Connections kept between requests, as in production: a broken one must be
            # replaced once the database is back.
            "CONN_MAX_AGE": "60",
            "REDIS_URL": "",
            "DJANGO_SETTINGS_MODULE": "reintegration.settings",
            "PYTHONPATH": str(REPO),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            sys.executable, "-m", "gunicorn", "reintegration.wsgi:application",
            "--bind", f"127.0.0.1:{self.port}", "--workers", "1", "--timeout", "60",
        ]  # fmt: skip
        with self.log_path.open("ab") as log:
            self.process = process = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
                command, cwd=REPO, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self._answers() or process.poll() is not None,
            timeout=90,
            what=lambda: f"gunicorn answering; its log:\n{self.log()[-3000:]}",
        )
        assert self.process.poll() is None, f"gunicorn exited:\n{self.log()}"

    def _answers(self) -> bool:
        try:
            self.request("GET", "/health/")
        except OSError:
            return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def request(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, body: Any = None
    ) -> Reply:
        data = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Reply(response.status, response.headers, response.read())
        finally:
            conn.close()


@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[Any]:
    started: list[WebServer] = []

    def make(database_url: str) -> WebServer:
        server = WebServer(database_url=database_url, log=tmp_path / "gunicorn.log")
        started.append(server)
        server.start()
        return server

    yield make
    for server in started:
        server.stop()


def _assert_api_unavailable(reply: Reply) -> None:
    assert reply.status == 503, reply.body[:500]
    assert reply.headers["Content-Type"].startswith("application/json")
    assert int(reply.headers["Retry-After"]) > 0
    error = reply.json()["error"]
    assert set(reply.json()) == {"error"}
    assert error["code"] == "unavailable"
    assert error["message"]
    assert error["request_id"] == reply.headers["X-Request-ID"]
    assert b"Traceback" not in reply.body
    assert b"OperationalError" not in reply.body


def test_postgresql_down_is_503_json_for_the_api_and_a_plain_page_for_people(
    transactional_db, world, make_case, cluster, web_server
):
    # What the server will serve, committed so that pg_dump sees it.
    case = make_case()
    with db_transaction.atomic():
        token = staff_token_issue(actor=world.alice, name="script").plaintext
        partner = f.PartnerFactory(programme=world.north, name="Partner X")
        key = partner_key_issue(actor=None, partner=partner, name="integration").plaintext
    session = verified_client(world.alice).cookies["sessionid"].value
    copy_test_database(cluster, "app")
    server = web_server(cluster.url("app"))

    staff = {"Authorization": f"Bearer {token}"}
    partner_auth = {"Authorization": f"Bearer {key}"}
    browser = {"Cookie": f"sessionid={session}", "Accept": "text/html"}
    arabic = {**browser, "Cookie": f"sessionid={session}; language=ar"}

    # Up: every way in is served from the copy.
    me = server.request("GET", "/api/v1/me/", headers=staff)
    assert (me.status, me.json()) == (200, {"username": "alice"}), me.body[:500]
    assert server.request("GET", "/api/v1/partner/referrals/", headers=partner_auth).status == 200
    page = server.request("GET", "/caseload/", headers=browser)
    assert page.status == 200, page.body[:500]
    assert case.case_number.encode() in page.body, page.body[:500]
    assert server.request("GET", "/health/").status == 200

    cluster.stop()

    # Down: the API answers 503 in its JSON shape, reads and writes, staff and partners.
    unavailable = server.request("GET", "/api/v1/me/", headers=staff)
    _assert_api_unavailable(unavailable)
    # The operator's log says why, under the id the client was given.
    logged = [
        line for line in server.log().splitlines() if unavailable.headers["X-Request-ID"] in line
    ]
    assert any("Database unavailable" in line and "OperationalError" in line for line in logged)
    _assert_api_unavailable(server.request("GET", "/api/v1/cases/", headers=staff))
    _assert_api_unavailable(
        server.request("POST", "/api/v1/cases/", headers=staff, body={"intake": {}})
    )
    _assert_api_unavailable(
        server.request("GET", "/api/v1/partner/referrals/", headers=partner_auth)
    )
    # A session's API call fails where the session is read, before any view.
    _assert_api_unavailable(server.request("GET", "/api/v1/me/", headers=browser))

    # Pages: a plain 503 page, nothing about the user or their cases, in their language.
    down = server.request("GET", "/caseload/", headers=browser)
    assert down.status == 503, down.body[:500]
    assert down.headers["Content-Type"].startswith("text/html")
    assert int(down.headers["Retry-After"]) > 0
    assert b"<html" in down.body
    assert b"Traceback" not in down.body
    for private in ("alice", case.case_number, world.team_a.name):
        assert private.encode() not in down.body
    assert b"temporarily unavailable" in down.body
    in_arabic = server.request("GET", "/caseload/", headers=arabic)
    assert in_arabic.status == 503
    assert b'lang="ar"' in in_arabic.body
    assert b'dir="rtl"' in in_arabic.body
    assert "الخدمة غير متاحة مؤقتًا".encode() in in_arabic.body  # "temporarily unavailable"

    health = server.request("GET", "/health/")
    assert health.status == 503
    assert health.json()["checks"]["database"]["status"] != "ok"

    # Back up: the same server process serves again, no restart.
    cluster.start()
    me = server.request("GET", "/api/v1/me/", headers=staff)
    assert (me.status, me.json()) == (200, {"username": "alice"}), me.body[:500]
    assert server.request("GET", "/caseload/", headers=browser).status == 200
    assert server.request("GET", "/health/").status == 200
