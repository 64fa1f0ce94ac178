"""Insert rows and learn which ones the database actually stored.

``bulk_create(ignore_conflicts=True)`` keeps a row once when identical requests race, but does not
say whose insert won, so each request would have to guess from a read made before it (and two
racing requests both guess "new"). ``insert_new`` asks the database instead:
``INSERT ... ON CONFLICT (<unique fields>) DO NOTHING RETURNING <fields>`` (PostgreSQL and SQLite
alike) returns exactly the rows this statement inserted. On PostgreSQL a row that a concurrent,
uncommitted transaction inserted makes this one wait for it and then skip the row (when that
transaction commits) or insert it (when it rolls back).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router


def insert_new(
    objs: Sequence[models.Model], *, unique: Sequence[str], returning: Sequence[str]
) -> set[tuple[Any, ...]]:
    """Insert ``objs`` (of one model), skipping those that conflict with a stored row on the unique
    constraint over ``unique`` (field names); returns the values of the fields ``returning``
    (database values: ``user_id`` for ``user``) of the rows inserted by this call."""
    if not objs:
        return set()
    model = type(objs[0])
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key or field.has_default()]
    columns = ", ".join(quote(_column(field)) for field in fields)
    conflict = ", ".join(quote(_column(meta.get_field(name))) for name in unique)
    returned = ", ".join(quote(_column(meta.get_field(name))) for name in returning)
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    batch = max(1, connection.ops.bulk_batch_size(fields, list(objs)))
    inserted: set[tuple[Any, ...]] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(objs), batch):
            chunk = objs[start : start + batch]
            params = [
                field.get_db_prep_save(field.pre_save(obj, add=True), connection=connection)
                for obj in chunk
                for field in fields
            ]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES {', '.join([row] * len(chunk))} "  # noqa: S608 - names from the model
                f"ON CONFLICT ({conflict}) DO NOTHING RETURNING {returned}",
                params,
            )
            inserted.update(tuple(values) for values in cursor.fetchall())
    return inserted


def _column(field: Any) -> str:
    column = getattr(field, "column", None)
    if not isinstance(column, str):
        raise ValueError(f"{field} is not stored in a column of its own")
    return column
