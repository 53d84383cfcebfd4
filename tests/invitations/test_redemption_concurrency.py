"""Exactly once under real concurrency: threads with their own PostgreSQL connections."""

import pytest

from invitations import services
from invitations.models import Booking, InvitationCode, RedemptionAttempt
from invitations.services import Client, Details, RedemptionRefused
from tests.factories import ContractPriceFactory, InvitationCodeFactory, ParticipantFactory
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
WEB = Client(address="198.51.100.1")


def person(n: int) -> Details:
    return Details(first_name="Guest", last_name=str(n), email=f"guest{n}@example.com")


def attempt(code: str, details: Details, key: str = ""):
    return lambda: services.booking_redeem(
        code=code, details=details, client=WEB, idempotency_key=key
    )


def split(outcomes):
    booked = [o for o in outcomes if isinstance(o, Booking)]
    refused = [o for o in outcomes if isinstance(o, RedemptionRefused)]
    assert len(booked) + len(refused) == len(outcomes), [
        o for o in outcomes if not isinstance(o, Booking | RedemptionRefused)
    ]
    return booked, refused


def test_fifty_people_at_once_on_a_single_use_code_make_exactly_one_booking():
    code = InvitationCodeFactory()
    outcomes = run_together([attempt(code.code, person(n)) for n in range(50)], threads=25)
    booked, refused = split(outcomes)
    assert len(booked) == 1 and len(refused) == 49
    assert {r.reason for r in refused} == {RedemptionAttempt.Result.USED_UP}
    assert all("Already used" in r.message for r in refused)
    code.refresh_from_db()
    assert code.uses == 1
    assert Booking.objects.count() == 1
    # The losers' details went with their refusals: one participant, the winner.
    assert code.contract.participants.count() == 1
    assert RedemptionAttempt.objects.filter(result="used_up").count() == 49


def test_a_hundred_attempts_on_a_ten_use_code_make_exactly_ten_bookings():
    code = InvitationCodeFactory(max_uses=10)
    outcomes = run_together([attempt(code.code, person(n)) for n in range(100)], threads=25)
    booked, refused = split(outcomes)
    assert (len(booked), len(refused)) == (10, 90)
    code.refresh_from_db()
    assert code.uses == 10
    assert Booking.objects.filter(code=code).count() == 10


def test_a_double_click_sent_ten_times_at_once_books_once_and_answers_the_same():
    code = InvitationCodeFactory(max_uses=5)
    outcomes = run_together([attempt(code.code, person(1), key="web:same") for _ in range(10)])
    booked, refused = split(outcomes)
    assert not refused
    assert {b.pk for b in booked} == {Booking.objects.get().pk}
    assert InvitationCode.objects.get(pk=code.pk).uses == 1


def test_one_person_with_two_codes_at_once_gets_one_booking_on_the_contract():
    price = ContractPriceFactory()
    someone = ParticipantFactory(contract=price.contract)
    codes = [InvitationCodeFactory(price=price, participant=someone) for _ in range(2)]
    outcomes = run_together([attempt(c.code, Details()) for c in codes for _ in range(3)])
    booked, refused = split(outcomes)
    assert len(booked) == 1
    assert {r.reason for r in refused} <= {"already_booked", "used_up"}
    assert (
        sum(
            InvitationCode.objects.filter(pk__in=[c.pk for c in codes]).values_list(
                "uses", flat=True
            )
        )
        == 1
    )


def test_one_new_email_on_two_codes_at_once_becomes_one_participant_with_one_booking():
    price = ContractPriceFactory()
    codes = [InvitationCodeFactory(price=price) for _ in range(4)]
    outcomes = run_together([attempt(c.code, person(7)) for c in codes])
    booked, refused = split(outcomes)
    assert len(booked) == 1 and len(refused) == 3
    assert price.contract.participants.count() == 1


def test_the_booking_statements_are_prepared_on_a_kept_connection():
    from django.db import connection

    code = InvitationCodeFactory(max_uses=3)
    for n in range(3):
        attempt(code.code, person(n))()
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("WITH taken AS" in sql for sql in prepared)
    assert any("c.code = $1" in sql for sql in prepared)


def test_thirty_people_at_once_on_a_contract_with_ten_places_make_ten_bookings():
    from contracts import services as contract_services

    price = ContractPriceFactory()
    contract = price.contract
    fields = {f: getattr(contract, f) for f in contract_services.CONTRACT_EDITABLE}
    contract_services.contract_update(
        actor=None, contract=contract, **(fields | {"max_bookings": 10})
    )
    codes = [InvitationCodeFactory(price=price) for _ in range(30)]
    outcomes = run_together([attempt(c.code, person(n)) for n, c in enumerate(codes)], threads=15)
    booked, refused = split(outcomes)
    assert (len(booked), len(refused)) == (10, 20)
    assert {r.reason for r in refused} == {"quota"}
    assert Booking.objects.filter(contract=contract).count() == 10
    assert sum(c.uses for c in InvitationCode.objects.filter(contract=contract)) == 10
