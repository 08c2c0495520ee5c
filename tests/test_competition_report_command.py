"""``manage.py competition_report``: the summary as a terminal table, by programme name or
uuid, on a given date, with case numbers and never identity."""

import io

import pytest
from django.core.management import CommandError, call_command

from cases.models import Stage

from .conftest import case_at


def _run(*args):
    out = io.StringIO()
    call_command("competition_report", *args, stdout=out)
    return out.getvalue()


def test_prints_one_row_per_stage_and_the_cases_to_look_at_first(world):
    case = case_at(Stage.INTAKE, team=world.team_a, caseworker=world.alice)
    other = case_at(Stage.INTAKE, team=world.team_x, caseworker=world.xavier)
    person = case.returnee
    person.given_name, person.national_id = "Zubaida", "1987-1104-5521"
    person.save()

    text = _run("--programme", "North", "--date", "2026-11-20")

    assert "North: 1 open cases on 2026-11-20" in text
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("stage"))
    assert [lines[header + 2 + i].split()[0] for i in range(4)] == [
        "intake",
        "screening",
        "training",
        "monitoring",
    ]
    assert case.case_number in text
    assert "behind the group's repentance registration" in text
    assert other.case_number not in text
    assert "Zubaida" not in text
    assert "1987-1104-5521" not in text


def test_programme_by_uuid(world):
    case_at(Stage.INTAKE, team=world.team_x, caseworker=world.xavier)
    assert "South: 1 open cases" in _run("--programme", str(world.south.uuid))


def test_unknown_programme_is_an_error(world):
    with pytest.raises(CommandError, match="No programme named"):
        _run("--programme", "Nowhere")
