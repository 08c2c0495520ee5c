"""``POST /api/v1/cases/import/``: a CSV file of returnees, as a multipart upload or a text/csv
body; 201 with the new case numbers, or 400 listing every error with nothing written."""

from __future__ import annotations

import datetime
import io

from django.urls import reverse
from rest_framework.test import APIClient

from cases.api.imports import MULTIPART_SLACK
from cases.models import AuditEvent, Case, Returnee
from cases.services.imports import max_bytes

from ..services.test_imports import as_csv, people

URL = "/api/v1/cases/import/"


def upload(client, data: bytes, team, **fields):
    file = io.BytesIO(data)
    file.name = "returnees.csv"
    return client.post(URL, {"file": file, "team": str(team), **fields}, format="multipart")


def test_route_is_named_and_sits_before_the_case_routes():
    assert reverse("case-import") == URL


def test_multipart_upload_opens_every_case_and_returns_their_numbers(api, world):
    response = upload(api("alice"), as_csv(people(4)), world.team_a.uuid)
    assert response.status_code == 201, response.data
    assert response.data["created"] == response.data["rows"] == 4
    numbers = response.data["case_numbers"]
    assert sorted(numbers) == sorted(Case.objects.values_list("case_number", flat=True))
    assert response["Cache-Control"] == "no-store"
    assert "Person" not in response.content.decode()


def test_text_csv_body_with_team_in_the_query(api, world):
    response = api("mona").post(
        f"{URL}?team={world.team_b.uuid}", as_csv(people(2)), content_type="text/csv"
    )
    assert response.status_code == 201, response.data
    assert set(Case.objects.values_list("team", flat=True)) == {world.team_b.pk}


def test_staff_token_may_import(world, staff_token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {staff_token}")
    response = upload(client, as_csv(people(1)), world.team_a.uuid)
    assert response.status_code == 201, response.data


def test_bad_rows_answer_400_listing_every_error_and_write_nothing(api, world):
    rows = people(10)
    rows[2]["sex"] = "robot"
    rows[6]["return_date"] = "someday"
    rows[8]["national_id"] = rows[0]["national_id"]
    response = upload(api("alice"), as_csv(rows), world.team_a.uuid)
    assert response.status_code == 400
    error = response.data["error"]
    assert error["code"] == "invalid"
    assert error["total"] == 3
    assert [(e["row"], e["field"]) for e in error["errors"]] == [
        (4, "sex"),
        (8, "return_date"),
        (10, "national_id"),
    ]
    assert set(error["fields"]) == {"rows[4].sex", "rows[8].return_date", "rows[10].national_id"}
    assert error["fields"]["rows[10].national_id"] == ["Row 2 has the same national ID."]
    assert Returnee.objects.count() == Case.objects.count() == 0


def test_team_out_of_scope_made_up_or_malformed_is_404(api, world):
    data = as_csv(people(1))
    for client, team in (
        (api("bob"), world.team_a.uuid),  # a caseworker of another team
        (api("audrey"), world.team_a.uuid),  # an auditor opens no cases
        (api("alice"), world.team_x.uuid),  # another programme
        (api("alice"), "8d6f3b0e-0000-4000-8000-000000000000"),
    ):
        response = upload(client, data, team)
        assert response.status_code == 404
        assert response.data == {"error": {"code": "not_found", "message": "Not found."}}
    response = api("alice").post(f"{URL}?team=nonsense", data, content_type="text/csv")
    assert response.status_code == 400
    assert "team" in response.data["error"]["fields"]
    assert Case.objects.count() == 0


def test_anonymous_is_401_and_a_partner_key_is_not_a_staff_credential(api, world, partners):
    data = as_csv(people(1))
    assert upload(api(), data, world.team_a.uuid).status_code == 401
    _partner, partner_client, _key = partners["x"]
    assert upload(partner_client, data, world.team_a.uuid).status_code == 401
    assert Case.objects.count() == 0


def test_missing_file_or_team_names_the_field(api, world):
    response = api("alice").post(URL, {"team": str(world.team_a.uuid)}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.data["error"]["fields"]
    response = api("alice").post(URL, as_csv(people(1)), content_type="text/csv")
    assert response.status_code == 400
    assert "team" in response.data["error"]["fields"]


def test_json_is_not_an_accepted_body(api, world):
    response = api("alice").post(URL, {"team": str(world.team_a.uuid)}, format="json")
    assert response.status_code == 415


def test_a_file_larger_than_djangos_in_memory_limit_is_read_whole(api, world, settings):
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE < 3 * 2**20 < max_bytes()
    rows = people(320, intake_notes="n" * 10_000)  # notes hold at most 10,000 characters
    response = api("alice").post(
        f"{URL}?team={world.team_a.uuid}", as_csv(rows), content_type="text/csv"
    )
    assert response.status_code == 201, response.data
    for row in rows:
        row["national_id"] += "-2"
    assert upload(api("alice"), as_csv(rows), world.team_a.uuid).status_code == 201
    assert Case.objects.count() == 2 * len(rows)


def test_a_file_over_the_limits_is_413(api, world, settings):
    settings.IMPORT_MAX_BYTES = 2000
    big = as_csv(people(20))
    assert len(big) > 2000
    response = upload(api("alice"), big, world.team_a.uuid)
    assert response.status_code == 413
    assert response.data["error"]["code"] == "too_large"
    response = api("alice").post(f"{URL}?team={world.team_a.uuid}", big, content_type="text/csv")
    assert response.status_code == 413
    huge = as_csv(people(300))  # refused on its declared length, before it is read
    assert len(huge) > 2000 + MULTIPART_SLACK
    assert upload(api("alice"), huge, world.team_a.uuid).status_code == 413
    settings.IMPORT_MAX_BYTES = 10**6
    settings.IMPORT_MAX_ROWS = 5
    response = upload(api("alice"), as_csv(people(6)), world.team_a.uuid)
    assert response.status_code == 413
    assert "more than 5 rows" in response.data["error"]["message"]
    assert Case.objects.count() == 0


def test_the_import_is_audited_with_the_request_it_came_from(api, world):
    response = upload(api("alice"), as_csv(people(2)), world.team_a.uuid)
    event = AuditEvent.objects.get(action="case.import")
    assert event.actor == world.alice
    assert event.detail["case_numbers"] == response.data["case_numbers"]
    assert event.request_id  # the middleware's request id


def test_schema_documents_the_operation_and_its_bodies(api, world):
    schema = api("alice").get("/api/schema/?format=json").json()
    operation = schema["paths"][URL]["post"]
    # One documented body (generated clients send the form); the raw CSV body is described.
    assert set(operation["requestBody"]["content"]) == {"multipart/form-data"}
    assert "text/csv" in operation["description"]
    assert {"201", "400", "413", "415"} <= set(operation["responses"])
    assert "consent_legal_basis" in operation["description"]


def test_bad_cells_are_refused_by_row_and_column_never_as_the_file(api, world, time_machine):
    """A NUL in a name, a one-megabyte cell (past the csv module's own limit) and a return
    date in 2099: each named by its row and column, nothing written."""
    time_machine.move_to(datetime.datetime(2026, 11, 20, 9, 30, tzinfo=datetime.UTC), tick=False)
    client = api("alice")
    for column, value, message in (
        ("given_name", "Maryam\x00", "Null characters are not allowed."),
        (
            "given_name",
            "M" * 1024 * 1024,
            "Ensure this value has at most 200 characters (it has more than 131072).",
        ),
        ("return_date", "2099-01-01", "The date cannot be later than today (2026-11-20)."),
    ):
        rows = people(3)
        rows[1][column] = value
        before = (Case.objects.count(), Returnee.objects.count(), _writes())
        response = upload(client, as_csv(rows), world.team_a.uuid)
        assert response.status_code == 400, column
        error = response.data["error"]
        assert error["errors"] == [{"row": 3, "field": column, "message": message}]
        assert error["fields"] == {f"rows[3].{column}": [message]}
        assert (Case.objects.count(), Returnee.objects.count(), _writes()) == before


def _writes() -> int:
    """Audit events of writes (an import audits its national-ID search even when refused)."""
    return AuditEvent.objects.exclude(action="identity.search").count()
