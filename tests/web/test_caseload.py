"""My caseload: scope by persona, the API's filters, the working order, pagination, htmx
partials and a query count that does not grow with the caseload."""

from __future__ import annotations

import datetime
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cases.models import Stage
from tests import factories as f
from tests.conftest import case_at

CASELOAD = reverse("web:caseload")


def case_numbers(response) -> list[str]:
    """The case numbers in the table, in their order on the page."""
    return re.findall(r'<th scope="row"><a href="/cases/([A-Z0-9-]+)/">', response.content.decode())


def overdue_contact(case, days_ago: int = 5):
    return f.ContactFactory(
        case=case, planned_date=timezone.localdate() - datetime.timedelta(days=days_ago)
    )


@pytest.fixture
def cases(world, make_case):
    """Alice's cases in teams A and C, an unassigned team-A case, and cases of bob (team B)
    and of xavier (South, team X)."""
    return {
        "alice_a": make_case(Stage.INTAKE),
        "alice_c": make_case(Stage.SCREENING, team=world.team_c, caseworker=world.alice),
        "unassigned_a": case_at(Stage.INTAKE, team=world.team_a),
        "bob_b": make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob),
        "xavier_x": make_case(Stage.INTAKE, team=world.team_x, caseworker=world.xavier),
    }


# --- who sees what ----------------------------------------------------------------------------


def test_alice_sees_her_team_a_and_c_cases_by_default(page, cases):
    response = page("alice").get(CASELOAD)
    assert response.status_code == 200
    assert set(case_numbers(response)) == {
        cases["alice_a"].case_number,
        cases["alice_c"].case_number,
    }


def test_alice_sees_every_case_of_her_teams_with_the_all_scope(page, cases):
    response = page("alice").get(CASELOAD, {"scope": "all"})
    assert set(case_numbers(response)) == {
        cases["alice_a"].case_number,
        cases["alice_c"].case_number,
        cases["unassigned_a"].case_number,
    }


def test_bob_does_not_see_alices_cases_in_any_scope(page, cases):
    for scope in ("mine", "all"):
        response = page("bob").get(CASELOAD, {"scope": scope})
        assert set(case_numbers(response)) == {cases["bob_b"].case_number}
        assert cases["alice_a"].case_number not in response.content.decode()


def test_xavier_sees_none_of_norths_cases(page, cases):
    response = page("xavier").get(CASELOAD, {"scope": "all"})
    assert case_numbers(response) == [cases["xavier_x"].case_number]
    body = response.content.decode()
    for key in ("alice_a", "alice_c", "unassigned_a", "bob_b"):
        assert cases[key].case_number not in body


def test_carol_supervisor_sees_teams_a_and_c_but_not_b(page, cases):
    response = page("carol").get(CASELOAD, {"scope": "all"})
    assert set(case_numbers(response)) == {
        cases["alice_a"].case_number,
        cases["alice_c"].case_number,
        cases["unassigned_a"].case_number,
    }
    assert case_numbers(page("carol").get(CASELOAD)) == []  # none assigned to her


def test_mona_sees_all_of_north_and_nothing_of_south(page, cases):
    response = page("mona").get(CASELOAD, {"scope": "all"})
    assert set(case_numbers(response)) == {
        cases[key].case_number for key in ("alice_a", "alice_c", "unassigned_a", "bob_b")
    }


@pytest.mark.parametrize("persona", ["audrey", "root"])
def test_auditor_and_superuser_without_a_role_get_an_empty_caseload(page, cases, persona):
    """Decision: the page exists for every signed-in member of staff (the frame links to it),
    and shows them the cases they may see, which for these two is none."""
    for scope in ("mine", "all"):
        response = page(persona).get(CASELOAD, {"scope": scope})
        assert response.status_code == 200
        assert case_numbers(response) == []
        body = response.content.decode()
        for case in cases.values():
            assert case.case_number not in body


def test_anonymous_is_sent_to_login(client):
    response = client.get(CASELOAD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


def test_disabled_user_is_sent_to_login(page, world):
    response = page("ivan").get(CASELOAD)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))


# --- what a row shows --------------------------------------------------------------------------


def test_a_row_shows_the_summary_and_never_the_persons_identity(page, world, make_case):
    case = make_case(Stage.MONITORING, risk_level="high")
    case.stage_entered_at = timezone.now() - datetime.timedelta(days=12)
    case.save(update_fields=["stage_entered_at"])
    overdue_contact(case)
    overdue_contact(case, days_ago=9)
    upcoming = timezone.localdate() + datetime.timedelta(days=3)
    f.ContactFactory(case=case, planned_date=upcoming)

    response = page("alice").get(CASELOAD)

    body = response.content.decode()
    row = body[body.index(f'href="/cases/{case.case_number}/"') :].split("</tr>", 1)[0]
    assert "Post-release monitoring" in row
    assert 'class="badge badge-high">High' in row
    assert "Team A" in row
    assert "alice" in row
    assert '<td class="num">12</td>' in row
    assert upcoming.strftime("%m/%d/%Y") in row
    assert '<span class="badge badge-danger">2</span>' in row
    person = case.returnee
    for secret in (person.given_name, person.family_name, person.national_id, person.phone):
        assert secret not in body


# --- order -----------------------------------------------------------------------------------


def test_overdue_first_then_stage_in_workflow_order_then_longest_in_stage(page, world, make_case):
    def aged(case, days):
        case.stage_entered_at = timezone.now() - datetime.timedelta(days=days)
        case.save(update_fields=["stage_entered_at"])
        return case

    closed = aged(make_case(Stage.CLOSED), 50)
    training = aged(make_case(Stage.TRAINING), 3)
    intake_new = aged(make_case(Stage.INTAKE), 1)
    intake_old = aged(make_case(Stage.INTAKE), 20)
    monitoring = aged(make_case(Stage.MONITORING), 2)
    overdue_monitoring = aged(make_case(Stage.MONITORING), 1)
    overdue_contact(overdue_monitoring)
    screening = aged(make_case(Stage.SCREENING), 4)
    # A contact planned for the future is not overdue.
    f.ContactFactory(
        case=monitoring, planned_date=timezone.localdate() + datetime.timedelta(days=1)
    )

    response = page("alice").get(CASELOAD)

    assert case_numbers(response) == [
        c.case_number
        for c in (
            overdue_monitoring,
            intake_old,
            intake_new,
            screening,
            training,
            monitoring,
            closed,
        )
    ]


# --- filters -----------------------------------------------------------------------------------


def test_filters_are_the_apis_stage_risk_district_overdue_and_case_number(page, world, make_case):
    training_high = make_case(Stage.TRAINING, risk_level="high")
    training_low = make_case(Stage.TRAINING, risk_level="low")
    intake = make_case(Stage.INTAKE)
    intake.returnee.current_district = "Sinjar"
    intake.returnee.save(update_fields=["current_district"])
    overdue_contact(training_low)
    client = page("alice")

    def shown(**params):
        return set(case_numbers(client.get(CASELOAD, params)))

    assert shown(stage="training") == {training_high.case_number, training_low.case_number}
    assert shown(stage=["training", "intake"]) == {
        training_high.case_number,
        training_low.case_number,
        intake.case_number,
    }
    assert shown(risk_level="high") == {training_high.case_number}
    assert shown(district="Sinjar") == {intake.case_number}
    assert shown(overdue="true") == {training_low.case_number}
    assert shown(overdue="false") == {training_high.case_number, intake.case_number}
    assert shown(case_number=intake.case_number.lower()[:7]) >= {intake.case_number}
    assert shown(case_number=intake.case_number) == {intake.case_number}
    assert shown(stage="training", risk_level="low") == {training_low.case_number}


def test_the_form_shows_the_chosen_filters_again(page, make_case):
    make_case(Stage.TRAINING)
    body = page("alice").get(CASELOAD, {"stage": "training", "district": "Mosul"}).content
    body = body.decode()
    assert 'value="training" id="id_stage_2" checked' in body
    assert 'name="district" value="Mosul"' in body


@pytest.mark.parametrize(
    ("params", "label"),
    [
        ({"stage": "limbo"}, "Stage"),
        ({"risk_level": "extreme"}, "Risk level"),
        ({"team": "not-a-uuid"}, "Team"),
        ({"opened_after": "yesterday-ish"}, "Opened after"),
        ({"scope": "everyone"}, "Show"),
    ],
)
def test_a_bad_filter_value_names_the_field_and_shows_no_rows(page, make_case, params, label):
    make_case(Stage.TRAINING)
    response = page("alice").get(CASELOAD, params)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'role="alert"' in body
    assert re.search(rf"<li>{label}[^<]*: ", body, re.IGNORECASE), body
    assert case_numbers(response) == []


def test_filters_of_the_filterset_not_offered_on_the_form_still_apply(page, world, make_case):
    in_a = make_case(Stage.INTAKE)
    in_c = make_case(Stage.INTAKE, team=world.team_c, caseworker=world.alice)
    response = page("alice").get(CASELOAD, {"team": str(world.team_c.uuid)})
    assert case_numbers(response) == [in_c.case_number]
    assert in_a.case_number not in response.content.decode()
    # ...and are carried along when the form is submitted again.
    assert f'type="hidden" name="team" value="{world.team_c.uuid}"' in response.content.decode()


# --- htmx, pagination -------------------------------------------------------------------------


def test_the_filter_form_is_a_get_form_that_htmx_swaps_into_the_results(page, make_case):
    make_case(Stage.TRAINING)
    body = page("alice").get(CASELOAD).content.decode()
    form = body[body.index('<form class="card caseload-filters"') :].split(">", 1)[0]
    assert 'method="get"' in form
    assert 'hx-get="/caseload/"' in form
    assert 'hx-target="#caseload-results"' in form
    assert 'hx-push-url="true"' in form
    assert '<div id="caseload-results"' in body


def test_an_htmx_request_gets_only_the_results(page, make_case):
    case = make_case(Stage.TRAINING)
    response = page("alice").get(CASELOAD, {"stage": "training"}, headers={"HX-Request": "true"})
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="caseload-results"')
    assert "<html" not in body
    assert "caseload-filters" not in body
    assert case.case_number in body
    assert "HX-Request" in response["Vary"]


def test_an_htmx_history_restore_gets_the_whole_page(page, make_case):
    make_case(Stage.TRAINING)
    response = page("alice").get(
        CASELOAD, headers={"HX-Request": "true", "HX-History-Restore-Request": "true"}
    )
    assert "<html" in response.content.decode()


def test_pages_of_fifty_whose_links_keep_the_filters(page, world):
    for _ in range(51):
        f.CaseFactory(team=world.team_a, caseworker=world.alice, stage=Stage.INTAKE)
    client = page("alice")

    first = client.get(CASELOAD, {"stage": "intake"})
    second = client.get(CASELOAD, {"stage": "intake", "page": "2"})

    assert len(case_numbers(first)) == 50
    assert len(case_numbers(second)) == 1
    assert set(case_numbers(first)).isdisjoint(case_numbers(second))
    assert 'href="?stage=intake&amp;page=2"' in first.content.decode()
    assert 'href="?stage=intake&amp;page=1"' in second.content.decode()
    # A page number out of range shows the last page rather than an error.
    assert case_numbers(client.get(CASELOAD, {"stage": "intake", "page": "99"})) == case_numbers(
        second
    )


# --- cost ------------------------------------------------------------------------------------


def _queries_for_caseload(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(CASELOAD, {"scope": "all"})
    assert response.status_code == 200
    return len(captured.captured_queries)


def test_query_count_does_not_grow_with_the_number_of_cases(page, world, make_case):
    client = page("alice")
    first = make_case(Stage.MONITORING, risk_level="high")
    overdue_contact(first)
    f.MembershipFactory(user=world.alice, role="caseworker", team=world.team_b)
    one = _queries_for_caseload(client)
    shown_one = len(case_numbers(client.get(CASELOAD, {"scope": "all"})))

    for index in range(19):
        team = (world.team_a, world.team_b, world.team_c)[index % 3]
        other = case_at(Stage.MONITORING, team=team, caseworker=world.alice, risk_level="low")
        overdue_contact(other)
        f.ContactFactory(case=other, planned_date=timezone.localdate())
    twenty = _queries_for_caseload(client)

    assert shown_one == 1
    assert len(case_numbers(client.get(CASELOAD, {"scope": "all"}))) == 20
    assert twenty == one
