"""Wallets under real concurrent transactions on PostgreSQL."""

import threading
from decimal import Decimal

import pytest
from django.db import connection

from tests.factories import UserFactory
from wallets import selectors, services
from wallets.models import WalletBalance, WalletTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# PostgreSQL allows 100 connections in all: 25 threads share the 100 debits.
THREADS = 25


def _run_together(function, times: int) -> list:
    """Call `function` `times` times from THREADS threads that all start at one moment."""
    threads = min(times, THREADS)
    barrier = threading.Barrier(threads)
    outcomes = []
    lock = threading.Lock()

    def run(calls: int):
        try:
            barrier.wait(timeout=30)
            for _ in range(calls):
                try:
                    result = function()
                except Exception as exc:
                    result = exc
                with lock:
                    outcomes.append(result)
        finally:
            connection.close()

    shares = [times // threads + (1 if i < times % threads else 0) for i in range(threads)]
    workers = [threading.Thread(target=run, args=(share,)) for share in shares]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert len(outcomes) == times
    return outcomes


def test_100_concurrent_debits_of_one_euro_on_fifty_exactly_fifty_succeed():
    wallet = services.wallet_create(owner=UserFactory(), currency="EUR")
    services.wallet_credit(actor=None, wallet=wallet, amount=Decimal("50.00"))

    outcomes = _run_together(
        lambda: services.wallet_debit(actor=None, wallet=wallet, amount=Decimal("1.00")), 100
    )
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

    outcomes = _run_together(
        lambda: services.wallet_debit(
            actor=None, wallet=wallet, amount=Decimal("7.00"), idempotency_key="till-4-receipt-99"
        ),
        10,
    )
    assert not [o for o in outcomes if isinstance(o, Exception)], outcomes
    assert len({o.pk for o in outcomes}) == 1
    assert WalletTransaction.objects.filter(kind="debit").count() == 1
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("43.00")
