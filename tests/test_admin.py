import pytest
from django.urls import reverse

from contracts.models import Contract, ContractPrice, Product
from invitations import services
from invitations.models import InvitationCode
from tests.factories import ContractPriceFactory, ParticipantFactory, ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def codes(price):
    services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=20, width=8
    )
    return InvitationCode.objects.all()


@pytest.mark.parametrize(
    "model",
    [
        "contracts/organisation",
        "contracts/contract",
        "contracts/product",
        "contracts/contractprice",
        "contracts/participant",
        "invitations/invitationcode",
        "invitations/codebatch",
    ],
)
def test_every_changelist_opens_and_searches(superuser_client, codes, model):
    ParticipantFactory()
    url = f"/admin/{model}/"
    assert superuser_client.get(url).status_code == 200
    assert superuser_client.get(url, {"q": "x"}).status_code == 200


def test_admin_code_search_normalises_what_was_typed(superuser_client, codes):
    code = codes.first().code
    typed = f"{code[:3].lower()}-{code[3:].lower()}".replace("0", "o")
    response = superuser_client.get("/admin/invitations/invitationcode/", {"q": typed})
    content = response.content.decode()
    assert content.count('<th class="field-code">') == 1
    assert code in content


def test_admin_does_not_delete_a_used_code(superuser_client, codes):
    code = codes.first()
    InvitationCode.objects.filter(pk=code.pk).update(uses=1)
    url = reverse("admin:invitations_invitationcode_delete", args=[code.pk])
    response = superuser_client.post(url, {"post": "yes"}, follow=True)
    assert "has been used and cannot be deleted" in response.content.decode()
    assert InvitationCode.objects.filter(pk=code.pk).exists()


def test_admin_refuses_to_delete_a_contract_holding_codes(superuser_client, codes):
    contract = codes.first().contract
    url = reverse("admin:contracts_contract_delete", args=[contract.pk])
    response = superuser_client.post(url, {"post": "yes"}, follow=True)
    assert "cannot be deleted: it holds 20 invitation codes" in response.content.decode()


def test_admin_code_list_filters_by_contract(superuser_client, codes):
    ContractPriceFactory()
    contract = codes.first().contract
    response = superuser_client.get(
        "/admin/invitations/invitationcode/", {"contract__id__exact": contract.pk}
    )
    assert response.content.decode().count('<th class="field-code">') == 20


def test_admin_refuses_to_delete_a_price_that_codes_use(superuser_client, codes):
    price = codes.first().price
    url = reverse("admin:contracts_contractprice_delete", args=[price.pk])
    response = superuser_client.get(url, follow=True)
    assert "cannot be deleted: invitation codes use it" in response.content.decode()
    assert "deleted successfully" not in response.content.decode()


def test_admin_deletes_an_unused_code_through_the_service(superuser_client, codes):
    code = codes.first()
    url = reverse("admin:invitations_invitationcode_delete", args=[code.pk])
    superuser_client.post(url, {"post": "yes"})
    assert not InvitationCode.objects.filter(pk=code.pk).exists()
    # Its record stays, for the CRM's deletions feed, and is read-only in the admin.
    page = superuser_client.get("/admin/invitations/deletedcode/", {"q": code.code})
    assert page.status_code == 200 and code.code in page.content.decode()
    assert page.context["cl"].result_count == 1
    assert "Add deleted code" not in page.content.decode()


def test_admin_saves_go_through_the_services(superuser_client):
    organisation = ParticipantFactory().contract.organisation
    response = superuser_client.post(
        "/admin/contracts/contract/add/",
        {
            "organisation": organisation.pk,
            "name": "Spring",
            "code": "spr",
            "invitation_prefix": "io!u",
            "status": "active",
            "currency": "EUR",
            "default_code_width": 8,
            "participant_identifier": "id",
            "prices-TOTAL_FORMS": 0,
            "prices-INITIAL_FORMS": 0,
        },
    )
    assert "not allowed: !, U" in response.content.decode()
    superuser_client.post(
        "/admin/contracts/contract/add/",
        {
            "organisation": organisation.pk,
            "name": "Spring",
            "code": "spr",
            "invitation_prefix": "io-a",
            "status": "active",
            "currency": "EUR",
            "default_code_width": 8,
            "participant_identifier": "id",
            "prices-TOTAL_FORMS": 0,
            "prices-INITIAL_FORMS": 0,
        },
    )
    contract = Contract.objects.get(code="SPR")
    assert contract.invitation_prefix == "10A"
    response = superuser_client.post(
        "/admin/contracts/contractprice/add/",
        {
            "contract": contract.pk,
            "product": ProductFactory().pk,
            "price_code": "=1+2",
            "amount": "5",
            "currency": "EUR",
        },
    )
    assert "cannot start with = + - or @" in response.content.decode()
    assert not ContractPrice.objects.filter(contract=contract).exists()


def test_admin_cannot_move_a_code_to_another_contracts_price(superuser_client, codes):
    code = codes.first()
    other = ContractPriceFactory()
    superuser_client.post(
        reverse("admin:invitations_invitationcode_change", args=[code.pk]),
        {
            "price": other.pk,
            "status": "revoked",
            "max_uses": 2,
            "valid_from": "",
            "valid_until": "",
        },
    )
    code.refresh_from_db()
    assert code.price != other
    assert (code.status, code.max_uses) == ("revoked", 2)
    assert code.history.count() == 1


def test_a_service_refusal_on_an_admin_save_is_a_message_not_an_error_page(superuser_client):
    taken = ContractPriceFactory(price_code="STD")
    price = ContractPriceFactory(contract=taken.contract, price_code="PREM")
    response = superuser_client.post(
        reverse("admin:contracts_contractprice_change", args=[price.pk]),
        {"price_code": "std", "amount": "5", "currency": "EUR"},
        follow=True,
    )
    assert response.status_code == 200
    assert "Not saved: This contract already has a price STD." in response.content.decode()
    price.refresh_from_db()
    assert price.price_code == "PREM"


def test_admin_refuses_a_code_limit_below_its_uses(superuser_client, codes):
    code = codes.first()
    InvitationCode.objects.filter(pk=code.pk).update(uses=2, max_uses=3)
    response = superuser_client.post(
        reverse("admin:invitations_invitationcode_change", args=[code.pk]),
        {"status": "active", "max_uses": 1, "valid_from": "", "valid_until": ""},
        follow=True,
    )
    assert "Not saved:" in response.content.decode()
    assert "cannot be lower than 2" in response.content.decode()
    code.refresh_from_db()
    assert code.max_uses == 3


def test_admin_refuses_a_negative_product_price_on_the_form(superuser_client):
    response = superuser_client.post(
        "/admin/contracts/product/add/",
        {"name": "X", "description": "", "base_price": "-1", "currency": "EUR"},
    )
    assert response.status_code == 200
    assert "The base price cannot be negative." in response.content.decode()
    assert not Product.objects.filter(name="X").exists()


def test_admin_deletes_of_products_and_participants_go_through_the_services(
    superuser_client, codes
):
    code = codes.first()
    participant = ParticipantFactory(contract=code.contract)
    InvitationCode.objects.filter(pk=code.pk).update(participant=participant)
    response = superuser_client.get(
        reverse("admin:contracts_participant_delete", args=[participant.pk]), follow=True
    )
    assert "an invitation code is assigned to them" in response.content.decode()
    response = superuser_client.get(
        reverse("admin:contracts_product_delete", args=[code.price.product_id]), follow=True
    )
    assert "1 contract price use it" in response.content.decode()
