"""Campaign analytics: where the figures come from, counted live or read from the rollups
(see campaigns.analytics), and the SQL both use for the time from sending to redeeming."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate

from campaigns.analytics.scope import (
    BREAKDOWN_FIELDS,
    DAY,
    REDEEM_BUCKETS,
    TOP_REASONS,
    RedeemTimes,
    Scope,
    start_of,
)
from campaigns.models import AnalyticsFigure, AnalyticsRollup, Message
from contracts.models import ContractPrice
from core.timezones import site_today, site_zone
from invitations.models import Booking, InvitationCode

# --- where the figures come from -----------------------------------------------------------
#
# Two sources answer the same questions: Live counts the codes, bookings and messages now;
# Rollups reads what campaigns.services.analytics counted (with Live) at `counted_at`.
# Each answer is a handful of grouped rows; the public selectors (campaigns.analytics)
# assemble them.

BookingRow = tuple[Any, str, int, Decimal | None]  # (key, currency, redeemed, amount)


class Live:
    """Counts now, from the codes, bookings and messages themselves."""

    counted_at: datetime | None = None

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def code_counts(self, by: str) -> dict[Any, dict[str, int]]:
        """Codes generated, expired and revoked per value of `by` (one GROUP BY)."""
        today = site_today()
        rows = (
            self.scope.codes()
            .values(key=F(BREAKDOWN_FIELDS[by]))
            .annotate(
                generated=Count("pk"),
                expired=Count(
                    "pk",
                    filter=Q(status=InvitationCode.Status.ACTIVE, uses=0, valid_until__lt=today),
                ),
                revoked=Count("pk", filter=Q(status=InvitationCode.Status.REVOKED)),
            )
        )
        return {row.pop("key"): row for row in rows}

    def booking_rows(self, by: str) -> list[BookingRow]:
        """Redemptions and the amount booked per value of `by` and currency."""
        rows = (
            self.scope.bookings()
            .values("currency", key=F(BREAKDOWN_FIELDS[by]))
            .annotate(redeemed=Count("pk"), amount=Sum("amount"))
        )
        return [(r["key"], r["currency"], r["redeemed"], r["amount"]) for r in rows]

    def sent(self) -> tuple[int, int]:
        """Messages sent, and the codes they carried (distributed)."""
        sent = self.scope.messages().filter(status=Message.Status.SENT)
        figures = sent.aggregate(messages=Count("pk"), codes=Count("code_id", distinct=True))
        return figures["messages"], figures["codes"]

    def sent_by_contract(self) -> dict[int, tuple[int, int]]:
        """Per contract: messages sent, and the codes they carried."""
        rows = (
            self.scope.messages()
            .filter(status=Message.Status.SENT)
            .values("contract_id")
            .annotate(messages=Count("pk"), codes=Count("code_id", distinct=True))
        )
        return {r["contract_id"]: (r["messages"], r["codes"]) for r in rows}

    def per_day(self, since: date | None, until: date | None) -> dict[date, int]:
        """Redemptions per day (the current time zone's) from `since` to `until`."""
        bookings = Booking.objects.order_by().filter(status=Booking.Status.ACTIVE)
        if since:
            bookings = bookings.filter(created_at__gte=start_of(since))
        if until:
            bookings = bookings.filter(created_at__lt=start_of(until, days=1))
        return dict(
            self.scope._in_contracts(bookings)
            .annotate(day=TruncDate("created_at", tzinfo=site_zone()))
            .values("day")
            .annotate(n=Count("pk"))
            .values_list("day", "n")
        )

    def redeem_times(self) -> RedeemTimes:
        """One statement. The median is percentile_cont(0.5) on PostgreSQL; SQLite has no
        percentile, so it averages the one or two middle values found by ROW_NUMBER(),
        which is the same interpolation."""
        delays, params = redeem_delays_sql(self.scope)
        buckets = _bucket_counts("minutes")
        if connection.vendor == "postgresql":
            median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY minutes)"
            sql = f"SELECT COUNT(*), {median}, {buckets} FROM ({delays}) d"
        else:
            sql = (
                "SELECT COUNT(*), "
                "AVG(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN minutes END), "
                f"{buckets} FROM (SELECT minutes, ROW_NUMBER() OVER (ORDER BY minutes) AS rn, "
                f"COUNT(*) OVER () AS n FROM ({delays}) d) ranked"
            )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return _redeem_times(cursor.fetchone())

    def message_counts(self) -> dict[tuple[str, str], int]:
        """Messages per (channel, status)."""
        rows = self.scope.messages().values("channel", "status").annotate(n=Count("pk"))
        return {(r["channel"], r["status"]): r["n"] for r in rows}

    def reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, str, int]]:
        """(status, reason, messages): the most frequent reasons a message failed or was
        skipped."""
        rows = (
            self.scope.messages()
            .filter(status__in=[Message.Status.FAILED, Message.Status.SKIPPED])
            .exclude(reason="")
            .values("status", "reason")
            .annotate(n=Count("pk"))
            .order_by("-n", "reason")[:limit]
        )
        return [(r["status"], r["reason"], r["n"]) for r in rows]


class Rollups:
    """Reads the figures campaigns.services.analytics counted for the scope's contracts
    (all time: a rollup answers no date range)."""

    def __init__(self, rollups: QuerySet[AnalyticsRollup]) -> None:
        self.rollups = rollups
        self.figures = AnalyticsFigure.objects.filter(rollup__in=rollups).order_by()
        self.counted_at = rollups.aggregate(oldest=Min("counted_at"))["oldest"]

    def _rows(self, figure: str, *, by_contract: bool = False) -> list[dict]:
        """The figure's count and amount summed per key (or per contract) and currency."""
        group = "rollup__contract_id" if by_contract else "key"
        rows = (
            self.figures.filter(figure=figure)
            .values(group, "currency")
            .annotate(count=Sum("count"), amount=Sum("amount"))
        )
        return [{**row, "key": row[group]} for row in rows]

    def _prices(self, by: str, rows: Iterable[dict]) -> Iterable[dict]:
        """Price rows keyed by price id (int), or by product id for the product breakdown."""
        rows = list(rows)
        products = {}
        if by == "product":
            products = dict(
                ContractPrice.objects.filter(pk__in={int(r["key"]) for r in rows}).values_list(
                    "pk", "product_id"
                )
            )
        for row in rows:
            price = int(row["key"])
            yield {**row, "key": products.get(price) if by == "product" else price}

    def code_counts(self, by: str) -> dict[Any, dict[str, int]]:
        out: dict[Any, dict[str, int]] = {}
        if by in ("price", "product", "contract"):
            kinds = {"generated": "codes", "expired": "expired", "revoked": "revoked"}
            for name, figure in kinds.items():
                rows = self._rows(figure, by_contract=by == "contract")
                for row in rows if by == "contract" else self._prices(by, rows):
                    counts = out.setdefault(
                        row["key"], {"generated": 0, "expired": 0, "revoked": 0}
                    )
                    counts[name] += row["count"]
            return out
        for row in self._rows(f"codes.{by}"):
            out[row["key"]] = {"generated": row["count"], "expired": 0, "revoked": 0}
        return out

    def booking_rows(self, by: str) -> list[BookingRow]:
        if by == "contract":
            rows = self._rows("booked.price", by_contract=True)
        elif by in ("price", "product"):
            rows = self._prices(by, self._rows("booked.price"))
        else:
            rows = self._rows(f"booked.{by}")
        return [(r["key"], r["currency"], r["count"], r["amount"]) for r in rows]

    def sent(self) -> tuple[int, int]:
        totals = self.sent_by_contract().values()
        return sum(m for m, _ in totals), sum(c for _, c in totals)

    def sent_by_contract(self) -> dict[int, tuple[int, int]]:
        rows = (
            self.figures.filter(
                Q(figure="distributed")
                | Q(figure="messages", key__endswith=f":{Message.Status.SENT}")
            )
            .values("figure", contract=F("rollup__contract_id"))
            .annotate(n=Sum("count"))
        )
        out: dict[int, tuple[int, int]] = {}
        for row in rows:
            messages, codes = out.get(row["contract"], (0, 0))
            if row["figure"] == "distributed":
                codes += row["n"]
            else:
                messages += row["n"]
            out[row["contract"]] = (messages, codes)
        return out

    def per_day(self, since: date | None, until: date | None) -> dict[date, int]:
        days = self.figures.filter(figure="day")
        if since:
            days = days.filter(key__gte=since.isoformat())
        if until:
            days = days.filter(key__lte=until.isoformat())
        rows = days.values("key").annotate(n=Sum("count")).values_list("key", "n")
        return {date.fromisoformat(day): n for day, n in rows}

    def redeem_times(self) -> RedeemTimes:
        """From the histogram of whole minutes ("delay" figures): the count, the median
        (the mean of the values at the two middle positions, found by running totals)
        and the buckets, in one portable statement."""
        figures, params = (
            self.figures.filter(figure="delay").values("number", "count").query.sql_with_params()
        )
        histogram = (
            "SELECT number AS m, CAST(SUM(count) AS BIGINT) AS n "
            f"FROM ({figures}) f GROUP BY number"
        )
        running = (
            "SELECT m, SUM(n) OVER (ORDER BY m) AS cum, "
            "CAST(SUM(n) OVER () AS BIGINT) AS total FROM h"
        )
        sql = (
            f"WITH h AS ({histogram}), c AS ({running}) "
            "SELECT s.total, ("
            "(SELECT MIN(m) FROM c WHERE cum >= (total + 1) / 2) + "
            "(SELECT MIN(m) FROM c WHERE cum >= (total + 2) / 2)) / 2.0, "
            f"s.* FROM (SELECT SUM(n) AS total, {_bucket_counts('m', count='n')} FROM h) s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            total, median, _, *buckets = cursor.fetchone()
        return _redeem_times((total, median, *buckets))

    def message_counts(self) -> dict[tuple[str, str], int]:
        out = {}
        for row in self._rows("messages"):
            channel, status = row["key"].split(":", 1)
            out[(channel, status)] = row["count"]
        return out

    def reasons(self, limit: int = TOP_REASONS) -> list[tuple[str, str, int]]:
        rows = (
            self.figures.filter(figure__startswith="reason.")
            .values("figure", "key")
            .annotate(n=Sum("count"))
            .order_by("-n", "key")[:limit]
        )
        return [(r["figure"].removeprefix("reason."), r["key"], r["n"]) for r in rows]


Source = Live | Rollups


def analytics_source(*, scope: Scope) -> Source:
    """Rollups for a big contract, or many contracts, without a date range; else Live.

    Across contracts the rollups serve only when every contract in the scope with codes
    has one.
    """
    if scope.since or scope.until:
        return Live(scope)
    # Smaller contracts are counted live (fast for them, and never behind).
    threshold = settings.ANALYTICS_ROLLUP_FROM_CODES
    rollups = AnalyticsRollup.objects.filter(contract__in=scope.contracts())
    found = rollups.aggregate(n=Count("pk"), codes=Sum("codes"))
    if not found["n"] or (found["codes"] or 0) < threshold:
        return Live(scope)
    if not scope.is_contract:
        # A contract without codes has nothing to count (no messages, no bookings either).
        counted = AnalyticsRollup.objects.filter(contract=OuterRef("pk"))
        codes = InvitationCode.objects.filter(contract=OuterRef("pk"))
        if scope.contracts().filter(Exists(codes), ~Exists(counted)).exists():
            return Live(scope)
    return Rollups(rollups)


# --- the figures --------------------------------------------------------------------------


def _minutes_between(later: str, earlier: str) -> str:
    """SQL for the time from `earlier` to `later` (two timestamp columns) in whole
    minutes, and beyond a day in whole hours (as minutes): the precision the page shows,
    which keeps a rollup's histogram of delays to a few thousand values."""
    if connection.vendor == "postgresql":
        minutes = f"floor(EXTRACT(EPOCH FROM ({later} - {earlier})) / 60)::bigint"
    else:
        # SQLite keeps timestamps as text; julianday() reads them as a day number in a
        # double, exact to about 20 µs: round to the millisecond first, so that a booking
        # made exactly one hour after the message counts 60 minutes, as on PostgreSQL.
        seconds = f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"
        minutes = f"CAST({seconds} / 60 AS INTEGER)"
    return f"CASE WHEN {minutes} < {DAY} THEN {minutes} ELSE {minutes} / 60 * 60 END"


def redeem_delays_sql(scope: Scope) -> tuple[str, list]:
    """SQL (and its parameters) of one row per redemption after a sent message: `minutes`
    from the code's first sent message to the booking.

    The scope's bookings joined to the first send of each code (a GROUP BY over the sent
    messages); a booking made before its code was ever sent is left out.
    """
    bookings = scope.bookings().values("code_id", "created_at")
    first_sent = (
        scope.messages(dated=False)
        .filter(status=Message.Status.SENT, sent_at__isnull=False)
        .values("code_id")
        .annotate(first_sent=Min("sent_at"))
    )
    b_sql, b_params = bookings.query.sql_with_params()
    f_sql, f_params = first_sent.query.sql_with_params()
    minutes = _minutes_between("b.created_at", "f.first_sent")
    sql = (
        f"SELECT {minutes} AS minutes FROM ({b_sql}) b "
        f"JOIN ({f_sql}) f ON f.code_id = b.code_id "
        "WHERE b.created_at >= f.first_sent"
    )
    return sql, [*b_params, *f_params]


def _bucket_counts(column: str, count: str = "*") -> str:
    """SQL aggregates counting rows (or summing `count`) per REDEEM_BUCKETS bucket."""
    out, lower = [], None
    for _, upper in REDEEM_BUCKETS:
        conditions = []
        if lower is not None:
            conditions.append(f"{column} >= {lower}")
        if upper is not None:
            conditions.append(f"{column} < {upper}")
        where = " AND ".join(conditions)
        out.append(
            f"COUNT(*) FILTER (WHERE {where})"
            if count == "*"
            else f"COALESCE(SUM({count}) FILTER (WHERE {where}), 0)"
        )
        lower = upper
    return ", ".join(out)


def _redeem_times(row: Sequence[Any]) -> RedeemTimes:
    count, median, *counts = row
    return RedeemTimes(
        count=int(count or 0),
        median_minutes=float(median) if median is not None else None,
        buckets=[(label, int(n)) for (label, _), n in zip(REDEEM_BUCKETS, counts, strict=True)],
    )
