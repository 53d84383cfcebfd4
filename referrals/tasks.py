from celery import shared_task
from django.db import InterfaceError, OperationalError

from referrals import services
from referrals.models import Referrer


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_referral_email(kind: str, referrer_id: int, about_id: int | None = None) -> bool:
    """One of a program's emails (confirm, welcome, referral, reward) to one person."""
    return services.referral_email_send(kind=kind, referrer_id=referrer_id, about_id=about_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_import_welcome(import_id: int) -> int:
    """Welcome emails for everyone an import brought in."""
    ids = list(Referrer.objects.filter(origin_import_id=import_id).values_list("pk", flat=True))
    return services.welcome_emails_send(referrer_ids=ids)


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def deliver_reward(reward_id: int) -> bool:
    """Issue what an automatic reward tier gives (a code, a pass, a wallet credit)."""
    return services.reward_deliver_auto(reward_id=reward_id)
