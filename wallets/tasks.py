from celery import shared_task

from wallets import services


@shared_task(acks_late=True)
def expire_wallet_funds() -> int:
    """Daily: take out credited funds whose time ran out (idempotent per day)."""
    return len(services.wallet_expire_funds())
