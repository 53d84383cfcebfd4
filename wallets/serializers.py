"""Input and output of the wallet API, one pair per operation."""

from decimal import Decimal

from rest_framework import serializers

from core.money import CURRENCIES
from wallets.models import MAIN, Wallet, WalletTransaction


class DebitInput(serializers.Serializer):
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, min_value=Decimal("0.01"))
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)
    balance = serializers.CharField(max_length=20, default=MAIN)
    description = serializers.CharField(
        max_length=200, required=False, default="", allow_blank=True
    )


class TransactionOutput(serializers.ModelSerializer):
    wallet = serializers.IntegerField(source="wallet_id")

    class Meta:
        model = WalletTransaction
        fields = [
            "id",
            "wallet",
            "balance",
            "kind",
            "amount",
            "balance_after",
            "description",
            "created_at",
        ]


class BalanceOutput(serializers.Serializer):
    name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)


class WalletOutput(serializers.ModelSerializer):
    balances = BalanceOutput(many=True)
    recent_transactions = TransactionOutput(many=True)

    class Meta:
        model = Wallet
        fields = ["id", "currency", "balances", "recent_transactions"]
