"""Campaign analytics: what became of a contract's codes, or of many contracts' codes.

Reads only, shared by the Analytics pages and their CSV downloads. Every figure is an
aggregate computed in the database (GROUP BY, COUNT … FILTER, percentile_cont); Python
only merges a handful of grouped rows (one per price, region, status…) and fills in the
days without redemptions. Nothing here loops over codes, messages or bookings.

What a figure counts (the pages say the same in words):

- codes **generated**, **expired** (valid until a past day, never used, not revoked) and
  **revoked**: the scope's codes, created in the date range when one is chosen;
- codes **distributed**: codes with at least one sent message; **messages sent** and the
  delivery outcomes count messages queued in the range;
- **redeemed**: active bookings (voided ones are not redemptions) made in the range, and
  the amount they booked;
- **time to redeem**: from a code's first sent message to each of its bookings in the
  range; a booking made before the code was ever sent is left out.

Rates are redeemed / generated and redeemed / distributed, both None when nothing was
generated or distributed. Across contracts amounts are kept per currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Count, Exists, F, Min, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import AnalyticsFigure, AnalyticsRollup, Channel, Message
from contracts.models import Contract, ContractPrice, Organisation, Product
from invitations.models import Booking, InvitationCode

DEFAULT_DAYS = 90
# Time from sending to redeeming is counted in whole minutes, beyond a day in whole hours
# (what the page shows), the same whether counted live or from the rollup.
HOUR = 60
DAY = 24 * HOUR
# (label, upper bound in minutes, exclusive).
REDEEM_BUCKETS: list[tuple[str, int | None]] = [
    ("< 1 h", HOUR),
    ("1–6 h", 6 * HOUR),
    ("6–24 h", DAY),
    ("1–3 d", 3 * DAY),
    ("3–7 d", 7 * DAY),
    ("> 7 d", None),
]
TOP_REASONS = 10
CENTS = Decimal("0.00")
# Grouping keys of the breakdowns, and the field of the code / booking each groups by.
BREAKDOWN_FIELDS = {
    "contract": "contract_id",
    "price": "price_id",
    "product": "price__product_id",
    "region": "participant__region",
    "group": "participant__group",
}
# Shown for codes that belong to nobody, and for participants with the field left blank.
NOT_ASSIGNED = "Not assigned to a participant"
BLANK = {"region": "No region", "group": "No group"}


# --- scope ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """Which contracts and which days: one contract, or every contract matching filters."""

    contract: Contract | None = None
    organisation: Organisation | None = None
    contract_status: str = ""
    since: date | None = None
    until: date | None = None

    @property
    def is_contract(self) -> bool:
        return self.contract is not None

    def contracts(self) -> QuerySet[Contract]:
        if self.contract is not None:
            return Contract.objects.filter(pk=self.contract.pk)
        contracts = Contract.objects.all()
        if self.organisation is not None:
            contracts = contracts.filter(organisation=self.organisation)
        if self.contract_status:
            contracts = contracts.filter(status=self.contract_status)
        return contracts

    def _in_contracts(self, queryset: QuerySet) -> QuerySet:
        if self.contract is not None:
            return queryset.filter(contract_id=self.contract.pk)
        if self.organisation is None and not self.contract_status:
            return queryset
        return queryset.filter(contract_id__in=self.contracts().values("pk"))

    def _in_range(self, queryset: QuerySet, field_name: str) -> QuerySet:
        if self.since:
            queryset = queryset.filter(**{f"{field_name}__gte": start_of(self.since)})
        if self.until:
            queryset = queryset.filter(**{f"{field_name}__lt": start_of(self.until, days=1)})
        return queryset

    def codes(self) -> QuerySet[InvitationCode]:
        return self._in_range(self._in_contracts(InvitationCode.objects.order_by()), "created_at")

    def bookings(self) -> QuerySet[Booking]:
        """Active bookings (the redemptions) made in the range."""
        bookings = Booking.objects.order_by().filter(status=Booking.Status.ACTIVE)
        return self._in_range(self._in_contracts(bookings), "created_at")

    def messages(self, *, dated: bool = True) -> QuerySet[Message]:
        messages = self._in_contracts(Message.objects.order_by())
        return self._in_range(messages, "created_at") if dated else messages

    def day_range(self, today: date | None = None) -> tuple[date, date]:
        """The days of the per-day chart: the chosen range, else the last DEFAULT_DAYS."""
        today = today or timezone.localdate()
        until = self.until or today
        since = self.since or until - timedelta(days=DEFAULT_DAYS - 1)
        return since, until


def start_of(day: date, *, days: int = 0) -> datetime:
    """Midnight at the start of `day` (+ `days`) in the current time zone."""
    return timezone.make_aware(datetime.combine(day + timedelta(days=days), time.min))


# --- results ----------------------------------------------------------------------------


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Amounts:
    """Money per currency (a contract has one; many contracts may have several)."""

    by_currency: dict[str, Decimal] = field(default_factory=dict)

    def add(self, currency: str, amount: Decimal | None) -> None:
        # SQLite's SUM of decimals drops the trailing zeros (390, not 390.00).
        if amount:
            total = self.by_currency.get(currency, CENTS) + Decimal(amount)
            self.by_currency[currency] = total.quantize(CENTS)

    def merge(self, other: Amounts) -> None:
        for currency, amount in other.by_currency.items():
            self.add(currency, amount)

    @property
    def total(self) -> Decimal:
        """For sorting only: the sum regardless of currency."""
        return sum(self.by_currency.values(), Decimal("0"))

    def __str__(self) -> str:
        if not self.by_currency:
            return "0.00"
        return " · ".join(f"{v:,.2f} {c}" for c, v in sorted(self.by_currency.items()))


@dataclass
class Totals:
    generated: int = 0
    distributed: int = 0  # codes with a sent message
    messages_sent: int = 0
    redeemed: int = 0
    expired: int = 0
    revoked: int = 0
    amount: Amounts = field(default_factory=Amounts)

    @property
    def rate_generated(self) -> float | None:
        return rate(self.redeemed, self.generated)

    @property
    def rate_distributed(self) -> float | None:
        return rate(self.redeemed, self.distributed)


@dataclass
class RedeemTimes:
    count: int
    median_minutes: float | None  # a whole or a half minute (the mean of two middle ones)
    buckets: list[tuple[str, int]]

    @property
    def median(self) -> timedelta | None:
        if self.median_minutes is None:
            return None
        return timedelta(minutes=self.median_minutes)


@dataclass
class BreakdownRow:
    key: Any
    label: str
    codes: int = 0
    expired: int = 0
    revoked: int = 0
    redeemed: int = 0
    amount: Amounts = field(default_factory=Amounts)

    @property
    def rate(self) -> float | None:
        return rate(self.redeemed, self.codes)


@dataclass
class Delivery:
    """Messages by status and channel, and the most frequent reasons they did not go."""

    statuses: list[tuple[str, str]]  # (value, label), in the model's order
    channels: list[tuple[str, str]]
    counts: dict[tuple[str, str], int]  # (channel, status) -> messages
    reasons: list[tuple[str, str, int]]  # (status label, reason, messages)

    def count(self, channel: str, status: str) -> int:
        return self.counts.get((channel, status), 0)

    def channel_rows(self) -> list[tuple[str, str, list[int], int]]:
        """(channel, label, a count per status, total) for the channels that have any."""
        rows = []
        for value, label in self.channels:
            counts = [self.count(value, status) for status, _ in self.statuses]
            if sum(counts):
                rows.append((value, label, counts, sum(counts)))
        return rows

    def status_totals(self) -> list[int]:
        return [sum(self.count(c, s) for c, _ in self.channels) for s, _ in self.statuses]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class Report:
    scope: Scope
    totals: Totals
    redeem_times: RedeemTimes
    per_day: list[tuple[date, int]]
    breakdowns: dict[str, list[BreakdownRow]]
    delivery: Delivery
    # When the figures were counted, if they come from the rollups; None: just now.
    counted_at: datetime | None = None


# --- where the figures come from -----------------------------------------------------------
#
# Two sources answer the same questions: Live counts the codes, bookings and messages now;
# Rollups reads what campaigns.services.analytics counted (with Live) at `counted_at`.
# Each answer is a handful of grouped rows; the public selectors below assemble them.

BookingRow = tuple[Any, str, int, Decimal | None]  # (key, currency, redeemed, amount)


class Live:
    """Counts now, from the codes, bookings and messages themselves."""

    counted_at: datetime | None = None

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def code_counts(self, by: str) -> dict[Any, dict[str, int]]:
        """Codes generated, expired and revoked per value of `by` (one GROUP BY)."""
        today = timezone.localdate()
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
            .annotate(day=TruncDate("created_at"))
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


def _booking_counts(source: Source, by: str) -> dict[Any, tuple[int, Amounts]]:
    """Redemptions and the amount booked per value of `by`, currencies kept apart."""
    out: dict[Any, tuple[int, Amounts]] = {}
    for key, currency, redeemed, amount in source.booking_rows(by):
        count, amounts = out.get(key, (0, Amounts()))
        amounts.add(currency, amount)
        out[key] = (count + redeemed, amounts)
    return out


def analytics_breakdown(
    *, scope: Scope, by: str, source: Source | None = None
) -> list[BreakdownRow]:
    """Codes, redemptions, rate and amount booked per price, product, region or group.

    Codes count by their own participant's region and group, bookings by the booking's
    participant. Rows come most codes first.
    """
    source = source or Live(scope)
    codes = source.code_counts(by)
    bookings = _booking_counts(source, by)
    labels = _labels(by, set(codes) | set(bookings))
    rows = []
    for key in set(codes) | set(bookings):
        redeemed, amounts = bookings.get(key, (0, Amounts()))
        counted = codes.get(key, {})
        rows.append(
            BreakdownRow(
                key=key,
                label=labels.get(key, str(key)),
                codes=counted.get("generated", 0),
                expired=counted.get("expired", 0),
                revoked=counted.get("revoked", 0),
                redeemed=redeemed,
                amount=amounts,
            )
        )
    rows.sort(key=lambda r: (-r.codes, -r.redeemed, r.label))
    return rows


def _labels(by: str, keys: Iterable[Any]) -> dict[Any, str]:
    keys = set(keys)
    if by == "price":
        prices = ContractPrice.objects.filter(pk__in=keys - {None}).select_related("product")
        return {
            p.pk: f"{p.price_code} – {p.product.name} ({p.amount} {p.currency})" for p in prices
        }
    if by == "product":
        return dict(Product.objects.filter(pk__in=keys - {None}).values_list("pk", "name"))
    return {key: NOT_ASSIGNED if key is None else (key or BLANK[by]) for key in keys}


def analytics_totals(
    *,
    scope: Scope,
    by_price: Sequence[BreakdownRow] | None = None,
    source: Source | None = None,
) -> Totals:
    """The headline figures. Codes and bookings are summed from the rows of the price
    breakdown (product across contracts), given or counted now, a few rows at most."""
    source = source or Live(scope)
    if by_price is None:
        by = "price" if scope.is_contract else "product"
        by_price = analytics_breakdown(scope=scope, by=by, source=source)
    totals = Totals(
        generated=sum(r.codes for r in by_price),
        expired=sum(r.expired for r in by_price),
        revoked=sum(r.revoked for r in by_price),
        redeemed=sum(r.redeemed for r in by_price),
    )
    for row in by_price:
        totals.amount.merge(row.amount)
    totals.messages_sent, totals.distributed = source.sent()
    return totals


def analytics_per_day(
    *, scope: Scope, today: date | None = None, source: Source | None = None
) -> list[tuple[date, int]]:
    """Redemptions per day of the chosen range (default the last 90 days), with the days
    without any as zero. Days are the current time zone's."""
    since, until = scope.day_range(today)
    counts = (source or Live(scope)).per_day(since, until)
    days = (since + timedelta(days=i) for i in range((until - since).days + 1))
    return [(day, counts.get(day, 0)) for day in days]


def analytics_redeem_times(*, scope: Scope, source: Source | None = None) -> RedeemTimes:
    """Median and histogram of the time from a code's first sent message to a booking."""
    return (source or Live(scope)).redeem_times()


def analytics_delivery(*, scope: Scope, source: Source | None = None) -> Delivery:
    """Messages by channel and status, and the TOP_REASONS most frequent reasons why a
    message failed or was skipped."""
    source = source or Live(scope)
    labels = dict(Message.Status.choices)
    return Delivery(
        statuses=list(Message.Status.choices),
        channels=list(Channel.choices),
        counts=source.message_counts(),
        reasons=[(labels[s], reason, n) for s, reason, n in source.reasons()],
    )


def analytics_report(
    *, scope: Scope, today: date | None = None, source: Source | None = None
) -> Report:
    """Everything the Analytics page shows, for one contract or across contracts, from
    the rollups where they serve (analytics_source), else counted now."""
    source = source or analytics_source(scope=scope)
    first = "price" if scope.is_contract else "product"
    breakdowns = {
        by: analytics_breakdown(scope=scope, by=by, source=source)
        for by in (first, "region", "group")
    }
    return Report(
        scope=scope,
        totals=analytics_totals(scope=scope, by_price=breakdowns[first], source=source),
        redeem_times=analytics_redeem_times(scope=scope, source=source),
        per_day=analytics_per_day(scope=scope, today=today, source=source),
        breakdowns=breakdowns,
        delivery=analytics_delivery(scope=scope, source=source),
        counted_at=source.counted_at,
    )


# --- across contracts: one row per contract ---------------------------------------------


@dataclass
class ContractRow:
    contract: Contract
    generated: int = 0
    distributed: int = 0
    messages_sent: int = 0
    redeemed: int = 0
    expired: int = 0
    revoked: int = 0
    amount: Amounts = field(default_factory=Amounts)

    @property
    def rate_generated(self) -> float | None:
        return rate(self.redeemed, self.generated)

    @property
    def rate_distributed(self) -> float | None:
        return rate(self.redeemed, self.distributed)


# The contract table's columns that sort (?sort=<key>, or -<key> for the reverse).
CONTRACT_SORTS = {
    "contract": lambda r: (r.contract.name.lower(), r.contract.pk),
    "organisation": lambda r: (r.contract.organisation.name.lower(), r.contract.name.lower()),
    "status": lambda r: (r.contract.status, r.contract.name.lower()),
    "generated": lambda r: r.generated,
    "distributed": lambda r: r.distributed,
    "redeemed": lambda r: r.redeemed,
    "expired": lambda r: r.expired,
    "revoked": lambda r: r.revoked,
    "rate": lambda r: r.rate_generated,
    "rate_distributed": lambda r: r.rate_distributed,
    "amount": lambda r: r.amount.total,
}
DEFAULT_CONTRACT_SORT = "contract"


def contract_sort(value: str | None) -> str:
    """A valid sort parameter: `value` if the table sorts by it, else the default."""
    return value if value and value.lstrip("-") in CONTRACT_SORTS else DEFAULT_CONTRACT_SORT


def analytics_contracts(
    *, scope: Scope, sort: str = DEFAULT_CONTRACT_SORT, source: Source | None = None
) -> list[ContractRow]:
    """One row per contract in the scope with its figures and rates, sorted by `sort`.

    Grouped by contract (codes, bookings, sent messages) and merged; a row without a
    value to sort by (a rate of nothing) goes last either way.
    """
    source = source or Live(scope)
    codes = source.code_counts("contract")
    booked = _booking_counts(source, "contract")
    sent = source.sent_by_contract()
    rows = []
    for contract in scope.contracts().select_related("organisation"):
        redeemed, amounts = booked.get(contract.pk, (0, Amounts()))
        messages_sent, distributed = sent.get(contract.pk, (0, 0))
        rows.append(
            ContractRow(
                contract=contract,
                redeemed=redeemed,
                amount=amounts,
                messages_sent=messages_sent,
                distributed=distributed,
                **codes.get(contract.pk, {}),
            )
        )
    sort = contract_sort(sort)
    key = CONTRACT_SORTS[sort.lstrip("-")]
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + missing
