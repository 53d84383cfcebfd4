"""Reminders before codes expire: per-contract rules and the daily job that sends them.

A rule names a template and a number of days. Each day, for each active rule, the codes
of its contract that expire within that many days, are still unused, were sent to their
holder before (a code sent message) and were never reminded become one distribution,
made by `distribution_create` like any other send. Reminder messages have their own
purpose in the messages' unique index, so a code's holder is reminded at most once per
channel, whichever rule or run gets there first; a run that finds nothing new sends
nothing, so the job can run again safely.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef

from campaigns.models import Distribution, Message, MessageTemplate, Purpose, ReminderRule
from campaigns.selectors import _address as recipient_address
from campaigns.selectors import unused_codes
from campaigns.services.distribution import distribution_create
from contracts.models import Contract
from core.errors import DomainError
from core.timezones import site_today
from invitations.models import InvitationCode

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None

MAX_DAYS = 365


def _clean_rule(*, contract: Contract, template: MessageTemplate, days_before: int) -> None:
    errors = {}
    if template.contract_id != contract.pk:
        errors["template"] = "Choose one of this contract's templates."
    if not 1 <= days_before <= MAX_DAYS:
        errors["days_before"] = f"Enter a number of days between 1 and {MAX_DAYS}."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def reminder_rule_create(
    *, actor: User, contract: Contract, template: MessageTemplate, days_before: int
) -> ReminderRule:
    """A contract's new reminder: `template` to holders of unused codes sent to them,
    `days_before` their codes expire."""
    _clean_rule(contract=contract, template=template, days_before=days_before)
    return ReminderRule.objects.create(
        contract=contract, template=template, days_before=days_before, created_by=actor
    )


@transaction.atomic
def reminder_rule_update(
    *, actor: User, rule: ReminderRule, template: MessageTemplate, days_before: int, is_active: bool
) -> ReminderRule:
    """Change a rule's template or days, or pause it (reminders already sent stay sent)."""
    rule = ReminderRule.objects.select_for_update().get(pk=rule.pk)
    _clean_rule(contract=rule.contract, template=template, days_before=days_before)
    rule.template, rule.days_before, rule.is_active = template, days_before, is_active
    rule.save(update_fields=["template", "days_before", "is_active"])
    return rule


@transaction.atomic
def reminder_rule_delete(*, actor: User, rule: ReminderRule) -> None:
    """Remove a rule; its sends keep their record (their link to it is cleared)."""
    ReminderRule.objects.filter(pk=rule.pk).delete()


def reminder_code_ids(*, rule: ReminderRule, today: date) -> list[int]:
    """The codes `rule` would remind today: held, unused, expiring between today and
    `days_before` days from now, sent to their holder, and never reminded by its channel.

    Holders who unsubscribed or cannot be reached by the rule's channel are left out
    here rather than skipped by the send: a skipped reminder does not count as one, so
    the same person would be skipped again, and written down again, every day until
    their code expires.
    """
    channel = rule.template.channel
    sent = Message.objects.filter(
        code_id=OuterRef("pk"),
        participant_id=OuterRef("participant_id"),
        purpose=Purpose.CODE,
        status=Message.Status.SENT,
    )
    reminded = Message.objects.filter(
        code_id=OuterRef("pk"), purpose=Purpose.REMINDER, channel=channel
    ).exclude(status=Message.Status.SKIPPED)
    codes = unused_codes(
        InvitationCode.objects.filter(
            contract_id=rule.contract_id,
            participant__isnull=False,
            participant__opted_out_at__isnull=True,
            valid_until__gte=today,
            valid_until__lte=today + timedelta(days=rule.days_before),
        )
    )
    found = (
        codes.filter(Exists(sent))
        .exclude(Exists(reminded))
        .order_by("pk")
        .values_list("pk", "participant__email", "participant__phone")
    )
    return [
        pk
        for pk, email, phone in found.iterator(chunk_size=10_000)
        if not recipient_address(channel, email, phone)[1]
    ]


def reminders_send(*, today: date | None = None) -> list[Distribution]:
    """Daily: one reminder distribution per active rule that has codes to remind.

    A rule whose send would reach nobody (all unsubscribed, say) is logged and skipped;
    the others go on.
    """
    today = today or site_today()
    made = []
    rules = ReminderRule.objects.filter(
        is_active=True, contract__status=Contract.Status.ACTIVE
    ).select_related("contract", "template")
    for rule in rules:
        code_ids = reminder_code_ids(rule=rule, today=today)
        if not code_ids:
            continue
        try:
            distribution = distribution_create(
                actor=None,
                contract=rule.contract,
                template=rule.template,
                code_ids=code_ids,
                purpose=Purpose.REMINDER,
                reminder_rule=rule,
            )
        except DomainError as exc:
            logger.warning("Reminder rule %s sent nothing: %s", rule.pk, exc)
            continue
        logger.info(
            "Reminder rule %s: distribution %s for %s codes",
            rule.pk,
            distribution.pk,
            len(code_ids),
        )
        made.append(distribution)
    return made
