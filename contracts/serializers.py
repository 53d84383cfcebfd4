"""Input and output of the CRM sync API's upserts, one set per endpoint."""

from rest_framework import serializers

from contracts.crm import CREATED, MAX_BATCH, UNCHANGED, UPDATED
from contracts.models import EXTERNAL_ID_MAX_LENGTH, Contract
from core.money import CURRENCIES

RESULTS = [(CREATED, CREATED), (UPDATED, UPDATED), (UNCHANGED, UNCHANGED)]
ORGANISATION_HELP = (
    "The organisation's external id. Required with a token for all organisations; a token "
    "for one organisation may leave it out."
)


def _batch(item: type[serializers.Serializer]) -> serializers.ListSerializer:
    return item(many=True, allow_empty=False, max_length=MAX_BATCH)


class OrganisationItemInput(serializers.Serializer):
    external_id = serializers.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(
        max_length=40,
        required=False,
        allow_blank=True,
        help_text="Short code, unique; required for a new organisation. Left out: kept.",
    )


class OrganisationsUpsertInput(serializers.Serializer):
    items = _batch(OrganisationItemInput)


class ContractItemInput(serializers.Serializer):
    external_id = serializers.CharField(max_length=EXTERNAL_ID_MAX_LENGTH)
    organisation = serializers.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text=ORGANISATION_HELP,
    )
    name = serializers.CharField(max_length=200)
    code = serializers.CharField(max_length=40, help_text="Unique within the organisation.")
    # Left out: kept (or the default, for a new contract).
    status = serializers.ChoiceField(choices=Contract.Status.choices, required=False)
    start_date = serializers.DateField(required=False, allow_null=True)
    end_date = serializers.DateField(required=False, allow_null=True)
    currency = serializers.ChoiceField(choices=CURRENCIES, required=False)


class ContractsUpsertInput(serializers.Serializer):
    items = _batch(ContractItemInput)


class ParticipantItemInput(serializers.Serializer):
    external_reference = serializers.CharField(
        max_length=100, help_text="The participant's id in your CRM; unique in the contract."
    )
    contract = serializers.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH, help_text="The contract's external id."
    )
    organisation = serializers.CharField(
        max_length=EXTERNAL_ID_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text=ORGANISATION_HELP,
    )
    first_name = serializers.CharField(max_length=100)
    last_name = serializers.CharField(max_length=100)
    email = serializers.EmailField(max_length=254)
    # Left out: kept (or empty, for a new participant).
    phone = serializers.CharField(max_length=40, required=False, allow_blank=True)
    date_of_birth = serializers.DateField(required=False, allow_null=True)
    region = serializers.CharField(max_length=100, required=False, allow_blank=True)
    group = serializers.CharField(max_length=100, required=False, allow_blank=True)


class ParticipantsUpsertInput(serializers.Serializer):
    items = _batch(ParticipantItemInput)


class _Counts(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class OrganisationResult(serializers.Serializer):
    index = serializers.IntegerField()
    external_id = serializers.CharField(source="key")
    id = serializers.IntegerField()
    result = serializers.ChoiceField(choices=RESULTS)


class OrganisationsUpsertOutput(_Counts):
    results = OrganisationResult(many=True)


class ContractResult(OrganisationResult):
    """The same fields for a contract; its own name in the API schema."""


class ContractsUpsertOutput(_Counts):
    results = ContractResult(many=True)


class ParticipantResult(serializers.Serializer):
    index = serializers.IntegerField()
    external_reference = serializers.CharField(source="key")
    id = serializers.IntegerField()
    result = serializers.ChoiceField(choices=RESULTS)


class ParticipantsUpsertOutput(_Counts):
    results = ParticipantResult(many=True)


class ItemErrorOutput(serializers.Serializer):
    index = serializers.IntegerField(
        allow_null=True, help_text="The item's position in `items`, from 0; null: the batch."
    )
    field = serializers.CharField()
    message = serializers.CharField()


class BatchErrorOutput(serializers.Serializer):
    detail = serializers.CharField()
    errors = ItemErrorOutput(many=True)
