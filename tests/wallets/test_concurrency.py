"""Wallets under real concurrent transactions on PostgreSQL."""

from decimal import Decimal

import pytest

from tests.factories import UserFactory
from tests.threads import run_together
from wallets import selectors, services
from wallets.models import WalletBalance, WalletTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# PostgreSQL allows 100 connections in all: 25 threads share the 100 debits.
THREADS = 25


def test_100_concurrent_debits_of_one_euro_on_fifty_exactly_fifty_succeed():
    wallet = services.wallet_create(owner=UserFactory(), currency="EUR")
    services.wallet_credit(actor=None, wallet=wallet, amount=Decimal("50.00"))

    def debit():
        return services.wallet_debit(actor=None, wallet=wallet, amount=Decimal("1.00"))

    outcomes = run_together([debit] * 100, threads=THREADS)
    succeeded = [o for o in outcomes if not isinstance(o, Exception)]
    refused = [o for o in outcomes if isinstance(o, services.InsufficientFunds)]
    assert (len(succeeded), len(refused)) == (50, 50), [
        o for o in outcomes if isinstance(o, Exception) and o not in refused
    ]
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("0.00")
    assert sorted(t.balance_after for t in succeeded) == [Decimal(n) for n in range(50)]
    assert list(selectors.wallet_differences()) == []


def test_one_idempotency_key_sent_ten_times_at_once_debits_once():
    wallet = services.wallet_create(owner=UserFactory(), currency="EUR")
    services.wallet_credit(actor=None, wallet=wallet, amount=Decimal("50.00"))

    def debit():
        return services.wallet_debit(
            actor=None, wallet=wallet, amount=Decimal("7.00"), idempotency_key="till-4-receipt-99"
        )

    outcomes = run_together([debit] * 10)
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert WalletTransaction.objects.filter(kind="debit").count() == 1
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("43.00")
