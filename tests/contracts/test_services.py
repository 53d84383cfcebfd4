from datetime import date
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from contracts import services
from contracts.models import Contract, ContractPrice, Organisation, Product
from core.errors import DomainError
from invitations import services as code_services
from tests.factories import (
    ContractFactory,
    ContractPriceFactory,
    OrganisationFactory,
    ParticipantFactory,
    ProductFactory,
)

pytestmark = pytest.mark.django_db


def test_organisation_code_is_upper_cased_and_unique():
    org = services.organisation_create(actor=None, name=" Acme ", code="acme")
    assert (org.name, org.code) == ("Acme", "ACME")
    with pytest.raises(ValidationError, match="already used"):
        services.organisation_create(actor=None, name="Other", code="ACME")


def test_contract_prefix_is_normalised():
    contract = services.contract_create(
        actor=None,
        organisation=OrganisationFactory(),
        name="C",
        code="c1",
        invitation_prefix="a-c o",
    )
    assert contract.invitation_prefix == "AC0"
    assert contract.code == "C1"


@pytest.mark.parametrize("prefix", ["AC!", "UU", "ABCDEFGHJKM"])
def test_contract_prefix_outside_the_alphabet_is_refused(prefix):
    with pytest.raises(ValidationError) as excinfo:
        services.contract_create(
            actor=None,
            organisation=OrganisationFactory(),
            name="C",
            code="C",
            invitation_prefix=prefix,
        )
    assert "invitation_prefix" in excinfo.value.error_dict


def test_contract_end_before_start_is_refused():
    with pytest.raises(ValidationError, match="on or after the start date"):
        services.contract_create(
            actor=None,
            organisation=OrganisationFactory(),
            name="C",
            code="C",
            start_date=date(2026, 5, 1),
            end_date=date(2026, 4, 1),
        )


def test_contract_code_is_unique_within_its_organisation_only():
    first = ContractFactory(code="X")
    with pytest.raises(ValidationError, match="already has a contract"):
        services.contract_create(actor=None, organisation=first.organisation, name="C", code="x")
    services.contract_create(actor=None, organisation=OrganisationFactory(), name="C", code="X")


def test_price_code_is_unique_within_the_contract():
    price = ContractPriceFactory(price_code="STD")
    with pytest.raises(ValidationError, match="already has a price STD"):
        services.contract_price_create(
            actor=None,
            contract=price.contract,
            product=ProductFactory(),
            price_code="std",
            amount=Decimal("1"),
        )
    other = services.contract_price_create(
        actor=None,
        contract=ContractFactory(),
        product=price.product,
        price_code="STD",
        amount=Decimal("5.50"),
    )
    assert other.currency == "EUR"


def test_contract_price_can_differ_from_the_base_price():
    product = ProductFactory(base_price=Decimal("120.00"))
    price = services.contract_price_create(
        actor=None,
        contract=ContractFactory(),
        product=product,
        price_code="A",
        amount=Decimal("95"),
    )
    assert price.amount == Decimal("95") != product.base_price


def test_duplicate_copies_the_contract_and_its_prices_as_a_draft():
    price = ContractPriceFactory(price_code="STD", amount=Decimal("42.00"))
    ContractPriceFactory(contract=price.contract, price_code="PREM")
    copy = services.contract_duplicate(actor=None, contract=price.contract)
    assert copy.pk != price.contract.pk
    assert copy.status == Contract.Status.DRAFT
    assert copy.code == f"{price.contract.code}-COPY"
    assert sorted(copy.prices.values_list("price_code", flat=True)) == ["PREM", "STD"]
    assert copy.prices.get(price_code="STD").amount == Decimal("42.00")
    again = services.contract_duplicate(actor=None, contract=price.contract)
    assert again.code == f"{price.contract.code}-COPY2"


def test_deleting_a_contract_with_codes_is_refused_with_the_reason():
    price = ContractPriceFactory()
    code_services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=3, width=8
    )
    with pytest.raises(DomainError, match="holds 3 invitation codes"):
        services.contract_delete(actor=None, contract=price.contract)
    with pytest.raises(DomainError, match="holds 3 invitation codes"):
        services.organisation_delete(actor=None, organisation=price.contract.organisation)
    assert Contract.objects.filter(pk=price.contract.pk).exists()


def test_deleting_a_contract_with_participants_is_refused():
    participant = ParticipantFactory()
    with pytest.raises(DomainError, match="1 participant"):
        services.contract_delete(actor=None, contract=participant.contract)


def test_an_empty_contract_and_organisation_can_be_deleted():
    price = ContractPriceFactory()
    organisation = price.contract.organisation
    services.organisation_delete(actor=None, organisation=organisation)
    assert not Organisation.objects.filter(pk=organisation.pk).exists()
    assert not ContractPrice.objects.filter(pk=price.pk).exists()


def test_a_price_with_codes_cannot_be_deleted():
    price = ContractPriceFactory()
    code_services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=1, width=8
    )
    with pytest.raises(DomainError, match="invitation codes use it"):
        services.contract_price_delete(actor=None, price=price)


def test_edits_are_recorded_in_the_history():
    contract = ContractFactory(name="Before")
    services.contract_update(actor=None, contract=contract, name="After")
    names = list(contract.history.order_by("history_date").values_list("name", flat=True))
    assert names == ["Before", "After"]


def test_a_participant_needs_a_name_and_email_and_a_unique_reference():
    contract = ContractFactory()
    participant = services.participant_create(
        actor=None,
        contract=contract,
        first_name=" Ana ",
        last_name="Silva",
        email="Ana@Example.com",
        external_reference="E1",
    )
    assert (participant.first_name, participant.email) == ("Ana", "ana@example.com")
    with pytest.raises(ValidationError) as excinfo:
        services.participant_create(
            actor=None,
            contract=contract,
            first_name="",
            last_name="B",
            email="x@example.com",
            external_reference="E1",
        )
    assert set(excinfo.value.error_dict) == {"first_name", "external_reference"}
    with pytest.raises(ValidationError) as excinfo:
        services.participant_create(
            actor=None, contract=contract, first_name="A", last_name="B", email="not-an-email"
        )
    assert "email" in excinfo.value.error_dict


def test_a_price_code_that_a_spreadsheet_would_evaluate_is_refused():
    for bad in ("=1+2", "+A", "-2", "@SUM(A1)"):
        with pytest.raises(ValidationError, match="cannot start with"):
            services.contract_price_create(
                actor=None,
                contract=ContractFactory(),
                product=ProductFactory(),
                price_code=bad,
                amount=Decimal("1"),
            )


def test_add_price_with_a_new_product_leaves_nothing_when_refused():
    price = ContractPriceFactory(price_code="STD")
    products = Product.objects.count()
    with pytest.raises(ValidationError, match="already has a price STD"):
        services.contract_price_add(
            actor=None,
            contract=price.contract,
            product=None,
            price_code="std",
            amount=Decimal("5"),
            new_product_name="Eye Test",
            new_product_base_price=Decimal("45"),
        )
    assert Product.objects.count() == products


def test_an_organisation_whose_contract_had_a_batch_can_be_deleted_once_empty():
    price = ContractPriceFactory()
    batch = code_services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=2, width=8
    )
    for code in batch.codes.all():
        code_services.code_delete(actor=None, code=code)
    services.organisation_delete(actor=None, organisation=price.contract.organisation)
    assert not Contract.objects.filter(pk=price.contract.pk).exists()


def test_deletion_is_refused_while_codes_are_being_generated():
    from invitations.models import CodeBatch

    price = ContractPriceFactory()
    CodeBatch.objects.create(
        contract=price.contract, price=price, quantity=50_000, width=8, status="running"
    )
    with pytest.raises(DomainError, match="being generated"):
        services.contract_delete(actor=None, contract=price.contract)
    with pytest.raises(DomainError, match="being generated"):
        services.contract_price_delete(actor=None, price=price)


def test_duplicating_a_contract_with_a_long_code_stays_within_the_column():
    contract = ContractFactory(code="X" * 40)
    first = services.contract_duplicate(actor=None, contract=contract)
    second = services.contract_duplicate(actor=None, contract=contract)
    assert first.code == "X" * 32 + "-COPY"
    assert second.code == "X" * 32 + "-COPY2"


def test_a_participant_can_be_updated_but_not_onto_anothers_reference():
    contract = ContractFactory()
    services.participant_create(
        actor=None,
        contract=contract,
        first_name="A",
        last_name="B",
        email="a@example.com",
        external_reference="E1",
    )
    other = services.participant_create(
        actor=None, contract=contract, first_name="C", last_name="D", email="c@example.com"
    )
    services.participant_update(actor=None, participant=other, phone=" +44 1 ")
    assert other.phone == "+44 1"
    with pytest.raises(ValidationError, match="reference E1"):
        services.participant_update(actor=None, participant=other, external_reference="E1")


def test_a_participant_cannot_be_born_in_the_future(contract):
    from datetime import timedelta

    from django.utils import timezone

    with pytest.raises(ValidationError) as refused:
        services.participant_create(
            actor=None,
            contract=contract,
            first_name="A",
            last_name="B",
            email="a@example.com",
            date_of_birth=timezone.localdate() + timedelta(days=1),
        )
    assert refused.value.message_dict == {"date_of_birth": ["The date of birth is in the future."]}
