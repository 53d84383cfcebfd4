"""Two workers at once on one due delivery (a retry and the sweep): one request is sent."""

import pytest

from core import webhooks
from core.models import WebhookDelivery, WebhookEndpoint
from tests.core.receiver import Receiver
from tests.threads import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_workers_racing_for_one_delivery_send_it_once():
    receiver = Receiver()
    receiver.delay = 0.3
    try:
        endpoint = WebhookEndpoint.objects.create(url=receiver.url)
        [queued] = webhooks.webhook_event_send(endpoints=[endpoint], event="e", data={})
        delivery = WebhookDelivery.objects.get(event_id=queued.event_id)
        run_together([lambda: webhooks.webhook_delivery_attempt(delivery_id=delivery.pk)] * 8)
        delivery.refresh_from_db()
        assert len(receiver.requests) == 1
        assert (delivery.status, delivery.attempts, delivery.log.count()) == ("delivered", 1, 1)
    finally:
        receiver.close()
