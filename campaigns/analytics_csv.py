"""The Analytics pages' tables as header and rows, for Download CSV.

Each table computes only what it needs, from the same source as the page (the rollups
of a big contract, else live counts: campaigns.analytics.analytics_source).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from campaigns.analytics import (
    DEFAULT_CONTRACT_SORT,
    HOUR,
    Amounts,
    Scope,
    Source,
    analytics_breakdown,
    analytics_contracts,
    analytics_delivery,
    analytics_per_day,
    analytics_redeem_times,
    analytics_source,
    analytics_totals,
)


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


def _summary_table(scope: Scope, source: Source, sort: str) -> Table:
    totals = analytics_totals(scope=scope, source=source)
    times = analytics_redeem_times(scope=scope, source=source)
    median_hours = (
        None if times.median_minutes is None else Decimal(f"{times.median_minutes / HOUR:.2f}")
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


def _per_day_table(scope: Scope, source: Source, sort: str) -> Table:
    per_day = analytics_per_day(scope=scope, source=source)
    return Table(["Day", "Redemptions"], [[d, n] for d, n in per_day])


def _redeem_times_table(scope: Scope, source: Source, sort: str) -> Table:
    times = analytics_redeem_times(scope=scope, source=source)
    return Table(
        ["Time from sending to redeeming", "Redemptions"], [list(b) for b in times.buckets]
    )


def _breakdown_table(by: str, title: str) -> Callable[[Scope, Source, str], Table]:
    def table(scope: Scope, source: Source, sort: str) -> Table:
        rows = analytics_breakdown(scope=scope, by=by, source=source)
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


def _delivery_table(scope: Scope, source: Source, sort: str) -> Table:
    delivery = analytics_delivery(scope=scope, source=source)
    rows: list[list[object]] = [
        [label, *counts, total] for _, label, counts, total in delivery.channel_rows()
    ]
    rows.append(["All channels", *delivery.status_totals(), delivery.total])
    return Table(["Channel", *(label for _, label in delivery.statuses), "Total"], rows)


def _failures_table(scope: Scope, source: Source, sort: str) -> Table:
    reasons = analytics_delivery(scope=scope, source=source).reasons
    return Table(["Outcome", "Reason", "Messages"], [list(r) for r in reasons])


def _contracts_table(scope: Scope, source: Source, sort: str) -> Table:
    rows = analytics_contracts(scope=scope, sort=sort, source=source)
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
TABLES: dict[str, tuple[Callable[[Scope, Source, str], Table], bool, bool]] = {
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
    return builder(scope, analytics_source(scope=scope), sort)
