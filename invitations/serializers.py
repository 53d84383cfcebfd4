"""Input and output of the code API and the CRM change feeds, one pair per operation."""

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


# --- CRM change feeds -------------------------------------------------------------------


class ChangesInput(serializers.Serializer):
    since = serializers.DateTimeField(
        required=False,
        help_text="Changes at or after this time: ISO 8601 with a zone, e.g. "
        "2026-11-26T12:00:00Z. Left out: from the beginning.",
    )
    cursor = serializers.CharField(
        required=False,
        max_length=500,
        help_text="Go on after the page that gave this `cursor` (or follow `next`).",
    )


class ChangeReferenceOutput(serializers.Serializer):
    """An organisation or contract as the CRM knows it."""

    id = serializers.IntegerField()
    code = serializers.CharField()
    external_id = serializers.CharField()


class ChangeParticipantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    external_reference = serializers.CharField()
    email = serializers.EmailField()


class CodeChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField(source="display")
    status = serializers.CharField(help_text="active or revoked.")
    state = serializers.CharField(
        help_text="What staff see: Active, Used, Expired, Not yet valid, Revoked, Archived."
    )
    uses = serializers.IntegerField()
    max_uses = serializers.IntegerField(allow_null=True, help_text="null: no limit.")
    valid_from = serializers.DateField(allow_null=True)
    valid_until = serializers.DateField(allow_null=True)
    is_archived = serializers.BooleanField()
    price_code = serializers.CharField(source="price.price_code")
    organisation = ChangeReferenceOutput(source="contract.organisation")
    contract = ChangeReferenceOutput()
    participant = ChangeParticipantOutput(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class CodeChangesOutput(serializers.Serializer):
    results = CodeChangeOutput(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page; null: none yet.")
    cursor = serializers.CharField(
        allow_null=True, help_text="Where this page ends: send it later to get what changed since."
    )


class BookingChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    reference = serializers.CharField()
    status = serializers.CharField(help_text="active or voided.")
    code = serializers.CharField(source="code.display")
    price_code = serializers.CharField(source="price.price_code")
    product = serializers.CharField(source="price.product.name")
    amount = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    channel = serializers.CharField(help_text="web or api.")
    organisation = ChangeReferenceOutput(source="contract.organisation")
    contract = ChangeReferenceOutput()
    participant = ChangeParticipantOutput()
    created_at = serializers.DateTimeField()
    voided_at = serializers.DateTimeField(source="void.voided_at", allow_null=True)
    void_reason = serializers.CharField(source="void.reason", allow_null=True)
    updated_at = serializers.DateTimeField()


class BookingChangesOutput(serializers.Serializer):
    results = BookingChangeOutput(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page; null: none yet.")
    cursor = serializers.CharField(
        allow_null=True, help_text="Where this page ends: send it later to get what changed since."
    )


class DeletedCodeOutput(serializers.Serializer):
    id = serializers.IntegerField(source="code_id", help_text="The deleted code's id.")
    code = serializers.CharField()
    organisation_id = serializers.IntegerField()
    contract_id = serializers.IntegerField()
    deleted_at = serializers.DateTimeField(source="updated_at")


class DeletedCodesOutput(serializers.Serializer):
    results = DeletedCodeOutput(many=True)
    next = serializers.URLField(allow_null=True, help_text="The next page; null: none yet.")
    cursor = serializers.CharField(
        allow_null=True, help_text="Where this page ends: send it later to get what changed since."
    )
