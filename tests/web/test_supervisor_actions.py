"""Deciding approvals and reassigning cases from the supervisor pages: the service's rules hold,
each write is audited once, and a refused write writes nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from cases.models import Approval, ApprovalStatus, AuditEvent, Case, Role, Stage
from tests import factories as f

from .test_supervisor import overdue_contact, requested


@pytest.fixture
def dora(world):
    """A second caseworker of team A."""
    user = f.UserFactory(username="dora")
    f.MembershipFactory(user=user, role=Role.CASEWORKER, team=world.team_a)
    return user


@pytest.fixture
def a_case(make_case):
    return make_case(Stage.TRAINING)


@pytest.fixture
def a_approval(world, a_case):
    return requested(a_case, by=world.alice)


def decide(client, approval, **data):
    return client.post(reverse("web:approval-decide", args=[approval.uuid]), data)


def reassign(client, case, **data):
    return client.post(reverse("web:reassign", args=[case.pk]), data)


def flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --- approvals --------------------------------------------------------------------------------


def test_the_queue_lists_waiting_requests_of_the_supervised_teams(page, world, make_case):
    a = requested(make_case(Stage.TRAINING), by=world.alice)
    c = requested(
        make_case(Stage.INTAKE, team=world.team_c, caseworker=world.alice), by=world.alice
    )
    b = requested(make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob), by=world.bob)
    decided = f.ApprovalFactory(case=make_case(Stage.MONITORING), requested_by=world.alice)
    response = page("carol").get(reverse("web:approval-queue"))
    html = response.content.decode()
    assert response.context["approvals"] == [a, c]
    for approval in (a, c):
        assert reverse("web:approval-decide", args=[approval.uuid]) in html
        assert approval.case_id in html
    assert b.case_id not in html
    assert str(b.uuid) not in html
    assert str(decided.uuid) not in html
    assert "alice" in html  # requested by
    mona = page("mona").get(reverse("web:approval-queue"))
    assert mona.context["approvals"] == [a, c, b]  # oldest first


def test_the_queue_narrows_to_one_team(page, world, make_case):
    requested(make_case(Stage.TRAINING), by=world.alice)
    c = requested(
        make_case(Stage.INTAKE, team=world.team_c, caseworker=world.alice), by=world.alice
    )
    response = page("carol").get(reverse("web:approval-queue"), {"team": str(world.team_c.uuid)})
    assert response.context["approvals"] == [c]


def test_carol_approves_a_request_on_a_team_a_case(page, world, a_approval, a_case):
    version = a_case.version
    client = page("carol")
    events = AuditEvent.objects.count()
    response = decide(client, a_approval, decision="approve", comment="Fine.")
    assert response.status_code == 302
    assert response["Location"] == reverse("web:approval-queue")
    a_approval.refresh_from_db()
    assert a_approval.status == ApprovalStatus.APPROVED
    assert a_approval.decided_by == world.carol
    assert a_approval.comment == "Fine."
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert event.action == "approval.approve"
    assert event.case_number == a_case.case_number
    assert event.actor == world.carol
    assert Case.objects.get(pk=a_case.pk).version == version + 1
    assert any(a_case.case_number in m for m in flash(response))


def test_after_deciding_carol_goes_back_where_she_came_from(page, world, a_approval):
    queue = reverse("web:approval-queue") + f"?team={world.team_a.uuid}"
    response = decide(page("carol"), a_approval, decision="approve", next=queue)
    assert response["Location"] == queue
    other = requested(a_approval.case, by=world.alice, kind="closure")  # a fresh request
    evil = decide(page("carol"), other, decision="approve", next="https://evil.example/")
    assert evil["Location"] == reverse("web:approval-queue")


def test_a_rejection_needs_a_comment(page, world, a_approval):
    client = page("carol")
    events = AuditEvent.objects.count()
    response = decide(client, a_approval, decision="reject", comment="  ")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Comment: Say why the request is rejected." in html
    a_approval.refresh_from_db()
    assert a_approval.status == ApprovalStatus.REQUESTED
    assert a_approval.decided_by is None
    assert AuditEvent.objects.count() == events


def test_a_rejection_with_a_comment_is_written(page, world, a_approval):
    response = decide(page("carol"), a_approval, decision="reject", comment="Plan is thin.")
    assert response.status_code == 302
    a_approval.refresh_from_db()
    assert a_approval.status == ApprovalStatus.REJECTED
    assert a_approval.comment == "Plan is thin."
    assert AuditEvent.objects.filter(action="approval.reject").count() == 1


def test_no_one_decides_their_own_request(page, world, a_case):
    own = requested(a_case, by=world.carol)
    client = page("carol")
    events = AuditEvent.objects.count()
    page_html = client.get(reverse("web:approval-decide", args=[own.uuid])).content
    assert b"your own request" in page_html
    response = decide(client, own, decision="approve")
    assert response.status_code == 400
    assert "You cannot approve a request you made yourself." in response.content.decode()
    own.refresh_from_db()
    assert own.status == ApprovalStatus.REQUESTED
    assert AuditEvent.objects.count() == events


def test_a_request_already_decided_is_not_decided_again(page, world, a_approval):
    decide(page("mona"), a_approval, decision="approve")
    client = page("carol")
    events = AuditEvent.objects.count()
    response = decide(client, a_approval, decision="reject", comment="No.")
    assert response.status_code == 400
    assert "already been decided" in response.content.decode()
    a_approval.refresh_from_db()
    assert a_approval.status == ApprovalStatus.APPROVED
    assert a_approval.decided_by == world.mona
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Decision: Choose approve or reject."),
        ({"decision": ""}, "Decision: Choose approve or reject."),
        ({"decision": "maybe"}, "Decision: Select a valid choice."),
    ],
)
def test_a_decision_must_be_approve_or_reject(page, a_approval, data, message):
    client = page("carol")
    events = AuditEvent.objects.count()
    response = decide(client, a_approval, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert Approval.objects.get(pk=a_approval.pk).status == ApprovalStatus.REQUESTED
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["bob", "alice", "xavier", "audrey", "root"])
def test_who_does_not_supervise_the_team_can_neither_see_nor_decide(page, a_approval, persona):
    client = page(persona)
    assert client.get(reverse("web:approval-decide", args=[a_approval.uuid])).status_code == 404
    assert decide(client, a_approval, decision="approve").status_code == 404
    assert Approval.objects.get(pk=a_approval.pk).status == ApprovalStatus.REQUESTED


def test_carol_cannot_decide_a_team_b_request_but_mona_can(page, world, make_case):
    b = requested(make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob), by=world.bob)
    assert decide(page("carol"), b, decision="approve").status_code == 404
    assert Approval.objects.get(pk=b.pk).status == ApprovalStatus.REQUESTED
    assert decide(page("mona"), b, decision="approve").status_code == 302
    assert Approval.objects.get(pk=b.pk).status == ApprovalStatus.APPROVED


def test_an_unknown_approval_is_404(page):
    url = reverse("web:approval-decide", args=["00000000-0000-0000-0000-000000000000"])
    assert page("carol").get(url).status_code == 404


def test_anonymous_decisions_go_to_the_login_page(client, a_approval):
    response = decide(client, a_approval, decision="approve")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("web:login"))
    assert Approval.objects.get(pk=a_approval.pk).status == ApprovalStatus.REQUESTED


# --- reassignment -----------------------------------------------------------------------------


def test_the_reassign_page_offers_only_other_caseworkers_of_the_team(page, world, dora, a_case):
    response = page("carol").get(reverse("web:reassign", args=[a_case.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="dora">dora</option>' in html
    assert 'value="alice"' not in html  # she holds it already
    assert 'value="bob"' not in html  # team B
    assert f'name="version" value="{a_case.version}"' in html


def test_carol_moves_a_case_to_another_caseworker_of_its_team(page, world, dora, a_case):
    client = page("carol")
    events = AuditEvent.objects.count()
    response = reassign(client, a_case, caseworker="dora", version=a_case.version)
    assert response.status_code == 302
    assert response["Location"] == reverse("web:workload")
    a_case.refresh_from_db()
    assert a_case.caseworker == dora
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.case_number, event.actor) == (
        "case.assign",
        a_case.case_number,
        world.carol,
    )
    assert any("dora" in m for m in flash(response))


def test_a_stale_version_says_so_and_writes_nothing(page, world, dora, a_case):
    stale = a_case.version
    Case.objects.filter(pk=a_case.pk).update(version=stale + 1)  # someone else saved meanwhile
    client = page("carol")
    events = AuditEvent.objects.count()
    response = reassign(client, a_case, caseworker="dora", version=stale)
    assert response.status_code == 400
    html = response.content.decode()
    assert "changed by someone else" in html
    assert f'name="version" value="{stale + 1}"' in html  # sending again acts on what is shown
    a_case.refresh_from_db()
    assert a_case.caseworker == world.alice
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"caseworker": "bob"}, "New caseworker: Choose one of the team&#x27;s caseworkers."),
        ({"caseworker": "alice"}, "New caseworker: Choose one of the team&#x27;s caseworkers."),
        ({"caseworker": ""}, "New caseworker: Choose the caseworker who takes the case."),
        ({"caseworker": "dora", "version": "x"}, "Version: "),
        ({"caseworker": "dora", "version": ""}, "Version: "),
    ],
)
def test_bad_input_is_refused_naming_the_field(page, world, dora, a_case, data, message):
    data = {"version": a_case.version, **data}
    client = page("carol")
    events = AuditEvent.objects.count()
    response = reassign(client, a_case, **data)
    assert response.status_code == 400
    assert message in response.content.decode()
    a_case.refresh_from_db()
    assert a_case.caseworker == world.alice
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("persona", ["alice", "bob", "xavier", "audrey", "root"])
def test_only_supervisors_reassign(page, world, dora, a_case, persona):
    response = reassign(page(persona), a_case, caseworker="dora", version=a_case.version)
    assert response.status_code == 404
    assert Case.objects.get(pk=a_case.pk).caseworker == world.alice


def test_carol_cannot_reassign_a_team_b_case(page, world, make_case):
    b_case = make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    assert page("carol").get(reverse("web:reassign", args=[b_case.pk])).status_code == 404
    assert reassign(page("carol"), b_case, caseworker="bob", version=1).status_code == 404


def test_mona_reassigns_within_team_b(page, world, make_case):
    other = f.UserFactory(username="bert")
    f.MembershipFactory(user=other, role=Role.CASEWORKER, team=world.team_b)
    b_case = make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob)
    response = reassign(page("mona"), b_case, caseworker="bert", version=b_case.version)
    assert response.status_code == 302
    assert Case.objects.get(pk=b_case.pk).caseworker == other


# --- workload ---------------------------------------------------------------------------------


def test_workload_counts_each_caseworkers_open_cases(page, world, dora, make_case):
    make_case(Stage.INTAKE)
    monitoring = make_case(Stage.MONITORING, risk_level="high")
    overdue_contact(monitoring)
    overdue_contact(monitoring, days=2)
    make_case(Stage.TRAINING, team=world.team_c, caseworker=world.alice)
    make_case(Stage.CLOSED)  # closed: not counted
    make_case(Stage.INTAKE, team=world.team_a, caseworker=dora)
    nobody = make_case(Stage.SCREENING, team=world.team_c, caseworker=None)
    make_case(Stage.INTAKE, team=world.team_b, caseworker=world.bob)  # not carol's
    response = page("carol").get(reverse("web:workload"))
    loads = {row["key"]: row["load"] for row in response.context["rows"]}
    assert set(loads) == {"alice", "dora", "-"}
    alice = loads["alice"]
    assert alice.open_cases == 3
    assert alice.by_stage == {"intake": 1, "screening": 0, "training": 1, "monitoring": 1}
    assert alice.overdue_contacts == 2
    assert alice.high_risk == 1
    assert alice.teams == ["Team A", "Team C"]
    assert loads["dora"].open_cases == 1
    assert loads["dora"].teams == ["Team A"]
    assert loads["-"].open_cases == 1
    assert loads["-"].by_stage["screening"] == 1
    html = response.content.decode()
    assert re.search(r"alice</a>.*?<td class=\"num\">3</td>", html, re.S)
    assert "bob" not in html
    only_c = page("carol").get(reverse("web:workload"), {"team": str(world.team_c.uuid)})
    loads_c = {row["key"]: row["load"] for row in only_c.context["rows"]}
    assert loads_c["alice"].open_cases == 1
    assert "dora" not in loads_c
    assert nobody.case_number not in html  # cases are listed only for a chosen caseworker


def test_workload_lists_a_caseworkers_cases_with_reassign_forms(page, world, dora, make_case):
    mine = make_case(Stage.INTAKE)
    in_c = make_case(Stage.INTAKE, team=world.team_c, caseworker=world.alice)
    response = page("carol").get(reverse("web:workload"), {"caseworker": "alice"})
    html = response.content.decode()
    assert reverse("web:reassign", args=[mine.pk]) in html
    found = re.search(
        rf'<form method="post" action="{reverse("web:reassign", args=[mine.pk])}".*?</form>',
        html,
        re.S,
    )
    assert found
    form = found.group(0)
    assert '<option value="dora">dora</option>' in form
    assert f'<label for="caseworker-{mine.pk}"' in form
    assert f'name="version" value="{mine.version}"' in form
    # team C has no other caseworker than alice: nobody to give it to
    assert in_c.case_number in html
    assert reverse("web:reassign", args=[in_c.pk]) not in html
    assert "No other caseworker in the team" in html


def test_workload_for_someone_outside_the_teams_is_404(page, world):
    assert page("carol").get(reverse("web:workload"), {"caseworker": "bob"}).status_code == 404
