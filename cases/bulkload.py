"""Loading many rows fast, for demo data, benchmarks and imports.

Rows are plain dicts keyed by column (``attname``); columns a row leaves out take the model
field's default, as the ORM would. Values pass through the fields' own preparation, so identity
fields are encrypted exactly as when saved one by one. PostgreSQL gets a COPY; other databases a
batched INSERT. No signals, no ``save()``: callers audit the load as a whole.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from django.db import connection, models
from django.utils import timezone

from cases.fields import EncryptedTextField

Row = dict[str, Any]


def _default_for(field: models.Field[Any, Any], now: Any) -> Callable[[], Any]:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return lambda: now
    if field.has_default():
        return field.get_default
    if field.null:
        return lambda: None
    return lambda: ""


class BulkLoader:
    """``loader.insert(Model, rows)``; ``loader.reserve_ids(Model, n)`` for rows that others
    point at before they are written."""

    def __init__(self) -> None:
        self.vendor = connection.vendor

    def reserve_ids(self, model: type[models.Model], count: int) -> list[int]:
        table = model._meta.db_table
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                cursor.execute(
                    "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                    [table, count],
                )
                return [row[0] for row in cursor.fetchall()]
            # Elsewhere (SQLite) the caller's transaction holds the write lock.
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {table}")  # noqa: S608
            start = cursor.fetchone()[0] + 1
            self._reserved_tail = getattr(self, "_reserved_tail", {})
            start = max(start, self._reserved_tail.get(table, 0))
            self._reserved_tail[table] = start + count
            return list(range(start, start + count))

    def insert(self, model: type[models.Model], rows: Iterable[Row]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        now = timezone.now()
        fields = [
            f
            for f in model._meta.concrete_fields
            if not (f.primary_key and isinstance(f, models.AutoField) and f.attname not in rows[0])
        ]
        columns = [f.attname for f in fields]
        unknown = set(rows[0]) - set(columns)
        if unknown:
            raise ValueError(f"{model.__name__} has no column(s) {sorted(unknown)}")
        # Defaults: a constant one is computed once; a callable one (uuid4, now) for each row
        # that lacks the column. Preparation only where a field needs it (encryption, JSON).
        constant: Row = {}
        per_row: list[tuple[str, Callable[[], Any]]] = []
        for f in fields:
            default = _default_for(f, now)
            if f.has_default() and callable(f.default):
                per_row.append((f.attname, default))
            else:
                constant[f.attname] = default()
        preps = [
            (index, prep)
            for index, prep in enumerate(self._preparer(f) for f in fields)
            if prep is not _identity
        ]

        def values(row: Row) -> list[Any]:
            full = {**constant, **row}
            for column, default in per_row:
                if column not in row:
                    full[column] = default()
            out = [full[column] for column in columns]
            for index, prep in preps:
                out[index] = prep(out[index])
            return out

        table = model._meta.db_table
        quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
        with connection.cursor() as cursor:
            if self.vendor == "postgresql":
                copy_sql = f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(values(row))
            else:
                marks = ", ".join(["%s"] * len(columns))
                sql = f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({marks})"  # noqa: S608
                batch = [values(row) for row in rows]
                for start in range(0, len(batch), 5000):
                    cursor.executemany(sql, batch[start : start + 5000])
        return len(rows)

    def _preparer(self, field: models.Field[Any, Any]) -> Callable[[Any], Any]:
        if isinstance(field, EncryptedTextField):
            return field.get_prep_value
        if self.vendor == "postgresql":
            if isinstance(field, models.JSONField):
                from psycopg.types.json import Jsonb

                return Jsonb
            return _identity
        if isinstance(field, models.JSONField):
            return json.dumps
        return lambda value: field.get_db_prep_save(value, connection)


def _identity(value: Any) -> Any:
    return value
