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


@shared_task(
    acks_late=True, autoretry_for=(OSError, InterfaceError), retry_backoff=True, max_retries=5
)
def validate_participant_import(import_id: int) -> str:
    """Check an uploaded participant CSV; writes only the upload's verdict."""
    return services.participant_import_validate(import_id=import_id).status


@shared_task(
    acks_late=True, autoretry_for=(OSError, InterfaceError), retry_backoff=True, max_retries=5
)
def run_participant_import(import_id: int) -> str:
    """Complete Import in one transaction; a redelivered task runs it again from the start."""
    return services.participant_import_run(import_id=import_id).status


@shared_task(acks_late=True)
def expire_participant_imports() -> int:
    """Daily: forget uploads checked but never imported (their files hold personal data)."""
    return services.participant_imports_expire()


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_booking_confirmation(booking_id: int, set_password_user_id: int | None = None) -> bool:
    """Email a booking's confirmation (on the default queue, never behind a long batch)."""
    return services.booking_confirmation_send(
        booking_id=booking_id, set_password_user_id=set_password_user_id
    )


@shared_task(acks_late=True, ignore_result=True)
def release_code_batches() -> int:
    """Every minute: make the codes of batches whose release time has come bookable."""
    return services.code_batches_release_due()


@shared_task(acks_late=True, ignore_result=True)
def sweep_expired_codes() -> int:
    """Nightly: hand codes that expired unused to the CRM change feed."""
    return services.codes_expire_sweep()
