"""Every change to a wallet's money: a ledger row and a conditional update, together.

A balance is never read, changed in Python and written back: the UPDATE itself adds
the signed amount on the condition that the result stays ≥ 0, and returns the new
amount for the ledger row. Zero rows updated means not enough money; nothing is
written. A database constraint refuses a negative balance should anything else try.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from decimal import Decimal, InvalidOperation

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from core.errors import DomainError
from core.money import format_money
from core.timezones import site_today
from wallets.models import MAIN, Wallet, WalletBalance, WalletTransaction

User = AbstractBaseUser | None
MAX_AMOUNT = Decimal("9999999999.99")


class InsufficientFunds(DomainError):
    """The balance does not hold the amount asked for; nothing was written."""


class IdempotencyConflict(DomainError):
    """The idempotency key was used before for a different request."""


def wallet_create(
    *, owner: AbstractBaseUser | None, currency: str, balances: tuple[str, ...] = (MAIN,)
) -> Wallet:
    """A wallet for a contact, or a nameless one (owner None) with a claim link."""
    with transaction.atomic():
        wallet = Wallet.objects.create(
            owner=owner,
            currency=currency,
            claim_token=None if owner is not None else secrets.token_urlsafe(24),
        )
        WalletBalance.objects.bulk_create(
            WalletBalance(wallet=wallet, name=name) for name in dict.fromkeys((MAIN, *balances))
        )
    return wallet


@transaction.atomic
def wallet_claim(*, claim_token: str, user: AbstractBaseUser) -> Wallet:
    """Give a nameless wallet to the person who holds its claim link; the link then dies."""
    wallet = Wallet.objects.select_for_update().filter(claim_token=claim_token).first()
    if wallet is None or not claim_token:
        raise DomainError("This claim link is not valid, or the wallet was claimed already.")
    wallet.owner = user
    wallet.claim_token = None
    wallet.claimed_at = timezone.now()
    wallet.save(update_fields=["owner", "claim_token", "claimed_at"])
    return wallet


def wallet_credit(
    *,
    actor: User,
    wallet: Wallet,
    amount: Decimal,
    currency: str | None = None,
    balance: str = MAIN,
    source: models.Model | None = None,
    description: str = "",
    idempotency_key: str | None = None,
    expires_on: date | None = None,
) -> WalletTransaction:
    """Add money to a balance of the wallet (created on first credit for a named balance);
    with `expires_on`, what is left of it then expires (wallet_expire_funds)."""
    return _move(
        actor=actor,
        wallet=wallet,
        kind=WalletTransaction.Kind.CREDIT,
        expires_on=expires_on,
        amount=amount,
        currency=currency,
        balance=balance,
        source=source,
        description=description,
        idempotency_key=idempotency_key,
    )


def wallet_debit(
    *,
    actor: User,
    wallet: Wallet,
    amount: Decimal,
    currency: str | None = None,
    balance: str = MAIN,
    source: models.Model | None = None,
    description: str = "",
    idempotency_key: str | None = None,
) -> WalletTransaction:
    """Take money from a balance; refused with InsufficientFunds, writing nothing, when
    the balance does not hold it."""
    return _move(
        actor=actor,
        wallet=wallet,
        kind=WalletTransaction.Kind.DEBIT,
        amount=amount,
        currency=currency,
        balance=balance,
        source=source,
        description=description,
        idempotency_key=idempotency_key,
    )


def _clean_amount(amount: Decimal | str | int) -> Decimal:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise DomainError(f"“{amount}” is not an amount.", field="amount") from None
    if not value.is_finite() or value <= 0:
        raise DomainError("Enter an amount above zero.", field="amount")
    if value > MAX_AMOUNT:
        raise DomainError(f"An amount is at most {MAX_AMOUNT:,}.", field="amount")
    if value != value.quantize(Decimal("0.01")):
        raise DomainError("An amount has at most two decimals.", field="amount")
    return value.quantize(Decimal("0.01"))


def _fingerprint(kind: str, amount: Decimal, balance: str) -> str:
    return hashlib.sha256(f"{kind}|{amount}|{balance}".encode()).hexdigest()


def _replay(wallet: Wallet, key: str, fingerprint: str) -> WalletTransaction | None:
    """The transaction a key already made, if the same request made it; else a conflict."""
    existing = WalletTransaction.objects.filter(wallet=wallet, idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used for a different request on this wallet."
        )
    if existing is not None:
        existing.replayed = True  # the API answers a replay as it answered the first time
    return existing


def _move(
    *,
    actor: User,
    wallet: Wallet,
    kind: str,
    amount: Decimal,
    currency: str | None,
    balance: str,
    source: models.Model | None,
    description: str,
    idempotency_key: str | None,
    expires_on: date | None = None,
) -> WalletTransaction:
    amount = _clean_amount(amount)
    if currency is not None and currency != wallet.currency:
        raise DomainError(
            f"This wallet holds {wallet.currency}; it cannot take {currency}.", field="currency"
        )
    key = (idempotency_key or "").strip() or None
    if key is not None and len(key) > 100:
        raise DomainError("An Idempotency-Key is at most 100 characters.")
    fingerprint = _fingerprint(kind, amount, balance)
    if key is not None and (done := _replay(wallet, key, fingerprint)) is not None:
        return done
    signed = amount if kind == WalletTransaction.Kind.CREDIT else -amount
    try:
        with transaction.atomic():
            if kind == WalletTransaction.Kind.CREDIT:
                WalletBalance.objects.get_or_create(wallet=wallet, name=balance)
            after = _add_to_balance(wallet, balance, signed)
            if after is None:
                current = (
                    WalletBalance.objects.filter(wallet=wallet, name=balance)
                    .values_list("amount", flat=True)
                    .first()
                )
                if current is None:
                    raise DomainError(f"This wallet has no {balance} balance.")
                if signed > 0:
                    raise DomainError(
                        f"A balance holds at most {format_money(MAX_AMOUNT, wallet.currency)}."
                    )
                raise InsufficientFunds(
                    f"Not enough money: the {balance} balance holds "
                    f"{format_money(current, wallet.currency)}, and "
                    f"{format_money(amount, wallet.currency)} was asked for."
                )
            return WalletTransaction.objects.create(
                wallet=wallet,
                balance=balance,
                kind=kind,
                amount=signed,
                balance_after=after,
                source_type=ContentType.objects.get_for_model(source) if source else None,
                source_id=str(source.pk) if source else "",
                description=description[:200],
                expires_on=expires_on,
                idempotency_key=key or "",
                request_fingerprint=fingerprint if key else "",
                created_by=actor,
            )
    except IntegrityError:
        # The same key, sent twice at once: the other request's transaction won.
        if key is not None and (done := _replay(wallet, key, fingerprint)) is not None:
            return done
        raise


def _add_to_balance(wallet: Wallet, balance: str, signed: Decimal) -> Decimal | None:
    """Add a signed amount where the result stays ≥ 0; the new amount, or None if refused."""
    table = WalletBalance._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET amount = amount + %s "
            "WHERE wallet_id = %s AND name = %s AND amount + %s >= 0 AND amount + %s <= %s "
            "RETURNING amount",
            [signed, wallet.pk, balance, signed, signed, MAX_AMOUNT],
        )
        row = cursor.fetchone()
    return None if row is None else Decimal(str(row[0])).quantize(Decimal("0.01"))


def wallet_expire_funds(*, today: date | None = None) -> list[WalletTransaction]:
    """Take out of each balance the credited money whose time ran out and is unspent.

    Spending uses the money that expires first, so of the credits expired by today,
    what is unspent is their total less everything taken out so far (debits and earlier
    expiries), when that is above zero. Each such amount leaves by an "expiry" row, the
    idempotency key naming the balance and the day: run twice, nothing more is taken.
    """
    today = today or site_today()
    expired = (
        WalletTransaction.objects.filter(kind=WalletTransaction.Kind.CREDIT, expires_on__lt=today)
        .values("wallet_id", "balance")
        .annotate(total=models.Sum("amount"))
    )
    written = []
    for row in expired:
        taken = WalletTransaction.objects.filter(
            wallet_id=row["wallet_id"], balance=row["balance"], amount__lt=0
        ).aggregate(total=models.Sum("amount"))["total"] or Decimal("0")
        unspent = row["total"] + taken  # taken is negative
        if unspent <= 0:
            continue
        wallet = Wallet.objects.get(pk=row["wallet_id"])
        try:
            written.append(
                _move(
                    actor=None,
                    wallet=wallet,
                    kind=WalletTransaction.Kind.EXPIRY,
                    amount=unspent,
                    currency=None,
                    balance=row["balance"],
                    source=None,
                    description="Credited funds expired",
                    idempotency_key=f"expiry:{row['balance']}:{today.isoformat()}",
                )
            )
        except InsufficientFunds:
            # Spent meanwhile, between the sums and the update: nothing is left to expire.
            continue
    return written
