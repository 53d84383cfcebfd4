"""Statements on a hot path, prepared on PostgreSQL.

Django binds parameters on the client, so PostgreSQL plans every statement again; for
the few statements every redemption runs, planning was most of the database's work.
These helpers send them with server-side parameters and `prepare=True`: psycopg prepares
each once per connection (connections are kept, CONN_MAX_AGE) and PostgreSQL reuses the
plan, unless DATABASE_PREPARED_STATEMENTS=off (psycopg then prepares nothing). Elsewhere
(SQLite) they are ordinary Django cursors.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import psycopg
from django.db import connection


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
