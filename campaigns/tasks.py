from celery import shared_task
from django.db import InterfaceError, OperationalError

from campaigns import services


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def send_distribution(distribution_id: int) -> str:
    """Send a distribution's queued messages. A mail server that is down (the connection
    fails before the first message) retries with backoff; a retry sends only what is
    still queued."""
    return services.distribution_send(distribution_id=distribution_id).status


@shared_task(acks_late=True)
def start_scheduled_distributions() -> int:
    """Every minute: start the scheduled sends whose time has come."""
    return services.distributions_start_due()
