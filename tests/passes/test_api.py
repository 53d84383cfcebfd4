"""The pass API: PATCH a pass (with an event per change), redeem, issue; throttling."""

from datetime import date
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from core import roles
from passes import services
from passes.models import Pass, PassEvent
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def gift():
    plan = services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=Decimal("20"),
        value_max=Decimal("100"), pin_required=True,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    return plan


def staff(role=roles.CONTRACT_MANAGER) -> APIClient:
    client = APIClient()
    client.force_authenticate(UserFactory(role=role))
    return client


def test_patch_changes_a_pass_and_writes_an_event_for_each_change(gift):
    issued, _ = services.pass_issue(actor=None, plan=gift, contact=None)
    response = staff().patch(
        f"/api/v1/passes/{issued.code.lower()}",
        {"status": "cancelled", "expires_on": "2027-06-30", "value": "45.00"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert (response.json()["status"], response.json()["expires_on"]) == ("cancelled", "2027-06-30")
    issued.refresh_from_db()
    assert (issued.status, issued.expires_on, issued.value) == (
        "cancelled",
        date(2027, 6, 30),
        Decimal("45.00"),
    )
    changes = list(issued.events.exclude(type="issued").values_list("type", "data"))
    assert [t for t, _ in changes] == ["status_changed", "expiry_changed", "value_changed"]
    assert changes[0][1] == {"from": "active", "to": "cancelled"}


def test_a_pin_reset_returns_the_new_pin_once_and_the_old_one_stops_working(gift):
    issued, old_pin = services.pass_issue(actor=None, plan=gift, contact=None)
    body = staff().patch(f"/api/v1/passes/{issued.code}", {"reset_pin": True}, format="json").json()
    new_pin = body["pin"]
    assert new_pin != old_pin and len(new_pin) == 6
    assert "pin" not in staff().get(f"/api/v1/passes/{issued.code}").json()
    with pytest.raises(services.PassRefused, match="PIN does not match"):
        services.pass_redeem(code=issued.code, pin=old_pin)
    assert services.pass_redeem(code=issued.code, pin=new_pin)
    assert PassEvent.objects.filter(pass_obj=issued, type="pin_reset").count() == 1


def test_a_redeemed_pass_keeps_its_state_and_value(gift):
    issued, pin = services.pass_issue(actor=None, plan=gift, contact=None)
    services.pass_redeem(code=issued.code, pin=pin)
    response = staff().patch(
        f"/api/v1/passes/{issued.code}", {"status": "active", "value": "99"}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"status", "value"}
    assert Pass.objects.get(pk=issued.pk).status == "redeemed"


def test_changing_passes_needs_the_permission(gift):
    issued, _ = services.pass_issue(actor=None, plan=gift, contact=None)
    response = staff(roles.VIEWER).patch(
        f"/api/v1/passes/{issued.code}", {"status": "cancelled"}, format="json"
    )
    assert response.status_code == 403
    assert Pass.objects.get(pk=issued.pk).status == "active"


def test_issue_then_redeem_through_the_api(gift):
    contact = UserFactory(is_staff=False, email="ana@example.com")
    issued = staff().post(
        f"/api/v1/pass-plans/{gift.pk}/passes", {"email": "ana@example.com", "value": "60"},
        format="json",
    )  # fmt: skip
    assert issued.status_code == 201, issued.json()
    body = issued.json()
    visitor = APIClient()
    visitor.force_authenticate(contact)
    redeemed = visitor.post(
        "/api/v1/passes/redeem", {"code": body["code"], "pin": body["pin"]}, format="json"
    )
    assert redeemed.status_code == 201, redeemed.json()
    assert (redeemed.json()["amount"], redeemed.json()["balance_after"]) == ("60.00", "60.00")
    again = visitor.post(
        "/api/v1/passes/redeem", {"code": body["code"], "pin": body["pin"]}, format="json"
    )
    assert again.status_code == 400
    assert again.json() == {"detail": "This pass has been redeemed already."}


def test_a_client_guessing_codes_is_refused_after_20_failures(gift):
    issued, pin = services.pass_issue(actor=None, plan=gift, contact=None)
    for _ in range(20):
        with pytest.raises(services.PassRefused, match="PIN does not match"):
            services.pass_redeem(code=issued.code, pin="000000", client="203.0.113.9")
        PassEvent.objects.filter(type="pin_failed").delete()  # keep the pass's own lockout out
    with pytest.raises(services.PassRefused, match="Too many failed attempts from your connection"):
        services.pass_redeem(code=issued.code, pin=pin, client="203.0.113.9")
    # Another client is not held back.
    assert services.pass_redeem(code=issued.code, pin=pin, client="198.51.100.7")


def test_a_purchase_event_through_the_api_returns_the_codes_given(gift):
    promo = services.pass_plan_create(
        actor=None, name="Shoes", type="promotion", format="electronic", offer="Free laces",
        target_products=["SHOE-1"],
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=promo)
    body = {"reference": "order-77", "contact_email": "New@Example.com", "products": ["SHOE-1"]}
    response = staff().post("/api/v1/events/purchase", body, format="json")
    assert response.status_code == 201, response.json()
    (result,) = response.json()["results"]
    issued = Pass.objects.get(code=result["code"])
    assert (issued.plan, issued.contact.email) == (promo, "new@example.com")
    again = staff().post("/api/v1/events/purchase", body, format="json")
    assert again.json()["results"] == response.json()["results"]
    assert promo.passes.count() == 1
    assert (
        staff(roles.VIEWER).post("/api/v1/events/purchase", body, format="json").status_code == 403
    )


def test_an_anonymous_api_redemption_returns_the_nameless_wallets_links(gift):
    issued, pin = services.pass_issue(actor=None, plan=gift, contact=None)
    body = (
        APIClient()
        .post("/api/v1/passes/redeem", {"code": issued.code, "pin": pin}, format="json")
        .json()
    )
    assert "/wallet/claim/" in body["claim_url"] and "/wallet/" in body["wallet_url"]
