"""Scope on the queryset, checked in the source: no view, form, serializer or admin module reads
case data through a bare manager. Case data starts from ``<Model>.objects.visible_to(user)`` or
a selector (``cases.selectors``), so a page or endpoint cannot forget need-to-know.

The case-data models come from the schema, not from a list here: ``Case``, ``Returnee`` and
every model with a foreign key or one-to-one to a case-data model (records, consent,
notifications, and the rows that hang off those), so a new model is covered the day it lands.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models
from django.shortcuts import get_list_or_404, get_object_or_404

from cases.models import Case, Returnee

ROOT = Path(__file__).resolve().parent.parent
SCANNED = ("cases/api", "cases/web", "cases/admin")
MANAGERS = frozenset({"objects", "_default_manager", "_base_manager"})
# Calls on a bare manager that read no case data: the scope itself, and an empty queryset.
ALLOWED_CALLS = frozenset({"visible_to", "none"})
UNKNOWN = "?"

# (module, model, why a bare read is right there). Keep it short: each entry is a place where
# scope cannot be expressed on the queryset, never a shortcut.
ALLOWED: tuple[tuple[str, str, str], ...] = (
    (
        "cases.api.surveys",
        "SurveyAnswer",
        "The prefetch only follows the answers of survey responses already cut to a case in "
        "the caller's scope.",
    ),
)


def case_data_models() -> frozenset[type[models.Model]]:
    """Case and Returnee, and every model that points at case data (transitively)."""
    found: set[type[models.Model]] = {Case, Returnee}
    grew = True
    while grew:
        grew = False
        for model in apps.get_models():
            if model in found:
                continue
            for field in model._meta.get_fields():
                related = field.related_model
                pointing = field.concrete and (field.many_to_one or field.one_to_one)
                if pointing and isinstance(related, type) and related in found:
                    found.add(model)
                    grew = True
                    break
    return frozenset(found)


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    module: str
    model: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.code} ({self.model})"


def scanned_files() -> Iterator[Path]:
    for name in SCANNED:
        package = ROOT / name
        if package.is_dir():
            yield from sorted(package.rglob("*.py"))
        elif package.with_suffix(".py").is_file():
            yield package.with_suffix(".py")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


class Resolver:
    """What a name or dotted expression in a module stands for: the module's globals, then
    imports made inside functions (resolved the same way Python would)."""

    def __init__(self, module: str, tree: ast.Module) -> None:
        self.namespace: dict[str, Any] = dict(vars(importlib.import_module(module)))
        package = module if module_is_package(module) else module.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = importlib.util.resolve_name("." * node.level + (node.module or ""), package)
            for alias in node.names:
                local = alias.asname or alias.name
                if local not in self.namespace:
                    self.namespace[local] = _import_attribute(source, alias.name)

    def resolve(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Name):
            return self.namespace.get(node.id, UNKNOWN)
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return UNKNOWN if base is UNKNOWN else getattr(base, node.attr, UNKNOWN)
        if isinstance(node, ast.Call) and self.resolve(node.func) is get_user_model:
            return get_user_model()
        return UNKNOWN


def module_is_package(module: str) -> bool:
    return hasattr(sys.modules[module], "__path__")


def _import_attribute(source: str, name: str) -> Any:
    """``from source import name``; UNKNOWN for what only type checkers import."""
    try:
        return getattr(importlib.import_module(source), name)
    except AttributeError:
        pass
    except ImportError:
        return UNKNOWN
    try:
        return importlib.import_module(f"{source}.{name}")
    except ImportError:
        return UNKNOWN


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, models.Model)


def findings_in(path: Path, case_data: frozenset[type[models.Model]]) -> Iterator[Finding]:
    module = module_name(path)
    source = path.read_text()
    tree = ast.parse(source, filename=str(path))
    resolver = Resolver(module, tree)
    parents = {child: parent for parent in ast.walk(tree) for child in ast.iter_child_nodes(parent)}
    relative = str(path.relative_to(ROOT))
    lines = source.splitlines()

    def finding(node: ast.expr, model: str) -> Finding:
        return Finding(relative, node.lineno, module, model, lines[node.lineno - 1].strip())

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in MANAGERS:
            parent = parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.attr in ALLOWED_CALLS:
                continue
            owner = resolver.resolve(node.value)
            if _is_model(owner) and owner not in case_data:
                continue
            yield finding(node, owner.__name__ if _is_model(owner) else UNKNOWN)
        elif isinstance(node, ast.Call) and node.args:
            if resolver.resolve(node.func) not in (get_object_or_404, get_list_or_404):
                continue
            owner = resolver.resolve(node.args[0])
            if _is_model(owner) and owner in case_data:
                yield finding(node, owner.__name__)


def test_case_data_models_come_from_the_schema() -> None:
    names = {model.__name__ for model in case_data_models()}
    assert {"Case", "Returnee", "ConsentRecord", "IntakeRecord", "MonitoringContact"} <= names
    assert {"SurveyAnswer", "PlanGoal", "Notification"} <= names
    assert not {"Programme", "Team", "PartnerOrganisation", "Benchmark"} & names


def test_views_forms_serializers_and_admin_read_case_data_through_scope() -> None:
    case_data = case_data_models()
    allowed = {(module, model) for module, model, _reason in ALLOWED}
    found = sorted(
        (finding for path in scanned_files() for finding in findings_in(path, case_data)),
        key=lambda f: (f.path, f.line),
    )
    offending = [f for f in found if (f.module, f.model) not in allowed]
    assert not offending, (
        "Case data read through a bare manager (start from <Model>.objects.visible_to(user) or "
        "a selector in cases.selectors, or add an entry with its reason to ALLOWED):\n"
        + "\n".join(str(f) for f in offending)
    )
    used = {(f.module, f.model) for f in found}
    stale = sorted(allowed - used)
    assert not stale, f"ALLOWED entries that match nothing any more: {stale}"


def test_allowed_entries_each_give_one_reason() -> None:
    for module, model, reason in ALLOWED:
        assert module.startswith(("cases.api", "cases.web", "cases.admin")), module
        assert model == UNKNOWN or apps.get_model("cases", model) is not None
        assert reason.endswith("."), reason
        assert reason.count(". ") == 0, reason
