"""Campaign analytics: the scope (which contracts, which days), the constants and the
result types shared by the sources and the figures (see campaigns.analytics)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet

from campaigns.models import Message
from contracts.models import Contract, Organisation
from core.timezones import site_today, start_of_site_day
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
        today = today or site_today()
        until = self.until or today
        since = self.since or until - timedelta(days=DEFAULT_DAYS - 1)
        return since, until


def start_of(day: date, *, days: int = 0) -> datetime:
    """Midnight at the start of `day` (+ `days`) in the site's time zone: analytics count
    the site's days, whatever zone the reader has chosen (core.timezones)."""
    return start_of_site_day(day + timedelta(days=days))


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
