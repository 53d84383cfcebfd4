"""pass.redeemed reaches the endpoints of the organisation a plan is for."""

import json
from decimal import Decimal

import pytest

from core import pins, webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from passes import services
from passes.models import Pass
from tests.core.receiver import Receiver
from tests.factories import OrganisationFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def organisation():
    return OrganisationFactory(external_id="crm-7")


def gift_plan(organisation=None):
    plan = services.pass_plan_create(
        actor=None,
        name="Spring gift card",
        type="gift",
        format="printed",
        value_min=Decimal("25.00"),
        currency="EUR",
        pin_required=True,
        quantity=2,
        organisation=organisation,
    )
    services.pass_plan_activate(actor=None, plan=plan)
    return plan


def pass_with_pin(plan) -> tuple[Pass, str]:
    pass_obj = plan.passes.order_by("id").first()
    pin = pins.new_pin()
    Pass.objects.filter(pk=pass_obj.pk).update(pin_hash=pins.pin_hash(pin))
    return pass_obj, pin


def test_a_redeemed_pass_is_announced_to_its_organisations_endpoint(
    organisation, receiver, django_capture_on_commit_callbacks
):
    endpoint = WebhookEndpoint.objects.create(url=receiver.url)
    organisation.webhook_endpoints.add(endpoint)
    pass_obj, pin = pass_with_pin(gift_plan(organisation))
    contact = UserFactory(is_staff=False)
    with django_capture_on_commit_callbacks(execute=True):
        redemption = services.pass_redeem(code=pass_obj.code, pin=pin, contact=contact)
    [request] = receiver.requests
    assert webhooks.signature_valid(
        endpoint.secret, request["headers"]["Voucherdesk-Signature"], request["body"]
    )
    payload = json.loads(request["body"])
    assert payload["type"] == "pass.redeemed"
    data = payload["data"]
    assert data["organisation"]["external_id"] == "crm-7"
    assert (data["pass"]["code"], data["pass"]["status"]) == (pass_obj.code, "redeemed")
    assert data["pass"]["value"] == "25.00"
    assert data["redemption"]["contact"] == {"id": contact.pk, "email": contact.email}
    assert data["redemption"]["wallet"] == redemption.wallet_transaction.wallet_id
    assert data["redemption"]["amount"] == "25.00"


def test_a_plan_for_no_organisation_announces_nothing(receiver):
    endpoint = WebhookEndpoint.objects.create(url=receiver.url)
    OrganisationFactory().webhook_endpoints.add(endpoint)
    pass_obj, pin = pass_with_pin(gift_plan())
    services.pass_redeem(code=pass_obj.code, pin=pin)
    assert not WebhookDelivery.objects.exists()


def test_a_refused_redemption_announces_nothing(organisation, receiver):
    organisation.webhook_endpoints.add(WebhookEndpoint.objects.create(url=receiver.url))
    pass_obj, pin = pass_with_pin(gift_plan(organisation))
    with pytest.raises(services.PassRefused):
        services.pass_redeem(code=pass_obj.code, pin="0000" if pin != "0000" else "1111")
    assert not WebhookDelivery.objects.exists()
