"""Passes under real concurrent transactions on PostgreSQL."""

from decimal import Decimal

import pytest

from core import codes, pins
from passes import services
from passes.models import Pass, PassEvent, PassRedemption
from tests.threads import run_together
from wallets.models import WalletTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_20_concurrent_redemptions_of_one_pass_credit_once():
    plan = services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="printed", value_min=Decimal("30"),
        currency="EUR", pin_required=True, prefix="CCX", code_width=10, quantity=3,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    target = plan.passes.first()
    pin = pins.new_pin()
    Pass.objects.filter(pk=target.pk).update(pin_hash=pins.pin_hash(pin))
    outcomes = run_together([lambda: services.pass_redeem(code=target.code, pin=pin)] * 20)
    won = [o for o in outcomes if isinstance(o, PassRedemption)]
    refused = [o for o in outcomes if isinstance(o, services.PassRefused)]
    assert (len(won), len(refused)) == (1, 19), outcomes
    assert all("redeemed already" in r.message for r in refused)
    assert WalletTransaction.objects.count() == 1
    assert PassRedemption.objects.count() == 1


def test_parallel_wrong_pins_are_counted_before_the_next_is_tried():
    plan = services.pass_plan_create(
        actor=None, name="Gift", type="gift", format="electronic", value_min=Decimal("30"),
        pin_required=True,
    )  # fmt: skip
    services.pass_plan_activate(actor=None, plan=plan)
    target, pin = services.pass_issue(actor=None, plan=plan, contact=None)
    wrong = "000000" if pin != "000000" else "111111"
    outcomes = [
        o.message
        for o in run_together([lambda: services.pass_redeem(code=target.code, pin=wrong)] * 20)
    ]
    assert PassEvent.objects.filter(type="pin_failed").count() == services.PIN_LOCKOUT_FAILURES
    assert sum("locked" in m for m in outcomes) == 20 - services.PIN_LOCKOUT_FAILURES


def test_a_client_guessing_in_parallel_is_held_to_its_limit():
    """Attempts are counted before they are tried: 40 guesses at once, 20 get through."""

    def guess(i):
        return lambda: services.pass_redeem(
            code=codes.make_code("ZZZ", f"{i:09d}"), client="203.0.113.5"
        )

    outcomes = [o.message for o in run_together([guess(i) for i in range(40)])]
    unknown = sum(m == "No pass has this code." for m in outcomes)
    blocked = sum("Too many failed attempts" in m for m in outcomes)
    assert (unknown, blocked) == (services.CLIENT_FAILURE_LIMIT, 40 - services.CLIENT_FAILURE_LIMIT)
