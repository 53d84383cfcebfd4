"""Waves: a contract's codes sent a number of participants a day, in the list's order.

Each day the job takes, for each active wave that has started, the next `per_day`
participants of the contract (by their place in the participant list, i.e. id) who hold
an unused code never sent to them by the wave's channel, can be reached by it and have
not unsubscribed, and sends them that code with the wave's template through
`distribution_create`. The day
is claimed first with a conditional UPDATE of `last_sent_on`, so a job run twice, or by
two beats, sends one wave a day. A wave with nobody left sends nothing.
"""

from __future__ import annotations

import logging
from datetime import date

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, Subquery

from campaigns.models import Channel, Distribution, Message, MessageTemplate, Purpose, Wave
from campaigns.selectors import _address as recipient_address
from campaigns.selectors import unused_codes
from campaigns.services.distribution import distribution_create
from contracts.models import Contract
from core.errors import DomainError
from core.timezones import site_today
from invitations.models import InvitationCode

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None

MAX_PER_DAY = 100_000


def _clean_wave(
    *, contract: Contract, template: MessageTemplate, per_day: int, starts_on: date | None
) -> None:
    errors = {}
    if template.contract_id != contract.pk:
        errors["template"] = "Choose one of this contract's templates."
    if not 1 <= per_day <= MAX_PER_DAY:
        errors["per_day"] = f"Enter a number of participants a day between 1 and {MAX_PER_DAY:,}."
    if starts_on is not None and starts_on < site_today():
        errors["starts_on"] = "This day has passed: choose today or a later day."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def wave_create(
    *, actor: User, contract: Contract, template: MessageTemplate, per_day: int, starts_on: date
) -> Wave:
    """Send `template` to `per_day` more participants each day from `starts_on`."""
    _clean_wave(contract=contract, template=template, per_day=per_day, starts_on=starts_on)
    return Wave.objects.create(
        contract=contract,
        template=template,
        per_day=per_day,
        starts_on=starts_on,
        created_by=actor,
    )


@transaction.atomic
def wave_update(
    *,
    actor: User,
    wave: Wave,
    template: MessageTemplate,
    per_day: int,
    starts_on: date,
    is_active: bool,
) -> Wave:
    """Change a wave, or pause it; a start day already passed may stay as it was."""
    wave = Wave.objects.select_for_update().get(pk=wave.pk)
    _clean_wave(
        contract=wave.contract,
        template=template,
        per_day=per_day,
        starts_on=None if starts_on == wave.starts_on else starts_on,
    )
    wave.template, wave.per_day, wave.starts_on, wave.is_active = (
        template,
        per_day,
        starts_on,
        is_active,
    )
    wave.save(update_fields=["template", "per_day", "starts_on", "is_active"])
    return wave


@transaction.atomic
def wave_delete(*, actor: User, wave: Wave) -> None:
    """Stop a wave for good; its sends keep their record."""
    Wave.objects.filter(pk=wave.pk).delete()


def wave_next_code_ids(*, wave: Wave) -> list[int]:
    """The codes the wave sends next: one each for the next `per_day` participants in the
    list's order who have not unsubscribed, can be reached by its channel and hold an
    unused code never sent to them by it, that code (their newest such).

    The codes are named, not the participants: a send to participants takes each one's
    newest unused code, which may be one already sent to them while an older one never
    was; and someone the send would skip (an SMS number not in E.164 form, which only
    Python reads) is passed over here, so that the same people are not picked, skipped
    and picked again every day while the rest of the list waits.
    """
    channel = wave.template.channel
    sent = Message.objects.filter(
        participant_id=OuterRef("participant_id"),
        code_id=OuterRef("pk"),
        channel=channel,
        purpose=Purpose.CODE,
    ).exclude(status=Message.Status.SKIPPED)
    waiting = unused_codes(
        InvitationCode.objects.filter(contract_id=wave.contract_id, participant__isnull=False)
    ).exclude(Exists(sent))
    newest = waiting.filter(participant_id=OuterRef("pk")).order_by("-pk").values("pk")[:1]
    reachable = Q(email__gt="") if channel == Channel.EMAIL else Q(phone__gt="")
    candidates = (
        wave.contract.participants.filter(reachable, opted_out_at__isnull=True)
        .annotate(x_code=Subquery(newest))
        .filter(x_code__isnull=False)
        .order_by("pk")
        .values_list("email", "phone", "x_code")
    )
    picked: list[int] = []
    for email, phone, code_id in candidates.iterator(chunk_size=2_000):
        _, unreachable = recipient_address(channel, email, phone)
        if unreachable:
            continue
        picked.append(code_id)
        if len(picked) >= wave.per_day:
            break
    return picked


def waves_send(*, today: date | None = None) -> list[Distribution]:
    """Daily: today's send of every active wave that has started, once a day each."""
    today = today or site_today()
    made = []
    due = Wave.objects.filter(
        is_active=True, starts_on__lte=today, contract__status=Contract.Status.ACTIVE
    ).filter(Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today))
    for wave in due.select_related("contract", "template"):
        with transaction.atomic():
            claimed = (
                Wave.objects.filter(pk=wave.pk)
                .filter(Q(last_sent_on__isnull=True) | Q(last_sent_on__lt=today))
                .update(last_sent_on=today)
            )
            if not claimed:
                continue
            ids = wave_next_code_ids(wave=wave)
            if not ids:
                logger.info("Wave %s: nobody left to send to", wave.pk)
                continue
            try:
                with transaction.atomic():
                    distribution = distribution_create(
                        actor=None,
                        contract=wave.contract,
                        template=wave.template,
                        code_ids=ids,
                        wave=wave,
                    )
            except DomainError as exc:
                logger.warning("Wave %s sent nothing: %s", wave.pk, exc)
                continue
        logger.info(
            "Wave %s: distribution %s to %s participants", wave.pk, distribution.pk, len(ids)
        )
        made.append(distribution)
    return made
