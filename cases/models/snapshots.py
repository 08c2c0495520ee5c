"""Daily per-team snapshots of the competition summary, one row per programme stage, so
trends can be drawn without recomputing the past (which the records no longer show)."""

from __future__ import annotations

from django.db import models

from .cases import Stage
from .organisation import Team


class CompetitionSnapshot(models.Model):
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="competition_snapshots")
    day = models.DateField()
    stage = models.CharField(max_length=16, choices=Stage.choices)
    # The stage's summary (counts, medians, shares, top case numbers): never identity.
    data = models.JSONField(default=dict)
    taken_at = models.DateTimeField()

    class Meta:
        ordering = ["-day", "team", "stage"]
        constraints = [
            models.UniqueConstraint(
                fields=["team", "day", "stage"], name="competition_snapshot_one_per_team_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.team} {self.day} {self.stage}"
