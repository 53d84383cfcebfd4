"""Pass plans, activation with PINs, the batch PDF, and exactly-once redemption."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from core import pins
from core.errors import DomainError
from passes import services
from passes.models import OfferActivation, Pass, PassBatch, PassEvent, PassPlan, PassRedemption
from tests.factories import UserFactory
from wallets import services as wallet_services
from wallets.models import Wallet, WalletBalance

pytestmark = pytest.mark.django_db


def plan(**overrides) -> PassPlan:
    fields = {
        "name": "Spring gift card",
        "type": "gift",
        "format": "printed",
        "value_min": Decimal("25.00"),
        "currency": "EUR",
        "pin_required": True,
        "prefix": "GFT",
        "code_width": 10,
        "quantity": 20,
        "valid_days": 365,
    } | overrides
    return services.pass_plan_create(actor=None, **fields)


@pytest.fixture
def printed():
    """An activated printed gift plan of 20 passes, with the PINs the PDF printed."""
    gift = plan()
    services.pass_plan_activate(actor=None, plan=gift)
    batch = gift.batches.get()
    return gift, batch


def test_activating_a_printed_plan_generates_its_passes_with_hashed_pins_and_a_pdf(printed):
    gift, batch = printed
    assert (batch.status, batch.generated) == (PassBatch.Status.DONE, 20)
    passes = list(gift.passes.all())
    assert len(passes) == 20 and len({p.code for p in passes}) == 20
    assert all(p.code.startswith("GFT") and len(p.code) == 13 for p in passes)
    assert all(len(p.pin_hash) == 64 for p in passes)  # keyed hashes, never the PINs
    assert {p.value for p in passes} == {Decimal("25.00")}
    assert {p.expires_on for p in passes} == {timezone.localdate() + timedelta(days=365)}
    assert PassEvent.objects.filter(type="issued").count() == 20
    with batch.pdf.open("rb") as pdf:
        data = pdf.read()
    assert data.startswith(b"%PDF") and b"/Count 2\n" in data  # 20 passes, 10 to a page


def test_activating_a_plan_twice_is_refused(printed):
    gift, _ = printed
    with pytest.raises(DomainError, match="is active: only a draft plan can be activated"):
        services.pass_plan_activate(actor=None, plan=gift)
    assert gift.passes.count() == 20


def test_a_plan_is_locked_once_passes_exist(printed):
    gift, _ = printed
    with pytest.raises(DomainError, match="its settings are locked"):
        services.pass_plan_update(actor=None, plan=gift, name="Renamed")


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"type": "promotion", "value_min": None, "offer": "10% off"}, "pin_required", "no PIN"),
        ({"value_min": Decimal("0")}, "value_min", "above zero"),
        ({"value_min": Decimal("50"), "value_max": Decimal("10")}, "value_max", "at least"),
        ({"value_max": Decimal("250")}, "value_max", "fixed value"),
        ({"quantity": None}, "quantity", "needs a quantity"),
        ({"valid_until": date(2027, 1, 1)}, "valid_days", "not both"),
        ({"code_width": 5}, "code_width", "between 6 and 20"),
        ({"prefix": "GFT!"}, "prefix", "not allowed"),
    ],
)
def test_plan_settings_are_checked(overrides, field, message):
    with pytest.raises(ValidationError) as refused:
        plan(**overrides)
    assert message in " ".join(refused.value.message_dict[field])
    assert not PassPlan.objects.exists()


def _one_pass_and_pin(plan_obj: PassPlan) -> tuple[Pass, str]:
    """A pass with a PIN we know: reset it the way a reprint would."""
    pass_obj = plan_obj.passes.order_by("id").first()
    pin = pins.new_pin()
    Pass.objects.filter(pk=pass_obj.pk).update(pin_hash=pins.pin_hash(pin))
    return pass_obj, pin


def test_a_gift_redeemed_by_a_visitor_goes_into_a_nameless_wallet(printed):
    gift, _ = printed
    pass_obj, pin = _one_pass_and_pin(gift)
    redemption = services.pass_redeem(code=pass_obj.code.lower(), pin=pin)
    wallet = redemption.wallet_transaction.wallet
    assert wallet.is_nameless and wallet.claim_token
    assert WalletBalance.objects.get(wallet=wallet).amount == Decimal("25.00")
    pass_obj.refresh_from_db()
    assert pass_obj.status == Pass.Status.REDEEMED
    user = UserFactory(is_staff=False)
    wallet_services.wallet_claim(claim_token=wallet.claim_token, user=user)
    assert Wallet.objects.get(owner=user).pk == wallet.pk


def test_a_gift_redeemed_by_a_contact_credits_their_wallet(printed):
    gift, _ = printed
    contact = UserFactory(is_staff=False)
    own = wallet_services.wallet_create(owner=contact, currency="EUR")
    pass_obj, pin = _one_pass_and_pin(gift)
    services.pass_redeem(code=pass_obj.code, pin=pin, contact=contact)
    assert WalletBalance.objects.get(wallet=own).amount == Decimal("25.00")


def test_a_pass_is_redeemed_once(printed):
    gift, _ = printed
    pass_obj, pin = _one_pass_and_pin(gift)
    services.pass_redeem(code=pass_obj.code, pin=pin)
    with pytest.raises(services.PassRefused, match="redeemed already"):
        services.pass_redeem(code=pass_obj.code, pin=pin)
    assert PassRedemption.objects.count() == 1


def test_a_wrong_pin_changes_nothing_and_five_lock_the_pass(printed):
    gift, _ = printed
    pass_obj, pin = _one_pass_and_pin(gift)
    for _ in range(5):
        with pytest.raises(services.PassRefused, match=r"The PIN does not match this pass\."):
            services.pass_redeem(code=pass_obj.code, pin="000000" if pin != "000000" else "1")
    with pytest.raises(services.PassRefused, match="locked for 15 minutes"):
        services.pass_redeem(code=pass_obj.code, pin=pin)  # even the right PIN, for now
    assert PassEvent.objects.filter(type="pin_failed").count() == 5
    assert not PassRedemption.objects.exists()
    assert Pass.objects.get(pk=pass_obj.pk).status == Pass.Status.ACTIVE


def test_expired_and_cancelled_passes_and_typos_are_refused(printed):
    gift, _ = printed
    expired, pin = _one_pass_and_pin(gift)
    Pass.objects.filter(pk=expired.pk).update(expires_on=date(2020, 1, 31))
    with pytest.raises(services.PassRefused, match=r"This pass expired on 31 Jan 2020\."):
        services.pass_redeem(code=expired.code, pin=pin)
    cancelled = gift.passes.exclude(pk=expired.pk).first()
    Pass.objects.filter(pk=cancelled.pk).update(status="cancelled", pin_hash=pins.pin_hash(pin))
    with pytest.raises(services.PassRefused, match="cancelled"):
        services.pass_redeem(code=cancelled.code, pin=pin)
    typo = expired.code[:-1] + ("0" if expired.code[-1] != "0" else "1")
    with pytest.raises(services.PassRefused, match="This code has a typo"):
        services.pass_redeem(code=typo, pin=pin)
    assert not PassRedemption.objects.exists()


def test_a_topup_into_a_wallet_of_another_currency_is_refused():
    topup = plan(type="topup", format="electronic", quantity=None, pin_required=False)
    services.pass_plan_activate(actor=None, plan=topup)
    contact = UserFactory(is_staff=False)
    wallet_services.wallet_create(owner=contact, currency="GBP")
    issued, _ = services.pass_issue(actor=None, plan=topup, contact=contact)
    with pytest.raises(
        services.PassRefused, match=r"A top-up needs a wallet in EUR; yours holds GBP\."
    ):
        services.pass_redeem(code=issued.code, contact=contact)
    assert Pass.objects.get(pk=issued.pk).status == Pass.Status.ACTIVE
    assert not PassRedemption.objects.exists()


def test_an_electronic_gift_with_a_value_range_takes_the_value_chosen():
    gift = plan(format="electronic", quantity=None, value_min=50, value_max=250)
    services.pass_plan_activate(actor=None, plan=gift)
    issued, pin = services.pass_issue(actor=None, plan=gift, contact=None, value=Decimal("120"))
    assert issued.value == Decimal("120.00") and len(pin) == 6
    with pytest.raises(ValidationError):
        services.pass_issue(actor=None, plan=gift, contact=None, value=Decimal("300"))
    redemption = services.pass_redeem(code=issued.code, pin=pin)
    assert redemption.wallet_transaction.amount == Decimal("120.00")


def promotion(**overrides) -> PassPlan:
    return plan(
        **{
            "type": "promotion",
            "format": "electronic",
            "quantity": None,
            "value_min": None,
            "pin_required": False,
            "offer": "10% off the next visit",
        }
        | overrides
    )


def test_a_unique_promotion_code_activates_the_offer_for_its_contact_once():
    promo = promotion()
    services.pass_plan_activate(actor=None, plan=promo)
    contact = UserFactory(is_staff=False)
    issued, _ = services.pass_issue(actor=None, plan=promo, contact=contact)
    with pytest.raises(services.PassRefused, match="issued to somebody else"):
        services.pass_redeem(code=issued.code, contact=UserFactory(is_staff=False))
    activation = services.pass_redeem(code=issued.code, contact=contact)
    assert (activation.offer, activation.contact) == ("10% off the next visit", contact)
    with pytest.raises(services.PassRefused, match="redeemed already"):
        services.pass_redeem(code=issued.code, contact=contact)
    assert OfferActivation.objects.count() == 1


def test_a_universal_code_activates_the_offer_once_per_contact():
    promo = promotion(code_mode="universal")
    services.pass_plan_activate(actor=None, plan=promo)
    universal = promo.passes.get()
    first, second = UserFactory(is_staff=False), UserFactory(is_staff=False)
    services.pass_redeem(code=universal.code, contact=first)
    services.pass_redeem(code=universal.code, contact=second)
    with pytest.raises(services.PassRefused, match="activated this offer already"):
        services.pass_redeem(code=universal.code, contact=first)
    with pytest.raises(services.PassRefused, match="Log in to activate this offer"):
        services.pass_redeem(code=universal.code)
    assert OfferActivation.objects.filter(pass_obj=universal).count() == 2
    assert Pass.objects.get(pk=universal.pk).status == Pass.Status.ACTIVE


def test_a_purchase_event_gives_matching_promotions_codes_once_per_reference():
    shoes = promotion(name="Shoe promo", target_products=["SHOE-1"], target_segments=["gold"])
    universal = promotion(name="Everyone", code_mode="universal")
    other = promotion(name="Hats only", target_products=["HAT-9"])
    for p in (shoes, universal, other):
        services.pass_plan_activate(actor=None, plan=p)
    contact = UserFactory(is_staff=False)

    event = services.purchase_event_record(
        actor=None, reference="order-1", contact=contact, products=["SHOE-1", "SOCK-2"],
        segments=["gold"],
    )  # fmt: skip
    given = {r["plan"]: r for r in event.results}
    assert set(given) == {shoes.pk, universal.pk}
    assert given[universal.pk]["code"] == universal.passes.get().code
    assert shoes.passes.get(contact=contact).code == given[shoes.pk]["code"]

    again = services.purchase_event_record(
        actor=None, reference="order-1", contact=contact, products=["SHOE-1"], segments=["gold"]
    )
    assert again.pk == event.pk and shoes.passes.count() == 1
    services.purchase_event_record(
        actor=None, reference="order-2", contact=contact, products=["SHOE-1"], segments=["gold"]
    )
    assert shoes.passes.count() == 1  # one unique code per contact


def test_a_universal_code_is_only_for_electronic_promotions():
    with pytest.raises(ValidationError) as refused:
        plan(code_mode="universal")
    assert "Only an electronic promotion" in refused.value.message_dict["code_mode"][0]


def test_credited_funds_carry_the_plans_spending_limit():
    gift = plan(format="electronic", quantity=None, funds_valid_days=30)
    services.pass_plan_activate(actor=None, plan=gift)
    issued, pin = services.pass_issue(actor=None, plan=gift, contact=None)
    credit = services.pass_redeem(code=issued.code, pin=pin).wallet_transaction
    assert credit.expires_on == timezone.localdate() + timedelta(days=30)


def test_a_batch_run_again_prints_new_pins_for_the_passes_it_made_before(printed, monkeypatch):
    """The PINs of a first run live only in its memory: a second run must reprint them."""
    from passes import documents

    gift, batch = printed
    PassBatch.objects.filter(pk=batch.pk).update(status="failed", pdf="")
    printed_pins = {}
    monkeypatch.setattr(
        documents, "batch_pdf_save", lambda *, batch, pins: printed_pins.update(pins) or batch
    )
    services.pass_batch_generate(batch_id=batch.pk)
    assert set(printed_pins) == set(gift.passes.values_list("code", flat=True))
    code, pin = next(iter(printed_pins.items()))
    assert services.pass_redeem(code=code, pin=pin)


@pytest.mark.parametrize("status", [Pass.Status.EXPIRED, Pass.Status.CANCELLED])
def test_a_reprinted_batch_gives_its_expired_and_cancelled_passes_new_pins_too(
    printed, monkeypatch, status
):
    """Either can be made active again (a later expiry; staff setting it active): its
    reprinted PIN must work then."""
    from passes import documents

    gift, batch = printed
    pass_obj = gift.passes.order_by("id").first()
    Pass.objects.filter(pk=pass_obj.pk).update(status=status)
    PassBatch.objects.filter(pk=batch.pk).update(status="failed", pdf="")
    printed_pins = {}
    monkeypatch.setattr(
        documents, "batch_pdf_save", lambda *, batch, pins: printed_pins.update(pins) or batch
    )
    services.pass_batch_generate(batch_id=batch.pk)
    assert pass_obj.code in printed_pins
    pass_obj.refresh_from_db()
    services.pass_update(actor=None, pass_obj=pass_obj, status=Pass.Status.ACTIVE)
    assert services.pass_redeem(code=pass_obj.code, pin=printed_pins[pass_obj.code])


def test_a_running_batch_is_not_generated_twice(printed):
    gift, batch = printed
    PassBatch.objects.filter(pk=batch.pk).update(status="running")
    services.pass_batch_generate(batch_id=batch.pk)
    assert gift.passes.count() == 20


def test_an_active_plan_cannot_be_edited_even_before_its_passes_exist():
    gift = plan(format="electronic", quantity=None)
    services.pass_plan_activate(actor=None, plan=gift)
    with pytest.raises(DomainError, match="locked once it is activated"):
        services.pass_plan_update(actor=None, plan=gift, pin_required=False)


def test_a_pass_value_stays_within_its_plans_range():
    gift = plan(format="electronic", quantity=None, value_min=20, value_max=100)
    services.pass_plan_activate(actor=None, plan=gift)
    issued, _ = services.pass_issue(actor=None, plan=gift, contact=None)
    with pytest.raises(ValidationError) as refused:
        services.pass_update(actor=None, pass_obj=issued, value=Decimal("9999999"))
    assert "the plan's range" in refused.value.message_dict["value"][0]


def test_a_batch_abandoned_by_its_worker_is_taken_up_again(printed, monkeypatch):
    from passes import documents

    gift, batch = printed
    long_ago = timezone.now() - timedelta(hours=3)
    PassBatch.objects.filter(pk=batch.pk).update(status="printing", started_at=long_ago)
    reprinted = {}
    monkeypatch.setattr(
        documents, "batch_pdf_save", lambda *, batch, pins: reprinted.update(pins) or batch
    )
    done = services.pass_batch_generate(batch_id=batch.pk)
    assert done.status == PassBatch.Status.DONE and len(reprinted) == 20
    assert gift.passes.count() == 20
