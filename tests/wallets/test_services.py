"""Wallets: every change is a ledger row plus a conditional update; nothing else moves money."""

import io
import re
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError

from core.errors import DomainError
from tests.factories import UserFactory
from wallets import selectors, services
from wallets.models import Wallet, WalletBalance, WalletTransaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def wallet():
    return services.wallet_create(owner=UserFactory(), currency="EUR")


def credit(wallet, amount, **kwargs):
    return services.wallet_credit(actor=None, wallet=wallet, amount=Decimal(amount), **kwargs)


def debit(wallet, amount, **kwargs):
    return services.wallet_debit(actor=None, wallet=wallet, amount=Decimal(amount), **kwargs)


def balance(wallet, name="main") -> Decimal:
    return WalletBalance.objects.get(wallet=wallet, name=name).amount


def test_credits_and_debits_write_a_ledger_row_each_with_the_balance_after(wallet):
    first = credit(wallet, "50.00", description="Gift pass")
    second = debit(wallet, "12.50")
    assert (first.kind, first.amount, first.balance_after) == ("credit", Decimal("50.00"), 50)
    assert (second.kind, second.amount, second.balance_after) == (
        "debit",
        Decimal("-12.50"),
        Decimal("37.50"),
    )
    assert balance(wallet) == Decimal("37.50")
    assert list(selectors.wallet_differences()) == []


def test_a_debit_above_the_balance_is_refused_and_writes_nothing(wallet):
    credit(wallet, "10.00")
    with pytest.raises(services.InsufficientFunds) as refused:
        debit(wallet, "10.01")
    assert refused.value.message == (
        "Not enough money: the main balance holds 10.00 EUR, and 10.01 EUR was asked for."
    )
    assert balance(wallet) == Decimal("10.00")
    assert WalletTransaction.objects.count() == 1


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "Enter an amount above zero."),
        ("-5", "Enter an amount above zero."),
        ("1.005", "An amount has at most two decimals."),
        ("NaN", "Enter an amount above zero."),
        ("10000000000", "An amount is at most 9,999,999,999.99."),
    ],
)
def test_amounts_must_be_positive_with_two_decimals(wallet, amount, message):
    with pytest.raises(DomainError, match=re.escape(message)):
        credit(wallet, amount)
    assert not WalletTransaction.objects.exists()


def test_money_of_another_currency_is_refused(wallet):
    with pytest.raises(DomainError, match=r"This wallet holds EUR; it cannot take GBP\."):
        credit(wallet, "5.00", currency="GBP")
    assert balance(wallet) == 0


def test_a_retried_request_with_its_idempotency_key_returns_the_first_transaction(wallet):
    credit(wallet, "20.00")
    first = debit(wallet, "5.00", idempotency_key="order-17")
    again = debit(wallet, "5.00", idempotency_key="order-17")
    assert again == first
    assert balance(wallet) == Decimal("15.00")


def test_a_repeated_idempotency_key_with_another_request_is_a_conflict(wallet):
    credit(wallet, "20.00")
    debit(wallet, "5.00", idempotency_key="order-17")
    with pytest.raises(services.IdempotencyConflict):
        debit(wallet, "6.00", idempotency_key="order-17")
    assert balance(wallet) == Decimal("15.00")


def test_named_balances_are_kept_apart(wallet):
    credit(wallet, "30.00", balance="promotional")
    credit(wallet, "5.00")
    with pytest.raises(services.InsufficientFunds):
        debit(wallet, "6.00")
    debit(wallet, "30.00", balance="promotional")
    assert (balance(wallet), balance(wallet, "promotional")) == (Decimal("5.00"), 0)


def test_the_database_itself_refuses_a_negative_balance(wallet):
    with pytest.raises(IntegrityError):
        WalletBalance.objects.filter(wallet=wallet).update(amount=Decimal("-1.00"))


def test_a_nameless_wallet_is_claimed_once_with_its_link():
    nameless = services.wallet_create(owner=None, currency="EUR")
    assert nameless.is_nameless and nameless.claim_token
    credit(nameless, "25.00")
    user = UserFactory()
    claimed = services.wallet_claim(claim_token=nameless.claim_token, user=user)
    assert claimed.owner == user and claimed.claim_token is None and claimed.claimed_at
    with pytest.raises(DomainError, match="not valid, or the wallet was claimed already"):
        services.wallet_claim(claim_token=nameless.claim_token, user=UserFactory())
    assert Wallet.objects.get(pk=nameless.pk).owner == user


def test_a_wallet_without_owner_must_have_a_claim_link():
    with pytest.raises(IntegrityError):
        Wallet.objects.create(owner=None, claim_token=None, currency="EUR")


def test_reconcile_wallets_reports_a_balance_that_left_its_ledger(wallet):
    credit(wallet, "40.00")
    out = io.StringIO()
    call_command("reconcile_wallets", stdout=out)
    assert "every ledger reconciles" in out.getvalue()
    WalletBalance.objects.filter(wallet=wallet).update(amount=Decimal("41.00"))  # tampered
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 balance"):
        call_command("reconcile_wallets", stdout=out)
    assert (
        f"wallet {wallet.pk} (main): balance 41.00 EUR, ledger 40.00 EUR, difference 1.00 EUR"
        in out.getvalue()
    )


def test_unspent_credited_funds_expire_once_their_time_is_up(wallet):
    from datetime import date

    credit(wallet, "30.00", expires_on=date(2026, 6, 30))  # a gift, spendable until June
    credit(wallet, "20.00")  # money that never expires
    debit(wallet, "12.00")  # spent first from what expires first
    assert services.wallet_expire_funds(today=date(2026, 6, 30)) == []  # still spendable
    (expiry,) = services.wallet_expire_funds(today=date(2026, 7, 1))
    assert (expiry.kind, expiry.amount, expiry.balance_after) == (
        "expiry",
        Decimal("-18.00"),
        Decimal("20.00"),
    )
    assert services.wallet_expire_funds(today=date(2026, 7, 1)) == []
    assert services.wallet_expire_funds(today=date(2026, 7, 2)) == []
    assert balance(wallet) == Decimal("20.00")
    assert list(selectors.wallet_differences()) == []


def test_spent_funds_leave_nothing_to_expire(wallet):
    from datetime import date

    credit(wallet, "30.00", expires_on=date(2026, 6, 30))
    debit(wallet, "30.00")
    assert services.wallet_expire_funds(today=date(2026, 8, 1)) == []
