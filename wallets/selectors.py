"""Reads of wallets shared by the pages, the API and the reconciliation command."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import QuerySet, Sum

from wallets.models import Wallet, WalletBalance, WalletTransaction


@dataclass(frozen=True)
class Difference:
    wallet_id: int
    balance: str
    cached: Decimal
    ledger: Decimal


def wallet_differences() -> Iterator[Difference]:
    """Every balance whose cached amount is not the sum of its ledger rows.

    Two grouped queries, whatever the number of wallets.
    """
    sums = {
        (row["wallet_id"], row["balance"]): row["total"]
        for row in WalletTransaction.objects.values("wallet_id", "balance").annotate(
            total=Sum("amount")
        )
    }
    seen = set()
    for wallet_id, name, amount in WalletBalance.objects.values_list(
        "wallet_id", "name", "amount"
    ).iterator(chunk_size=10_000):
        seen.add((wallet_id, name))
        ledger = sums.get((wallet_id, name)) or Decimal("0.00")
        if ledger != amount:
            yield Difference(wallet_id, name, amount, ledger)
    for (wallet_id, name), total in sums.items():
        if (wallet_id, name) not in seen:
            yield Difference(wallet_id, name, Decimal("0.00"), total)


def wallet_recent_transactions(*, wallet: Wallet, limit: int = 20) -> QuerySet[WalletTransaction]:
    return wallet.transactions.order_by("-id")[:limit]
