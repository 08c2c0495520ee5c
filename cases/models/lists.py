"""Working lists: a user's saved caseload filters (as DHIS2 calls them), private to their owner."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .base import PublicIdModel


class WorkingList(PublicIdModel):
    """A named caseload query string, checked against ``cases.filters.CaseFilterSet`` when it is
    saved (``cases.services.lists``). Only its owner ever sees it."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="working_lists"
    )
    name = models.CharField(_("name"), max_length=80)
    query = models.CharField(_("filters"), max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="working_list_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name
