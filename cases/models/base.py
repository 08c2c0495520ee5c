"""What every record of the domain has in common, declared once."""

from __future__ import annotations

import uuid

from django.db import models

from .querysets import CaseRecordQuerySet


class PublicIdModel(models.Model):
    """A row with a pseudonymous public identifier: URLs, the API, exports, logs and offline
    storage name rows by ``uuid``, never by their database id."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class VersionedModel(models.Model):
    """A row edited by more than one person: writers send the ``version`` they read, and a
    stale one is refused (optimistic locking) instead of silently overwriting."""

    version = models.PositiveIntegerField(default=1)

    class Meta:
        abstract = True


class CaseRecord(PublicIdModel):
    """A record that belongs to one case and is visible exactly when its case is
    (``objects.visible_to(user)``). Each subclass declares its ``case`` relation, with the
    related name its case reads it by."""

    objects = CaseRecordQuerySet.as_manager()

    class Meta:
        abstract = True
