"""Contract quotas and budget: the registration refuses cleanly once one is reached."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from contracts import services as contract_services
from invitations import selectors, services
from invitations.models import Booking, RedemptionAttempt
from invitations.services import Client, Details, RedemptionRefused
from tests.factories import InvitationCodeFactory

pytestmark = pytest.mark.django_db
WEB = Client(address="198.51.100.7")


def book(code, n: int):
    return services.booking_redeem(
        code=code.code,
        details=Details(first_name="Guest", last_name=str(n), email=f"g{n}@example.com"),
        client=WEB,
    )


def limit(contract, **quotas):
    fields = {f: getattr(contract, f) for f in contract_services.CONTRACT_EDITABLE}
    return contract_services.contract_update(actor=None, contract=contract, **(fields | quotas))


def test_the_booking_after_the_last_place_is_refused_and_changes_nothing(price):
    limit(price.contract, max_bookings=2)
    codes = [InvitationCodeFactory(price=price) for _ in range(3)]
    book(codes[0], 1)
    book(codes[1], 2)
    with pytest.raises(RedemptionRefused) as exc:
        book(codes[2], 3)
    assert exc.value.reason == "quota"
    assert exc.value.message == "All places on this offer are taken."
    codes[2].refresh_from_db()
    assert codes[2].uses == 0 and Booking.objects.count() == 2
    assert RedemptionAttempt.objects.filter(result="quota").exists()


def test_a_voided_booking_gives_its_place_back(price):
    limit(price.contract, max_bookings=1)
    first, second = InvitationCodeFactory(price=price), InvitationCodeFactory(price=price)
    booking = book(first, 1)
    with pytest.raises(RedemptionRefused):
        book(second, 2)
    services.booking_void(actor=None, booking=booking, reason="Cancelled by phone")
    assert book(second, 2).status == "active"


def test_the_daily_limit_counts_today_only(price):
    limit(price.contract, max_bookings_per_day=1)
    yesterday = book(InvitationCodeFactory(price=price), 1)
    Booking.objects.filter(pk=yesterday.pk).update(created_at=timezone.now() - timedelta(days=1))
    book(InvitationCodeFactory(price=price), 2)
    with pytest.raises(RedemptionRefused, match="Today's places"):
        book(InvitationCodeFactory(price=price), 3)


def test_the_budget_cap_refuses_a_price_that_would_pass_it(price):
    limit(price.contract, budget_cap=price.amount * 2 + Decimal("0.50"))
    book(InvitationCodeFactory(price=price), 1)
    book(InvitationCodeFactory(price=price), 2)
    with pytest.raises(RedemptionRefused, match="budget for this offer has been used up"):
        book(InvitationCodeFactory(price=price), 3)


def test_the_code_entry_step_already_says_the_offer_is_full(client, price):
    limit(price.contract, max_bookings=1)
    book(InvitationCodeFactory(price=price), 1)
    code = InvitationCodeFactory(price=price)
    response = client.post("/register/", {"code": code.code})
    assert "All places on this offer are taken." in response.content.decode()
    with pytest.raises(RedemptionRefused, match="All places"):
        services.code_check(code=code.code)


def test_staff_see_what_is_left(manager_client, price):
    limit(price.contract, max_bookings=10, budget_cap=Decimal("1000.00"))
    book(InvitationCodeFactory(price=price), 1)
    lines = selectors.contract_quota_lines(contract=price.contract)
    assert [(q["label"], q["used"], q["left"], q["full"]) for q in lines] == [
        ("Bookings", "1", "9", False),
        (
            "Budget",
            f"{price.amount:,.2f} {price.contract.currency}",
            f"{Decimal('1000.00') - price.amount:,.2f} {price.contract.currency}",
            False,
        ),
    ]
    page = manager_client.get(f"/staff/contracts/{price.contract.pk}/bookings/").content.decode()
    assert "1 of 10" in page and "9 left" in page


def test_quotas_must_be_positive(price):
    with pytest.raises(ValidationError) as exc:
        limit(price.contract, max_bookings=0, budget_cap=Decimal("0"))
    assert set(exc.value.message_dict) == {"max_bookings", "budget_cap"}


def test_a_contract_without_quotas_takes_no_lock_and_counts_nothing(
    price, django_assert_num_queries
):
    code = InvitationCodeFactory(price=price)
    book(InvitationCodeFactory(price=price), 1)
    with django_assert_num_queries(0):
        assert not services.has_quota(code.contract)
        assert services.quota_refusal(code.contract, code) is None


def test_a_quota_lowered_while_a_booking_is_on_its_way_is_the_one_that_counts(price):
    from invitations.services import redemption

    limit(price.contract, max_bookings=5)
    book(InvitationCodeFactory(price=price), 1)
    code = InvitationCodeFactory(price=price)
    found = services.code_find(code.code)  # the booking has read the contract: 5 places
    limit(price.contract, max_bookings=1)  # staff lower it meanwhile
    refusal = redemption._quota_refusal(found.contract, found)
    assert refusal is not None and refusal.message == "All places on this offer are taken."
