"""How much background work is waiting: the broker's queue, the outbox, the dead letters."""

import dataclasses
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from cases.services.tasks_health import queue_status


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "none pending"
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m {secs:02d}s" if hours else f"{minutes}m {secs:02d}s"


class Command(BaseCommand):
    help = (
        "Print the broker queue depth, the pending outbox events and the age of the oldest, "
        "dead outbox events and failed tasks. --json for machines."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        status = queue_status()
        if options["json"]:
            self.stdout.write(json.dumps(dataclasses.asdict(status), sort_keys=True))
            return
        if status.broker == "eager":
            broker = "eager (no broker: tasks run in the process that queues them)"
        elif status.broker == "down":
            broker = self.style.ERROR("down (cannot reach the broker)")
        elif status.queued is None:
            broker = "ok (queue depth is only read from Redis)"
        else:
            broker = (
                f"{status.queued} waiting in queue {status.queue!r}, "
                f"{status.unacknowledged} being worked on"
            )
        lines = [
            f"Broker:          {broker}",
            f"Outbox pending:  {status.outbox_pending} "
            f"(oldest: {_age(status.outbox_oldest_pending_age_seconds)})",
            f"Outbox dead:     {status.outbox_dead}",
            f"Failed tasks:    {status.failed_tasks} "
            f"({status.failed_tasks_not_retried} not retried)",
        ]
        self.stdout.write("\n".join(lines))
