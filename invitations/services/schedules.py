"""Scheduled releases of code batches, and the nightly expiry sweep of codes.

A batch generated with a release time has its codes written as "scheduled": the booking's
conditional UPDATE only takes a use from an active code, so a scheduled one cannot be
booked, and `code_refusal` says from when it can. Every minute `code_batches_release_due`
makes the codes of each batch whose time has come active, one set-based UPDATE per batch
on the (batch, id) index, stamping `updated_at` for the CRM change feed.

A batch still being generated when its time comes is released again each minute until
its generation ends (codes inserted after the release time are written active anyway;
see generation._row_values), and only then marked released.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.utils import timezone

from core.errors import DomainError
from core.timezones import site_today, site_zone
from invitations.models import CodeBatch, InvitationCode

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None

PAST_RELEASE = "This time has passed: choose a later release time, or none."


def check_release_at(release_at: datetime | None) -> None:
    """A release time must be in the future (it is stored as given, an aware datetime)."""
    if release_at is not None and release_at <= timezone.now():
        raise ValidationError({"release_at": PAST_RELEASE})


def _release_codes(batch_id: int) -> int:
    return InvitationCode.objects.filter(
        batch_id=batch_id, status=InvitationCode.Status.SCHEDULED
    ).update(status=InvitationCode.Status.ACTIVE, updated_at=Now())


def code_batches_release_due(*, now: datetime | None = None) -> int:
    """Every minute: make the codes of batches whose release time has come active.

    Returns how many codes were released. Each batch in its own transaction, locked so
    that a staff edit of its release time and two beats do not cross.
    """
    now = now or timezone.now()
    due = list(
        CodeBatch.objects.filter(release_at__lte=now, released_at__isnull=True)
        .order_by("release_at", "pk")
        .values_list("pk", flat=True)[:100]
    )
    total = 0
    for pk in due:
        with transaction.atomic():
            batch = (
                CodeBatch.objects.select_for_update()
                .filter(pk=pk, release_at__lte=now, released_at__isnull=True)
                .first()
            )
            if batch is None:
                continue
            released = _release_codes(batch.pk)
            total += released
            if batch.status in (CodeBatch.Status.DONE, CodeBatch.Status.FAILED):
                batch.released_at = now
                batch.save(update_fields=["released_at"])
            logger.info("Released %s codes of batch %s", released, batch.pk)
    return total


@transaction.atomic
def code_batch_release_update(
    *, actor: User, batch: CodeBatch, release_at: datetime | None
) -> CodeBatch:
    """Move a batch's release to another (future) time, or release it now (None).

    Only a batch still waiting for its release can be changed.
    """
    batch = CodeBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.release_at is None or batch.released_at is not None:
        raise DomainError(f"Batch {batch.pk} has no release waiting.")
    if release_at is None:
        released = _release_codes(batch.pk)
        batch.release_at = batch.released_at = timezone.now()
        if batch.status not in (CodeBatch.Status.DONE, CodeBatch.Status.FAILED):
            batch.released_at = None  # the minute job releases what is generated later
        batch.save(update_fields=["release_at", "released_at"])
        logger.info("Batch %s released by hand: %s codes", batch.pk, released)
        return batch
    check_release_at(release_at)
    if batch.release_at <= timezone.now():
        # The job may have released codes already (a batch still generating keeps
        # released_at empty): moving the time would not take them back.
        raise DomainError(
            f"Batch {batch.pk} reached its release time and its codes can be booked; "
            "the release can no longer be moved."
        )
    batch.release_at = release_at
    batch.save(update_fields=["release_at"])
    return batch


# How far back the nightly sweep looks for codes that expired: a week of missed nights.
EXPIRY_CATCH_UP_DAYS = 7


def codes_expire_sweep(*, today: date | None = None) -> int:
    """Nightly: stamp `updated_at` on codes that expired unused since they were last
    stamped, so the CRM change feed hands them on with their state "Expired"; how many.

    Codes keep status "active": expiry is read from `valid_until` everywhere (the
    booking's conditional UPDATE, the refusal message, the list filters, the state
    column, the analytics count, voiding), so a staff member who moves a code's
    "Valid until" later makes it usable again with nothing to undo. A second status
    would have to be kept in step with that date by every one of those readers.

    A code counts when it is active, not archived, has a use left, and its last valid
    day is before `today` but not before its last stamp (so each is stamped once).
    """
    today = today or site_today()
    # `__date` reads the active zone: the stamp's day is the site's, as `valid_until` is,
    # whoever runs the sweep (an administrator's "Run task" runs it in their request).
    with timezone.override(site_zone()):
        stamped = (
            InvitationCode.objects.filter(
                status=InvitationCode.Status.ACTIVE,
                is_archived=False,
                valid_until__lt=today,
                valid_until__gte=today - timedelta(days=EXPIRY_CATCH_UP_DAYS),
                updated_at__date__lte=F("valid_until"),
            )
            .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
            .update(updated_at=Now())
        )
    logger.info("Expiry sweep: %s codes expired (before %s)", stamped, today)
    return stamped
