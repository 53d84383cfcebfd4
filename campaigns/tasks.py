from celery import shared_task
from django.db import InterfaceError, OperationalError

from campaigns import services
from campaigns.services.analytics import analytics_rollup_refresh, analytics_rollups_refresh
from contracts.models import Contract


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


@shared_task(acks_late=True, ignore_result=True)
def count_analytics() -> int:
    """Every minute: recount the analytics of the contracts whose codes, bookings or sends
    changed since they were last counted (and of every contract once a night)."""
    return analytics_rollups_refresh()


@shared_task(acks_late=True, ignore_result=True)
def count_contract_analytics(contract_id: int) -> None:
    """Recount one contract's analytics now (staff pressed Recount)."""
    contract = Contract.objects.filter(pk=contract_id).first()
    if contract is not None:
        analytics_rollup_refresh(contract=contract)


@shared_task(acks_late=True, ignore_result=True)
def send_reminders() -> int:
    """Daily: remind holders of unused codes that expire soon (per the contracts' rules)."""
    return len(services.reminders_send())


@shared_task(acks_late=True, ignore_result=True)
def send_waves() -> int:
    """Daily: each active wave's next participants get their codes."""
    return len(services.waves_send())
