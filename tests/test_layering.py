"""The layers hold: tasks import services, never the other way round.

Services queue Celery work by the task's registered name (``cases.services.queue``), so no
module under ``cases/services`` imports ``cases.tasks``, and none needs an import inside a
function to dodge a cycle. These tests read the source (no import runs) and fail naming the
file and line of whatever breaks that.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "cases" / "services"
TASKS_MODULE = "cases.tasks"
# The functions of cases.services.queue that take a task's registered name first.
QUEUEING = frozenset({"enqueue_on_commit", "enqueue_each_on_commit", "publish", "registered_task"})

# Imports of the project's own modules (cases, reintegration) that may stay inside a function
# under cases/services, as {(path relative to the repository, module imported): why}. Each
# entry is a cycle or a start-up cost someone chose to keep; anything else fails.
FUNCTION_LEVEL_ALLOWED: dict[tuple[str, str], str] = {}


def _modules() -> list[Path]:
    return sorted(SERVICES.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _package(path: Path) -> str:
    dotted = _dotted(path)
    return dotted if path.name == "__init__.py" else dotted.rpartition(".")[0]


def _imported(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The absolute names ``node`` imports: modules, and for ``from x import y`` also
    ``x.y`` (``y`` may be a submodule, as in ``from cases import tasks``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = _package(path).split(".")
        anchor = package[: len(package) - (node.level - 1)]
        base = ".".join([*anchor, base]) if base else ".".join(anchor)
    return [base, *(f"{base}.{alias.name}" for alias in node.names)]


def _function_level_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for inner in ast.walk(node):
                if isinstance(inner, ast.Import | ast.ImportFrom):
                    yield inner


def _imports_the_tasks(path: Path, node: ast.Import | ast.ImportFrom) -> bool:
    return any(
        name == TASKS_MODULE or name.startswith(f"{TASKS_MODULE}.")
        for name in _imported(path, node)
    )


def _is_project(name: str) -> bool:
    return name.split(".")[0] in ("cases", "reintegration")


def _relative(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def test_the_services_exist_where_this_test_looks():
    assert len(_modules()) > 20
    assert (SERVICES / "queue.py").exists()


@pytest.mark.parametrize("path", _modules(), ids=_relative)
def test_no_service_imports_the_tasks(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            if _imports_the_tasks(path, node):
                found.append(f"{_relative(path)}:{node.lineno}")
        elif isinstance(node, ast.Constant) and node.value == TASKS_MODULE:
            # importlib.import_module("cases.tasks") is the same import in disguise.
            found.append(f"{_relative(path)}:{node.lineno}")
    assert not found, f"services queue tasks by name (cases.services.queue): {found}"


def test_no_function_level_imports_of_the_project_in_services():
    found = {}
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in _function_level_imports(tree):
            module = _imported(path, node)[0]
            if _is_project(module):
                found[(_relative(path), module)] = node.lineno
    unexpected = {key: line for key, line in found.items() if key not in FUNCTION_LEVEL_ALLOWED}
    assert not unexpected, (
        "an import inside a function under cases/services (move it to the top of the module, "
        f"or allow it with its reason): {unexpected}"
    )
    stale = set(FUNCTION_LEVEL_ALLOWED) - set(found)
    assert not stale, f"allowed but no longer there: {stale}"


def test_the_walk_sees_every_spelling_of_importing_the_tasks():
    """The AST walk itself, on a made-up module under cases/services/outbox/."""
    module = SERVICES / "outbox" / "probe.py"
    source = (
        "from cases.services.audit import audit_record\n"
        "def queue():\n"
        "    from cases.tasks import webhook_deliver_task\n"
        "    from ... import tasks\n"
        "    from ...tasks import email_deliver_task\n"
        "    import cases.tasks\n"
        "    from ..queue import enqueue_on_commit\n"
    )
    inner = list(_function_level_imports(ast.parse(source)))
    assert [_imports_the_tasks(module, node) for node in inner] == [True, True, True, True, False]
    assert [_imported(module, node)[0] for node in inner][-1] == "cases.services.queue"


def _queued_task_names() -> dict[str, list[str]]:
    """Every task name passed to cases.services.queue, with where; a name that is not a
    literal is reported as such, since nothing could check it."""
    names: dict[str, list[str]] = {}
    for path in _modules():
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if called not in QUEUEING or path.name == "queue.py":
                continue
            first = node.args[0] if node.args else None
            key = (
                first.value
                if isinstance(first, ast.Constant) and isinstance(first.value, str)
                else "<not a literal>"
            )
            if path.name == "tasks_health.py" and called in ("publish", "registered_task"):
                # A dead letter's task is queued again by the name stored in its row, and
                # checked there against the tasks of cases/tasks.py.
                continue
            names.setdefault(key, []).append(f"{_relative(path)}:{node.lineno}")
    return names


def test_every_task_a_service_queues_by_name_is_registered():
    from reintegration.celery import app

    app.loader.import_default_modules()
    names = _queued_task_names()
    assert names, "no service queues a task: the walk is looking in the wrong place"
    assert "<not a literal>" not in names, names["<not a literal>"]
    unknown = {name: where for name, where in names.items() if name not in app.tasks}
    assert not unknown, f"queued by a name no task is registered as: {unknown}"


def test_a_process_that_never_imported_the_tasks_finds_them_by_name():
    """A web process imports no task module itself: the first lookup by name loads them."""
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from cases.services.queue import registered_task\n"
        "before = 'cases.tasks' in sys.modules\n"
        "task = registered_task('cases.email_deliver')\n"
        "print(before, task.name, registered_task('cases.no_such_task'))\n"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "reintegration.settings"}
    done = subprocess.run(  # noqa: S603 (this interpreter, fixed code)
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "cases.email_deliver", "None"]
