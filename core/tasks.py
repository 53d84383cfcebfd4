from celery import shared_task
from django.conf import settings
from django.db import InterfaceError, OperationalError

from core import webhooks


@shared_task(acks_late=True, autoretry_for=(OperationalError, InterfaceError), max_retries=5)
def deliver_webhook(delivery_id: int) -> int | None:
    """One attempt of a webhook delivery; a failure schedules the next after its backoff."""
    delay = webhooks.webhook_delivery_attempt(delivery_id=delivery_id)
    # Embedded mode runs tasks at once and cannot wait: the minute sweep retries there.
    if delay is not None and not settings.CELERY_TASK_ALWAYS_EAGER:
        deliver_webhook.apply_async((delivery_id,), countdown=delay)
    return delay


@shared_task(acks_late=True)
def retry_due_webhooks() -> int:
    """Every minute: hand due webhook deliveries to a worker."""
    return webhooks.webhooks_retry_due()
