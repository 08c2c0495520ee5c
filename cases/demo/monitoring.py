"""Demo monitoring: planned, met, missed and overdue contacts at each case's cadence, the odd
incident, and with ``--records`` contacts and stipend payments sized to a target."""

from __future__ import annotations

import datetime
import random
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from cases.bulkload import Row
from cases.demo.reference import (
    CONTACT_MODES,
    CONTACT_OUTCOMES,
    EXTRA_CONTACT_SHARE,
    INCIDENT_KINDS,
    PAST_CONTACT_CUMULATIVE,
    PLAN_AHEAD,
    SEVERITIES,
)
from cases.demo.rows import Batch
from cases.models import (
    ContactOutcome,
    Incident,
    MonitoringContact,
    Pillar,
    RiskLevel,
    SupportProvision,
)

if TYPE_CHECKING:
    from cases.demo.records import CaseRows


@dataclass
class Deferred:
    """Contacts and payments left until the chunk's basic history is known, so that
    ``--records`` can size them (case row, first day, who recorded)."""

    contacts: list[tuple[Row, datetime.datetime, int]] = field(default_factory=list)
    payments: list[tuple[Row, datetime.date, int]] = field(default_factory=list)


def entered(
    rows: CaseRows,
    rng: random.Random,
    batch: Batch,
    case: Row,
    started: datetime.datetime,
    now: datetime.datetime,
    actor_id: int,
) -> None:
    """A case entering monitoring on ``started``: its contacts at its risk level's interval
    up to PLAN_AHEAD (or left for ``--records`` to size), and now and then an incident."""
    if rows.deferred is not None:
        rows.deferred.contacts.append((case, started, actor_id))
    else:
        interval = rows.interval_days[case["risk_level"] or RiskLevel.LOW]
        day = started.date() + datetime.timedelta(days=interval)
        horizon = now.date() + PLAN_AHEAD
        count = 0
        while day <= horizon and count < 24:
            contact(rows, rng, batch, case, day, now.date(), started, actor_id)
            day += datetime.timedelta(days=interval)
            count += 1
    if rng.random() < 0.08:
        occurred = started.date() + datetime.timedelta(days=rng.randint(1, 90))
        batch.add(
            Incident,
            uuid=rows.new_uuid(),
            case_id=case["case_number"],
            kind=rng.choice(INCIDENT_KINDS),
            occurred_on=min(occurred, now.date()),
            severity=rng.choice(SEVERITIES),
            recorded_by_id=actor_id,
            created_at=started,
        )


def contact(
    rows: CaseRows,
    rng: random.Random,
    batch: Batch,
    case: Row,
    day: datetime.date,
    today: datetime.date,
    created: datetime.datetime,
    actor_id: int,
) -> None:
    """One contact on ``day``: before today met, missed or (overdue) still planned; from
    today on planned."""
    if day < today:
        outcome = rng.choices(CONTACT_OUTCOMES, cum_weights=PAST_CONTACT_CUMULATIVE)[0]
    else:
        outcome = ContactOutcome.PLANNED
    met = outcome == ContactOutcome.MET
    batch.add(
        MonitoringContact,
        uuid=rows.new_uuid(),
        case_id=case["case_number"],
        planned_date=day,
        actual_date=day if met else None,
        mode=rng.choice(CONTACT_MODES) if met else "",
        outcome=outcome,
        recorded_by_id=actor_id if outcome != ContactOutcome.PLANNED else None,
        created_at=created,
    )


def sized_extras(
    rows: CaseRows, rng: random.Random, batch: Batch, now: datetime.datetime, budget: int
) -> None:
    """Spend about ``budget`` rows on the chunk's monitoring contacts (every case in
    monitoring gets at least one) and monthly stipend payments, each case's share in
    proportion to how long it has been in monitoring (or since its training began)."""
    assert rows.deferred is not None
    today = now.date()
    contacts = rows.deferred.contacts
    payments = rows.deferred.payments
    contact_budget = max(round(budget * EXTRA_CONTACT_SHARE), len(contacts))
    if not payments:
        contact_budget = max(budget, len(contacts))
    payment_budget = max(budget - contact_budget, 0)

    spans = []
    for case, started, _actor in contacts:
        end = case["closed_at"].date() if case["closed_at"] else today + PLAN_AHEAD
        spans.append(max((end - started.date()).days, 1))
    for (case, started, actor_id), span, count in zip(
        contacts, spans, shares(rng, spans, contact_budget), strict=True
    ):
        count = min(max(count, 1), span)
        step = span / count
        first = started.date()
        for k in range(1, count + 1):
            day = first + datetime.timedelta(days=round(k * step))
            contact(rows, rng, batch, case, day, today, started, actor_id)

    months = [max((today - start).days // 30, 0) for _case, start, _actor in payments]
    for (case, start, actor_id), span, count in zip(
        payments, months, shares(rng, months, payment_budget), strict=True
    ):
        count = min(count, span)
        for k in range(1, count + 1):
            paid_on = start + datetime.timedelta(days=30 * k)
            batch.add(
                SupportProvision,
                uuid=rows.new_uuid(),
                case_id=case["case_number"],
                pillar=Pillar.LIVELIHOOD,
                kind="Monthly stipend",
                provided_on=paid_on,
                amount=Decimal(rng.choice([150, 250])),
                currency="USD",
                recorded_by_id=actor_id,
                created_at=datetime.datetime.combine(paid_on, datetime.time(9), datetime.UTC),
            )


def shares(rng: random.Random, weights: list[int], total: int) -> list[int]:
    """``total`` split in proportion to ``weights``, as whole numbers (fractions rounded
    at random, so the sum is right on average)."""
    whole = sum(weights)
    if not whole or total <= 0:
        return [0] * len(weights)
    result = []
    for weight in weights:
        exact = total * weight / whole
        result.append(int(exact) + (rng.random() < exact % 1))
    return result
