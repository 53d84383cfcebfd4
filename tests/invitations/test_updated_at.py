"""Every write to a code or a booking moves its updated_at: the CRM change feeds read by it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from invitations import services
from invitations.models import Booking, InvitationCode
from invitations.services import Client, Details
from tests.factories import InvitationCodeFactory, ParticipantFactory

pytestmark = pytest.mark.django_db
LONG_AGO = datetime(2001, 1, 1, tzinfo=UTC)
NEW_PERSON = Details(first_name="Nora", last_name="Neu", email="nora@example.com")


def set_back(*rows) -> None:
    for row in rows:
        type(row).objects.filter(pk=row.pk).update(updated_at=LONG_AGO)


def moved(row) -> bool:
    stamp = type(row).objects.values_list("updated_at", flat=True).get(pk=row.pk)
    return stamp > LONG_AGO and abs(stamp - timezone.now()) < timedelta(minutes=5)


def book(code, details=NEW_PERSON) -> Booking:
    return services.booking_redeem(code=code.code, details=details, client=Client())


@pytest.fixture
def code(price):
    return InvitationCodeFactory(price=price, max_uses=2)


def test_a_new_code_is_stamped_by_the_database(code):
    assert moved(code)


def test_generated_codes_are_stamped(price):
    batch = services.code_batch_create(
        actor=None, contract=price.contract, price=price, quantity=5, width=8
    )
    assert all(moved(code) for code in batch.codes.all())


def test_a_shared_code_is_stamped(price):
    code = services.shared_code_create(
        actor=None,
        contract=price.contract,
        code="SUMMERPARTY26",
        price=price,
        max_uses=None,
    )
    assert moved(code)


def test_a_booking_stamps_its_code_and_itself(code):
    set_back(code)
    booking = book(code)
    assert moved(code) and moved(booking)


def test_voiding_stamps_the_booking_and_the_code_given_its_use_back(code):
    booking = book(code)
    set_back(code, booking)
    void = services.booking_void(actor=None, booking=booking, reason="Booked twice")
    assert void.use_freed
    assert moved(code) and moved(booking)


def test_voiding_stamps_the_booking_when_the_code_cannot_take_its_use_back(code):
    booking = book(code)
    InvitationCode.objects.filter(pk=code.pk).update(status=InvitationCode.Status.REVOKED)
    set_back(code, booking)
    void = services.booking_void(actor=None, booking=booking, reason="Cancelled")
    assert not void.use_freed
    assert moved(booking) and not moved(code)


def test_editing_a_code_stamps_it(code):
    set_back(code)
    services.code_update(
        actor=None,
        code=code,
        price=code.price,
        max_uses=3,
        valid_from=None,
        valid_until=None,
        status=InvitationCode.Status.ACTIVE,
    )
    assert moved(code)


def test_the_edited_code_reads_its_new_stamp_from_the_database(code):
    set_back(code)
    edited = services.code_revoke(actor=None, code=code)
    assert edited.updated_at > LONG_AGO  # loaded on access, not the expression that set it


def test_revoking_a_code_stamps_it(code):
    set_back(code)
    services.code_revoke(actor=None, code=code)
    assert moved(code)


def test_archiving_and_restoring_a_code_stamps_it(code):
    set_back(code)
    services.code_archive(actor=None, code=code, archived=True)
    assert moved(code)
    set_back(code)
    services.code_archive(actor=None, code=code, archived=False)
    assert moved(code)


def test_issuing_a_participant_a_new_code_stamps_it_and_the_one_it_replaces(price):
    person = ParticipantFactory(contract=price.contract)
    first = services.participant_code_generate(actor=None, participant=person, price=price, width=8)
    set_back(first)
    second = services.participant_code_generate(
        actor=None, participant=person, price=price, width=8, replacing=[first.pk]
    )
    first.refresh_from_db()
    assert first.status == InvitationCode.Status.REVOKED
    assert moved(first) and moved(second)


def test_the_history_of_a_code_does_not_record_its_stamp(code):
    services.code_revoke(actor=None, code=code)
    record = code.history.latest()
    assert not hasattr(record, "updated_at")
