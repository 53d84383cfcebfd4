"""Transaction-scoped locks on things that are not rows."""

from __future__ import annotations

import zlib

from django.db import connection


def advisory_xact_lock(key: str) -> None:
    """Hold a PostgreSQL advisory lock on `key` until the current transaction ends.

    Used where a rule spans rows no single row lock covers (the guess odds of every
    contract sharing a prefix). SQLite serialises writers by itself: no-op there.
    """
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [zlib.crc32(key.encode()) - 2**31])
