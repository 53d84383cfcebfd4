from celery import shared_task

from passes import services


@shared_task(acks_late=True)
def generate_pass_batch(batch_id: int, actor_id: int | None = None) -> int:
    """Generate a printed plan's passes and their PDF."""
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    return services.pass_batch_generate(batch_id=batch_id, actor=actor).generated


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=8)
def send_gift_email(order_id: int) -> bool:
    """Email a bought gift pass to its beneficiary (a new PIN with each attempt)."""
    return services.gift_email_send(order_id=order_id)


@shared_task(acks_late=True, ignore_result=True)
def expire_passes() -> int:
    """Nightly: mark passes past their expiry date as expired."""
    return services.passes_expire()
