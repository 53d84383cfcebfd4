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

The package: `scope` (the scope, constants and result types), `sources` (Live counts and
the Rollups, and which of them serves a scope), and here the figures the pages show;
everything is importable from `campaigns.analytics`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from campaigns.analytics.scope import (
    BLANK,
    BREAKDOWN_FIELDS,
    CENTS,
    DAY,
    DEFAULT_DAYS,
    HOUR,
    NOT_ASSIGNED,
    REDEEM_BUCKETS,
    TOP_REASONS,
    Amounts,
    BreakdownRow,
    Delivery,
    RedeemTimes,
    Report,
    Scope,
    Totals,
    rate,
    start_of,
)
from campaigns.analytics.sources import (
    BookingRow,
    Live,
    Rollups,
    Source,
    analytics_source,
    redeem_delays_sql,
)
from campaigns.models import Channel, Message
from contracts.models import Contract, ContractPrice, Product

__all__ = [
    "BLANK",
    "BREAKDOWN_FIELDS",
    "CENTS",
    "CONTRACT_SORTS",
    "DAY",
    "DEFAULT_CONTRACT_SORT",
    "DEFAULT_DAYS",
    "HOUR",
    "NOT_ASSIGNED",
    "REDEEM_BUCKETS",
    "TOP_REASONS",
    "Amounts",
    "BookingRow",
    "BreakdownRow",
    "ContractRow",
    "Delivery",
    "Live",
    "RedeemTimes",
    "Report",
    "Rollups",
    "Scope",
    "Source",
    "Totals",
    "analytics_breakdown",
    "analytics_contracts",
    "analytics_delivery",
    "analytics_per_day",
    "analytics_redeem_times",
    "analytics_report",
    "analytics_source",
    "analytics_totals",
    "contract_sort",
    "rate",
    "redeem_delays_sql",
    "start_of",
]

# --- the figures --------------------------------------------------------------------------


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


@dataclass(kw_only=True)
class ContractRow(Totals):
    """One contract's totals, as a row of the cross-contract table."""

    contract: Contract


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
