"""Helpers every write service shares: validation, optimistic locking, role checks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction

from cases import selectors, validators
from cases.models import Case, Role, Stage
from cases.selectors import Actor

from .errors import ActionNotAllowed, DomainError, StaleVersion


def choices_list(value: Any, choices: type[models.TextChoices], *, field: str) -> list[str]:
    """Check that ``value`` is a list of distinct values of ``choices``."""
    if value is None:
        return []
    if not isinstance(value, (list, tuple)):
        raise ValidationError({field: "Must be a list."})
    allowed = set(choices.values)
    unknown = [item for item in value if item not in allowed]
    if unknown:
        raise ValidationError(
            {field: f"Unknown value(s) {unknown!r}; choose from {sorted(allowed)}."}
        )
    return list(dict.fromkeys(value))


def only_fields(
    data: Mapping[str, Any], allowed: Iterable[str], *, prefix: str = ""
) -> dict[str, Any]:
    """A copy of ``data``, refusing any key not in ``allowed`` with an error naming it."""
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise ValidationError(
            {f"{prefix}.{name}" if prefix else name: "Unknown field." for name in unknown}
        )
    return dict(data)


def validated(
    instance: models.Model,
    *,
    exclude: Iterable[str] = (),
    queries: bool = True,
    changed: Iterable[str] | None = None,
) -> models.Model:
    """Run the model's field and constraint validation and the input rules every way in shares
    (``cases.validators``); raises ValidationError per field. ``queries=False`` leaves out the
    checks that need the database (uniqueness, constraints): a bulk import checks those as a
    set. ``changed`` (an update) limits the input rules to the fields being written: a value
    stored earlier is not refused for an edit of another field."""
    exclude = list(exclude)
    refused: dict[str, list[Any]] = {}
    try:
        instance.full_clean(exclude=exclude, validate_unique=queries, validate_constraints=queries)
    except ValidationError as exc:
        exc.update_error_dict(refused)
    # On the values full_clean converted; a field it refused already has its message.
    if changed is not None:
        unchanged = {f.name for f in instance._meta.concrete_fields} - set(changed)
        exclude = [*exclude, *unchanged]
    for name, messages in validators.instance_errors(instance, exclude=exclude).items():
        refused.setdefault(name, list(messages))
    if refused:
        raise ValidationError(refused)
    return instance


def check_version(instance: Any, expected_version: int | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise StaleVersion(expected=expected_version, current=instance.version)


def apply_changes(
    instance: models.Model, changes: Mapping[str, Any], *, allowed: Iterable[str]
) -> list[str]:
    """Set the allowed attributes that differ; return the names that changed."""
    allowed = set(allowed)
    unknown = sorted(set(changes) - allowed)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    changed = []
    for name, value in changes.items():
        if getattr(instance, name) != value:
            setattr(instance, name, value)
            changed.append(name)
    return changed


def require_roles(*, actor: Actor, case: Case, roles: Iterable[Role], action: str) -> None:
    """``actor`` is known to see ``case``; refuse the action unless they hold one of ``roles``."""
    held = selectors.roles_on_case(user=actor, case=case)
    if not held & set(roles):
        raise ActionNotAllowed(f"Your role does not allow you to {action}.")


def require_open(case: Case) -> None:
    if case.stage == Stage.CLOSED:
        raise DomainError("The case is closed; its records can no longer change.", code="closed")


def insert_with_fresh_reference(
    instance: models.Model, *, field: str, make: Callable[[], str], attempts: int = 5
) -> None:
    """Insert a row whose random reference (case or person number) might, very rarely, be
    taken already: draw a new one and try again instead of failing the whole request."""
    model = type(instance)
    for attempt in range(attempts):
        try:
            with transaction.atomic():
                instance.save(force_insert=True)
            return
        except IntegrityError:
            taken = model._default_manager.filter(**{field: getattr(instance, field)}).exists()
            if not taken or attempt == attempts - 1:
                raise
            setattr(instance, field, make())


def lock_case(case: Case) -> Case:
    """Re-read ``case`` with a row lock, so concurrent writers queue instead of racing."""
    return Case.objects.select_for_update().select_related("returnee", "programme").get(pk=case.pk)


def save_versioned(instance: models.Model, fields: Iterable[str] = ()) -> None:
    """Save the changed ``fields`` of a versioned row with its version moved on: the one way an
    edit commits, so the next writer holding the old version is refused (``check_version``)
    instead of silently overwriting. ``updated_at`` moves too where the model keeps one."""
    instance.version += 1  # type: ignore[attr-defined]
    update_fields = [*fields, "version"]
    if any(field.name == "updated_at" for field in instance._meta.concrete_fields):
        update_fields.append("updated_at")
    instance.save(update_fields=update_fields)


def bump_case_version(case: Case, *fields: str) -> None:
    """Move the case's version on: any change to its records is a change to the case file."""
    save_versioned(case, fields)
