"""Reads of wallets shared by the pages, the API and the reconciliation command."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import DecimalField, F, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from wallets.models import Wallet, WalletBalance, WalletTransaction


@dataclass(frozen=True)
class Difference:
    wallet_id: int
    balance: str
    cached: Decimal
    ledger: Decimal


def wallet_differences() -> Iterator[Difference]:
    """Every balance whose cached amount is not the sum of its ledger rows.

    One statement, so balances and ledger are read in one snapshot: a change committed
    meanwhile is on both sides or neither.
    """
    ledger = (
        WalletTransaction.objects.filter(wallet_id=OuterRef("wallet_id"), balance=OuterRef("name"))
        .values("wallet_id", "balance")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    rows = (
        WalletBalance.objects.annotate(
            ledger=Coalesce(Subquery(ledger), Value(Decimal("0.00")), output_field=DecimalField())
        )
        .exclude(ledger=F("amount"))
        .values_list("wallet_id", "name", "amount", "ledger")
    )
    for wallet_id, name, amount, total in rows.iterator(chunk_size=10_000):
        yield Difference(wallet_id, name, amount, total)


def wallet_recent_transactions(*, wallet: Wallet, limit: int = 20) -> QuerySet[WalletTransaction]:
    return wallet.transactions.order_by("-id")[:limit]
