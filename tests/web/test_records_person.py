"""Changing the person's identity and profile: opening the form is an audited identity read
that needs a reason; the save and its conflicts go through ``returnee_update``."""

from __future__ import annotations

import pytest

from cases.models import AuditEvent, Returnee, Stage
from tests.web.test_records import edit_url, form_values, tab_url

REASON = "Correcting the phone number after a call"


@pytest.fixture
def case(make_case):
    return make_case(Stage.SCREENING)


def url_for(case):
    return edit_url(case, "person", case.returnee.uuid)


def reveal(client, case, reason=REASON):
    return client.post(url_for(case), {"step": "reveal", "reason": reason})


def identity_reads(case):
    return AuditEvent.objects.filter(action="identity.reveal", case_number=case.case_number)


def test_opening_the_form_asks_why_and_shows_no_identity(page, case):
    alice = page("alice")
    response = alice.get(url_for(case))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'name="reason"' in body
    assert '<label for="id_reason">' in body
    person = case.returnee
    for value in (person.given_name, person.family_name, person.national_id, person.phone):
        assert value not in body
    assert not identity_reads(case).exists()


def test_a_reason_is_required_and_a_refused_reveal_is_not_recorded(page, case):
    alice = page("alice")
    for reason in ("", "why"):
        response = reveal(alice, case, reason)
        assert response.status_code == 400
        body = response.content.decode()
        assert "Why do you need to see this person&#x27;s identity?" in body.split("</ul>")[0]
        assert case.returnee.given_name not in body
    assert not identity_reads(case).exists()


def test_revealing_records_the_read_with_its_reason_and_fills_the_form(page, case, world):
    alice = page("alice")
    response = reveal(alice, case)
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    values = form_values(response)
    assert values["given_name"] == ["Omar"]
    assert values["national_id"] == [case.returnee.national_id]
    assert values["date_of_birth"] == ["1990-05-17"]
    assert values["version"] == [str(case.version)]
    assert values["reason"] == [REASON]
    assert values["step"] == ["save"]
    (event,) = identity_reads(case)
    assert event.actor_id == world.alice.pk
    assert event.detail == {"reason": REASON}
    assert 'autocomplete="off"' in response.content.decode()


def test_saving_changes_the_person_and_audits_the_field_names_only(page, case, world):
    alice = page("alice")
    data = form_values(reveal(alice, case))
    data["phone"] = ["+9647701234567"]
    data["current_district"] = ["Tel Afar"]
    events = AuditEvent.objects.count()

    response = alice.post(url_for(case), data)

    assert response.status_code == 302
    assert response.url == tab_url(case, "intake")
    person = Returnee.objects.get(pk=case.returnee_id)
    assert (person.phone, person.current_district) == ("+9647701234567", "Tel Afar")
    assert AuditEvent.objects.count() == events + 1
    event = AuditEvent.objects.latest("id")
    assert (event.action, event.fields) == ("returnee.update", ["current_district", "phone"])
    assert "+9647701234567" not in str(event.detail)


def test_bad_person_input_is_refused_naming_the_field(page, case):
    alice = page("alice")
    data = form_values(reveal(alice, case))
    data["year_of_birth"] = ["1850"]
    data["date_of_birth"] = ["17.05.1990"]
    data["return_pathway"] = ["teleported"]
    events, version = AuditEvent.objects.count(), case.returnee.version

    response = alice.post(url_for(case), data)

    assert response.status_code == 400
    summary = response.content.decode().split('id="errors"', 1)[1].split("</div>", 1)[0]
    for label in ("Year of birth", "Date of birth", "Return pathway"):
        assert label in summary
    assert AuditEvent.objects.count() == events
    person = Returnee.objects.get(pk=case.returnee_id)
    assert (person.year_of_birth, person.version) == (1990, version)


def test_saving_without_the_reason_is_refused(page, case):
    alice = page("alice")
    data = form_values(reveal(alice, case))
    data["reason"] = [""]
    data["skills"] = ["Welding"]
    response = alice.post(url_for(case), data)
    assert response.status_code == 400
    assert "Reason: This field is required." in response.content.decode()
    assert Returnee.objects.get(pk=case.returnee_id).skills == ""


def test_two_people_editing_the_person_get_a_conflict_with_both_versions(page, case):
    alice, carol = page("alice"), page("carol")
    first, second = form_values(reveal(alice, case)), form_values(reveal(carol, case))
    first["family_name"] = ["al-Jubouri"]
    second["household_size"] = ["6"]
    assert alice.post(url_for(case), first).status_code == 302
    reads, events = identity_reads(case).count(), AuditEvent.objects.count()

    response = carol.post(url_for(case), second)

    assert response.status_code == 409
    body = response.content.decode()
    yours = body.split('id="conflict-yours"', 1)[1].split('id="conflict-current"', 1)[0]
    current = body.split('id="conflict-current"', 1)[1].split("</section>", 1)[0]
    assert "al-Obeidi" in yours
    assert "al-Jubouri" in current
    assert "<mark>6</mark>" in yours
    again = form_values(response)
    assert again["household_size"] == ["6"]
    assert again["version"] == [str(case.__class__.objects.get(pk=case.pk).version)]
    # Showing the current identity is one more audited read, with the same reason; the
    # refused save wrote nothing.
    assert identity_reads(case).count() == reads + 1
    assert AuditEvent.objects.count() == events + 1
    person = Returnee.objects.get(pk=case.returnee_id)
    assert (person.family_name, person.household_size) == ("al-Jubouri", None)


def test_out_of_scope_users_cannot_reveal(page, case):
    outsiders = [page(name) for name in ("bob", "xavier", "audrey", "root")]
    for client in outsiders:
        assert reveal(client, case).status_code == 404
        assert client.post(url_for(case), {"step": "save", "reason": REASON}).status_code == 404
    assert not identity_reads(case).exists()


def test_a_closed_case_can_be_read_but_not_changed(page, make_case):
    closed = make_case(Stage.CLOSED)
    alice = page("alice")
    data = form_values(reveal(alice, closed))
    data["skills"] = ["Welding"]
    response = alice.post(url_for(closed), data)
    assert response.status_code == 400
    assert "The case is closed" in response.content.decode()
    assert Returnee.objects.get(pk=closed.returnee_id).skills == ""


def test_the_date_of_birth_is_a_date_input(page, case):
    body = reveal(page("alice"), case).content.decode()
    assert 'type="date" name="date_of_birth" value="1990-05-17"' in body
