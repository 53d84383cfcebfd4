"""Input and output of the pass API, one pair per operation."""

from decimal import Decimal

from rest_framework import serializers

from passes.models import Pass


class PassOutput(serializers.ModelSerializer):
    plan = serializers.IntegerField(source="plan_id")

    class Meta:
        model = Pass
        fields = ["code", "plan", "status", "value", "currency", "expires_on", "created_at"]


class PassUpdateInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["active", "cancelled"], required=False)
    expires_on = serializers.DateField(required=False)
    value = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)
    reset_pin = serializers.BooleanField(required=False, default=False)


class PassWithPinOutput(PassOutput):
    pin = serializers.CharField(help_text="Only when a PIN was just set: shown this once.")

    class Meta(PassOutput.Meta):
        fields = [*PassOutput.Meta.fields, "pin"]


class RedeemInput(serializers.Serializer):
    code = serializers.CharField(max_length=40)
    pin = serializers.CharField(max_length=8, required=False, allow_blank=True, default="")


class RedemptionOutput(serializers.Serializer):
    code = serializers.CharField()
    wallet = serializers.IntegerField(allow_null=True)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    balance_after = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    offer = serializers.CharField()
    wallet_url = serializers.URLField(required=False, help_text="The wallet's own page.")
    claim_url = serializers.URLField(
        required=False, help_text="A nameless wallet's claim link: the only way back to it."
    )


class IssueInput(serializers.Serializer):
    email = serializers.EmailField(required=False, help_text="The contact the pass is for.")
    value = serializers.DecimalField(
        max_digits=12, decimal_places=2, required=False, min_value=Decimal("0.01")
    )


class PurchaseEventInput(serializers.Serializer):
    reference = serializers.CharField(max_length=100, help_text="The order number; idempotent.")
    contact_email = serializers.EmailField()
    products = serializers.ListField(child=serializers.CharField(max_length=100), default=list)
    segments = serializers.ListField(child=serializers.CharField(max_length=100), default=list)
    amount = serializers.DecimalField(max_digits=12, decimal_places=2, required=False)


class PurchaseEventOutput(serializers.Serializer):
    reference = serializers.CharField()
    results = serializers.ListField(child=serializers.DictField())
