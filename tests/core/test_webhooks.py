"""Signed webhooks: the signature, delivery, retries with backoff, failure, resend."""

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from core import webhooks
from core.errors import DomainError
from core.models import WebhookDelivery, WebhookEndpoint
from tests.core.receiver import Receiver
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(receiver):
    return WebhookEndpoint.objects.create(url=receiver.url)


def send(endpoint, event="reward.earned", data=None):
    [delivery] = webhooks.webhook_event_send(
        endpoints=[endpoint], event=event, data=data or {"n": 1}
    )
    return WebhookDelivery.objects.get(event_id=delivery.event_id)


def test_a_signature_verifies_only_for_its_body_secret_and_time():
    body = b'{"a":1}'
    header = webhooks.signature("whsec_x", 1_700_000_000, body)
    assert header.startswith("t=1700000000,v1=")
    now = 1_700_000_100
    assert webhooks.signature_valid("whsec_x", header, body, now=now)
    assert not webhooks.signature_valid("whsec_x", header, b'{"a":2}', now=now)
    assert not webhooks.signature_valid("whsec_y", header, body, now=now)
    assert not webhooks.signature_valid("whsec_x", header, body, now=now + 600)
    assert not webhooks.signature_valid("whsec_x", "v1=abc", body, now=now)


def test_an_endpoint_gets_only_the_events_it_asked_for(endpoint):
    endpoint.events = ["reward.earned"]
    endpoint.save()
    assert (
        webhooks.webhook_event_send(endpoints=[endpoint], event="referral.created", data={}) == []
    )
    inactive = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/x", is_active=False)
    assert webhooks.webhook_event_send(endpoints=[inactive], event="reward.earned", data={}) == []


def test_a_delivery_is_signed_and_logged(endpoint, receiver):
    delivery = send(endpoint, data={"reward": {"id": 7}})
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    [request] = receiver.requests
    headers = request["headers"]
    assert webhooks.signature_valid(
        endpoint.secret, headers["Voucherdesk-Signature"], request["body"]
    )
    payload = json.loads(request["body"])
    assert payload["type"] == "reward.earned" and payload["data"] == {"reward": {"id": 7}}
    assert payload["id"] == delivery.event_id == headers["Voucherdesk-Delivery"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("delivered", 1)
    [attempt] = delivery.log.all()
    assert attempt.status_code == 200 and attempt.ok


def test_a_failing_receiver_is_retried_with_growing_delays_then_marked_failed(
    endpoint, receiver, settings
):
    settings.WEBHOOK_MAX_ATTEMPTS = 3
    receiver.status = 500
    delivery = send(endpoint)
    started = timezone.now()
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == 30
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at >= started + timedelta(seconds=30)
    # Not due yet: a second worker does not send it early.
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.requests) == 1

    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == 60
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now())
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 3, None)
    assert [a.status_code for a in delivery.log.all()] == [500, 500, 500]
    assert "HTTP 500" in delivery.log.first().error


def test_a_receiver_that_does_not_answer_in_time_is_a_failed_attempt(endpoint, receiver, settings):
    settings.WEBHOOK_TIMEOUT = 1
    receiver.delay = 1.5
    delivery = send(endpoint)
    began = time.monotonic()
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == 30
    assert time.monotonic() - began < 1.4
    attempt = delivery.log.get()
    assert attempt.status_code is None and "timed out" in attempt.error.lower()


def test_an_unreachable_receiver_is_a_failed_attempt(db):
    endpoint = WebhookEndpoint.objects.create(url="http://127.0.0.1:9/nothing-listens")
    delivery = send(endpoint)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    attempt = delivery.log.get()
    assert attempt.status_code is None and "refused" in attempt.error.lower()


def test_resend_sends_a_failed_delivery_again_with_the_same_event_id(endpoint, receiver, settings):
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.status = 503
    delivery = send(endpoint)
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "failed"
    receiver.status = 200
    staff = UserFactory()
    webhooks.webhook_delivery_resend(actor=staff, delivery=delivery)
    delivery.refresh_from_db()
    assert delivery.resent_by == staff and delivery.resent_at
    webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == "delivered"
    ids = {json.loads(r["body"])["id"] for r in receiver.requests}
    assert ids == {delivery.event_id} and len(receiver.requests) == 2


def test_the_sweep_hands_due_deliveries_to_a_worker(endpoint, receiver):
    due = send(endpoint)
    later = send(endpoint)
    WebhookDelivery.objects.filter(pk=later.pk).update(
        next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    assert webhooks.webhooks_retry_due() == 1  # eager: delivered in-process
    due.refresh_from_db()
    later.refresh_from_db()
    assert (due.status, later.status) == ("delivered", "pending")


def test_a_redirect_is_a_failed_attempt_and_is_not_followed(endpoint, receiver):
    receiver.status, receiver.location = 302, receiver.url + "/elsewhere"
    delivery = send(endpoint)
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == 30
    assert len(receiver.requests) == 1 and "get" not in receiver.requests[0]
    attempt = delivery.log.get()
    assert attempt.status_code == 302 and not attempt.ok
    delivery.refresh_from_db()
    assert delivery.status == "pending"


def test_an_answer_that_is_not_http_is_a_failed_attempt(endpoint, receiver):
    receiver.garbage = True
    delivery = send(endpoint)
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) == 30
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 1)
    attempt = delivery.log.get()
    assert attempt.status_code is None and attempt.error


def test_resend_waits_while_an_attempt_is_being_sent(endpoint):
    delivery = send(endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        claim="worker", claimed_until=timezone.now() + timedelta(seconds=30)
    )
    with pytest.raises(DomainError, match="being sent right now"):
        webhooks.webhook_delivery_resend(actor=None, delivery=delivery)
    # Nor does a due retry or the sweep send it meanwhile.
    assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None


def test_a_worker_that_lost_its_claim_overwrites_nothing(endpoint, receiver):
    delivery = send(endpoint)
    receiver.status = 500

    def steal(*args, **kwargs):
        # While this worker waits on the receiver, its lease ends and another takes over.
        WebhookDelivery.objects.filter(pk=delivery.pk).update(claim="another")
        return real_post(*args, **kwargs)

    real_post = webhooks._post
    webhooks._post = steal
    try:
        assert webhooks.webhook_delivery_attempt(delivery_id=delivery.pk) is None
    finally:
        webhooks._post = real_post
    delivery.refresh_from_db()
    assert (delivery.claim, delivery.status) == ("another", "pending")
    assert delivery.log.count() == 1  # its attempt is still on record
