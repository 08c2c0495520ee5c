"""Need-to-know: who sees which cases, decided in cases/selectors.py only."""

import datetime
from typing import Any

import pytest
from django.http import Http404

from cases import selectors
from cases.models import AuditAction


@pytest.fixture
def cases(world, make_case):
    return {
        "a": make_case(team=world.team_a),
        "b": make_case(team=world.team_b, caseworker=world.bob),
        "c": make_case(team=world.team_c),
        "x": make_case(team=world.team_x, caseworker=world.xavier),
    }


# persona -> the team letters whose cases they see
EXPECTED_SCOPE = {
    "alice": {"a", "c"},  # caseworker of teams A and C
    "bob": {"b"},  # caseworker of team B
    "carol": {"a", "c"},  # supervises A and C, not B
    "mona": {"a", "b", "c"},  # manages programme North, not South
    "audrey": set(),  # auditor: the log, no case data
    "xavier": {"x"},  # caseworker in programme South
    "ivan": set(),  # disabled account
    "root": set(),  # superuser without a role
}


@pytest.mark.parametrize(("persona", "visible"), EXPECTED_SCOPE.items())
def test_case_list_is_cut_to_the_personas_scope(world, cases, persona, visible):
    user = getattr(world, persona)
    listed = set(selectors.case_list(user=user).values_list("case_number", flat=True))
    assert listed == {cases[letter].case_number for letter in visible}


@pytest.mark.parametrize(("persona", "visible"), EXPECTED_SCOPE.items())
def test_case_get_raises_404_outside_scope_and_returns_the_case_inside(
    world, cases, persona, visible
):
    user = getattr(world, persona)
    for letter, case in cases.items():
        if letter in visible:
            assert selectors.case_get(user=user, case_number=case.case_number) == case
        else:
            with pytest.raises(Http404):
                selectors.case_get(user=user, case_number=case.case_number)


def test_anonymous_user_sees_no_cases(cases):
    from django.contrib.auth.models import AnonymousUser

    assert not selectors.case_list(user=AnonymousUser()).exists()
    assert not selectors.case_list(user=None).exists()


def test_unknown_case_number_is_404_like_an_out_of_scope_one(world, cases):
    with pytest.raises(Http404):
        selectors.case_get(user=world.mona, case_number="C-0000-0000")


def test_case_list_has_no_duplicates_for_users_with_several_paths_to_a_case(world, cases):
    """alice is a caseworker of A and C, carol supervises both: each case appears once."""
    for user in (world.alice, world.carol):
        numbers = list(selectors.case_list(user=user).values_list("case_number", flat=True))
        assert len(numbers) == len(set(numbers)) == 2


def test_security_findings_are_for_supervisors_and_managers_only(world, cases):
    case = cases["a"]
    assert selectors.can_read_security_findings(user=world.carol, case=case)
    assert selectors.can_read_security_findings(user=world.mona, case=case)
    assert not selectors.can_read_security_findings(user=world.alice, case=case)
    assert not selectors.can_read_security_findings(user=world.bob, case=case)


def test_only_auditors_read_the_audit_log(world, cases):
    from django.db import transaction

    from cases.models import AuditEvent
    from cases.services.audit import audit_record

    with transaction.atomic():
        audit_record(
            actor=world.alice, action=AuditAction.DEMO_SEED, object_type="x", object_id="1"
        )
    assert selectors.audit_event_list(user=world.audrey).count() == AuditEvent.objects.count()
    for persona in ("alice", "carol", "mona", "root"):
        assert not selectors.audit_event_list(user=getattr(world, persona)).exists()


def test_case_list_uses_one_query_whatever_the_number_of_memberships(
    world, cases, django_assert_num_queries
):
    with django_assert_num_queries(1):
        list(selectors.case_list(user=world.carol))


def test_overdue_means_the_local_day_for_the_badge_the_filter_and_the_supervisor(
    world, make_case, settings
):
    """At 01:00 in Baghdad (22:00 UTC the day before) a contact planned for yesterday is
    overdue for every reader: the caseload badge, the API's ``overdue`` filter, and the
    supervisor's totals. They once used UTC's date in some places and the local one in others."""
    import time_machine

    from cases.filters import CaseFilterSet
    from tests.factories import ContactFactory

    settings.TIME_ZONE = "Asia/Baghdad"
    case = make_case(team=world.team_a)
    ContactFactory(case=case, planned_date=datetime.date(2026, 11, 24))
    with time_machine.travel(datetime.datetime(2026, 11, 24, 22, 0, tzinfo=datetime.UTC)):
        # Cases annotated with their contact counts and dates.
        badge: Any = selectors.case_list_with_summary(user=world.alice).get(pk=case.pk)
        in_scope = selectors.case_list(user=world.alice)
        filtered = list(CaseFilterSet({"overdue": "true"}, queryset=in_scope).qs)
        totals = selectors.overdue_contact_totals(user=world.carol)
        row: Any = selectors.caseload_list(user=world.alice, mine=False).get(pk=case.pk)
    assert badge.overdue_contacts == 1
    assert filtered == [case]
    assert totals == {"contacts": 1, "cases": 1}
    assert row.next_contact_date is None  # overdue, so no longer the next contact
