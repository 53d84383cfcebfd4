"""Change feeds: what changed since a time, oldest first, page by page with a signed cursor.

A table with a feed has an `updated_at` stamped by the database (`Now()`: the statement's
time on PostgreSQL) on every write, and an index on (updated_at, id). Writers stamp it in
the statement that changes the row (`save_stamped`, or `updated_at=Now()` in an UPDATE);
one clock, the database's, so rows written by different machines compare.

Readers page by keyset on (updated_at, id), never by offset: many rows share one time (a
batch of codes), and an offset would make the millionth row cost a million. A row is only
listed once every transaction that could still commit an earlier time has ended (the
horizon): otherwise a long transaction that stamped its rows at 12:00:00 and commits at
12:00:30 would land behind a cursor that had already moved past 12:00:10, and its rows
would never be seen. The horizon also stays CRM_FEED_LAG seconds behind the database's
clock, for what pg_stat_activity cannot show: a statement outside a transaction block is
listed there a moment after it takes its time, and a clock set back would stamp behind a
cursor.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import CharField, Model, Q, QuerySet, Value
from django.db.models.functions import Now
from django.utils import timezone
from django.utils.dateparse import parse_datetime

STAMP = "updated_at"


def save_stamped(instance: Model, *, update_fields: list[str]) -> None:
    """`instance.save(update_fields=…)` that also stamps `updated_at` with the database's time.

    The new time is not read back: the field loads again, from the database, when read.
    """
    setattr(instance, STAMP, Now())
    instance.save(update_fields=[*update_fields, STAMP])
    instance.__dict__.pop(STAMP, None)  # deferred now: read again on access


def horizon() -> datetime | None:
    """The time before which every stamp written is committed: the feeds list rows older.

    On PostgreSQL, the start of the oldest transaction still open in this database (other
    than ours), or now: every stamp a running transaction writes is at or after its start.
    pg_stat_activity shows that of sessions of our own database role (and to roles with
    pg_read_all_stats): run the web and worker processes with one role. A transaction left
    open holds the feeds back until it ends, and so loses nothing.

    SQLite runs one writing transaction at a time, stamping while it holds the lock, so
    transactions commit in the order of their stamps; but two of them in one millisecond
    share a stamp, and the later one may hold a lower id: the lag covers that too.

    Either way at least CRM_FEED_LAG seconds before now (see the module's docstring);
    None when there is no bound at all (SQLite without a lag).
    """
    lag = settings.CRM_FEED_LAG
    if connection.vendor != "postgresql":
        return timezone.now() - timedelta(seconds=lag) if lag else None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT LEAST(STATEMENT_TIMESTAMP() - make_interval(secs => %s), MIN(xact_start)) "
            "FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
            [float(lag)],
        )
        return cursor.fetchone()[0]


@dataclass(frozen=True)
class Position:
    """Where a reader is in a feed: after the row with this stamp and id."""

    at: datetime
    pk: int


class BadCursor(ValueError):
    """The cursor was not made by us for this feed, or was altered."""


def cursor_encode(feed: str, position: Position) -> str:
    """An opaque cursor for `position` in `feed`; signed, so a client cannot forge one."""
    value = {"t": position.at.astimezone(UTC).isoformat(), "i": position.pk}
    return signing.dumps(value, salt=f"feed:{feed}", compress=True)


BAD_CURSOR = "This cursor is not valid for this feed: start again from a time (since)."


def cursor_decode(feed: str, cursor: str) -> Position:
    try:
        value = signing.loads(cursor, salt=f"feed:{feed}")
        at = parse_datetime(value["t"])
        pk = int(value["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise BadCursor(BAD_CURSOR) from None
    if at is None or timezone.is_naive(at):
        raise BadCursor(BAD_CURSOR)
    return Position(at, pk)


def _time(value: datetime):
    """A time to compare stamps with, as the database stores them.

    SQLite keeps timestamps as text and compares text: `Now()` writes
    'YYYY-MM-DD HH:MM:SS.fff' (UTC, milliseconds), while Django would send a time as
    'YYYY-MM-DD HH:MM:SS.ffffff', or without the fraction, and '…01.123' = '…01.123000'
    would not hold. So the time is sent in the stored shape. PostgreSQL compares times.
    """
    if connection.vendor != "sqlite":
        return value
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%d %H:%M:%S.") + f"{utc.microsecond // 1000:03d}"
    return Value(text, output_field=CharField())


def changes(
    queryset: QuerySet,
    *,
    since: datetime | None,
    after: Position | None,
    until: datetime | None,
    limit: int,
) -> list:
    """Up to `limit` rows of `queryset` stamped at or after `since`, after `after`, before
    `until` (the horizon; None: no bound), oldest first."""
    rows = queryset
    if until is not None:
        rows = rows.filter(**{f"{STAMP}__lt": _time(until)})
    if since is not None:
        rows = rows.filter(**{f"{STAMP}__gte": _time(since)})
    if after is not None:
        at = _time(after.at)
        rows = rows.filter(Q(**{f"{STAMP}__gt": at}) | Q(**{STAMP: at, "pk__gt": after.pk}))
    return list(rows.order_by(STAMP, "pk")[:limit])
