import pytest
from django.urls import reverse

from contracts.models import Contract, ContractPrice, Organisation, Product
from invitations import services as code_services
from tests.factories import ContractFactory, ContractPriceFactory, OrganisationFactory

pytestmark = pytest.mark.django_db


def test_the_name_menu_leads_to_contract_management_and_down_to_the_tabs(manager_client):
    contract = ContractFactory(name="Wellbeing 2026", organisation__name="Acme Industries")
    home = manager_client.get("/", follow=True).content.decode()
    management = reverse("contracts:organisation_list")
    assert f'href="{management}">Contract Management</a>' in home
    organisations = manager_client.get(management).content.decode()
    org_url = reverse("contracts:organisation_detail", args=[contract.organisation.pk])
    assert f'<a href="{org_url}">Acme Industries</a>' in organisations
    contracts = manager_client.get(org_url).content.decode()
    contract_url = reverse("contracts:contract_detail", args=[contract.pk])
    assert f'<a href="{contract_url}">Wellbeing 2026</a>' in contracts
    page = manager_client.get(contract_url).content.decode()
    codes_url = reverse("invitations:code_list", args=[contract.pk])
    participants_url = reverse("invitations:participant_list", args=[contract.pk])
    assert f'<a href="{codes_url}" >Invitation Codes</a>' in page
    assert f'<a href="{participants_url}" >Participants</a>' in page


def test_new_organisation_then_new_contract(manager_client):
    response = manager_client.post(
        reverse("contracts:organisation_create"), {"name": "Initech", "code": "ini"}
    )
    organisation = Organisation.objects.get(code="INI")
    assert response["Location"] == reverse("contracts:organisation_detail", args=[organisation.pk])
    response = manager_client.post(
        reverse("contracts:contract_create", args=[organisation.pk]),
        {
            "name": "Flu 2027",
            "code": "flu27",
            "invitation_prefix": "in-i",
            "status": "active",
            "currency": "EUR",
            "default_code_width": 8,
            "participant_identifier": "id",
            "start_date": "2027-01-01",
            "end_date": "2027-06-30",
        },
    )
    contract = Contract.objects.get(code="FLU27")
    assert contract.invitation_prefix == "1N1"
    assert response["Location"] == reverse("contracts:contract_pricing", args=[contract.pk])


def test_a_bad_prefix_is_explained_on_the_contract_form(manager_client):
    organisation = OrganisationFactory()
    response = manager_client.post(
        reverse("contracts:contract_create", args=[organisation.pk]),
        {
            "name": "X",
            "code": "X",
            "invitation_prefix": "AB#",
            "status": "draft",
            "currency": "EUR",
            "default_code_width": 8,
            "participant_identifier": "id",
        },
    )
    assert "not allowed: #" in response.content.decode()
    assert not Contract.objects.exists()


def test_add_product_price_with_a_new_product(manager_client):
    contract = ContractFactory()
    response = manager_client.post(
        reverse("contracts:price_create", args=[contract.pk]),
        {
            "new_product_name": "Eye Test",
            "new_product_base_price": "45.00",
            "price_code": "eye",
            "amount": "39.90",
            "currency": "EUR",
        },
    )
    assert response.status_code == 302
    price = ContractPrice.objects.get(contract=contract)
    assert (price.price_code, str(price.amount), price.product.name) == ("EYE", "39.90", "Eye Test")
    pricing = manager_client.get(reverse("contracts:contract_pricing", args=[contract.pk]))
    assert "Eye Test" in pricing.content.decode()


def test_add_price_needs_a_product(manager_client):
    contract = ContractFactory()
    response = manager_client.post(
        reverse("contracts:price_create", args=[contract.pk]),
        {"price_code": "X", "amount": "1", "currency": "EUR"},
    )
    assert "Choose a product above or name a new one." in response.content.decode()
    assert not Product.objects.exists()


def test_menus_offer_view_edit_delete_and_duplicate(manager_client):
    contract = ContractFactory()
    organisations = manager_client.get(reverse("contracts:organisation_list")).content.decode()
    for label in ("View", "Edit", "Delete"):
        assert f">{label}</a>" in organisations
    contracts = manager_client.get(
        reverse("contracts:organisation_detail", args=[contract.organisation.pk])
    ).content.decode()
    assert ">Duplicate</button>" in contracts
    assert reverse("contracts:contract_duplicate", args=[contract.pk]) in contracts


def test_duplicate_from_the_menu_opens_the_copy_for_editing(manager_client):
    price = ContractPriceFactory()
    response = manager_client.post(
        reverse("contracts:contract_duplicate", args=[price.contract.pk])
    )
    copy = Contract.objects.exclude(pk=price.contract.pk).get()
    assert response["Location"] == reverse("contracts:contract_edit", args=[copy.pk])
    assert copy.prices.count() == 1


def test_deleting_a_contract_with_codes_is_refused_on_the_page(manager_client):
    price = ContractPriceFactory()
    code_services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=2, width=8
    )
    response = manager_client.post(
        reverse("contracts:contract_delete", args=[price.contract.pk]), follow=True
    )
    assert "cannot be deleted: it holds 2 invitation codes" in response.content.decode()
    assert Contract.objects.filter(pk=price.contract.pk).exists()


def test_organisation_search_and_empty_state(manager_client):
    OrganisationFactory(name="Acme")
    OrganisationFactory(name="Globex")
    url = reverse("contracts:organisation_list")
    page = manager_client.get(url, {"q": "glo"}).content.decode()
    assert "Globex" in page and "Acme" not in page
    assert "No organisation matches" in manager_client.get(url, {"q": "zzz"}).content.decode()


def test_the_contract_list_paginates(manager_client):
    organisation = OrganisationFactory()
    for i in range(55):
        ContractFactory(organisation=organisation, name=f"Contract {i:02d}")
    url = reverse("contracts:organisation_detail", args=[organisation.pk])
    first = manager_client.get(url).content.decode()
    assert "Page 1 of 2" in first
    second = manager_client.get(url, {"page": 2}).content.decode()
    assert "Contract 54" in second and "Contract 00" not in second


def test_delete_pages_say_up_front_when_deletion_will_be_refused(manager_client):
    price = ContractPriceFactory()
    code_services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=1, width=8
    )
    for url in (
        reverse("contracts:organisation_delete", args=[price.contract.organisation_id]),
        reverse("contracts:contract_delete", args=[price.contract.pk]),
        reverse("contracts:price_delete", args=[price.pk]),
    ):
        page = manager_client.get(url).content.decode()
        assert "cannot be deleted" in page
        assert "Yes, delete" not in page


def test_a_role_without_the_permission_sees_a_staff_page_saying_so(client):
    from core import roles
    from tests.factories import UserFactory

    client.force_login(UserFactory(role=roles.VIEWER))
    response = client.get(reverse("contracts:organisation_create"))
    assert response.status_code == 403
    assert "Your role does not include this page" in response.content.decode()


def test_a_product_is_edited_from_its_page(manager_client):
    price = ContractPriceFactory(product__name="Eye Test")
    url = reverse("contracts:product_edit", args=[price.product_id])
    response = manager_client.post(
        url, {"name": "Eye Test Plus", "description": "", "base_price": "50.00", "currency": "EUR"}
    )
    assert response["Location"] == reverse("contracts:product_detail", args=[price.product_id])
    price.product.refresh_from_db()
    assert (price.product.name, str(price.product.base_price)) == ("Eye Test Plus", "50.00")
    refused = manager_client.post(
        url, {"name": "X", "description": "", "base_price": "-1", "currency": "EUR"}
    )
    assert "greater than or equal to 0" in refused.content.decode()
