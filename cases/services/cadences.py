"""Writes to a programme's monitoring cadences: each change is audited like any configuration
and re-plans the programme's cases in monitoring in the same transaction, so no case keeps a
plan made for a cadence that no longer holds."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from cases.models import Case, MonitoringCadence
from cases.selectors import Actor
from cases.services import monitoring

from .config import config_delete, config_save


def _programmes_replan(*, actor: Actor, programme_ids: set[int]) -> None:
    # Unscoped on purpose: a cadence holds for every case of its programme, whoever changed
    # it; re-planning is a consequence of the change, not a read shown to the actor.
    monitoring.cases_replan(
        Case.objects.filter(programme_id__in=programme_ids), actor=actor, reason="cadence"
    )


@transaction.atomic
def cadence_save(*, actor: Actor, cadence: MonitoringCadence, changed_fields: list[str]) -> None:
    """Create or update ``cadence`` (already validated: the database refuses a threat interval
    longer than the interval) and re-plan its programme's cases."""
    config_save(actor=actor, instance=cadence, changed_fields=changed_fields)
    _programmes_replan(actor=actor, programme_ids={cadence.programme_id})


@transaction.atomic
def cadences_delete(*, actor: Actor, cadences: Iterable[MonitoringCadence]) -> None:
    """Delete the cadences, each audited, then re-plan their programmes' cases once: those
    programmes fall back to the shipped default for those risk levels."""
    programme_ids: set[int] = set()
    for cadence in cadences:
        programme_ids.add(cadence.programme_id)
        config_delete(actor=actor, instance=cadence)
    _programmes_replan(actor=actor, programme_ids=programme_ids)
