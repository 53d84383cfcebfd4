"""Wallets and their ledger.

A wallet's money sits in named balances (``main`` always; others, such as
``promotional``, where a pass plan credits them). Every change is a WalletTransaction
row, and the balance's cached amount changes in the same transaction by a conditional
UPDATE (wallets.services); the ledger is append-only and is the record for disputes.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.money import amount_field, currency_field

MAIN = "main"


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Wallet(models.Model):
    # No owner: a nameless wallet (a gift redeemed by a visitor), claimable with its link.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="wallets",
    )
    currency = currency_field()
    # The secret of the claim link of a nameless wallet; cleared once claimed.
    claim_token = models.CharField(max_length=64, unique=True, null=True, blank=True)
    # The secret of the wallet's mobile pass page.
    page_token = models.CharField(max_length=64, unique=True, default=new_token)
    created_at = models.DateTimeField(default=timezone.now)
    claimed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        permissions = [("debit_wallet", "Can debit a wallet (spend at a counter)")]
        constraints = [
            models.CheckConstraint(
                condition=Q(owner__isnull=False) | Q(claim_token__isnull=False),
                name="wallet_owned_or_claimable",
                violation_error_message="A wallet without an owner needs a claim link.",
            )
        ]

    def __str__(self) -> str:
        who = self.owner.get_username() if self.owner_id else "nameless"
        return f"Wallet {self.pk} ({who}, {self.currency})"

    @property
    def is_nameless(self) -> bool:
        return self.owner_id is None


class WalletBalance(models.Model):
    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="balances")
    name = models.CharField(max_length=20, default=MAIN)
    amount = amount_field(default=0)

    class Meta:
        ordering = ["wallet_id", "name"]
        constraints = [
            models.UniqueConstraint(fields=["wallet", "name"], name="wallet_balance_unique_name"),
            # The last word on "never below zero", whatever the code above it does.
            models.CheckConstraint(condition=Q(amount__gte=0), name="wallet_balance_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.name}: {self.amount}"


class WalletTransaction(models.Model):
    """One change of one balance: the ledger. Never updated, never deleted."""

    class Kind(models.TextChoices):
        CREDIT = "credit", "Credit"
        DEBIT = "debit", "Debit"
        EXPIRY = "expiry", "Funds expired"

    wallet = models.ForeignKey(Wallet, on_delete=models.PROTECT, related_name="transactions")
    balance = models.CharField(max_length=20, default=MAIN)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = amount_field(help_text="Signed: credits positive, debits negative.")
    balance_after = amount_field()
    # What caused it (a pass redemption, an order, …), when it is a row of ours.
    source_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    source_id = models.CharField(max_length=64, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    description = models.CharField(max_length=200, blank=True)
    # A credit's money is spendable until this day (a pass plan's "funds valid for").
    expires_on = models.DateField(null=True, blank=True)
    # A retried request with the same key gets the first transaction back, not a second one.
    idempotency_key = models.CharField(max_length=100, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["wallet", "idempotency_key"],
                condition=~Q(idempotency_key=""),
                name="wallet_transaction_idempotency_key",
            ),
            models.CheckConstraint(
                condition=(Q(kind="credit") & Q(amount__gt=0))
                | (Q(kind__in=["debit", "expiry"]) & Q(amount__lt=0)),
                name="wallet_transaction_sign_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="wallet_transaction_balance_after"
            ),
        ]
        indexes = [models.Index(fields=["wallet", "-id"], name="wallet_transaction_recent")]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} → {self.balance_after}"
