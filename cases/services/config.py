"""Writes to configuration (programmes, sites, teams, memberships, partners) made through the
admin: saved and audited together."""

from __future__ import annotations

from django.db import models, transaction

from cases.models import AuditAction
from cases.selectors import Actor

from .audit import audit_record


def _object_id(instance: models.Model) -> str:
    return str(getattr(instance, "uuid", None) or instance.pk)


@transaction.atomic
def config_save(*, actor: Actor, instance: models.Model, changed_fields: list[str]) -> None:
    adding = instance._state.adding
    instance.save()
    audit_record(
        actor=actor,
        action=AuditAction(f"{instance._meta.model_name}.{'create' if adding else 'update'}"),
        object_type=instance._meta.model_name or "",
        object_id=_object_id(instance),
        fields=changed_fields,
    )


@transaction.atomic
def config_delete(*, actor: Actor, instance: models.Model) -> None:
    object_id = _object_id(instance)
    instance.delete()
    audit_record(
        actor=actor,
        action=AuditAction(f"{instance._meta.model_name}.delete"),
        object_type=instance._meta.model_name or "",
        object_id=object_id,
    )
