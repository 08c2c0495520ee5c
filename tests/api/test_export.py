"""GET /api/v1/cases/export.csv: the caller's cases, filtered like the case list, as a streamed,
pseudonymous, audited CSV whose query count grows with chunks, not rows."""

from __future__ import annotations

import csv
import datetime
import io
import types
from typing import Any

import pytest
from django.db import connection
from django.http import QueryDict, StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cases.models import IDENTITY_FIELDS, AuditEvent, ContactOutcome, Stage
from cases.services.exports import EXPORT_COLUMNS, case_export_csv

from .. import factories as f
from ..conftest import case_at

URL = "/api/v1/cases/export.csv"
BOM = "\ufeff".encode()

# Distinctive identity values: none of them may appear anywhere in an export.
IDENTITY: dict[str, Any] = {
    "given_name": "Zubaida",
    "family_name": "Qaraghuli",
    "aliases": "Umm Yahya",
    "date_of_birth": datetime.date(1987, 11, 4),
    "national_id": "1987-1104-5521",
    "phone": "+9647705550101",
    "address": "Alley 7, Hay al-Muthanna",
}


def body(response) -> bytes:
    assert isinstance(response, StreamingHttpResponse), response
    return response.getvalue()


def parse(raw: bytes) -> tuple[list[str], list[dict[str, str]]]:
    assert raw.startswith(BOM)
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header, *rows = list(reader)
    return header, [dict(zip(header, row, strict=True)) for row in rows]


def export(client, **params) -> list[dict[str, str]]:
    response = client.get(URL, params)
    assert response.status_code == 200, response
    return parse(body(response))[1]


def numbers(rows: list[dict[str, str]]) -> set[str]:
    return {row["case_number"] for row in rows}


def query(**params) -> QueryDict:
    """Parameters as a request's query string carries them (the filters read lists)."""
    out = QueryDict(mutable=True)
    for name, value in params.items():
        out.setlist(name, value if isinstance(value, list) else [value])
    return out


def consume(chunk_size: int, actor, **params) -> bytes:
    result = case_export_csv(actor=actor, params=query(**params), chunk_size=chunk_size)
    return b"".join(result.chunks)


# --- scope and access ----------------------------------------------------------------------------


def test_caseworker_gets_their_cases_and_nothing_out_of_scope(world, api, make_case):
    team_a = make_case(Stage.INTAKE)
    team_c = make_case(Stage.SCREENING, team=world.team_c, caseworker=world.alice)
    team_b = case_at(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    south = case_at(Stage.INTAKE, team=world.team_x, caseworker=world.xavier)

    rows = export(api("alice"))

    assert numbers(rows) == {team_a.case_number, team_c.case_number}
    assert team_b.case_number not in numbers(rows)
    assert south.case_number not in numbers(rows)
    assert numbers(export(api("bob"))) == {team_b.case_number}
    assert numbers(export(api("mona"))) == {
        team_a.case_number,
        team_c.case_number,
        team_b.case_number,
    }


@pytest.mark.parametrize("persona", ["audrey", "root"])
def test_staff_without_cases_get_the_header_only(world, api, make_case, persona):
    """Like the case list, which answers an empty list: no rows, not a 404."""
    make_case(Stage.INTAKE)
    response = api(persona).get(URL)
    assert response.status_code == 200
    header, rows = parse(body(response))
    assert header == list(EXPORT_COLUMNS)
    assert rows == []


def test_partner_key_and_anonymous_callers_get_401(world, api, partners, make_case):
    make_case(Stage.INTAKE)
    for client in (partners["x"][1], api()):
        response = client.get(URL)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "not_authenticated"
        assert response["Cache-Control"] == "no-store"
    assert not AuditEvent.objects.filter(action="cases.export").exists()


def test_personal_token_works_like_a_session(world, make_case, staff_token):
    from rest_framework.test import APIClient

    case = make_case(Stage.INTAKE)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    assert numbers(export(client)) == {case.case_number}


# --- the response --------------------------------------------------------------------------------


def test_the_export_streams_an_attachment_that_no_cache_keeps(world, api, make_case):
    make_case(Stage.INTAKE)
    response = api("alice").get(URL, HTTP_ACCEPT="text/csv")
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == f'attachment; filename="cases-{today}.csv"'
    assert response["Cache-Control"] == "no-store"
    raw = body(response)
    assert raw.startswith(BOM)  # Excel reads the file as UTF-8 only with it
    assert raw[len(BOM) :].decode().splitlines()[0] == ",".join(EXPORT_COLUMNS)


def test_columns_carry_the_case_its_contacts_and_no_identity(world, api, make_case):
    case = make_case(Stage.MONITORING, risk_level="high")
    person = case.returnee
    for name, value in IDENTITY.items():
        setattr(person, name, value)
    person.sex, person.current_district, person.year_of_birth = "female", "Tel Afar", 1987
    person.save()
    today = timezone.now().date()
    day = datetime.timedelta(days=1)
    f.ContactFactory(case=case, planned_date=today + 7 * day)
    f.ContactFactory(case=case, planned_date=today - 3 * day)  # planned and overdue
    f.ContactFactory(
        case=case, planned_date=today - 30 * day, actual_date=today - 29 * day, outcome="met"
    )
    f.ContactFactory(
        case=case, planned_date=today - 60 * day, actual_date=today - 58 * day, outcome="met"
    )
    f.ContactFactory(case=case, planned_date=today - 20 * day, outcome=ContactOutcome.MISSED)
    f.ContactFactory(case=case, planned_date=today - 10 * day, outcome="rescheduled")

    response = api("alice").get(URL)
    raw = body(response)
    [row] = parse(raw)[1]

    case.refresh_from_db()
    assert row == {
        "case_number": case.case_number,
        "person_number": person.person_number,
        "programme": "North",
        "site": "Mosul",
        "team": "Team A",
        "caseworker": "alice",
        "stage": "monitoring",
        "stage_entered_at": timezone.localtime(case.stage_entered_at).isoformat("T", "seconds"),
        "risk_level": "high",
        "opened_at": timezone.localtime(case.opened_at).isoformat("T", "seconds"),
        "closed_at": "",
        "outcome": "",
        "sex": "female",
        "age_band": "35-49" if today.year - 1987 < 50 else "50+",
        "current_district": "Tel Afar",
        "return_pathway": "camp_repatriation",
        "return_date": case.intake.return_date.isoformat(),
        "intake_date": case.intake.intake_date.isoformat(),
        "contacts_planned": "2",
        "contacts_met": "2",
        "contacts_missed": "1",
        "contacts_overdue": "1",
        "last_met_date": (today - 29 * day).isoformat(),
    }
    text = raw.decode("utf-8-sig")
    leaked = [name for name, value in IDENTITY.items() if str(value) in text]
    assert not leaked, f"identity in the export: {leaked}"
    assert "1987-11-04" not in text


def test_a_closed_case_has_its_outcome_and_no_contacts(world, api, make_case):
    case = make_case(Stage.CLOSED)
    [row] = export(api("alice"))
    assert (row["stage"], row["outcome"]) == ("closed", "reintegrated")
    assert row["closed_at"] == timezone.localtime(case.closed_at).isoformat("T", "seconds")
    assert [row[c] for c in ("contacts_planned", "contacts_met", "last_met_date")] == ["0", "0", ""]


def test_no_identity_column_is_ever_read(world, make_case):
    """The query reads pseudonymous columns only: encrypted identity is never even loaded."""
    make_case(Stage.MONITORING)
    with CaptureQueriesContext(connection) as queries:
        consume(50, world.alice)
    sql = " ".join(q["sql"] for q in queries.captured_queries)
    assert "cases_returnee" in sql
    read = [
        name
        for name in (*IDENTITY_FIELDS, "national_id_index", "phone_index")
        if f'"{name}"' in sql
    ]
    assert not read


@pytest.mark.parametrize(
    "value", ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]
)
def test_cells_that_a_spreadsheet_would_run_get_a_leading_apostrophe(world, api, make_case, value):
    case = make_case(Stage.INTAKE)
    case.returnee.current_district = value
    case.returnee.save()
    world.team_a.name = value
    world.team_a.save()
    [row] = export(api("alice"))
    assert row["current_district"] == "'" + value
    assert row["team"] == "'" + value
    assert row["contacts_planned"] == "0"  # numbers are not text and are left alone


# --- filters -------------------------------------------------------------------------------------


def test_the_case_list_filters_apply(world, api, make_case):
    intake = make_case(Stage.INTAKE)
    monitoring = make_case(Stage.MONITORING, risk_level="high")
    closed = make_case(Stage.CLOSED)
    elsewhere = make_case(Stage.INTAKE)
    elsewhere.returnee.current_district = "Sinjar"
    elsewhere.returnee.save()
    overdue = make_case(Stage.MONITORING)
    f.ContactFactory(case=overdue, planned_date=timezone.now().date() - datetime.timedelta(days=2))
    client = api("alice")

    assert numbers(export(client, stage="monitoring")) == {
        monitoring.case_number,
        overdue.case_number,
    }
    assert numbers(export(client, stage=["intake", "closed"])) == {
        intake.case_number,
        closed.case_number,
        elsewhere.case_number,
    }
    assert numbers(export(client, risk_level="high")) == {monitoring.case_number}
    assert numbers(export(client, district="Sinjar")) == {elsewhere.case_number}
    assert numbers(export(client, overdue="true")) == {overdue.case_number}
    assert numbers(export(client, case_number=closed.case_number)) == {closed.case_number}
    assert numbers(export(client, team=str(world.team_b.uuid))) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"stage": "limbo"}, "stage"),
        ({"risk_level": "extreme"}, "risk_level"),
        ({"opened_after": "last tuesday"}, "opened_after"),
        ({"team": "not-a-uuid"}, "team"),
    ],
)
def test_a_bad_filter_is_a_400_naming_the_field_and_exports_nothing(
    world, api, make_case, params, field
):
    make_case(Stage.INTAKE)
    response = api("alice").get(URL, params)
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"]
    assert not AuditEvent.objects.filter(action="cases.export").exists()


def test_the_list_and_the_export_agree_on_a_bad_filter(world, api):
    client = api("alice")
    listed = client.get("/api/v1/cases/", {"stage": "limbo"})
    exported = client.get(URL, {"stage": "limbo"})
    assert (listed.status_code, exported.status_code) == (400, 400)
    assert listed.json()["error"]["fields"].keys() == exported.json()["error"]["fields"].keys()


# --- audit ---------------------------------------------------------------------------------------


def test_each_export_writes_one_audit_event_with_filters_and_count(world, api, make_case):
    make_case(Stage.MONITORING)
    make_case(Stage.MONITORING)
    make_case(Stage.INTAKE)
    person = make_case(Stage.MONITORING).returnee
    person.given_name, person.national_id = IDENTITY["given_name"], IDENTITY["national_id"]
    person.save()

    response = api("alice").get(
        URL, {"stage": "monitoring", "district": "Mosul", "given_name": "Zubaida"}
    )
    body(response)

    [event] = AuditEvent.objects.filter(action="cases.export")
    assert event.actor == world.alice
    assert event.object_type == "case_export"
    assert event.detail == {
        "filters": {"stage": ["monitoring"], "district": "Mosul"},
        "rows": 3,
        "format": "csv",
    }
    assert event.fields == sorted(EXPORT_COLUMNS)
    assert event.request_id
    assert event.ip
    content = str(event.content())
    assert "Zubaida" not in content  # a stray parameter never reaches the log
    assert IDENTITY["national_id"] not in content


def test_the_audit_event_is_committed_before_the_first_row(world, make_case):
    """An export cut short has still been recorded."""
    make_case(Stage.INTAKE)
    result = case_export_csv(actor=world.alice, params=QueryDict(), chunk_size=10)
    assert AuditEvent.objects.filter(action="cases.export", detail__rows=1).exists()
    next(result.chunks)
    assert isinstance(result.chunks, types.GeneratorType)
    result.chunks.close()


# --- query counts --------------------------------------------------------------------------------


def cost(chunk_size: int, actor, **params) -> int:
    with CaptureQueriesContext(connection) as queries:
        consume(chunk_size, actor, **params)
    return len(queries)


def test_the_query_count_does_not_grow_with_rows_within_a_chunk(world, make_case):
    first = make_case(Stage.MONITORING)
    f.ContactFactory(case=first)
    one = cost(50, world.alice)
    for _ in range(9):
        case = make_case(Stage.MONITORING)
        f.ContactFactory(case=case)
        f.ContactFactory(case=case, outcome="met", actual_date=timezone.now().date())
    assert cost(50, world.alice) == one


def test_the_query_count_grows_by_one_aggregate_per_chunk(world, make_case):
    for _ in range(10):
        f.ContactFactory(case=make_case(Stage.MONITORING))
    one_chunk = cost(10, world.alice)
    assert cost(3, world.alice) == one_chunk + 3  # four chunks: three more aggregates
    assert cost(1, world.alice) == one_chunk + 9


def test_an_export_without_rows_runs_no_aggregate(world, make_case):
    make_case(Stage.INTAKE)
    assert cost(10, world.alice, stage="closed") == cost(10, world.alice) - 1


def test_the_endpoint_costs_the_same_for_one_case_and_ten(world, api, make_case):
    client = api("alice")
    make_case(Stage.MONITORING)

    def requested() -> int:
        with CaptureQueriesContext(connection) as queries:
            body(client.get(URL))
        return len(queries)

    one = requested()
    for _ in range(9):
        f.ContactFactory(case=make_case(Stage.MONITORING))
    assert requested() == one


def test_rows_come_out_in_chunks_of_the_chunk_size(world, make_case):
    for _ in range(5):
        make_case(Stage.INTAKE)
    result = case_export_csv(actor=world.alice, params=QueryDict(), chunk_size=2)
    chunks = list(result.chunks)
    assert result.rows == 5
    # The header, then ceil(5 / 2) chunks of rows.
    assert [chunk.count(b"\r\n") for chunk in chunks] == [1, 2, 2, 1]


def test_age_band_is_computed_from_the_year_of_birth(world, make_case):
    bands = {}
    for year in (2010, 2004, 1996, 1985, 1970, None):
        case = make_case(Stage.INTAKE)
        case.returnee.year_of_birth = year
        case.returnee.save()
        bands[case.case_number] = year
    result = case_export_csv(actor=world.alice, params=QueryDict(), today=datetime.date(2026, 6, 1))
    _, rows = parse(b"".join(result.chunks))
    got = {bands[row["case_number"]]: row["age_band"] for row in rows}
    assert got == {2010: "0-17", 2004: "18-24", 1996: "25-34", 1985: "35-49", 1970: "50+", None: ""}
