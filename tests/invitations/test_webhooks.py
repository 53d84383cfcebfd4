"""An organisation's endpoints hear of its bookings: code.redeemed, booking.created,
booking.voided; signed, queued with the change, and free when there is no endpoint."""

import json

import pytest
from django.db import connection
from django.db.models import F

from core import webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from invitations import services
from invitations.models import InvitationCode
from invitations.services import Client, Details, RedemptionRefused, redemption
from tests.core.receiver import Receiver
from tests.factories import InvitationCodeFactory, OrganisationFactory, ParticipantFactory

pytestmark = pytest.mark.django_db
NEW_PERSON = Details(first_name="Nora", last_name="Neu", email="nora@example.com")

# Statements of booking_redeem, measured before organisations had endpoints (savepoints
# included: a test runs inside a transaction). Events must add none when there are none.
STATEMENTS_ASSIGNED = {"postgresql": 6, "sqlite": 8}
STATEMENTS_UNASSIGNED = {"postgresql": 12, "sqlite": 13}


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(receiver, price):
    endpoint = WebhookEndpoint.objects.create(url=receiver.url)
    price.contract.organisation.webhook_endpoints.add(endpoint)
    return endpoint


def book(code, details=NEW_PERSON):
    return services.booking_redeem(code=code.code, details=details, client=Client())


def received(receiver, endpoint) -> dict[str, dict]:
    """The events the receiver got, by type; each signed with the endpoint's secret."""
    events = {}
    for request in receiver.requests:
        header = request["headers"]["Voucherdesk-Signature"]
        assert webhooks.signature_valid(endpoint.secret, header, request["body"])
        payload = json.loads(request["body"])
        events[payload["type"]] = payload["data"]
    return events


def test_a_booking_sends_code_redeemed_and_booking_created(
    price, endpoint, receiver, django_capture_on_commit_callbacks
):
    organisation = price.contract.organisation
    organisation.external_id = "crm-org-1"
    organisation.save()
    code = InvitationCodeFactory(price=price)
    with django_capture_on_commit_callbacks(execute=True):
        booking = book(code)
    events = received(receiver, endpoint)
    assert set(events) == {"code.redeemed", "booking.created"}
    data = events["booking.created"]
    assert data == events["code.redeemed"]
    assert data["organisation"]["external_id"] == "crm-org-1"
    assert data["contract"]["id"] == price.contract.pk
    assert data["booking"]["reference"] == booking.reference
    assert data["booking"]["amount"] == str(price.amount)
    assert data["booking"]["participant"]["email"] == "nora@example.com"
    assert (data["code"]["code"], data["code"]["uses"]) == (code.code, 1)
    assert WebhookDelivery.objects.filter(status="delivered").count() == 2


def test_code_redeemed_counts_the_uses_other_bookings_took_meanwhile(price, endpoint, monkeypatch):
    """A shared code read by this booking, then booked by someone else before this
    booking's UPDATE: the event reports the uses the code holds, not the read ones + 1."""
    code = InvitationCodeFactory(price=price, max_uses=10)
    take = redemption._take_use_and_book

    def another_booking_first(*args, **kwargs):
        InvitationCode.objects.filter(pk=code.pk).update(uses=F("uses") + 1)
        return take(*args, **kwargs)

    monkeypatch.setattr(redemption, "_take_use_and_book", another_booking_first)
    book(code)
    payloads = WebhookDelivery.objects.values_list("payload", flat=True)
    assert [p["data"]["code"]["uses"] for p in payloads] == [2, 2]
    assert InvitationCode.objects.get(pk=code.pk).uses == 2


def test_voiding_a_booking_sends_booking_voided(
    price, endpoint, receiver, django_capture_on_commit_callbacks
):
    booking = book(InvitationCodeFactory(price=price))
    with django_capture_on_commit_callbacks(execute=True):
        services.booking_void(actor=None, booking=booking, reason="Booked twice")
    data = received(receiver, endpoint)["booking.voided"]
    assert data["booking"]["status"] == "voided"
    assert data["void"] == {"reason": "Booked twice", "use_freed": True}
    assert data["code"]["uses"] == 0


def test_an_endpoint_gets_only_the_events_it_asked_for(price, endpoint, receiver):
    endpoint.events = ["booking.voided"]
    endpoint.save()
    booking = book(InvitationCodeFactory(price=price))
    assert not WebhookDelivery.objects.exists()
    services.booking_void(actor=None, booking=booking, reason="Test")
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["booking.voided"]


def test_another_organisations_endpoint_hears_nothing(price, receiver):
    other = OrganisationFactory()
    other.webhook_endpoints.add(WebhookEndpoint.objects.create(url=receiver.url))
    book(InvitationCodeFactory(price=price))
    assert not WebhookDelivery.objects.exists()


def test_an_inactive_endpoint_hears_nothing(price, endpoint):
    endpoint.is_active = False
    endpoint.save()
    book(InvitationCodeFactory(price=price))
    assert not WebhookDelivery.objects.exists()


def test_a_refused_booking_queues_no_event(price, endpoint):
    code = InvitationCodeFactory(price=price, uses=1)
    with pytest.raises(RedemptionRefused):
        book(code)
    assert not WebhookDelivery.objects.exists()


def test_events_are_queued_in_the_bookings_transaction(price, endpoint):
    # Queued, not sent: the delivery rows are written with the booking, and sent after
    # the commit (which a test's transaction never reaches).
    book(InvitationCodeFactory(price=price))
    assert WebhookDelivery.objects.filter(status="pending").count() == 2


def test_a_booking_without_endpoints_runs_no_extra_statement(price, django_assert_num_queries):
    person = ParticipantFactory(contract=price.contract)
    assigned = InvitationCodeFactory(price=price, participant=person)
    with django_assert_num_queries(STATEMENTS_ASSIGNED[connection.vendor]):
        book(assigned, Details())
    code = InvitationCodeFactory(price=price)
    with django_assert_num_queries(STATEMENTS_UNASSIGNED[connection.vendor]):
        book(code)


def test_a_booking_with_only_an_inactive_endpoint_runs_no_extra_statement(
    price, django_assert_num_queries
):
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/", is_active=False)
    price.contract.organisation.webhook_endpoints.add(endpoint)
    person = ParticipantFactory(contract=price.contract)
    assigned = InvitationCodeFactory(price=price, participant=person)
    with django_assert_num_queries(STATEMENTS_ASSIGNED[connection.vendor]):
        book(assigned, Details())
