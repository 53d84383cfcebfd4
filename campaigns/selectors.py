"""Reads of distributions: who a send would reach (and who not, and why), progress, values.

`distribution_plan` is the one answer to "who gets a message": the Send Codes page shows
it before confirming and `distribution_create` writes it, so the figures staff confirm are
the figures the send is made of.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property

from django.conf import settings
from django.db.models import Count, QuerySet
from django.urls import reverse
from django.utils import timezone

from campaigns import templating
from campaigns.models import (
    Channel,
    Distribution,
    Message,
    MessageTemplate,
    Purpose,
    ReminderRule,
    Wave,
)
from contracts.models import Contract
from core.notifications import e164
from core.timezones import site_today
from invitations.models import CodeBatch, InvitationCode, code_state
from invitations.selectors import unused_codes

# Why a participant gets no message. Each is shown to staff before and after a send.
NO_EMAIL = "No email address"
NO_PHONE = "No phone number"
BAD_PHONE = "Phone number not in international format (E.164, like +447700900123)"
OPTED_OUT = "Unsubscribed"
ALREADY_SENT = "Already sent"
ALREADY_QUEUED = "Already queued in another send"
ALREADY_FAILED = "Failed in an earlier send: use its Resend failed"
NO_CODE = "No unused code"

# Ids are looked up this many at a time: SQLite limits a statement's parameters.
_ID_CHUNK = 5_000


@dataclass(frozen=True)
class Recipient:
    participant_id: int
    code_id: int
    to: str
    reason: str = ""  # why it is skipped; empty: it is sent


@dataclass
class Plan:
    """Who a send reaches: one recipient per participant and code (skipped ones with their
    reason), plus the participants asked for who hold no unused code (they get no row:
    there is no code to name) and chosen codes issued to nobody (not recipients at all)."""

    channel: str
    recipients: list[Recipient] = field(default_factory=list)
    without_code: int = 0
    not_issued: int = 0

    @cached_property
    def sending(self) -> int:
        return sum(1 for r in self.recipients if not r.reason)

    @property
    def skipped(self) -> int:
        return len(self.recipients) - self.sending + self.without_code

    @property
    def total(self) -> int:
        return len(self.recipients) + self.without_code

    @cached_property
    def reasons(self) -> list[tuple[str, int]]:
        """Skip reasons with their counts, the most frequent first."""
        counts = Counter(r.reason for r in self.recipients if r.reason)
        if self.without_code:
            counts[NO_CODE] += self.without_code
        return counts.most_common()


def _chunks(ids: Iterable[int]) -> Iterator[list[int]]:
    ids = list(dict.fromkeys(ids))
    for start in range(0, len(ids), _ID_CHUNK):
        yield ids[start : start + _ID_CHUNK]


_CODE_FIELDS = (
    "id",
    "participant_id",
    "participant__email",
    "participant__phone",
    "participant__opted_out_at",
    "status",
    "is_archived",
    "uses",
    "max_uses",
    "valid_from",
    "valid_until",
)


def _address(channel: str, email: str, phone: str) -> tuple[str, str]:
    """(where the message goes, why it cannot go) for one participant."""
    if channel == Channel.EMAIL:
        email = (email or "").strip()
        return email, "" if email else NO_EMAIL
    phone = (phone or "").strip()
    if not phone:
        return "", NO_PHONE
    number = e164(phone)
    return (number, "") if number else (phone, BAD_PHONE)


def distribution_plan(
    *,
    contract: Contract,
    channel: str,
    participant_ids: Iterable[int] | None = None,
    code_ids: Iterable[int] | None = None,
    purpose: str = Purpose.CODE,
) -> Plan:
    """Who would get a message by `channel`, and who would not and why.

    Recipients are, by what is given: the participants named (each with their newest
    unused code), the codes named (each to the participant holding it), or else every
    participant of the contract holding an unused code. Skipped with a reason: participants
    who unsubscribed, whose code is no longer usable, who have no email address (or no
    phone number, or one not in E.164 form), and codes already sent to that person by that
    channel (for a reminder: codes already reminded). A handful of queries, whatever the size.
    """
    plan = Plan(channel=channel)
    rows: list[tuple] = []
    if code_ids is not None:
        for chunk in _chunks(code_ids):
            rows += InvitationCode.objects.filter(contract=contract, pk__in=chunk).values_list(
                *_CODE_FIELDS
            )
        plan.not_issued = sum(1 for row in rows if row[1] is None)
        rows = sorted((row for row in rows if row[1] is not None), key=lambda row: row[0])
    else:
        codes = unused_codes(
            InvitationCode.objects.filter(contract=contract, participant__isnull=False)
        )
        if participant_ids is None:
            found = codes.values_list(*_CODE_FIELDS).order_by("participant_id", "-id")
            rows = list(found.iterator(chunk_size=10_000))
        else:
            asked = set()
            for chunk in _chunks(participant_ids):
                asked |= set(
                    contract.participants.filter(pk__in=chunk).values_list("pk", flat=True)
                )
                rows += codes.filter(participant_id__in=chunk).values_list(*_CODE_FIELDS)
            rows.sort(key=lambda row: (row[1], -row[0]))
            plan.without_code = len(asked - {row[1] for row in rows})
        # One message per participant: their newest unused code.
        newest, seen = [], set()
        for row in rows:
            if row[1] not in seen:
                seen.add(row[1])
                newest.append(row)
        rows = newest
    # What the unique index would refuse: this code to this person by this channel,
    # sent, queued or failed in another send (a failed one is resent from its own send).
    earlier = {
        Message.Status.SENT: ALREADY_SENT,
        Message.Status.QUEUED: ALREADY_QUEUED,
        Message.Status.FAILED: ALREADY_FAILED,
    }
    already = {
        (code_id, participant_id): earlier[status]
        for code_id, participant_id, status in Message.objects.filter(
            contract=contract, channel=channel, purpose=purpose
        )
        .exclude(status=Message.Status.SKIPPED)
        .values_list("code_id", "participant_id", "status")
        .iterator(chunk_size=10_000)
    }
    today = site_today()
    for code_id, participant_id, email, phone, opted_out, *state in rows:
        to, reason = _address(channel, email, phone)
        if opted_out:
            reason = OPTED_OUT
        elif code_ids is not None:
            status, archived, uses, max_uses, valid_from, valid_until = state
            reason = code_skip_reason(
                is_archived=archived,
                status=status,
                uses=uses,
                max_uses=max_uses,
                valid_from=valid_from,
                valid_until=valid_until,
                today=today,
            )
        if not reason:
            reason = already.get((code_id, participant_id), "")
        plan.recipients.append(Recipient(participant_id, code_id, to, reason))
    return plan


def code_skip_reason(
    *,
    is_archived: bool,
    status: str,
    uses: int,
    max_uses: int | None,
    valid_from,
    valid_until,
    today,
) -> str:
    """Why a code is not sent ("Code is used"), or "" when it may be. Asked when a send is
    planned and again when its message goes (a scheduled send, a resend: days may pass)."""
    shown = code_state(
        is_archived=is_archived,
        status=status,
        uses=uses,
        max_uses=max_uses,
        valid_from=valid_from,
        valid_until=valid_until,
        today=today,
    )
    # "Not yet valid" and scheduled codes are sent: people may hold them before they open.
    if shown not in ("Active", "Not yet valid", "Scheduled") or uses:
        return f"Code is {shown.lower() if shown != 'Active' else 'used'}"
    return ""


# --- values of one message -------------------------------------------------------------


def register_link(code: str) -> str:
    """The registration deep link of a code, as sent: SITE_URL/register/<code>/."""
    return f"{settings.SITE_URL}{reverse('register:book', args=[code])}"


class ValueMaker:
    """Placeholder values for a contract's messages, with what is the same for all of them
    (contract, prices and products) read once."""

    def __init__(self, contract: Contract) -> None:
        self.contract_name = contract.name
        self.prices = {
            price.pk: (price.product.name, templating.price_text(price.amount, price.currency))
            for price in contract.prices.select_related("product")
        }
        # reverse() once: a code is URL-safe (Crockford letters and digits, or a shared
        # code's normalised form), so the rest is a string join.
        self.link_head = register_link("CODE").removesuffix("CODE/")

    def values(
        self, *, first_name: str, last_name: str, code: str, price_id: int, valid_until
    ) -> dict[str, str]:
        product, price = self.prices.get(price_id, ("", ""))
        return {
            "first_name": first_name,
            "last_name": last_name,
            "code": code,
            "link": f"{self.link_head}{code}/",
            "product": product,
            "price": price,
            "valid_until": templating.valid_until_text(valid_until),
            "contract": self.contract_name,
        }


def preview_values(*, contract: Contract) -> tuple[dict[str, str], str]:
    """Values for a template preview or test: the contract's first participant holding an
    unused code, else sample values. Returns the values and whose they are, in words."""
    code = (
        unused_codes(InvitationCode.objects.filter(contract=contract, participant__isnull=False))
        .select_related("participant")
        .order_by("participant__last_name", "participant__first_name", "participant_id", "-id")
        .first()
    )
    if code is None:
        sample = {**templating.SAMPLE, "contract": contract.name}
        sample["link"] = register_link(sample["code"])
        return sample, "sample values (no participant of this contract holds an unused code)"
    participant = code.participant
    values = ValueMaker(contract).values(
        first_name=participant.first_name,
        last_name=participant.last_name,
        code=code.display,
        price_id=code.price_id,
        valid_until=code.valid_until,
    )
    return values, f"{participant.full_name}'s code {code.display}"


# --- distributions and their progress --------------------------------------------------


def contract_templates(*, contract: Contract) -> QuerySet[MessageTemplate]:
    return contract.templates.order_by("name", "pk")


def contract_distributions(*, contract: Contract) -> QuerySet[Distribution]:
    return contract.distributions.select_related("template", "created_by").order_by("-pk")


def message_counts(*, distribution_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """Messages per status of each distribution, from the (distribution, status) index."""
    counts: dict[int, dict[str, int]] = {}
    ids = list(distribution_ids)
    rows = (
        Message.objects.filter(distribution_id__in=ids)
        .values_list("distribution_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for pk in ids:
        counts[pk] = dict.fromkeys(Message.Status.values, 0)
    for pk, status, n in rows:
        counts[pk][status] = n
    return counts


@dataclass(frozen=True)
class Progress:
    distribution: Distribution
    counts: dict[str, int]

    @property
    def messages(self) -> int:
        return sum(self.counts.values())

    @property
    def queued(self) -> int:
        return self.counts[Message.Status.QUEUED]

    @property
    def without_code(self) -> int:
        """Skipped participants with no message row: they held no unused code."""
        return max(self.distribution.skipped - self.counts[Message.Status.SKIPPED], 0)

    @property
    def percent(self) -> int:
        if not self.messages:
            return 100
        return (self.messages - self.queued) * 100 // self.messages

    @property
    def is_sending(self) -> bool:
        """Worth polling: it is being sent now, or is due and about to be."""
        d = self.distribution
        if d.status == Distribution.Status.SENDING:
            return True
        return d.status == Distribution.Status.QUEUED and (
            d.send_at is None or d.send_at <= timezone.now()
        )

    def as_json(self) -> dict:
        c = self.counts
        return {
            # The progress bar polls while the status is queued or running.
            "status": "running" if self.is_sending else self.distribution.status,
            "percent": self.percent,
            "counts": c,
            "text": (
                f"{c['sent']:,} sent, {c['failed']:,} failed, {c['queued']:,} queued, "
                f"{c['skipped'] + self.without_code:,} skipped"
            ),
        }


def distribution_progress(*, distribution: Distribution) -> Progress:
    counts = message_counts(distribution_ids=[distribution.pk])[distribution.pk]
    return Progress(distribution=distribution, counts=counts)


def distribution_messages(*, distribution: Distribution, status: str = "") -> QuerySet[Message]:
    """A distribution's messages for its detail page, filtered by status."""
    qs = Message.objects.filter(distribution=distribution)
    if status in Message.Status.values:
        qs = qs.filter(status=status)
    return qs.select_related("participant", "code").order_by("pk")


# --- schedules -------------------------------------------------------------------------


@dataclass
class Schedules:
    """What is set to happen on a contract: sends at a time, batch releases, reminders."""

    sends: list[Distribution]
    releases: list
    reminders: list
    waves: list


def contract_schedules(*, contract: Contract) -> Schedules:
    """The Schedules section of the Messages tab: sends not started that have a time,
    batches waiting for their release, the reminder rules and the waves. Four small
    queries."""
    return Schedules(
        sends=list(
            Distribution.objects.filter(
                contract=contract, status=Distribution.Status.QUEUED, send_at__isnull=False
            )
            .select_related("template", "created_by")
            .order_by("send_at", "pk")
        ),
        releases=list(
            CodeBatch.objects.filter(
                contract=contract, release_at__isnull=False, released_at__isnull=True
            )
            .select_related("price")
            .order_by("release_at", "pk")
        ),
        reminders=list(
            ReminderRule.objects.filter(contract=contract)
            .select_related("template")
            .order_by("days_before", "pk")
        ),
        waves=list(
            Wave.objects.filter(contract=contract)
            .select_related("template")
            .order_by("starts_on", "pk")
        ),
    )
