"""Task arguments carry ids only: nothing personal sits in the broker, the result store or the
worker's log (which prints a task's arguments). Checked on every registered ``cases.*`` task's
signature; the redelivery test also reads a real message in Redis."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

import pytest

from reintegration.celery import app

# A string parameter is allowed only when its name says it is an identifier.
ID_LIKE_STR_NAMES = frozenset({"case_number"})
ID_LIKE_STR_SUFFIXES = ("_id", "_uuid")


def argument_problems(function: Callable[..., Any]) -> list[str]:
    hints = typing.get_type_hints(function)
    problems = []
    for name, parameter in inspect.signature(function).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            problems.append(f"{name}: open-ended arguments")
            continue
        annotation = hints.get(name)
        if annotation is int:
            continue
        if annotation is str and (name in ID_LIKE_STR_NAMES or name.endswith(ID_LIKE_STR_SUFFIXES)):
            continue
        problems.append(f"{name}: {annotation!r} is not an id")
    return problems


def _our_tasks() -> dict[str, Any]:
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith("cases.")}


@pytest.mark.parametrize("name", sorted(_our_tasks()))
def test_every_task_takes_ids_only(name):
    task = app.tasks[name]
    function = getattr(task, "_orig_run", task.run)
    assert argument_problems(function) == []


def test_the_check_refuses_what_is_not_an_id():
    def careless(event_id: int, given_name: str, case_number: str, *rest: int) -> None: ...

    def payload(data: dict[str, str], note_uuid: str) -> None: ...

    assert argument_problems(careless) == [
        "given_name: <class 'str'> is not an id",
        "rest: open-ended arguments",
    ]
    assert argument_problems(payload) == ["data: dict[str, str] is not an id"]
