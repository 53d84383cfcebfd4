"""Statements on a hot path, prepared on PostgreSQL.

Django binds parameters on the client, so PostgreSQL plans every statement again; for
the few statements every redemption runs, planning was most of the database's work.
These helpers send them with server-side parameters and `prepare=True`: psycopg prepares
each once per connection (connections are kept, CONN_MAX_AGE) and PostgreSQL reuses the
plan, unless DATABASE_PREPARED_STATEMENTS=off (psycopg then prepares nothing). Elsewhere
(SQLite) they are ordinary Django cursors.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterable, Mapping, Sequence

import psycopg
from django.db import connection
from django.db.models import Model


def fetchone(sql: str, params: Sequence | Mapping) -> tuple | None:
    """Run `sql` (with %s or %(name)s placeholders) and return its first row, or None.

    Errors arrive as Django's (IntegrityError …), as from any Django cursor.
    """
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()
    connection.ensure_connection()
    start = time.monotonic()
    try:
        with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
            return cursor.execute(sql, params, prepare=True).fetchone()
    finally:
        if connection.queries_logged:  # counted like any query (DEBUG, assertNumQueries)
            connection.queries_log.append(
                {"sql": f"{sql} -- prepared, {params!r}", "time": f"{time.monotonic() - start:.3f}"}
            )


def field_order(model: type[Model], names: Iterable[str]) -> list[str]:
    """`names` (attnames) in the model's field order, the order `instance` takes values in."""
    wanted = set(names)
    return [f.attname for f in model._meta.concrete_fields if f.attname in wanted]


def instance(model: type[Model], names: Sequence[str], values: Sequence) -> Model:
    """A model instance from a raw row: `values` of the fields `names` (in field order),
    converted as the ORM converts them (SQLite hands back dates and timestamps as text,
    decimals as floats, booleans as 0 and 1). Fields not named load on access."""
    converters = _converters(connection.vendor, model, tuple(names))
    if converters:
        values = list(values)
        for i, column, functions in converters:
            for function in functions:
                values[i] = function(values[i], column, connection)
    return model.from_db(connection.alias, list(names), values)


@functools.cache
def _converters(vendor: str, model: type[Model], names: tuple[str, ...]) -> list[tuple]:
    found = []
    for i, name in enumerate(names):
        column = model._meta.get_field(name).get_col(model._meta.db_table)
        functions = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
        if functions:
            found.append((i, column, functions))
    return found
