"""Redeeming invitation codes: booking exactly once, refusing with a reason, voiding.

A booking is one conditional UPDATE of the code's use count plus the booking's insert,
in one transaction (ARCHITECTURE §4). Everything read before the UPDATE only serves
to refuse early with a specific message; the UPDATE alone decides whether a use is
left, and unique constraints on the booking back the "only once" rules.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Now
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.formats import date_format
from django.utils.http import urlsafe_base64_encode

from contracts.models import Contract, ContractPrice, Organisation, Participant, Product
from contracts.services import participant_create
from core import codes as codelib
from core import db, throttle
from core.errors import DomainError
from core.feeds import save_stamped
from core.locks import advisory_xact_lock
from core.models import WebhookEndpoint
from core.timezones import site_today
from invitations import selectors
from invitations.models import (
    CODE_MAX_LENGTH,
    Booking,
    BookingVoid,
    CodeBatch,
    InvitationCode,
    RedemptionAttempt,
    join_names,
)
from invitations.services.webhooks import booking_created_announce, booking_voided_announce

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None
Result = RedemptionAttempt.Result

# Longer than this, typed text is not a code; the log keeps at most this much of it.
TYPED_MAX = 64
SHARED_CODE_MIN_LENGTH = 10

_CODES = InvitationCode._meta.db_table
_BOOKINGS = Booking._meta.db_table
_ATTEMPTS = RedemptionAttempt._meta.db_table


class RedemptionRefused(DomainError):
    """A code cannot be booked with, for `reason` (a RedemptionAttempt.Result)."""

    def __init__(self, message: str, *, reason: str, code: InvitationCode | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class Details:
    """What the person booking entered; for an assigned code only the phone is taken."""

    first_name: str = ""
    last_name: str = ""
    email: str = ""
    phone: str = ""
    date_of_birth: date | None = None
    region: str = ""
    group: str = ""

    @classmethod
    def from_data(cls, data: Mapping) -> Details:
        """From a form's or serializer's cleaned data: absent or empty fields are blank."""
        return cls(
            **{
                name: data.get(name) or (None if name == "date_of_birth" else "")
                for name in PERSON_FIELDS
            }
        )


PERSON_FIELDS = tuple(f.name for f in fields(Details))


@dataclass(frozen=True)
class Client:
    """Who is asking, for the log: the channel, address, browser or API token's user."""

    channel: str = Booking.Channel.WEB
    address: str = ""
    user_agent: str = ""
    user: AbstractBaseUser | None = field(default=None)


# --- Reading a code ------------------------------------------------------------------


def code_read(raw: str) -> str:
    """The typed code normalised, or a refusal when it cannot be a code at all.

    A generated code's check symbol catches a typo here, before any lookup; only text
    long enough to be a shared code (which has no check symbol) is looked up further.
    """
    typed = (raw or "").strip()
    if not typed:
        raise RedemptionRefused("Enter your invitation code.", reason=Result.MALFORMED)
    code = codelib.normalise(typed)
    if len(typed) > TYPED_MAX or len(code) > CODE_MAX_LENGTH:
        raise RedemptionRefused(
            "This is longer than any invitation code: please check what you entered.",
            reason=Result.MALFORMED,
        )
    if not (code.isascii() and code.isalnum()):
        raise RedemptionRefused(
            "Invitation codes use only the letters A–Z and the digits 0–9: "
            "please check what you entered.",
            reason=Result.MALFORMED,
        )
    return code


TYPO = "This code has a typo: please check it against your invitation."


def code_find(raw: str) -> InvitationCode:
    """The code typed in `raw`, with its contract, price and participant; or a refusal."""
    code = code_read(raw)
    if codelib.has_valid_check(code):
        found = _load_code(code, shared_only=False)
    elif len(code) >= SHARED_CODE_MIN_LENGTH:
        found = _load_code(code, shared_only=True)
        if found is None:
            raise RedemptionRefused(TYPO, reason=Result.TYPO)
    else:
        raise RedemptionRefused(TYPO, reason=Result.TYPO)
    if found is None:
        raise RedemptionRefused(
            "We could not find this code. Please check it against your invitation.",
            reason=Result.UNKNOWN,
        )
    return found


# The columns a booking and its refusals read, per model, in the order they are selected.
_LOADED = [
    (model, alias, db.field_order(model, names))
    for model, alias, names in [
        (InvitationCode, "c", [f.attname for f in InvitationCode._meta.concrete_fields]),
        (
            Contract,
            "k",
            [
                "id",
                "organisation_id",
                "name",
                "code",
                "external_id",
                "status",
                "is_closed_group",
                "max_bookings",
                "max_bookings_per_day",
                "budget_cap",
                "currency",
            ],
        ),
        (
            ContractPrice,
            "p",
            ["id", "contract_id", "product_id", "price_code", "amount", "currency"],
        ),
        (Product, "d", ["id", "name", "description"]),
        # For the webhook events: who the contract is for, as the receiver knows them.
        (Organisation, "o", ["id", "name", "code", "external_id"]),
        (
            Participant,
            "t",
            [
                "id",
                "contract_id",
                "first_name",
                "last_name",
                "email",
                "phone",
                "date_of_birth",
                "region",
                "group",
                "user_id",
            ],
        ),
    ]
]


def _code_query() -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(f"{alias}.{quote(name)}" for _, alias, names in _LOADED for name in names)
    tables = {model: quote(model._meta.db_table) for model, _, _ in _LOADED}
    links = Organisation.webhook_endpoints.through
    endpoints = quote(WebhookEndpoint._meta.db_table)
    # Whether the organisation has an active webhook endpoint, with the code: a booking
    # for one without pays no query for its events (an index probe here instead).
    has_endpoints = (
        f"EXISTS (SELECT 1 FROM {quote(links._meta.db_table)} w JOIN {endpoints} e "
        "ON e.id = w.webhookendpoint_id WHERE w.organisation_id = k.organisation_id "
        "AND e.is_active)"
    )
    return (
        f"SELECT {columns}, {has_endpoints} FROM {tables[InvitationCode]} c "
        f"JOIN {tables[Contract]} k ON k.id = c.contract_id "
        f"JOIN {tables[ContractPrice]} p ON p.id = c.price_id "
        f"JOIN {tables[Product]} d ON d.id = p.product_id "
        f"JOIN {tables[Organisation]} o ON o.id = k.organisation_id "
        f"LEFT JOIN {tables[Participant]} t ON t.id = c.participant_id "
        "WHERE c.code = %s"
    )


def _load_code(code: str, *, shared_only: bool) -> InvitationCode | None:
    """One statement for a code and what hangs off it, built into model instances.

    The same as `select_related(...).only(...)`, without the ORM compiling that query on
    every attempt (a third of a redemption's time in Python); on PostgreSQL the statement
    is prepared once per connection. Other fields load on access, as deferred fields do.
    """
    row = db.fetchone(_code_query() + (" AND c.is_shared" if shared_only else ""), [code])
    if row is None:
        return None
    objects, start = {}, 0
    for model, _, names in _LOADED:
        values = row[start : start + len(names)]
        start += len(names)
        objects[model] = db.instance(model, names, values) if values[0] is not None else None
    found = objects[InvitationCode]
    price = objects[ContractPrice]
    price.product = objects[Product]
    found.contract = objects[Contract]
    found.contract.organisation = objects[Organisation]
    found.contract.organisation.has_webhooks = bool(row[start])
    found.price = price
    found.participant = objects[Participant]
    return found


def _day(value: date) -> str:
    return date_format(value, "j F Y")


def _release_time(code: InvitationCode) -> str:
    """When a scheduled code's batch is released, in the site's time zone (one query,
    on the refusal path only)."""
    at = CodeBatch.objects.filter(pk=code.batch_id).values_list("release_at", flat=True).first()
    if at is None:
        return "its release"
    return (
        date_format(timezone.localtime(at), "j F Y, H:i")
        + f" ({timezone.get_current_timezone_name()})"
    )


def code_refusal(code: InvitationCode, *, today: date | None = None) -> RedemptionRefused | None:
    """Why the code itself cannot be booked with now, whoever asks; None when it can."""
    today = today or site_today()
    contract = code.contract
    if contract.status != Contract.Status.ACTIVE:
        state = "are not open yet" if contract.status == Contract.Status.DRAFT else "are closed"
        return RedemptionRefused(
            f"Bookings for {contract.name} {state}.", reason=Result.CONTRACT_INACTIVE, code=code
        )
    if code.status == InvitationCode.Status.REVOKED or code.is_archived:
        return RedemptionRefused(
            "This code has been withdrawn and can no longer be used.",
            reason=Result.REVOKED,
            code=code,
        )
    if code.status == InvitationCode.Status.SCHEDULED:
        return RedemptionRefused(
            f"This code can be used from {_release_time(code)}.",
            reason=Result.NOT_YET_VALID,
            code=code,
        )
    if code.max_uses is not None and code.uses >= code.max_uses:
        message = (
            "Already used: this code has been used for a booking."
            if code.max_uses == 1
            else f"Already used: this code has been used {code.max_uses} times, its limit."
        ) + " If you booked with it, your confirmation email has the booking reference."
        return RedemptionRefused(message, reason=Result.USED_UP, code=code)
    if code.valid_from and code.valid_from > today:
        return RedemptionRefused(
            f"This code can be used from {_day(code.valid_from)}.",
            reason=Result.NOT_YET_VALID,
            code=code,
        )
    if code.valid_until and code.valid_until < today:
        return RedemptionRefused(
            f"This code expired on {_day(code.valid_until)}.", reason=Result.EXPIRED, code=code
        )
    return None


def _rules_refusal(code: InvitationCode, *, region: str, group: str) -> RedemptionRefused | None:
    regions = {name.casefold() for name in code.regions}
    if regions and region.strip().casefold() not in regions:
        where = f" ({region.strip()})" if region.strip() else ""
        return RedemptionRefused(
            f"This code is not valid for your region{where}. It is for: {', '.join(code.regions)}.",
            reason=Result.REGION,
            code=code,
        )
    groups = {name.casefold() for name in code.groups}
    if groups and group.strip().casefold() not in groups:
        which = f" ({group.strip()})" if group.strip() else ""
        return RedemptionRefused(
            f"This code is not valid for your group{which}. It is for: {', '.join(code.groups)}.",
            reason=Result.GROUP,
            code=code,
        )
    return None


def _known_participant(code: InvitationCode, details: Details) -> Participant | None:
    """Who books: the code's participant, else the contract's participant with the email."""
    if code.participant_id:
        return code.participant
    email = details.email.strip()
    if not email:
        return None
    return code.contract.participants.filter(email__iexact=email).order_by("id").first()


def _person_refusal(
    code: InvitationCode,
    participant: Participant | None,
    details: Details,
    *,
    booked: bool | None = None,
) -> RedemptionRefused | None:
    """Why this person cannot book with the code; `booked`, when known, saves the query."""
    if participant is None and code.contract.is_closed_group:
        return RedemptionRefused(
            f"Bookings for {code.contract.name} are for a closed group, and "
            f"{details.email.strip() or 'this email address'} is not on its list. Use the email "
            "address your invitation was sent to.",
            reason=Result.NOT_ON_LIST,
            code=code,
        )
    if participant is not None:
        refusal = _rules_refusal(code, region=participant.region, group=participant.group)
    else:
        refusal = _rules_refusal(code, region=details.region, group=details.group)
    if refusal or participant is None:
        return refusal
    if not code.participant_id and participant.invitation_codes.exists():
        # A code for anyone does not book as someone who was sent a code of their own:
        # typing their email address would otherwise take their place.
        return RedemptionRefused(
            f"This email address has its own invitation for {code.contract.name}: please "
            "book with the code sent to it.",
            reason=Result.HAS_INVITATION,
            code=code,
        )
    if booked is None:
        booked = _holds_blocking_booking(participant, code)
    if booked and code.one_per_person:
        # Not naming the person: whoever typed an email address learns no name.
        return RedemptionRefused(
            f"There is already a booking for {code.contract.name} under these details: "
            "one booking per person. Your confirmation email has its booking reference.",
            reason=Result.ALREADY_BOOKED,
            code=code,
        )
    if booked:
        return RedemptionRefused(
            f"There is already a booking for {code.contract.name} under these details that "
            "this code cannot add to. Your confirmation email has its booking reference.",
            reason=Result.ALREADY_BOOKED,
            code=code,
        )
    return None


def code_check(*, code: str, details: Details | None = None) -> InvitationCode:
    """Whether `code` can be booked with now (by the person in `details`, when given).

    Changes nothing; returns the code, or raises RedemptionRefused with the reason.
    """
    found = code_find(code)
    refusal = code_refusal(found) or quota_refusal(found.contract, found)
    if refusal is None and details is not None:
        refusal = _person_refusal(found, _known_participant(found, details), details)
    if refusal:
        raise refusal
    return found


# --- Booking --------------------------------------------------------------------------


def booking_redeem(
    *,
    code: str,
    details: Details,
    client: Client,
    idempotency_key: str = "",
    request_hash: str = "",
    create_account: bool = False,
) -> Booking:
    """Book the code's product for a person: exactly once, whatever runs at the same time.

    A booking already made with `idempotency_key` is returned (marked `replayed`) rather
    than made again; with another `request_hash` it is refused (IdempotencyConflict).
    Every attempt is logged, refusals included.
    """
    try:
        booking = _redeem(
            code=code,
            details=details,
            client=client,
            idempotency_key=idempotency_key or None,
            request_hash=request_hash,
            create_account=create_account,
        )
    except RedemptionRefused as exc:
        holder = exc.code.participant if exc.code is not None else None
        attempt_record(
            client=client,
            typed=code,
            result=exc.reason,
            code=exc.code,
            email=holder.email if holder is not None else details.email,
            message=exc.message,
        )
        raise
    if booking.replayed:  # a booking is logged in its own transaction (see _redeem)
        attempt_record(
            client=client,
            typed=code,
            result=Result.REPLAYED,
            code=booking.code,
            booking=booking,
            email=booking.participant.email,
        )
    return booking


class IdempotencyConflict(DomainError):
    """An idempotency key sent again with a different request."""


def _replay(key: str | None, request_hash: str) -> Booking | None:
    if not key:
        return None
    # A narrow probe first, by the unique index: the key is nearly always new.
    found = db.fetchone(
        f"SELECT id, request_hash FROM {connection.ops.quote_name(_BOOKINGS)} "
        "WHERE idempotency_key = %s",
        [key],
    )
    if found is None:
        return None
    pk, earlier_hash = found
    if request_hash and earlier_hash and earlier_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was used for another request; send a new key for a new booking."
        )
    booking = Booking.objects.select_related(
        "code", "contract", "participant", "price__product"
    ).get(pk=pk)
    booking.replayed = True
    return booking


def _redeem(
    *,
    code: str,
    details: Details,
    client: Client,
    idempotency_key: str | None,
    request_hash: str,
    create_account: bool,
) -> Booking:
    replayed = _replay(idempotency_key, request_hash)
    if replayed:
        return replayed
    found = code_find(code)
    refusal = code_refusal(found)
    if refusal:
        raise refusal
    _check_details(found, details)
    try:
        with transaction.atomic():
            booking = _book(
                found, code, details, client, idempotency_key, request_hash, create_account
            )
    except RedemptionRefused:
        # A double click whose first request won the last use: the first booking stands.
        replayed = _replay(idempotency_key, request_hash)
        if replayed:
            return replayed
        raise
    except IntegrityError as exc:
        replayed = _replay(idempotency_key, request_hash)
        if replayed:
            return replayed
        if "one_exclusive_booking" in str(exc) or "one_active_booking" in str(exc):
            # The constraints behind "once": reached only if the checks above were raced.
            raise RedemptionRefused(
                "There is already a booking under these details: one booking per person.",
                reason=Result.ALREADY_BOOKED,
                code=found,
            ) from None
        raise
    booking.replayed = False
    return booking


def _check_details(code: InvitationCode, details: Details) -> None:
    """Field errors in what the person entered; the code is not touched when any is found."""
    errors: dict[str, str] = {}
    email = details.email.strip()
    if code.participant_id:
        if email and email.casefold() != code.participant.email.casefold():
            errors["email"] = (
                "This invitation was issued to another email address, which cannot be changed."
            )
    else:
        for name in ("first_name", "last_name", "email"):
            if not getattr(details, name).strip():
                errors[name] = "This field is required."
        if email:
            try:
                validate_email(email)
            except ValidationError:
                errors["email"] = "Enter a valid email address."
    if len(details.phone.strip()) > 40:
        errors["phone"] = "Enter at most 40 characters."
    born = details.date_of_birth
    if born and born > site_today():
        errors["date_of_birth"] = "The date of birth is in the future."
    if errors:
        raise ValidationError(errors)


def _book(
    code: InvitationCode,
    typed: str,
    details: Details,
    client: Client,
    idempotency_key: str | None,
    request_hash: str,
    create_account: bool,
) -> Booking:
    contract = code.contract
    refusal = _quota_refusal(contract, code)
    if refusal:
        raise refusal
    if not code.participant_id and details.email:
        # Two first bookings with one email at once would each add the person.
        advisory_xact_lock(f"participant:{contract.pk}:{details.email.strip().casefold()}")
    participant = _known_participant(code, details)
    booked = None
    if participant is not None:
        # Serialises this person's bookings: "one per person" is checked under the lock.
        booked = _lock_and_check_booked(participant, code)
    refusal = _person_refusal(code, participant, details, booked=booked)
    if refusal:
        raise refusal
    if participant is None:
        participant = participant_create(
            actor=_actor(client),
            contract=contract,
            first_name=details.first_name,
            last_name=details.last_name,
            email=details.email,
            phone=details.phone,
            date_of_birth=details.date_of_birth,
            region=details.region,
            group=details.group,
        )
    elif (
        code.participant_id and details.phone.strip() != participant.phone and details.phone.strip()
    ):
        # Only the holder of an assigned code corrects their phone; a code for anyone
        # never changes what is stored about someone.
        participant.phone = details.phone.strip()
        participant.save(update_fields=["phone"])
    account_created = False
    if create_account:
        account_created = _account_link(participant, client)
    booking = Booking(
        reference=codelib.draw_codes("", 10, 1)[0],
        contract=contract,
        code=code,
        participant=participant,
        price=code.price,
        amount=code.price.amount,
        currency=code.price.currency,
        exclusive=code.one_per_person,
        channel=client.channel,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        created_by=_actor(client),
    )
    attempt = _attempt(
        client=client, typed=typed, result=Result.BOOKED, code=code, email=participant.email
    )
    today = site_today()
    if not _take_use_and_book(code, booking, attempt, today=today):
        code.refresh_from_db(fields=["status", "is_archived", "uses", "max_uses"])
        raise code_refusal(code, today=today) or RedemptionRefused(
            "This code can no longer be used.", reason=Result.USED_UP, code=code
        )
    booking_created_announce(booking=booking, code=code)
    booking_id, user_id = booking.pk, participant.user_id
    from invitations.tasks import send_booking_confirmation

    # Robust: a booking made stands even when its email cannot be queued (it is logged).
    transaction.on_commit(
        lambda: send_booking_confirmation.delay(
            booking_id, set_password_user_id=user_id if account_created else None
        ),
        robust=True,
    )
    booking.account_created = account_created
    return booking


_TAKE_AND_BOOK = f"""
WITH taken AS (
    UPDATE {_CODES} SET uses = uses + 1, updated_at = STATEMENT_TIMESTAMP()
    WHERE id = %(code)s AND status = 'active' AND NOT is_archived
      AND (max_uses IS NULL OR uses < max_uses)
      AND (valid_from IS NULL OR valid_from <= %(today)s::date)
      AND (valid_until IS NULL OR valid_until >= %(today)s::date)
    RETURNING id
), booked AS (
    INSERT INTO {_BOOKINGS} (reference, contract_id, code_id, participant_id, price_id,
        amount, currency, status, exclusive, channel, idempotency_key, request_hash, created_by_id,
        created_at)
    SELECT %(reference)s::text, %(contract)s::bigint, id, %(participant)s::bigint,
        %(price)s::bigint, %(amount)s::numeric, %(currency)s::text, 'active',
        %(exclusive)s::boolean, %(channel)s::text, %(key)s::text, %(hash)s::text,
        %(user)s::integer, %(now)s::timestamptz
    FROM taken
    RETURNING id
), logged AS (
    INSERT INTO {_ATTEMPTS} (created_at, channel, result, code_typed, code_id,
        contract_id, booking_id, email, address, user_agent, user_id, message)
    SELECT %(now)s::timestamptz, %(channel)s::text, 'booked', %(typed)s::text,
        %(code)s::bigint, %(contract)s::bigint, id, %(email)s::text, %(address)s::text,
        %(agent)s::text, %(user)s::integer, ''
    FROM booked
)
SELECT id FROM booked
"""


def has_quota(contract: Contract) -> bool:
    return (
        contract.max_bookings is not None
        or contract.max_bookings_per_day is not None
        or contract.budget_cap is not None
    )


def _quota_refusal(contract: Contract, code: InvitationCode) -> RedemptionRefused | None:
    """Refuse once the contract's bookings reach a quota or its budget.

    Only a contract with a quota pays for this: its row is locked for the rest of the
    booking, so its bookings follow one another and the counts below cannot move before
    this one is written. Voided bookings do not count.
    """
    if not has_quota(contract):
        return None
    # The limits as they are now, read with the lock: staff may have just changed them.
    limits = (
        Contract.objects.select_for_update(no_key=True)
        .filter(pk=contract.pk)
        .values("max_bookings", "max_bookings_per_day", "budget_cap")
        .first()
    )
    for name, value in (limits or {}).items():
        setattr(contract, name, value)
    return quota_refusal(contract, code)


def quota_refusal(contract: Contract, code: InvitationCode) -> RedemptionRefused | None:
    """Why the contract takes no more bookings now (a quota or the budget), if it doesn't.

    The registration page asks at code entry (unlocked: a hint); the booking asks again
    under the contract's lock (the answer that counts).
    """
    if not has_quota(contract):
        return None
    usage = selectors.contract_quota_usage(contract=contract)
    message = None
    if contract.max_bookings is not None and usage.bookings >= contract.max_bookings:
        message = "All places on this offer are taken."
    elif (
        contract.max_bookings_per_day is not None
        and usage.bookings_today >= contract.max_bookings_per_day
    ):
        message = "Today's places on this offer are taken. Please try again tomorrow."
    elif contract.budget_cap is not None and usage.amount + code.price.amount > contract.budget_cap:
        message = "The budget for this offer has been used up."
    if message is None:
        return None
    return RedemptionRefused(message, reason=Result.QUOTA, code=code)


def _take_use_and_book(
    code: InvitationCode, booking: Booking, attempt: RedemptionAttempt, *, today: date
) -> bool:
    """Take a use of the code if one is left today, and insert the booking and its log line.

    Inside the caller's transaction. On PostgreSQL the three writes are one prepared
    statement (one round trip, planned once per connection): the booking exists only if
    the conditional UPDATE took a use. Elsewhere the same, statement by statement.
    False when no use was taken; nothing is written then.
    """
    if connection.vendor == "postgresql":
        booking.created_at = attempt.created_at = timezone.now()
        params = {
            "code": code.pk,
            "today": today,
            "reference": booking.reference,
            "contract": booking.contract_id,
            "participant": booking.participant_id,
            "price": booking.price_id,
            "amount": booking.amount,
            "currency": booking.currency,
            "exclusive": booking.exclusive,
            "channel": booking.channel,
            "key": booking.idempotency_key,
            "hash": booking.request_hash,
            "user": booking.created_by_id,
            "now": booking.created_at,
            "typed": attempt.code_typed,
            "email": attempt.email,
            "address": attempt.address,
            "agent": attempt.user_agent,
        }
        row = db.fetchone(_TAKE_AND_BOOK, params)
        if row is None:
            return False
        booking.pk = row[0]
        booking._state.adding = False
        return True
    taken = (
        InvitationCode.objects.filter(
            pk=code.pk, status=InvitationCode.Status.ACTIVE, is_archived=False
        )
        .filter(Q(max_uses__isnull=True) | Q(uses__lt=F("max_uses")))
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=today))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .update(uses=F("uses") + 1, updated_at=Now())
    )
    if not taken:
        return False
    booking.save(force_insert=True)
    attempt.booking = booking
    attempt.save(force_insert=True)
    return True


def _actor(client: Client) -> User:
    user = client.user
    return user if user is not None and user.is_authenticated else None


def _lock_and_check_booked(participant: Participant, code: InvitationCode) -> bool:
    """Lock the participant's row until the transaction ends, then say whether they hold
    a booking the code's rule forbids.

    Two statements on purpose: a statement that waited for the lock still reads with the
    snapshot it started with, so the check must come after, to see a booking the lock's
    previous holder committed.
    """
    quote = connection.ops.quote_name
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    sql = f"SELECT 1 FROM {quote(Participant._meta.db_table)} WHERE id = %s{lock}"
    if db.fetchone(sql, [participant.pk]) is None:
        raise RedemptionRefused(
            "This invitation's participant was removed.", reason=Result.UNKNOWN, code=code
        )
    return _holds_blocking_booking(participant, code)


def _holds_blocking_booking(participant: Participant, code: InvitationCode) -> bool:
    """Whether the participant holds an active booking that forbids this one: with the
    code's rule, any on the contract; without it, one with this code, or one whose own
    rule allowed no other."""
    if code.one_per_person:
        clause, params = "contract_id = %s", [participant.pk, code.contract_id]
    else:
        clause = "(code_id = %s OR (contract_id = %s AND exclusive))"
        params = [participant.pk, code.pk, code.contract_id]
    row = db.fetchone(
        f"SELECT EXISTS (SELECT 1 FROM {connection.ops.quote_name(_BOOKINGS)} "
        f"WHERE participant_id = %s AND status = 'active' AND {clause})",
        params,
    )
    return bool(row[0])


def contract_access_group(contract: Contract) -> Group:
    """The group whose members may use what the contract gives (one per contract)."""
    group, _ = Group.objects.get_or_create(name=f"Contract {contract.pk} participants")
    return group


def _account_link(participant: Participant, client: Client) -> bool:
    """Give the participant an account holding the contract's access; True when one is made.

    A new account has no password: the confirmation email carries a link to set one. An
    account that exists with their email is linked only when it is the one signed in:
    typing an address must not grant anything to someone else's account.
    """
    users = get_user_model().objects
    email = participant.email.strip().lower()
    advisory_xact_lock(f"account:{email}")  # two bookings at once make one account
    user = participant.user
    created = False
    if user is None:
        user = users.filter(Q(email__iexact=email) | Q(username__iexact=email)).first()
        if user is not None and user.pk != getattr(client.user, "pk", None):
            return False
    if user is None:
        user = users.create_user(username=email[:150], email=email, password=None)
        user.first_name, user.last_name = participant.first_name, participant.last_name
        user.save(update_fields=["first_name", "last_name"])
        created = True
    if participant.user_id != user.pk:
        participant.user = user
        participant.save(update_fields=["user"])
    user.groups.add(contract_access_group(participant.contract))
    return created


# --- Voiding -------------------------------------------------------------------------


@transaction.atomic
def booking_void(*, actor: User, booking: Booking, reason: str) -> BookingVoid:
    """Void a booking with a reason; its use goes back to the code while the code is valid.

    Nothing is deleted: the booking is marked and the void recorded beside it.
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why the booking is voided; it is kept on record."})
    booking = Booking.objects.select_for_update().select_related("code").get(pk=booking.pk)
    if booking.status == Booking.Status.VOIDED:
        raise DomainError(f"Booking {booking.reference} is already voided.")
    today = site_today()
    freed = bool(
        InvitationCode.objects.filter(
            pk=booking.code_id,
            status=InvitationCode.Status.ACTIVE,
            is_archived=False,
            uses__gt=0,
        )
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=today))
        .update(uses=F("uses") - 1, updated_at=Now())
    )
    booking.status = Booking.Status.VOIDED
    save_stamped(booking, update_fields=["status"])
    void = BookingVoid.objects.create(
        booking=booking, reason=reason[:2000], use_freed=freed, voided_by=actor
    )
    booking_voided_announce(booking=booking, reason=void.reason, use_freed=freed)
    return void


# --- Shared codes --------------------------------------------------------------------


@transaction.atomic
def shared_code_create(
    *,
    actor: User,
    contract: Contract,
    code: str,
    price,
    max_uses: int | None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    allowed_regions: str = "",
    allowed_groups: str = "",
    one_per_person: bool = True,
) -> InvitationCode:
    """Add a code chosen by staff for a whole group or an event, with an optional use limit."""
    label = "".join((code or "").split()).replace("-", "").upper()
    errors: dict[str, str] = {}
    if len(label) < SHARED_CODE_MIN_LENGTH:
        errors["code"] = f"A shared code needs at least {SHARED_CODE_MIN_LENGTH} characters."
    elif len(label) > CODE_MAX_LENGTH:
        errors["code"] = f"A shared code can have at most {CODE_MAX_LENGTH} characters."
    elif not (label.isascii() and label.isalnum()):
        errors["code"] = (
            "Use only the letters A–Z and the digits 0–9 (spaces and hyphens are ignored)."
        )
    if price.contract_id != contract.pk:
        errors["price"] = "Choose one of this contract's prices."
    if max_uses is not None and max_uses < 1:
        errors["max_uses"] = "Allow at least one use, or leave it blank for no limit."
    if valid_from and valid_until and valid_until < valid_from:
        errors["valid_until"] = "“Valid until” must be on or after “valid from”."
    if errors:
        raise ValidationError(errors)
    if contract.status == Contract.Status.CLOSED:
        raise DomainError(f"The contract {contract.name} is closed: no new codes can be added.")
    normalised = codelib.normalise(label)
    if InvitationCode.objects.filter(code=normalised).exists():
        raise ValidationError({"code": f"The code {label} is taken: choose another."})
    try:
        with transaction.atomic():
            return InvitationCode.objects.create(
                code=normalised,
                label=label if label != normalised else "",
                is_shared=True,
                contract=contract,
                price=price,
                max_uses=max_uses,
                valid_from=valid_from if valid_from is not None else contract.start_date,
                valid_until=valid_until if valid_until is not None else contract.end_date,
                allowed_regions=join_names(allowed_regions),
                allowed_groups=join_names(allowed_groups),
                one_per_person=one_per_person,
            )
    except IntegrityError:
        raise ValidationError({"code": f"The code {label} is taken: choose another."}) from None


# --- The log -------------------------------------------------------------------------


def attempt_record(
    *,
    client: Client,
    typed: str,
    result: str,
    code: InvitationCode | None = None,
    booking: Booking | None = None,
    email: str = "",
    message: str = "",
) -> RedemptionAttempt:
    """Log one attempt to book: when, from where, with what, and how it ended."""
    attempt = _attempt(
        client=client, typed=typed, result=result, code=code, email=email, message=message
    )
    attempt.booking = booking
    attempt.save(force_insert=True)
    return attempt


def _attempt(
    *,
    client: Client,
    typed: str,
    result: str,
    code: InvitationCode | None = None,
    email: str = "",
    message: str = "",
) -> RedemptionAttempt:
    user = _actor(client)
    return RedemptionAttempt(
        channel=client.channel,
        result=result,
        code_typed=(typed or "").strip()[:TYPED_MAX],
        code=code,
        contract_id=code.contract_id if code is not None else None,
        email=(email or "").strip()[:254],
        address=client.address[:64],
        user_agent=client.user_agent[:300],
        user=user,
        message=message[:300],
    )


# --- Emails --------------------------------------------------------------------------


def booking_confirmation_send(*, booking_id: int, set_password_user_id: int | None = None) -> bool:
    """Email the participant their booking; a new account's email carries its password link."""
    booking = Booking.objects.select_related(
        "contract", "participant", "price__product", "code"
    ).get(pk=booking_id)
    password_link = ""
    if set_password_user_id:
        user = get_user_model().objects.filter(pk=set_password_user_id).first()
        if user is not None and not user.has_usable_password():
            path = reverse(
                "register:set_password",
                kwargs={
                    "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
                    "token": default_token_generator.make_token(user),
                },
            )
            password_link = f"{settings.SITE_URL}{path}"
    context = {"booking": booking, "password_link": password_link}
    send_mail(
        subject=f"Your booking {booking.reference}: {booking.price.product.name}",
        message=render_to_string("invitations/email/booking_confirmation.txt", context),
        from_email=None,
        recipient_list=[booking.participant.email],
    )
    return True


# --- Throttling the public page ------------------------------------------------------


def public_attempt_open(*, client: Client, typed: str) -> None:
    """Count an attempt from the public page before it is made, per address and per code.

    Past the limit the attempt is refused (and logged) without a lookup. A successful
    attempt is given back with `public_attempt_close`, so only failures add up.
    """
    window = settings.REGISTER_FAILURE_WINDOW
    limit = settings.REGISTER_FAILURE_LIMIT
    by_address = throttle.take_attempt("register", client.address, window=window)
    by_code = throttle.take_attempt("register-code", _code_key(typed), window=window)
    if by_address > limit or by_code > settings.REGISTER_CODE_FAILURE_LIMIT:
        minutes = max(window // 60, 1)
        message = (
            "Too many attempts that did not work. For your security, bookings with a code "
            f"are paused here for up to {minutes} minutes; please try again later."
        )
        attempt_record(client=client, typed=typed, result=Result.THROTTLED, message=message)
        raise RedemptionRefused(message, reason=Result.THROTTLED)


def public_attempt_spare_code(*, typed: str) -> None:
    """A refusal about the person, not the code: it counts against the address only, so
    nobody can lock a shared code for everyone by failing on it."""
    throttle.forgive("register-code", _code_key(typed))


def web_request_hash(*, code: str, fields: Mapping[str, str]) -> str:
    """What a booking form asked for, so that its token replays only the same request."""
    values = [codelib.normalise(code)] + [
        (fields.get(name) or "").strip() for name in sorted(PERSON_FIELDS)
    ]
    return hashlib.sha256("\x1f".join(values).encode()).hexdigest()


def public_attempt_close(*, client: Client, typed: str) -> None:
    """The attempt worked (or was only a form error): it does not count as a failure."""
    throttle.forgive("register", client.address)
    throttle.forgive("register-code", _code_key(typed))


def _code_key(typed: str) -> str:
    return codelib.normalise(typed)[:TYPED_MAX]
