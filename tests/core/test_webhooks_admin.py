"""Webhook endpoints and the delivery log in the admin: the log is read, never added to or
deleted from; Resend sends a delivery again through core.webhooks."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from core import roles, webhooks
from core.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.core.receiver import Receiver
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

LIST = reverse("admin:core_webhookdelivery_changelist")


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def failed(receiver):
    """A delivery that failed every attempt (its receiver was down), now listening again."""
    endpoint = WebhookEndpoint.objects.create(url=receiver.url, name="CRM")
    delivery = WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="reward.earned",
        event_id="evt_0123abcd",
        payload={"id": "evt_0123abcd", "type": "reward.earned", "data": {"reward": {"id": 7}}},
        status=WebhookDelivery.Status.FAILED,
        attempts=2,
        next_attempt_at=None,
    )
    for _ in range(2):
        WebhookAttempt.objects.create(
            delivery=delivery, error="ConnectionRefusedError: [Errno 111]", duration_ms=1
        )
    WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="referral.created",
        event_id="evt_4567efgh",
        payload={"id": "evt_4567efgh"},
        status=WebhookDelivery.Status.DELIVERED,
        attempts=1,
        delivered_at=timezone.now(),
    )
    return delivery


def change(delivery) -> str:
    return reverse("admin:core_webhookdelivery_change", args=[delivery.pk])


def resend(delivery) -> str:
    return reverse("admin:core_webhookdelivery_resend", args=[delivery.pk])


def rows(response) -> int:
    return response.content.decode().count('<th class="field-event">')


def test_the_delivery_log_lists_filters_and_finds_an_event_id(superuser_client, failed):
    assert rows(superuser_client.get(LIST)) == 2
    assert rows(superuser_client.get(LIST, {"status__exact": "failed"})) == 1
    response = superuser_client.get(LIST, {"event": "referral.created"})
    assert rows(response) == 1
    assert "?event=reward.earned" in response.content.decode()  # offered as a filter
    response = superuser_client.get(LIST, {"q": " evt_0123abcd "})
    assert rows(response) == 1
    assert rows(superuser_client.get(LIST, {"q": "evt_0123"})) == 0


def test_a_delivery_shows_its_payload_pretty_and_its_attempts(superuser_client, failed):
    content = superuser_client.get(change(failed)).content.decode()
    pretty = json.dumps(failed.payload, indent=2, sort_keys=True).replace('"', "&quot;")
    assert pretty in content
    assert content.count('<td class="field-error">') == 2
    assert "ConnectionRefusedError: [Errno 111]" in content
    assert 'id="resend"' in content
    assert 'name="_save"' not in content


@pytest.mark.django_db(transaction=True)
def test_resend_delivers_a_failed_delivery_again(superuser_client, failed, receiver):
    # Committed for real, as in production: the eager task runs when the resend commits.
    response = superuser_client.post(resend(failed), follow=True)
    assert "Sent again, and delivered." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == WebhookDelivery.Status.DELIVERED
    assert failed.delivered_at is not None
    assert failed.attempts == 3
    last = failed.log.order_by("pk").last()
    assert (last.status_code, last.error) == (200, "")
    [sent] = receiver.requests
    assert sent["headers"]["Voucherdesk-Delivery"] == "evt_0123abcd"
    assert webhooks.signature_valid(
        failed.endpoint.secret, sent["headers"]["Voucherdesk-Signature"], sent["body"]
    )


@pytest.mark.django_db(transaction=True)
def test_resend_says_when_the_receiver_still_refuses(superuser_client, failed, receiver):
    receiver.status = 503
    response = superuser_client.post(resend(failed), follow=True)
    assert "Sent again, not delivered: the last attempt below says why" in (
        response.content.decode()
    )
    failed.refresh_from_db()
    assert failed.status == WebhookDelivery.Status.PENDING
    assert failed.log.order_by("pk").last().status_code == 503


def test_the_resend_action_sends_each_selected_delivery(
    superuser_client, failed, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            LIST, {"action": "resend", "_selected_action": [failed.pk]}, follow=True
        )
    assert "1 deliveries sent again." in response.content.decode()
    failed.refresh_from_db()
    assert failed.status == WebhookDelivery.Status.DELIVERED
    assert failed.log.filter(status_code=200).count() == 1


def test_resend_with_a_broker_says_it_is_queued(superuser_client, failed):
    # Inside the test's transaction nothing commits: the attempt has not been made yet,
    # as when a worker will make it.
    response = superuser_client.post(resend(failed), follow=True)
    assert "Queued to be sent again." in response.content.decode()
    failed.refresh_from_db()
    assert (failed.status, failed.attempts) == (WebhookDelivery.Status.PENDING, 2)


def test_resend_is_a_post(superuser_client, failed):
    assert superuser_client.get(resend(failed)).status_code == 405
    failed.refresh_from_db()
    assert failed.status == WebhookDelivery.Status.FAILED


def test_a_viewer_reads_the_log_but_cannot_resend(client, failed):
    client.force_login(UserFactory(role=roles.VIEWER))
    assert rows(client.get(LIST)) == 2
    content = client.get(change(failed)).content.decode()
    assert "evt_0123abcd" in content
    assert 'id="resend"' not in content
    assert 'value="resend"' not in client.get(LIST).content.decode()
    assert client.post(resend(failed)).status_code == 403
    client.post(LIST, {"action": "resend", "_selected_action": [failed.pk]})
    failed.refresh_from_db()
    assert (failed.status, failed.log.count()) == (WebhookDelivery.Status.FAILED, 2)


def test_a_contract_manager_may_resend(client, failed, django_capture_on_commit_callbacks):
    client.force_login(UserFactory(role=roles.CONTRACT_MANAGER))
    assert 'id="resend"' in client.get(change(failed)).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(resend(failed))
    failed.refresh_from_db()
    assert failed.status == WebhookDelivery.Status.DELIVERED


def test_the_log_is_never_added_to_nor_deleted_from(superuser_client, failed):
    assert superuser_client.get(reverse("admin:core_webhookdelivery_add")).status_code == 403
    delete = reverse("admin:core_webhookdelivery_delete", args=[failed.pk])
    assert superuser_client.post(delete, {"post": "yes"}).status_code == 403
    response = superuser_client.post(
        LIST, {"action": "delete_selected", "_selected_action": [failed.pk]}
    )
    assert response.status_code in (200, 302)
    # An endpoint with deliveries is deactivated, not deleted (it would take its log along).
    endpoint_delete = reverse("admin:core_webhookendpoint_delete", args=[failed.endpoint_id])
    assert superuser_client.post(endpoint_delete, {"post": "yes"}).status_code == 403
    assert WebhookDelivery.objects.count() == 2
    assert WebhookAttempt.objects.count() == 2


def test_the_signing_secret_is_whole_only_for_those_who_may_change_endpoints(client, failed):
    endpoint = failed.endpoint
    url = reverse("admin:core_webhookendpoint_change", args=[endpoint.pk])
    client.force_login(UserFactory(is_superuser=True))
    assert endpoint.secret in client.get(url).content.decode()
    client.force_login(UserFactory(role=roles.VIEWER))
    content = client.get(url).content.decode()
    assert endpoint.url in content
    assert endpoint.secret not in content
    assert endpoint.secret[-4:] in content


def test_an_endpoint_is_added_with_a_new_secret(superuser_client):
    add = reverse("admin:core_webhookendpoint_add")
    assert "whsec_" not in superuser_client.get(add).content.decode()
    response = superuser_client.post(
        add,
        {"url": "https://crm.example/hooks", "name": "CRM", "events": '["reward.earned"]'},
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get(name="CRM")
    assert endpoint.secret.startswith("whsec_")
    assert endpoint.events == ["reward.earned"]
