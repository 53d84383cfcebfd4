"""Input and output of the code API, one pair per operation."""

from rest_framework import serializers

from invitations.models import Booking, RedemptionAttempt


class PersonInput(serializers.Serializer):
    """Who books. For a code issued to a participant, only the phone is taken."""

    first_name = serializers.CharField(max_length=100, required=False, default="")
    last_name = serializers.CharField(max_length=100, required=False, default="")
    email = serializers.EmailField(max_length=254, required=False, default="")
    phone = serializers.CharField(max_length=40, required=False, default="", allow_blank=True)
    date_of_birth = serializers.DateField(required=False, default=None, allow_null=True)
    region = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)
    group = serializers.CharField(max_length=100, required=False, default="", allow_blank=True)


class CodeValidateInput(PersonInput):
    code = serializers.CharField(max_length=200, trim_whitespace=True)


class CodeValidateOutput(serializers.Serializer):
    valid = serializers.BooleanField()
    reason = serializers.ChoiceField(
        choices=RedemptionAttempt.Result.choices,
        allow_null=True,
        help_text="Why the code cannot be booked with; null when it can.",
    )
    detail = serializers.CharField()
    code = serializers.CharField(allow_null=True)
    contract = serializers.CharField(allow_null=True)
    product = serializers.CharField(allow_null=True)
    price = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    currency = serializers.CharField(allow_null=True)
    uses_left = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    assigned = serializers.BooleanField(help_text="Issued to a participant, whose details apply.")


class CodeRedeemInput(PersonInput):
    code = serializers.CharField(max_length=200, trim_whitespace=True)
    create_account = serializers.BooleanField(required=False, default=False)


class ParticipantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.EmailField()


class BookingOutput(serializers.Serializer):
    # A plain Serializer: a ModelSerializer builds its fields again for every response.
    reference = serializers.CharField()
    status = serializers.ChoiceField(choices=Booking.Status.choices)
    code = serializers.CharField(source="code.display")
    contract = serializers.IntegerField(source="contract_id")
    product = serializers.CharField(source="price.product.name")
    price_code = serializers.CharField(source="price.price_code")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    participant = ParticipantOutput()
    created_at = serializers.DateTimeField()


class RefusalOutput(serializers.Serializer):
    detail = serializers.CharField()
    reason = serializers.ChoiceField(choices=RedemptionAttempt.Result.choices)
