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

from django.db import connection
from django.db.models import Count, F, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Channel, Message
from contracts.models import Contract, ContractPrice, Organisation, Product
from invitations.models import Booking, InvitationCode

DEFAULT_DAYS = 90
HOUR = 3600
DAY = 24 * HOUR
# Time from sending to redeeming: (label, upper bound in seconds, exclusive).
REDEEM_BUCKETS: list[tuple[str, float | None]] = [
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
    median_seconds: float | None
    buckets: list[tuple[str, int]]

    @property
    def median(self) -> timedelta | None:
        if self.median_seconds is None:
            return None
        return timedelta(seconds=round(self.median_seconds))


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


# --- the figures --------------------------------------------------------------------------


def _code_counts(scope: Scope, by: str) -> dict[Any, dict[str, int]]:
    """Codes generated, expired and revoked per value of `by` (one GROUP BY)."""
    today = timezone.localdate()
    rows = (
        scope.codes()
        .values(key=_field(by))
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


def _booking_counts(scope: Scope, by: str) -> dict[Any, tuple[int, Amounts]]:
    """Redemptions and the amount booked per value of `by` (grouped by currency too)."""
    out: dict[Any, tuple[int, Amounts]] = {}
    rows = (
        scope.bookings()
        .values("currency", key=_field(by))
        .annotate(redeemed=Count("pk"), amount=Sum("amount"))
    )
    for row in rows:
        redeemed, amounts = out.get(row["key"], (0, Amounts()))
        amounts.add(row["currency"], row["amount"])
        out[row["key"]] = (redeemed + row["redeemed"], amounts)
    return out


def _field(by: str) -> F:
    return F(BREAKDOWN_FIELDS[by])


def analytics_breakdown(*, scope: Scope, by: str) -> list[BreakdownRow]:
    """Codes, redemptions, rate and amount booked per price, product, region or group.

    Codes count by their own participant's region and group, bookings by the booking's
    participant. Rows come most codes first.
    """
    codes = _code_counts(scope, by)
    bookings = _booking_counts(scope, by)
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


def analytics_totals(*, scope: Scope, by_price: Sequence[BreakdownRow] | None = None) -> Totals:
    """The headline figures. Codes and bookings are summed from the rows of the price
    breakdown (product across contracts), given or counted now, a few rows at most."""
    if by_price is None:
        by_price = analytics_breakdown(scope=scope, by="price" if scope.is_contract else "product")
    totals = Totals(
        generated=sum(r.codes for r in by_price),
        expired=sum(r.expired for r in by_price),
        revoked=sum(r.revoked for r in by_price),
        redeemed=sum(r.redeemed for r in by_price),
    )
    for row in by_price:
        totals.amount.merge(row.amount)
    sent = scope.messages().filter(status=Message.Status.SENT)
    figures = sent.aggregate(messages=Count("pk"), codes=Count("code_id", distinct=True))
    totals.messages_sent = figures["messages"]
    totals.distributed = figures["codes"]
    return totals


def analytics_per_day(*, scope: Scope, today: date | None = None) -> list[tuple[date, int]]:
    """Redemptions per day of the chosen range (default the last 90 days), with the days
    without any as zero. Days are the current time zone's."""
    since, until = scope.day_range(today)
    bookings = Booking.objects.order_by().filter(
        status=Booking.Status.ACTIVE,
        created_at__gte=start_of(since),
        created_at__lt=start_of(until, days=1),
    )
    counts = dict(
        scope._in_contracts(bookings)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    days = (since + timedelta(days=i) for i in range((until - since).days + 1))
    return [(day, counts.get(day, 0)) for day in days]


def _seconds_between(later: str, earlier: str) -> str:
    """SQL for the seconds from `earlier` to `later` (two timestamp columns)."""
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))::float8"
    # SQLite keeps timestamps as text; julianday() reads them as a day number in a double,
    # exact to about 20 µs: round to the millisecond so that a booking made exactly one
    # hour after the message lands in the "1–6 h" bucket, as on PostgreSQL.
    return f"ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"


def analytics_redeem_times(*, scope: Scope) -> RedeemTimes:
    """Median and histogram of the time from a code's first sent message to a booking.

    One statement: the scope's bookings joined to the first send of each code (a GROUP
    BY over the sent messages). The median is percentile_cont(0.5) on PostgreSQL; SQLite
    has no percentile, so it averages the one or two middle values found by ROW_NUMBER(),
    which is the same interpolation.
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
    seconds = _seconds_between("b.created_at", "f.first_sent")
    delays = (
        f"SELECT {seconds} AS secs FROM ({b_sql}) b "
        f"JOIN ({f_sql}) f ON f.code_id = b.code_id "
        "WHERE b.created_at >= f.first_sent"
    )
    buckets, lower = [], None
    for _, upper in REDEEM_BUCKETS:
        conditions = []
        if lower is not None:
            conditions.append(f"secs >= {lower:g}")
        if upper is not None:
            conditions.append(f"secs < {upper:g}")
        buckets.append(f"COUNT(*) FILTER (WHERE {' AND '.join(conditions)})")
        lower = upper
    if connection.vendor == "postgresql":
        median = "percentile_cont(0.5) WITHIN GROUP (ORDER BY secs)"
        sql = f"SELECT COUNT(*), {median}, {', '.join(buckets)} FROM ({delays}) d"
    else:
        sql = (
            f"SELECT COUNT(*), "
            "AVG(CASE WHEN rn IN ((n + 1) / 2, (n + 2) / 2) THEN secs END), "
            f"{', '.join(buckets)} FROM ("
            "SELECT secs, ROW_NUMBER() OVER (ORDER BY secs) AS rn, COUNT(*) OVER () AS n "
            f"FROM ({delays}) d) ranked"
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*b_params, *f_params])
        count, median_seconds, *counts = cursor.fetchone()
    return RedeemTimes(
        count=count,
        median_seconds=float(median_seconds) if median_seconds is not None else None,
        buckets=[(label, n) for (label, _), n in zip(REDEEM_BUCKETS, counts, strict=True)],
    )


def analytics_delivery(*, scope: Scope) -> Delivery:
    """Messages by channel and status, and the TOP_REASONS most frequent reasons why a
    message failed or was skipped."""
    messages = scope.messages()
    counts = {
        (row["channel"], row["status"]): row["n"]
        for row in messages.values("channel", "status").annotate(n=Count("pk"))
    }
    status_labels = dict(Message.Status.choices)
    reasons = (
        messages.filter(status__in=[Message.Status.FAILED, Message.Status.SKIPPED])
        .exclude(reason="")
        .values("status", "reason")
        .annotate(n=Count("pk"))
        .order_by("-n", "reason")[:TOP_REASONS]
    )
    return Delivery(
        statuses=list(Message.Status.choices),
        channels=list(Channel.choices),
        counts=counts,
        reasons=[(status_labels[r["status"]], r["reason"], r["n"]) for r in reasons],
    )


def analytics_report(*, scope: Scope, today: date | None = None) -> Report:
    """Everything the Analytics page shows, for one contract or across contracts."""
    first = "price" if scope.is_contract else "product"
    breakdowns = {by: analytics_breakdown(scope=scope, by=by) for by in (first, "region", "group")}
    return Report(
        scope=scope,
        totals=analytics_totals(scope=scope, by_price=breakdowns[first]),
        redeem_times=analytics_redeem_times(scope=scope),
        per_day=analytics_per_day(scope=scope, today=today),
        breakdowns=breakdowns,
        delivery=analytics_delivery(scope=scope),
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


def analytics_contracts(*, scope: Scope, sort: str = DEFAULT_CONTRACT_SORT) -> list[ContractRow]:
    """One row per contract in the scope with its figures and rates, sorted by `sort`.

    Three GROUP BY contract queries (codes, bookings, sent messages) merged by contract;
    a row without a value to sort by (a rate of nothing) goes last either way.
    """
    today = timezone.localdate()
    codes = {
        row.pop("contract_id"): row
        for row in scope.codes()
        .values("contract_id")
        .annotate(
            generated=Count("pk"),
            expired=Count(
                "pk",
                filter=Q(status=InvitationCode.Status.ACTIVE, uses=0, valid_until__lt=today),
            ),
            revoked=Count("pk", filter=Q(status=InvitationCode.Status.REVOKED)),
        )
    }
    sent = {
        row.pop("contract_id"): row
        for row in scope.messages()
        .filter(status=Message.Status.SENT)
        .values("contract_id")
        .annotate(messages_sent=Count("pk"), distributed=Count("code_id", distinct=True))
    }
    booked: dict[int, tuple[int, Amounts]] = {}
    for row in (
        scope.bookings()
        .values("contract_id", "currency")
        .annotate(redeemed=Count("pk"), amount=Sum("amount"))
    ):
        redeemed, amounts = booked.get(row["contract_id"], (0, Amounts()))
        amounts.add(row["currency"], row["amount"])
        booked[row["contract_id"]] = (redeemed + row["redeemed"], amounts)

    rows = []
    for contract in scope.contracts().select_related("organisation"):
        redeemed, amounts = booked.get(contract.pk, (0, Amounts()))
        rows.append(
            ContractRow(
                contract=contract,
                redeemed=redeemed,
                amount=amounts,
                **codes.get(contract.pk, {}),
                **sent.get(contract.pk, {}),
            )
        )
    sort = contract_sort(sort)
    key = CONTRACT_SORTS[sort.lstrip("-")]
    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    present.sort(key=key, reverse=sort.startswith("-"))
    return present + missing


# --- tables for Download CSV --------------------------------------------------------------


@dataclass
class Table:
    header: list[str]
    rows: list[list[object]]


def percent(value: float | None) -> Decimal | None:
    """A rate as a percentage with two decimals, as a spreadsheet should read it."""
    return None if value is None else Decimal(f"{value * 100:.2f}")


def _currencies(amounts: Iterable[Amounts]) -> list[str]:
    return sorted({c for a in amounts for c in a.by_currency})


def _amount_cells(amounts: Amounts, currencies: Sequence[str]) -> list[object]:
    return [amounts.by_currency.get(c, Decimal("0.00")) for c in currencies]


def _summary_table(scope: Scope) -> Table:
    totals = analytics_totals(scope=scope)
    times = analytics_redeem_times(scope=scope)
    median_hours = (
        None if times.median_seconds is None else Decimal(f"{times.median_seconds / HOUR:.2f}")
    )
    rows: list[list[object]] = [
        ["Codes generated", totals.generated],
        ["Codes distributed (sent at least once)", totals.distributed],
        ["Messages sent", totals.messages_sent],
        ["Redeemed (active bookings)", totals.redeemed],
        ["Expired unused", totals.expired],
        ["Revoked", totals.revoked],
        ["Redemption rate of codes generated (%)", percent(totals.rate_generated)],
        ["Redemption rate of codes distributed (%)", percent(totals.rate_distributed)],
        *[
            [f"Amount booked ({currency})", amount]
            for currency, amount in sorted(totals.amount.by_currency.items())
        ],
        ["Redemptions after a sent message", times.count],
        ["Median time from sending to redeeming (hours)", median_hours],
    ]
    return Table(["Figure", "Value"], rows)


def _per_day_table(scope: Scope) -> Table:
    return Table(["Day", "Redemptions"], [[d, n] for d, n in analytics_per_day(scope=scope)])


def _redeem_times_table(scope: Scope) -> Table:
    times = analytics_redeem_times(scope=scope)
    return Table(
        ["Time from sending to redeeming", "Redemptions"], [list(b) for b in times.buckets]
    )


def _breakdown_table(by: str, title: str) -> Any:
    def table(scope: Scope) -> Table:
        rows = analytics_breakdown(scope=scope, by=by)
        currencies = _currencies(r.amount for r in rows)
        return Table(
            [title, "Codes", "Redeemed", "Redemption rate (%)"]
            + [f"Amount booked ({c})" for c in currencies],
            [
                [
                    r.label,
                    r.codes,
                    r.redeemed,
                    percent(r.rate),
                    *_amount_cells(r.amount, currencies),
                ]
                for r in rows
            ],
        )

    return table


def _delivery_table(scope: Scope) -> Table:
    delivery = analytics_delivery(scope=scope)
    rows: list[list[object]] = [
        [label, *counts, total] for _, label, counts, total in delivery.channel_rows()
    ]
    rows.append(["All channels", *delivery.status_totals(), delivery.total])
    return Table(["Channel", *(label for _, label in delivery.statuses), "Total"], rows)


def _failures_table(scope: Scope) -> Table:
    reasons = analytics_delivery(scope=scope).reasons
    return Table(["Outcome", "Reason", "Messages"], [list(r) for r in reasons])


def _contracts_table(scope: Scope, sort: str = DEFAULT_CONTRACT_SORT) -> Table:
    rows = analytics_contracts(scope=scope, sort=sort)
    currencies = _currencies(r.amount for r in rows)
    return Table(
        [
            "Organisation",
            "Contract",
            "Contract code",
            "Status",
            "Codes generated",
            "Codes distributed",
            "Messages sent",
            "Redeemed",
            "Expired",
            "Revoked",
            "Redemption rate of generated (%)",
            "Redemption rate of distributed (%)",
            *[f"Amount booked ({c})" for c in currencies],
        ],
        [
            [
                r.contract.organisation.name,
                r.contract.name,
                r.contract.code,
                r.contract.get_status_display(),
                r.generated,
                r.distributed,
                r.messages_sent,
                r.redeemed,
                r.expired,
                r.revoked,
                percent(r.rate_generated),
                percent(r.rate_distributed),
                *_amount_cells(r.amount, currencies),
            ]
            for r in rows
        ],
    )


# name -> (builder, whether the contract page has it, whether the overview has it)
TABLES: dict[str, tuple[Any, bool, bool]] = {
    "summary": (_summary_table, True, True),
    "per_day": (_per_day_table, True, True),
    "redeem_times": (_redeem_times_table, True, True),
    "by_price": (_breakdown_table("price", "Price"), True, False),
    "by_product": (_breakdown_table("product", "Product"), False, True),
    "by_region": (_breakdown_table("region", "Region"), True, True),
    "by_group": (_breakdown_table("group", "Group"), True, True),
    "delivery": (_delivery_table, True, True),
    "failures": (_failures_table, True, True),
    "contracts": (_contracts_table, False, True),
}


def analytics_table_names(*, scope: Scope) -> list[str]:
    column = 1 if scope.is_contract else 2
    return [name for name, spec in TABLES.items() if spec[column]]


def analytics_table(*, scope: Scope, name: str, sort: str = DEFAULT_CONTRACT_SORT) -> Table:
    """One table of the page as header and rows, computing only what it needs.

    Raises KeyError for a name the scope's page does not have.
    """
    if name not in analytics_table_names(scope=scope):
        raise KeyError(name)
    builder = TABLES[name][0]
    return builder(scope, sort) if name == "contracts" else builder(scope)
