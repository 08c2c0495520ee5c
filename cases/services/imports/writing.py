"""Writing a checked import: every row by bulk inserts in one go, identity sealed and indexed
as for a single case, and one audit event for the file."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import connection, models
from django.utils import timezone

from cases import crypto
from cases.bulkload import BulkLoader, Row
from cases.fields import EncryptedTextField
from cases.models import AuditAction, Case, ConsentRecord, IntakeRecord, Returnee, Team
from cases.models.people import random_references
from cases.selectors import Actor

from ..audit import audit_record
from .rows import _Person


def _existing(model: type[models.Model], name: str, values: Iterable[str]) -> set[str]:
    """Which of ``values`` rows of ``model`` already hold in column ``name``: one query."""
    values = list(values)
    if not values:
        return set()
    if connection.vendor == "postgresql":
        # One array parameter, however many values (an IN list would be one per value).
        field = model._meta.get_field(name)
        assert isinstance(field, models.Field)
        assert field.column
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(field.column)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {column} FROM {table} WHERE {column} = ANY(%s)", [values])  # noqa: S608
            return {row[0] for row in cursor.fetchall()}
    found: set[str] = set()
    size = connection.features.max_query_params or 10_000
    for start in range(0, len(values), size):
        chunk = values[start : start + size]
        manager = model._default_manager
        found.update(manager.filter(**{f"{name}__in": chunk}).values_list(name, flat=True))
    return found


def _fresh_references(prefix: str, count: int, model: type[models.Model], name: str) -> list[str]:
    """``count`` new random references that no row of ``model`` holds yet, in the order drawn
    (sorting them would let their order tell the order of the file's rows)."""
    chosen: dict[str, None] = {}
    while len(chosen) < count:
        drawn = [r for r in random_references(prefix, count - len(chosen)) if r not in chosen]
        taken = _existing(model, name, drawn)
        chosen.update((reference, None) for reference in drawn if reference not in taken)
    return list(chosen)


def _uuids(count: int) -> Iterator[str]:
    """``count`` random (version 4) uuids, as text, from one draw of random bytes."""
    data = bytearray(secrets.token_bytes(16 * count))
    for start in range(0, 16 * count, 16):
        data[start + 6] = data[start + 6] & 0x0F | 0x40  # version 4
        data[start + 8] = data[start + 8] & 0x3F | 0x80  # RFC 4122 variant
    text = data.hex()
    for start in range(0, 32 * count, 32):
        h = text[start : start + 32]
        yield f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class _SealingLoader(BulkLoader):
    """Seals identity exactly as ``EncryptedTextField`` does (``cases.crypto.encrypt``: the
    first configured key, the ``enc1:`` prefix), through one Fernet instance for the whole
    import instead of a key-list lookup per value."""

    def _preparer(self, field: models.Field[Any, Any]) -> Callable[[Any], Any]:
        if not isinstance(field, EncryptedTextField):
            return super()._preparer(field)
        fernet = Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())
        to_plain = field.to_plain

        def seal(value: Any) -> Any:
            if value is None or value == "":
                return value
            token = fernet.encrypt(to_plain(value).encode("utf-8")).decode("ascii")
            return crypto.TOKEN_PREFIX + token

        return seal


def _write(*, actor: Actor, team: Team, people: list[_Person], fields: list[str]) -> list[str]:
    count = len(people)
    loader = _SealingLoader()
    person_ids = loader.reserve_ids(Returnee, count)
    person_numbers = _fresh_references("P", count, Returnee, "person_number")
    case_numbers = _fresh_references("C", count, Case, "case_number")
    uuids = _uuids(3 * count)
    now = timezone.now()
    team_uuid = str(team.uuid)
    programme_id = team.site.programme_id
    returnees: list[Row] = []
    cases: list[Row] = []
    intakes: list[Row] = []
    consents: list[Row] = []
    for person, person_id, person_number, case_number in zip(
        people, person_ids, person_numbers, case_numbers, strict=True
    ):
        returnees.append(
            {
                **person.returnee,
                "id": person_id,
                "uuid": next(uuids),
                "person_number": person_number,
                "national_id_index": person.national_id_index,
                "phone_index": person.phone_index,
                "created_at": now,
                "updated_at": now,
            }
        )
        cases.append(
            {
                "case_number": case_number,
                "returnee_id": person_id,
                "programme_id": programme_id,
                "team_id": team.pk,
                "caseworker_id": person.caseworker_id,
                "stage_entered_at": now,
                "opened_at": now,
                "updated_at": now,
            }
        )
        intakes.append(
            {
                **person.intake,
                "uuid": next(uuids),
                "case_id": case_number,
                "recorded_by_id": actor.pk,
                "updated_at": now,
            }
        )
        consent = person.consent
        consents.append(
            {
                "uuid": next(uuids),
                "returnee_id": person_id,
                "legal_basis": consent.legal_basis,
                "scope": consent.scope,
                "given_at": consent.given_at,
                "recorded_by_id": actor.pk,
                "notes": consent.notes,
            }
        )
    for model, rows in (
        (Returnee, returnees),
        (Case, cases),
        (IntakeRecord, intakes),
        (ConsentRecord, consents),
    ):
        loader.insert(model, rows)
    # One event for the file, as BulkLoader's callers audit a load (see the package docstring).
    audit_record(
        actor=actor,
        action=AuditAction.CASE_IMPORT,
        object_type="team",
        object_id=team_uuid,
        fields=fields,
        detail={"team": team_uuid, "rows": count, "case_numbers": case_numbers},
    )
    return case_numbers
