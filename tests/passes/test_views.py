"""Pass Plans staff pages and the public redeem, claim and wallet pages."""

import io
import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from pypdf import PdfReader

from core import roles
from passes import services
from passes.models import Pass, PassEvent, PassPlan
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


@pytest.fixture
def on_sale(settings):
    settings.PASS_TEST_PAYMENTS = True  # tests run with DEBUG off, as production does
    plan = services.pass_plan_create(
        actor=None, name="Birthday gift", type="gift", format="electronic",
        value_min=Decimal("20"), value_max=Decimal("200"), pin_required=True, valid_days=365,
        sold_online=True,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    return plan


def _buy(client, plan, **extra):
    data = {
        "value": "75.00",
        "buyer_name": "Ana",
        "buyer_email": "ana@example.com",
        "beneficiary_name": "Ben",
        "beneficiary_email": "Ben@Example.com",
        "message": "Happy birthday!",
        "request_token": "form-token-1",
    } | extra
    return client.post(reverse("passes:gift_buy", args=[plan.pk]), data)


def test_a_gift_is_bought_in_test_mode_and_emailed_with_its_pin(
    client, on_sale, mailoutbox, django_capture_on_commit_callbacks
):
    page = client.get(reverse("passes:gift_buy", args=[on_sale.pk])).content.decode()
    assert "Test mode: no card is charged" in page and "Pay (test mode) and send" in page
    with django_capture_on_commit_callbacks(execute=True):
        with_sent = _buy(client, on_sale)
    assert "an email with the pass and its PIN is on its way to ben@example.com" in (
        with_sent.content.decode()
    )
    order = on_sale.orders.get()
    assert (order.status, order.payment_provider, order.value) == ("paid", "test", Decimal("75"))
    assert order.pass_obj.value == Decimal("75.00")
    (mail,) = mailoutbox
    assert mail.to == ["ben@example.com"]
    assert mail.subject == "You received a gift pass: 75.00 EUR"
    assert "Ana sent you a gift pass of 75.00 EUR." in mail.body
    pin = re.search(r"Your PIN: (\d{6})", mail.body)[1]
    assert order.pass_obj.code in mail.body and "no money was charged" in mail.body
    assert reverse("passes:gift_landing", args=[order.token]) in mail.body
    assert services.pass_verify(code=order.pass_obj.code, pin=pin)


def test_a_value_outside_the_range_is_refused_and_nothing_is_issued(client, on_sale, mailoutbox):
    page = _buy(client, on_sale, value="500").content.decode()
    assert "Choose a value between 20.00 and 200.00." in page
    assert not on_sale.orders.exists() and not Pass.objects.exists() and not mailoutbox


def test_the_beneficiary_registers_and_redeems_into_their_wallet(
    client, on_sale, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _buy(client, on_sale)
    order = on_sale.orders.get()
    pin = re.search(r"Your PIN: (\d{6})", mailoutbox[0].body)[1]
    url = reverse("passes:gift_landing", args=[order.token])
    account = {"username": "ben", "email": "ben@example.com",
               "password1": "a-long-pass-42", "password2": "a-long-pass-42"}  # fmt: skip

    wrong = client.post(url, {**account, "pin": "000000" if pin != "000000" else "1"})
    assert "The PIN does not match this pass." in wrong.content.decode()
    assert not Wallet.objects.exists()
    assert not get_user_model().objects.filter(username="ben").exists()
    assert PassEvent.objects.filter(type="pin_failed").count() == 1  # counted all the same

    done = client.post(url, {**account, "pin": pin})
    wallet = Wallet.objects.get(owner__username="ben")
    assert done["Location"] == reverse("passes:wallet_page", args=[wallet.page_token])
    assert wallet.balances.get().amount == Decimal("75.00")
    again = client.get(url).content.decode()
    assert "This gift has been redeemed." in again


def test_a_double_submit_is_one_order_and_one_pass(
    client, on_sale, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _buy(client, on_sale)
        _buy(client, on_sale)
    assert on_sale.orders.count() == 1 and Pass.objects.count() == 1 and len(mailoutbox) == 1


def test_names_with_quotes_and_ampersands_read_right_in_the_email(
    client, on_sale, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _buy(client, on_sale, buyer_name="Tom & O'Neil\nBcc: x@example.com")
    body = mailoutbox[0].body
    assert "Tom & O'Neil Bcc: x@example.com sent you" in body and "&amp;" not in body


def test_in_production_the_test_payment_step_sells_nothing(client, on_sale, settings):
    settings.DEBUG, settings.PASS_TEST_PAYMENTS = False, False
    page = client.get(reverse("passes:gift_buy", args=[on_sale.pk])).content.decode()
    assert "not sold online yet: no payment provider is configured" in page
    _buy(client, on_sale)
    assert not on_sale.orders.exists()
    settings.PASS_TEST_PAYMENTS = True
    assert "Pay (test mode) and send" in (
        client.get(reverse("passes:gift_buy", args=[on_sale.pk])).content.decode()
    )


def test_plans_not_sold_online_have_no_landing_page(client):
    plan = services.pass_plan_create(
        actor=None, name="Staff only", type="gift", format="electronic", value_min=Decimal("20")
    )
    services.pass_plan_activate(actor=None, plan=plan)
    assert client.get(reverse("passes:gift_buy", args=[plan.pk])).status_code == 404


def test_a_second_click_on_redeem_shows_the_claim_link_again(client):
    plan = services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=Decimal("30"),
        pin_required=True,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    issued, pin = services.pass_issue(actor=None, plan=plan, contact=None)
    client.post(reverse("passes:redeem"), {"code": issued.code, "pin": pin})
    again = client.post(reverse("passes:redeem"), {"code": issued.code, "pin": pin})
    wallet = Wallet.objects.get()
    text = again.content.decode()
    assert "You redeemed this pass a moment ago" in text
    assert reverse("passes:wallet_claim", args=[wallet.claim_token]) in text
