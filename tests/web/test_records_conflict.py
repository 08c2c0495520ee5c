"""Concurrent edits of a record: the second save of the same version shows both versions side
by side, keeps the user's values, writes nothing, and can then be applied on purpose."""

from __future__ import annotations

import re

import pytest

from cases.models import AuditEvent, Stage, TrainingEnrolment
from tests import factories as f
from tests.web.test_records import TODAY, edit_url, form_values


def _sections(body: str) -> tuple[str, str]:
    yours = body.split('id="conflict-yours"', 1)[1].split('id="conflict-current"', 1)[0]
    current = body.split('id="conflict-current"', 1)[1].split("</section>", 1)[0]
    return yours, current


@pytest.fixture
def editable(world, make_case):
    case = make_case(Stage.TRAINING)
    return {
        "case": case,
        "intake": case.intake,
        "screening": f.ScreeningFactory(case=case, assessed_by=world.alice),
        "enrolment": TrainingEnrolment.objects.create(
            case=case, course="Carpentry", provider="Mosul VTC", start_date=TODAY
        ),
        "contact": f.ContactFactory(case=case, planned_date=TODAY),
    }


# kind → a text field both users change
FIELD = {
    "intake": "notes",
    "screening": "decision_reason",
    "enrolment": "certificate",
    "contact": "concerns",
}


@pytest.mark.parametrize("kind", sorted(FIELD))
def test_the_second_save_of_a_version_shows_both_versions_and_writes_nothing(kind, page, editable):
    case, record, field = editable["case"], editable[kind], FIELD[kind]
    url = edit_url(case, kind, record.uuid)
    alice, carol = page("alice"), page("carol")
    first, second = form_values(alice.get(url)), form_values(carol.get(url))
    first[field] = ["Change made first"]
    second[field] = ["Change made second"]

    assert alice.post(url, first).status_code == 302
    events = AuditEvent.objects.count()
    response = carol.post(url, second)

    assert response.status_code == 409
    body = response.content.decode()
    assert 'class="conflict"' in body
    yours, current = _sections(body)
    assert "Your changes" in yours
    assert "Change made second" in yours
    assert "Current saved version" in current
    assert "Change made first" in current
    assert "Change made first" not in yours
    # The differing value is highlighted on both sides.
    assert "<mark>Change made second</mark>" in yours
    assert "<mark>Change made first</mark>" in current
    # The form keeps the user's values, and now carries the current version.
    again = form_values(response)
    assert again[field] == ["Change made second"]
    assert again["version"] == ["2"]
    # Nothing of the second save reached the database or the log.
    record.refresh_from_db()
    assert getattr(record, field) == "Change made first"
    assert record.version == 2
    assert AuditEvent.objects.count() == events

    # Saving again, having seen the current version, applies the change on purpose.
    assert carol.post(url, again).status_code == 302
    record.refresh_from_db()
    assert (getattr(record, field), record.version) == ("Change made second", 3)


def test_a_conflict_shows_choices_and_lists_as_labels(page, editable):
    case, intake = editable["case"], editable["intake"]
    url = edit_url(case, "intake", intake.uuid)
    alice, carol = page("alice"), page("carol")
    first, second = form_values(alice.get(url)), form_values(carol.get(url))
    first["urgent_needs"] = ["shelter", "documents"]
    second["referral_source"] = ["family"]
    alice.post(url, first)

    yours, current = _sections(carol.post(url, second).content.decode())

    assert "Family" in yours
    assert "Camp authority" in current
    assert "Shelter, Documents" in current
    assert re.search(r"<dt>Urgent needs</dt><dd><mark>—</mark></dd>", yours)


def test_a_stale_version_that_changed_nothing_is_still_a_conflict(page, editable):
    """Even an unchanged form names the version it was read at: a save over a newer version
    is never silent."""
    case, enrolment = editable["case"], editable["enrolment"]
    url = edit_url(case, "enrolment", enrolment.uuid)
    alice, carol = page("alice"), page("carol")
    first, second = form_values(alice.get(url)), form_values(carol.get(url))
    first["attendance_percent"] = ["55"]
    alice.post(url, first)
    response = carol.post(url, second)
    assert response.status_code == 409
    yours, current = _sections(response.content.decode())
    assert "<dt>Attendance (%)</dt><dd><mark>—</mark></dd>" in yours
    assert "<mark>55</mark>" in current
    enrolment.refresh_from_db()
    assert enrolment.attendance_percent == 55


def test_a_tampered_version_is_refused_naming_it(page, editable):
    case, contact = editable["case"], editable["contact"]
    url = edit_url(case, "contact", contact.uuid)
    alice = page("alice")
    data = form_values(alice.get(url))
    data["version"] = ["not-a-number"]
    events = AuditEvent.objects.count()
    response = alice.post(url, data)
    assert response.status_code == 400
    assert "Version: Enter a whole number." in response.content.decode()
    assert AuditEvent.objects.count() == events
