"""The transactional outbox: events for partners are written in the same transaction as the
change they report, then delivered by Celery (``cases.services.webhooks``). If the broker or the
partner is down, the row waits; the dispatcher on Celery beat sends it later."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from cases.models import OutboxEvent, PartnerOrganisation, WebhookEndpoint

logger = logging.getLogger(__name__)


def outbox_enqueue(
    *, partner: PartnerOrganisation, topic: str, payload: dict[str, Any]
) -> list[OutboxEvent]:
    """One event per active endpoint of ``partner``; delivery is queued once the surrounding
    transaction commits, and never blocks or fails the change itself."""
    if not connection.in_atomic_block:
        raise RuntimeError("outbox_enqueue must run inside the transaction of the change.")
    now = timezone.now()
    events = []
    for endpoint in WebhookEndpoint.objects.filter(partner=partner, is_active=True):
        event_id = uuid.uuid4()  # the idempotency key, also in the body
        events.append(
            OutboxEvent(
                uuid=event_id,
                topic=topic,
                partner=partner,
                endpoint=endpoint,
                payload={**payload, "event": topic, "event_id": str(event_id)},
                next_attempt_at=now,
            )
        )
    if not events:
        return []
    events = OutboxEvent.objects.bulk_create(events)
    ids = [event.pk for event in events]
    transaction.on_commit(lambda: _queue_delivery(ids))
    return events


def _queue_delivery(ids: list[int]) -> None:
    from cases.tasks import webhook_deliver_task

    for event_id in ids:
        try:
            # No publish retries: a request must not wait on a broker that is down.
            webhook_deliver_task.apply_async((event_id,), retry=False)
        except Exception:  # the dispatcher on beat sends whatever is still pending
            logger.warning(
                "outbox event %s: delivery not started now; the dispatcher will", event_id
            )
