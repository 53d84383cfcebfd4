"""Pass Plans staff pages and the public redeem, claim and wallet pages."""

import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from pypdf import PdfReader

from core import roles
from passes import services
from passes.models import Pass, PassPlan
from tests.factories import UserFactory
from wallets.models import Wallet

pytestmark = pytest.mark.django_db

PLAN = {
    "name": "Summer gift",
    "type": "gift",
    "format": "printed",
    "value_min": "40.00",
    "currency": "EUR",
    "valid_days": "90",
    "wallet_balance": "main",
    "pin_required": "on",
    "prefix": "SMR",
    "code_width": "10",
    "quantity": "12",
}


def test_new_plan_activate_and_download_the_pdf_with_pins(manager_client):
    response = manager_client.post(reverse("pass_plans:plan_create"), PLAN)
    plan = PassPlan.objects.get()
    assert response["Location"] == reverse("pass_plans:plan_detail", args=[plan.pk])
    page = manager_client.get(response["Location"]).content.decode()
    assert "Activate and generate 12 passes" in page and "No passes yet." in page

    manager_client.post(reverse("pass_plans:plan_activate", args=[plan.pk]))
    page = manager_client.get(reverse("pass_plans:plan_detail", args=[plan.pk])).content.decode()
    assert "12 printed passes." in page and "Download PDF" in page
    assert page.count("<code>SMR") == 12

    batch = plan.batches.get()
    pdf = manager_client.get(reverse("pass_plans:batch_pdf", args=[batch.pk]))
    assert pdf["Content-Type"] == "application/pdf"
    text = "".join(
        p.extract_text() for p in PdfReader(io.BytesIO(b"".join(pdf.streaming_content))).pages
    )
    printed = dict(re.findall(r"(SMR[0-9A-Z]{10})\s+PIN (\d{6})", text))
    assert set(printed) == set(plan.passes.values_list("code", flat=True))
    code, pin = next(iter(printed.items()))
    # The printed PIN is the one the pass accepts.
    assert services.pass_redeem(code=code, pin=pin).wallet_transaction.amount == Decimal("40.00")


def test_activating_twice_says_so(manager_client):
    manager_client.post(reverse("pass_plans:plan_create"), PLAN)
    plan = PassPlan.objects.get()
    url = reverse("pass_plans:plan_activate", args=[plan.pk])
    manager_client.post(url)
    page = manager_client.post(url, follow=True).content.decode()
    assert "only a draft plan can be activated" in page
    assert plan.passes.count() == 12


def test_a_pin_on_a_promotion_plan_is_refused_on_the_form(manager_client):
    data = PLAN | {"type": "promotion", "value_min": "", "offer": "Free coffee"}
    page = manager_client.post(reverse("pass_plans:plan_create"), data).content.decode()
    assert "A promotion pass has no PIN" in page
    assert not PassPlan.objects.exists()


def test_issue_an_electronic_pass_shows_its_pin_once(manager_client):
    data = PLAN | {"format": "electronic", "quantity": "", "value_max": "100.00"}
    manager_client.post(reverse("pass_plans:plan_create"), data)
    plan = PassPlan.objects.get()
    manager_client.post(reverse("pass_plans:plan_activate", args=[plan.pk]))
    contact = UserFactory(is_staff=False, email="ana@example.com")
    page = manager_client.post(
        reverse("pass_plans:pass_issue", args=[plan.pk]),
        {"email": "ANA@example.com", "value": "75.00"},
        follow=True,
    ).content.decode()
    issued = Pass.objects.get()
    assert (issued.contact, issued.value) == (contact, Decimal("75.00"))
    assert re.search(rf"Pass {issued.code} issued with PIN \d{{6}} \(shown only now\)", page)
    again = manager_client.get(reverse("pass_plans:plan_detail", args=[plan.pk])).content.decode()
    assert "shown only now" not in again


def test_the_pdf_is_for_staff_who_may_change_plans(client, manager_client):
    manager_client.post(reverse("pass_plans:plan_create"), PLAN)
    plan = PassPlan.objects.get()
    manager_client.post(reverse("pass_plans:plan_activate", args=[plan.pk]))
    client.force_login(UserFactory(role=roles.SUPPORT))
    assert (
        client.get(reverse("pass_plans:batch_pdf", args=[plan.batches.get().pk])).status_code == 403
    )


def test_a_visitor_redeems_claims_the_wallet_and_sees_the_balance(client):
    plan = services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=Decimal("30"),
        pin_required=True,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    issued, pin = services.pass_issue(actor=None, plan=plan, contact=None)

    wrong = client.post(reverse("passes:redeem"), {"code": issued.code, "pin": "x"})
    assert "The PIN does not match this pass." in wrong.content.decode()
    page = client.post(reverse("passes:redeem"), {"code": issued.code.lower(), "pin": pin})
    text = page.content.decode()
    assert "30.00 EUR</b> added to a new wallet" in text
    wallet = Wallet.objects.get()
    claim_url = reverse("passes:wallet_claim", args=[wallet.claim_token])
    assert claim_url in text

    registered = client.post(
        claim_url,
        {"username": "zoe", "email": "zoe@example.com", "password1": "a-long-pass-42",
         "password2": "a-long-pass-42"},
    )  # fmt: skip
    wallet.refresh_from_db()
    assert wallet.owner.username == "zoe" and wallet.claim_token is None
    assert registered["Location"] == reverse("passes:wallet_page", args=[wallet.page_token])
    mobile = client.get(registered["Location"]).content.decode()
    assert "30.00 EUR" in mobile and "Gift pass" in mobile and "<svg" in mobile
    assert client.get(claim_url).status_code == 404  # the link is spent
