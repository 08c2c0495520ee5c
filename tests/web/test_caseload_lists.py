"""Working lists (saved caseload filters): saved through the service, validated by the API's
filterset, audited without personal data, and private to their owner."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cases.models import AuditEvent, Stage, WorkingList
from cases.services.lists import working_list_create, working_list_query

CASELOAD = reverse("web:caseload")
CREATE = reverse("web:working-list-create")


def counts():
    return WorkingList.objects.count(), AuditEvent.objects.count()


@pytest.fixture
def alices_list(world):
    return working_list_create(
        actor=world.alice, name="Overdue in training", query="stage=training&overdue=true"
    )


def test_saving_the_current_filters_creates_a_list_and_shows_it(page, world, make_case):
    make_case(Stage.TRAINING)
    client = page("alice")
    body = client.get(CASELOAD, {"stage": "training", "overdue": "true"}).content.decode()
    assert 'name="query" value="overdue=true&amp;stage=training"' in body

    response = client.post(
        CREATE, {"name": "  Overdue in training ", "query": "stage=training&overdue=true"}
    )

    saved = WorkingList.objects.get()
    assert (saved.owner, saved.name, saved.query) == (
        world.alice,
        "Overdue in training",
        "overdue=true&stage=training",
    )
    assert response.status_code == 302
    assert response["Location"] == f"{CASELOAD}?overdue=true&stage=training"
    page_body = client.get(response["Location"]).content.decode()
    assert "Saved the working list" in page_body
    assert 'href="/caseload/?overdue=true&amp;stage=training" aria-current="true"' in page_body
    assert ">Overdue in training</a>" in page_body


def test_saving_is_audited_without_personal_data(page, world):
    page("alice").post(
        CREATE, {"name": "Omar's family", "query": "district=Sinjar&case_number=C-1234"}
    )
    event = AuditEvent.objects.get(action="working_list.create")
    saved = WorkingList.objects.get()
    assert event.actor == world.alice
    assert event.object_id == str(saved.uuid)
    assert event.detail == {"filters": ["case_number", "district"]}
    flat = str(event.content())
    for value in ("Omar", "Sinjar", "C-1234"):
        assert value not in flat


@pytest.mark.parametrize(
    ("data", "field_text"),
    [
        ({"name": "", "query": "stage=training"}, "Name of the working list: "),
        ({"name": "   ", "query": "stage=training"}, "Name of the working list: "),
        ({"name": "x" * 81, "query": "stage=training"}, "Name of the working list: "),
        ({"name": "Fine", "query": "stage=limbo"}, "Filter “stage”"),
        ({"name": "Fine", "query": "team=not-a-uuid"}, "Filter “team”"),
        ({"name": "Fine", "query": "colour=blue"}, "Unknown filter: colour"),
        ({"name": "Fine", "query": "scope=everyone"}, "Filter “scope”"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(page, world, data, field_text):
    client = page("alice")
    before = counts()
    response = client.post(CREATE, data)
    assert response.status_code == 200
    body = response.content.decode()
    assert 'class="errorlist' in body
    errors = body[body.index('<form class="card save-list"') :].split("</form>", 1)[0]
    assert f"{field_text}" in errors
    assert f"<li>{field_text}" in errors or f"Filters: {field_text}" in errors
    assert counts() == before


def test_a_duplicate_name_is_refused_on_the_name(page, world, alices_list):
    client = page("alice")
    before = counts()
    response = client.post(CREATE, {"name": "Overdue in training", "query": ""})
    body = response.content.decode()
    assert "You already have a working list with this name." in body
    assert body.index("You already have") > body.index('<form class="card save-list"')
    assert counts() == before


def test_the_same_name_is_free_for_another_user(page, world, alices_list):
    response = page("bob").post(CREATE, {"name": "Overdue in training", "query": ""})
    assert response.status_code == 302
    assert WorkingList.objects.filter(owner=world.bob).count() == 1


def test_lists_are_private_to_their_owner(page, world, alices_list):
    bob = page("bob")
    others = [page(persona) for persona in ("carol", "mona", "root")]
    body = bob.get(CASELOAD).content.decode()
    assert "Overdue in training" not in body
    assert str(alices_list.uuid) not in body
    open_url = reverse("web:working-list-open", args=[alices_list.uuid])
    delete_url = reverse("web:working-list-delete", args=[alices_list.uuid])
    assert bob.get(open_url).status_code == 404
    before = counts()
    assert bob.post(delete_url).status_code == 404
    assert counts() == before
    for other in others:
        assert other.get(open_url).status_code == 404
        assert other.post(delete_url).status_code == 404
    assert counts() == before


def test_the_owner_opens_a_list_by_its_address(page, alices_list):
    response = page("alice").get(reverse("web:working-list-open", args=[alices_list.uuid]))
    assert response.status_code == 302
    assert response["Location"] == f"{CASELOAD}?overdue=true&stage=training"


def test_the_owner_deletes_a_list_and_it_is_audited(page, world, alices_list):
    response = page("alice").post(reverse("web:working-list-delete", args=[alices_list.uuid]))
    assert response.status_code == 302
    assert response["Location"] == CASELOAD
    assert not WorkingList.objects.exists()
    event = AuditEvent.objects.get(action="working_list.delete")
    assert event.object_id == str(alices_list.uuid)
    assert event.detail == {}


def test_delete_needs_post(page, alices_list):
    url = reverse("web:working-list-delete", args=[alices_list.uuid])
    assert page("alice").get(url).status_code == 405
    assert WorkingList.objects.count() == 1


def test_the_list_links_sit_beside_the_caseload_with_a_delete_button(page, alices_list):
    body = page("alice").get(CASELOAD).content.decode()
    aside = body[body.index('<aside class="card caseload-lists"') :]
    assert 'href="/caseload/?overdue=true&amp;stage=training"' in aside
    delete_url = reverse("web:working-list-delete", args=[alices_list.uuid])
    assert f'<form method="post" action="{delete_url}">' in aside


def test_the_query_is_canonical_and_checked_by_the_filterset():
    with pytest.raises(ValidationError) as refused:
        working_list_query("page=2")
    assert "query" in refused.value.message_dict
    assert working_list_query("stage=training&scope=all&stage=intake&district=") == (
        "scope=all&stage=intake&stage=training"
    )
    with pytest.raises(ValidationError):
        working_list_query("scope=mine&scope=all")
