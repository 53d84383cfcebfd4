from celery import shared_task
from django.db import InterfaceError, OperationalError

from invitations import services


@shared_task(
    acks_late=True,
    autoretry_for=(OSError, OperationalError, InterfaceError),
    retry_backoff=True,
    max_retries=5,
)
def generate_code_batch(batch_id: int) -> int:
    """Generate a batch's missing codes; resumable, so a retry continues where it stopped."""
    return services.code_batch_generate(batch_id=batch_id).generated
