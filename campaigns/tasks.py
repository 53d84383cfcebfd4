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


@shared_task(acks_late=True, ignore_result=True)
def detect_anomalies() -> int:
    """Every minute: look at the redemption log's recent window and record alerts."""
    return len(services.alerts_detect())


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_alert_email(alert_id: int) -> bool:
    """Email a new alert to the managers, once."""
    return services.alert_email_send(alert_id=alert_id)
