"""Every write to pass plans and passes: plans, activation, generation, issue, redemption."""

from __future__ import annotations

import logging
import secrets
from datetime import date, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from contracts import webhooks as organisation_webhooks
from core import codes as codelib
from core import pins, throttle
from core.errors import DomainError
from core.locks import advisory_xact_lock
from core.money import CURRENCIES, DEFAULT_CURRENCY
from core.timezones import site_today
from passes import events, selectors
from passes.models import (
    GiftOrder,
    OfferActivation,
    Pass,
    PassBatch,
    PassEvent,
    PassPlan,
    PassRedemption,
    PurchaseEvent,
)
from wallets import services as wallet_services
from wallets.models import Wallet

logger = logging.getLogger(__name__)

User = AbstractBaseUser | None
CHUNK_SIZE = 50_000
# One print run: its PDF (10,000 pages at most) is rendered in one task.
PRINT_MAX_QUANTITY = 100_000
# Longer than the largest batch takes to generate and print (about 15 minutes).
BATCH_ABANDONED_AFTER = timedelta(hours=2)
PIN_LOCKOUT_FAILURES = 5
PIN_LOCKOUT_MINUTES = 15
# A client (an IP address) guessing codes or PINs: refused after this many failures within
# the window, whichever passes they were for. A well-formed random guess first has to
# pass the check symbol, so 20 failures are 640 tries' worth of typing.
CLIENT_FAILURE_LIMIT = 20
CLIENT_FAILURE_WINDOW = 15 * 60
PLAN_FIELDS = (
    "name",
    "type",
    "format",
    "classification",
    "valid_until",
    "valid_days",
    "value_min",
    "value_max",
    "currency",
    "funds_valid_days",
    "wallet_balance",
    "pin_required",
    "prefix",
    "code_width",
    "quantity",
    "offer",
    "code_mode",
    "target_products",
    "target_segments",
    "sold_online",
    "organisation",
)


def _plan_values(**fields) -> dict:
    """Clean and check a plan's settings; a ValidationError names every field that is wrong."""
    values = {f: fields.get(f) for f in PLAN_FIELDS}
    errors: dict[str, str] = {}
    kind, fmt = values["type"], values["format"]
    if kind not in PassPlan.Type.values:
        errors["type"] = "Choose gift, top-up or promotion."
    if fmt not in PassPlan.Format.values:
        errors["format"] = "Choose printed or electronic."
    if not (values["name"] or "").strip():
        errors["name"] = "Enter a name."
    values["name"] = (values["name"] or "").strip()
    values["pin_required"] = bool(values["pin_required"])
    if kind == PassPlan.Type.PROMOTION:
        if values["pin_required"]:
            errors["pin_required"] = "A promotion pass has no PIN: untick PIN required."
        if values["value_min"] is not None or values["value_max"] is not None:
            errors["value_min"] = "A promotion activates an offer; it has no value."
        if not (values["offer"] or "").strip():
            errors["offer"] = "Describe the offer a promotion pass activates."
    elif kind in (PassPlan.Type.GIFT, PassPlan.Type.TOPUP):
        low, high = values["value_min"], values["value_max"]
        if high is None:
            values["value_max"] = high = low
        if low is None or low <= 0:
            errors["value_min"] = "Enter a value above zero."
        elif high < low:
            errors["value_max"] = "The highest value must be at least the lowest."
        elif fmt == PassPlan.Format.PRINTED and high != low:
            errors["value_max"] = "A printed pass carries a fixed value: make both values equal."
    if values["valid_until"] and values["valid_days"]:
        errors["valid_days"] = "Give a fixed date or a number of days, not both."
    for name in ("valid_days", "funds_valid_days"):
        if values[name] is not None and not 1 <= values[name] <= 36_500:
            errors[name] = "Give a number of days between 1 and 36,500."
    if values["valid_until"] and values["valid_until"] < site_today():
        errors["valid_until"] = "This date has passed."
    if fmt == PassPlan.Format.PRINTED:
        quantity = values["quantity"]
        if not quantity or not 1 <= quantity <= PRINT_MAX_QUANTITY:
            errors["quantity"] = (
                f"A printed plan needs a quantity between 1 and {PRINT_MAX_QUANTITY:,} "
                "(one print run)."
            )
    else:
        values["quantity"] = None
    width = values["code_width"] or 10
    values["code_width"] = width
    if not codelib.MIN_WIDTH <= width <= codelib.MAX_WIDTH:
        errors["code_width"] = (
            f"Choose a code width between {codelib.MIN_WIDTH} and {codelib.MAX_WIDTH}."
        )
    try:
        values["prefix"] = codelib.normalise_prefix(values["prefix"] or "")
    except codelib.CodeError as exc:
        errors["prefix"] = str(exc)
    for name in ("classification", "offer", "wallet_balance"):
        values[name] = (values[name] or "").strip()
    values["wallet_balance"] = values["wallet_balance"] or "main"
    values["code_mode"] = values["code_mode"] or "unique"
    if values["code_mode"] not in ("unique", "universal"):
        errors["code_mode"] = "Choose a unique code per contact or one universal code."
    elif values["code_mode"] == "universal" and (
        kind != PassPlan.Type.PROMOTION or fmt != PassPlan.Format.ELECTRONIC
    ):
        errors["code_mode"] = "Only an electronic promotion has one universal code."
    values["sold_online"] = bool(values["sold_online"])
    if values["sold_online"] and (kind != PassPlan.Type.GIFT or fmt != PassPlan.Format.ELECTRONIC):
        errors["sold_online"] = "Only electronic gift passes are sold online."
    for name in ("target_products", "target_segments"):
        values[name] = sorted({str(v).strip() for v in values[name] or [] if str(v).strip()})
    values["currency"] = values["currency"] or DEFAULT_CURRENCY
    if values["currency"] not in dict(CURRENCIES):
        errors["currency"] = "Choose a currency."
    if errors:
        raise ValidationError(errors)
    return values


@transaction.atomic
def pass_plan_create(*, actor: User, **fields) -> PassPlan:
    """A draft plan; nothing is generated until it is activated."""
    unknown = set(fields) - set(PLAN_FIELDS)
    if unknown:
        raise TypeError(f"Unknown plan settings: {', '.join(sorted(unknown))}")
    return PassPlan.objects.create(**_plan_values(**fields), created_by=actor)


@transaction.atomic
def pass_plan_update(*, actor: User, plan: PassPlan, **fields) -> PassPlan:
    """Change a draft plan; a plan is locked once passes exist."""
    plan = PassPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.status != PassPlan.Status.DRAFT or plan.passes.exists():
        raise DomainError(
            f"The plan {plan.name} is {plan.get_status_display().lower()}: its settings are "
            "locked once it is activated."
        )
    current = {f: getattr(plan, f) for f in PLAN_FIELDS}
    for name, value in _plan_values(**(current | fields)).items():
        setattr(plan, name, value)
    plan.save(update_fields=list(PLAN_FIELDS))
    return plan


def pass_plan_activate(*, actor: User, plan: PassPlan) -> PassPlan:
    """Draft → active. A printed plan's passes are generated now (in the background when
    there are many), PINs included, and printed into the batch PDF."""
    with transaction.atomic():
        activated = PassPlan.objects.filter(pk=plan.pk, status=PassPlan.Status.DRAFT).update(
            status=PassPlan.Status.ACTIVE, activated_at=timezone.now()
        )
        plan.refresh_from_db()
        if not activated:
            raise DomainError(
                f"The plan {plan.name} is {plan.get_status_display().lower()}: "
                "only a draft plan can be activated."
            )
        if plan.format != PassPlan.Format.PRINTED:
            if plan.code_mode == "universal":
                _create_pass(plan, contact=None, value=None, actor=actor)
            return plan
        advisory_xact_lock(f"pass-odds:{plan.prefix}:{plan.code_width}")
        odds = codelib.GuessOdds(
            width=plan.code_width,
            existing=selectors.existing_pass_count(prefix=plan.prefix, width=plan.code_width),
            quantity=plan.quantity,
        )
        if not odds.safe:
            safe = odds.smallest_safe_width
            raise DomainError(
                f"With {odds.total:,} passes of width {plan.code_width}, 1 in {odds.one_in:,} "
                "random guesses would hit one. "
                + (f"Choose a code width of at least {safe}." if safe else ""),
                field="code_width",
            )
        batch = PassBatch.objects.create(plan=plan, quantity=plan.quantity)
        if plan.quantity > settings.PASS_BATCH_SYNC_LIMIT:
            from passes.tasks import generate_pass_batch

            batch_id = batch.pk
            transaction.on_commit(lambda: generate_pass_batch.delay(batch_id, actor_id(actor)))
            return plan
    pass_batch_generate(batch_id=batch.pk, actor=actor)
    return plan


def actor_id(actor: User) -> int | None:
    return actor.pk if actor is not None else None


def _expiry(plan: PassPlan, issued: date) -> date | None:
    if plan.valid_until:
        return plan.valid_until
    if plan.valid_days:
        return issued + timedelta(days=plan.valid_days)
    return None


def pass_batch_generate(*, batch_id: int, actor: User = None, render_pdf: bool = True) -> PassBatch:
    """Generate a printed batch's passes with their PINs, then print them into its PDF.

    Set-based like invitation codes: each chunk draws codes and PINs, inserts them with
    the PINs' keyed hashes, skipping codes that exist, and draws again for the shortfall.
    The PINs exist in clear only in this process until the PDF is written; a batch
    whose PDF is lost gets new PINs (pass_batch_reset_pins).
    """
    # One worker per batch, claimed by a conditional update: a queued or failed batch, or
    # one a worker left running (or printing) for longer than a batch can take.
    now = timezone.now()
    claimed = (
        PassBatch.objects.filter(pk=batch_id)
        .filter(
            Q(status__in=[PassBatch.Status.QUEUED, PassBatch.Status.FAILED])
            | Q(
                status__in=[PassBatch.Status.RUNNING, PassBatch.Status.PRINTING],
                started_at__lt=now - BATCH_ABANDONED_AFTER,
            )
        )
        .update(status=PassBatch.Status.RUNNING, started_at=now)
    )
    batch = PassBatch.objects.select_related("plan").get(pk=batch_id)
    if not claimed:
        return batch
    plan = batch.plan
    issued_pins: dict[str, str] = {}
    try:
        while (remaining := batch.quantity - batch.generated) > 0:
            with transaction.atomic():
                issued_pins |= _generate_chunk(batch, plan, min(CHUNK_SIZE, remaining))
                events.passes_issued(batch_id=batch.pk, actor=actor)
            batch.refresh_from_db()
        # The passes are there and redeemable; the PDF is the long part.
        PassBatch.objects.filter(pk=batch_id).update(status=PassBatch.Status.PRINTING)
        if plan.pin_required and len(issued_pins) < batch.generated:
            # A resumed batch: the PINs of passes made by the earlier run are known to
            # nobody, so those passes get new ones to print.
            issued_pins |= pass_batch_reset_pins(batch=batch, keep=set(issued_pins))
        if render_pdf:
            from passes import documents

            documents.batch_pdf_save(batch=batch, pins=issued_pins)
    except Exception as exc:
        PassBatch.record_end(batch_id, exc)
        logger.exception("Pass batch %s failed", batch_id)
        raise
    PassBatch.record_end(batch_id)
    batch.refresh_from_db()
    batch.issued_pins = issued_pins  # for the caller that prints them (tests, benchmark)
    return batch


def pass_batch_reset_pins(*, batch: PassBatch, keep: set[str] = frozenset()) -> dict[str, str]:
    """New PINs for a batch's unredeemed passes (but those in `keep`), to print them again.

    Expired and cancelled passes get one too: moving a pass's expiry later, or setting a
    cancelled one active again (pass_update), makes it usable again, and its printed PIN
    must work then. Only a redeemed pass stays redeemed.
    """
    changed = []
    new_pins: dict[str, str] = {}
    unredeemed = batch.passes.exclude(status=Pass.Status.REDEEMED).only("id", "code", "pin_hash")
    for pass_obj in unredeemed.iterator(chunk_size=10_000):
        if pass_obj.code in keep:
            continue
        pin = pins.new_pin()
        new_pins[pass_obj.code] = pin
        pass_obj.pin_hash = pins.pin_hash(pin)
        changed.append(pass_obj)
    Pass.objects.bulk_update(changed, ["pin_hash"], batch_size=5_000)
    return new_pins


def _generate_chunk(batch: PassBatch, plan: PassPlan, wanted: int) -> dict[str, str]:
    """Insert `wanted` passes; return their codes with their PINs (clear, for the PDF)."""
    issued: dict[str, str] = {}
    attempts = 0
    expires = _expiry(plan, site_today())
    while len(issued) < wanted:
        attempts += 1
        if attempts > 50:
            raise DomainError("Could not find enough unused codes: choose a wider code.")
        codes = list(
            dict.fromkeys(codelib.draw_codes(plan.prefix, plan.code_width, wanted - len(issued)))
        )
        pin_list = [pins.new_pin() for _ in codes] if plan.pin_required else [""] * len(codes)
        hashes = pins.pin_hashes(pin_list) if plan.pin_required else [""] * len(codes)
        inserted = _insert_passes(batch, plan, list(zip(codes, hashes, strict=True)), expires)
        pin_of = dict(zip(codes, pin_list, strict=True))
        issued |= {code: pin_of[code] for code in inserted}
    PassBatch.objects.filter(pk=batch.pk).update(generated=F("generated") + len(issued))
    return issued


def _insert_passes(
    batch: PassBatch, plan: PassPlan, rows: list[tuple[str, str]], expires: date | None
) -> list[str]:
    """Insert (code, PIN hash) rows, skipping codes that exist; return the codes inserted."""
    table = Pass._meta.db_table
    now = timezone.now()
    constants = [plan.pk, batch.pk, plan.value_min, plan.currency, expires, "active", now]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "CREATE TEMP TABLE new_passes (code varchar(30), pin_hash varchar(64)) "
                "ON COMMIT DROP"
            )
            with cursor.cursor.copy("COPY new_passes (code, pin_hash) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute(
                f"INSERT INTO {table} (code, pin_hash, plan_id, batch_id, value, currency, "
                "expires_on, status, created_at) "
                "SELECT code, pin_hash, %s, %s, %s, %s, %s, %s, %s FROM new_passes "
                'ORDER BY code COLLATE "C" ON CONFLICT DO NOTHING RETURNING code',
                constants,
            )
            inserted = [r[0] for r in cursor.fetchall()]
            cursor.execute("DROP TABLE new_passes")
        return inserted
    ops = connection.ops
    constants[4] = ops.adapt_datefield_value(expires)
    constants[6] = ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT OR IGNORE INTO {table} (code, pin_hash, plan_id, batch_id, value, currency, "
            "expires_on, status, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(code, pin_hash, *constants) for code, pin_hash in rows],
        )
    wanted = {code for code, _ in rows}
    mine = Pass.objects.filter(batch=batch).values_list("code", flat=True)
    already = getattr(batch, "_seen_codes", set())
    inserted = [c for c in mine.iterator(chunk_size=10_000) if c in wanted and c not in already]
    batch._seen_codes = already | set(inserted)
    return inserted


@transaction.atomic
def pass_issue(
    *, actor: User, plan: PassPlan, contact: AbstractBaseUser | None, value: Decimal | None = None
) -> tuple[Pass, str]:
    """An electronic pass for one contact; returns it with its PIN (to send once, never kept)."""
    plan = PassPlan.objects.select_for_update().get(pk=plan.pk)
    if plan.format != PassPlan.Format.ELECTRONIC:
        raise DomainError("Passes of a printed plan are generated when the plan is activated.")
    if plan.code_mode == "universal":
        raise DomainError("This promotion has one universal code for everyone; none is issued.")
    if plan.status != PassPlan.Status.ACTIVE:
        raise DomainError(f"The plan {plan.name} is not active.")
    if plan.type != PassPlan.Type.PROMOTION:
        value = plan.value_min if value is None else Decimal(value)
        if not plan.value_min <= value <= plan.value_max:
            raise ValidationError(
                {"value": f"Choose a value between {plan.value_min} and {plan.value_max}."}
            )
    else:
        value = None
    return _create_pass(plan, contact=contact, value=value, actor=actor)


def _create_pass(
    plan: PassPlan, *, contact: AbstractBaseUser | None, value: Decimal | None, actor: User
) -> tuple[Pass, str]:
    pin = pins.new_pin() if plan.pin_required else ""
    # The unique index decides whether a code is free: draw again when it says no.
    for _ in range(20):
        try:
            with transaction.atomic():
                issued = Pass.objects.create(
                    plan=plan,
                    code=codelib.draw_codes(plan.prefix, plan.code_width, 1)[0],
                    pin_hash=pins.pin_hash(pin) if pin else "",
                    value=value,
                    currency=plan.currency,
                    expires_on=_expiry(plan, site_today()),
                    contact=contact,
                )
            break
        except IntegrityError:
            continue
    else:
        raise DomainError("Could not find an unused code: choose a wider code.")
    events.pass_issued(pass_obj=issued, actor=actor)
    return issued, pin


# --- Redemption ----------------------------------------------------------------------------


class PassRefused(DomainError):
    """A pass cannot be redeemed; the message says why, for the person at the page."""


def pass_verify(*, code: str, pin: str = "", client: str = "") -> Pass:
    """The pass a code (and PIN) names, or PassRefused with the reason.

    Wrong PINs and unknown codes are counted here, in their own writes, before anything
    else happens: towards the pass's lockout and the client's throttle.
    """
    scope = "pass-redeem"
    # Counted before it is tried (parallel guesses cannot slip past), given back if right.
    if throttle.take_attempt(scope, client, window=CLIENT_FAILURE_WINDOW) > CLIENT_FAILURE_LIMIT:
        raise PassRefused(
            "Too many failed attempts from your connection: try again in "
            f"{CLIENT_FAILURE_WINDOW // 60} minutes."
        )
    normalised = codelib.normalise(code)
    if not normalised or not codelib.has_valid_check(normalised):
        throttle.forgive(scope, client)  # caught without a lookup: not a guess
        if not normalised:
            raise PassRefused("Enter the pass code.")
        raise PassRefused("This code has a typo: check it against the pass.")
    found = Pass.objects.select_related("plan").filter(code=normalised).first()
    if found is None:
        raise PassRefused("No pass has this code.")
    plan = found.plan
    if plan.pin_required:
        # Tries at one pass take turns (the row lock), so parallel guesses cannot all
        # pass the lockout check before any of them is counted.
        with transaction.atomic():
            Pass.objects.select_for_update().filter(pk=found.pk).exists()
            locked = selectors.pin_locked(pass_obj=found)
            matches = not locked and pins.pin_matches(pin or "", found.pin_hash)
            if not locked and not matches:
                events.pin_failed(pass_obj=found, client=client)
        if locked:
            raise PassRefused(
                f"Too many wrong PINs: this pass is locked for {PIN_LOCKOUT_MINUTES} minutes."
            )
        if not matches:
            raise PassRefused("The PIN does not match this pass.")
    throttle.forgive(scope, client)
    return found


def pass_redeem(
    *,
    code: str,
    pin: str = "",
    contact: AbstractBaseUser | None = None,
    client: str = "",
) -> PassRedemption:
    """Redeem a pass exactly once: credit a wallet (gift, top-up) or activate the offer.

    A gift without a contact goes into a new nameless wallet, whose claim link the
    redemption carries. A wrong PIN is recorded (and counts towards a lockout) and changes
    nothing else; every refusal names its reason.
    """
    found = pass_verify(code=code, pin=pin, client=client)
    plan = found.plan
    if plan.type == PassPlan.Type.PROMOTION:
        return _activate_offer(found, plan, contact)
    with transaction.atomic():
        today = site_today()
        won = (
            Pass.objects.filter(pk=found.pk, status=Pass.Status.ACTIVE)
            .exclude(expires_on__lt=today)
            .update(status=Pass.Status.REDEEMED)
        )
        if not won:
            raise PassRefused(_why_not_redeemable(found.pk))
        # Read again under the row's new version: a value changed meanwhile counts.
        found = Pass.objects.select_related("plan").get(pk=found.pk)
        redemption = _fulfil(found, plan, contact)
        events.pass_redeemed(
            pass_obj=found,
            actor=contact,
            data={"wallet": redemption.wallet_transaction.wallet_id}
            if redemption.wallet_transaction
            else {"offer": redemption.offer},
        )
        _redeemed_announce(found, plan, redemption, contact=contact)
    return redemption


def _activate_offer(found: Pass, plan: PassPlan, contact) -> PassRedemption | OfferActivation:
    """A promotion: the offer is activated for the contact, once.

    A unique code is its contact's and is used up; the universal code stays valid for
    everyone else, and the unique index (pass, contact) says 'once' for each of them.
    """
    if contact is None:
        raise PassRefused("Log in to activate this offer.")
    if found.contact_id and found.contact_id != contact.pk:
        raise PassRefused("This code was issued to somebody else.")
    universal = plan.code_mode == "universal"
    try:
        with transaction.atomic():
            today = site_today()
            current = Pass.objects.filter(pk=found.pk, status=Pass.Status.ACTIVE).exclude(
                expires_on__lt=today
            )
            won = current.exists() if universal else current.update(status=Pass.Status.REDEEMED)
            if not won:
                raise PassRefused(_why_not_redeemable(found.pk))
            activation = OfferActivation.objects.create(
                pass_obj=found, contact=contact, offer=plan.offer
            )
            if not universal:
                PassRedemption.objects.create(pass_obj=found, contact=contact, offer=plan.offer)
                found.status = Pass.Status.REDEEMED
            events.pass_redeemed(
                pass_obj=found, actor=contact, data={"offer": plan.offer, "contact": contact.pk}
            )
            _redeemed_announce(found, plan, activation, contact=contact)
    except IntegrityError:
        raise PassRefused("You have activated this offer already.") from None
    return activation


def _redeemed_announce(
    found: Pass,
    plan: PassPlan,
    redemption: PassRedemption | OfferActivation,
    *,
    contact: AbstractBaseUser | None,
) -> None:
    """pass.redeemed to the endpoints of the plan's organisation, in the redemption's
    transaction; no query for a plan without an organisation."""
    if plan.organisation_id is None:
        return
    endpoints = organisation_webhooks.organisation_endpoints(organisation_id=plan.organisation_id)
    if not endpoints:
        return
    credit = getattr(redemption, "wallet_transaction", None)
    data = {
        "organisation": organisation_webhooks.organisation_data(plan.organisation),
        "pass": {
            "id": found.pk,
            "code": found.code,
            "status": found.status,
            "value": str(found.value) if found.value is not None else None,
            "currency": found.currency,
            "expires_on": found.expires_on.isoformat() if found.expires_on else None,
            "plan": {"id": plan.pk, "name": plan.name, "type": plan.type},
        },
        "redemption": {
            "created_at": redemption.created_at.isoformat(),
            "contact": {"id": contact.pk, "email": contact.email} if contact else None,
            "wallet": credit.wallet_id if credit else None,
            "amount": str(credit.amount) if credit else None,
            "offer": redemption.offer or None,
        },
    }
    organisation_webhooks.organisation_announce(
        endpoints=endpoints, events={organisation_webhooks.PASS_REDEEMED: data}
    )


def _why_not_redeemable(pass_id: int) -> str:
    current = Pass.objects.get(pk=pass_id)
    if current.status == Pass.Status.REDEEMED:
        return "This pass has been redeemed already."
    if current.status == Pass.Status.CANCELLED:
        return "This pass has been cancelled."
    if current.expires_on is None:
        return "This pass has expired."
    return f"This pass expired on {current.expires_on:%d %b %Y}."


def _fulfil(found: Pass, plan: PassPlan, contact: AbstractBaseUser | None) -> PassRedemption:
    if plan.type == PassPlan.Type.PROMOTION:
        return PassRedemption.objects.create(pass_obj=found, contact=contact, offer=plan.offer)
    if plan.type == PassPlan.Type.TOPUP:
        if contact is None:
            raise PassRefused("Log in to top up your wallet.")
        wallet = Wallet.objects.filter(owner=contact, currency=found.currency).first()
        if wallet is None:
            other = Wallet.objects.filter(owner=contact).values_list("currency", flat=True)
            raise PassRefused(
                f"A top-up needs a wallet in {found.currency}"
                + (f"; yours holds {', '.join(other)}." if other else ".")
            )
    elif contact is not None:
        wallet = Wallet.objects.filter(owner=contact, currency=found.currency).first()
        wallet = wallet or wallet_services.wallet_create(owner=contact, currency=found.currency)
    else:
        wallet = wallet_services.wallet_create(owner=None, currency=found.currency)
    credit = wallet_services.wallet_credit(
        actor=contact,
        wallet=wallet,
        amount=found.value,
        currency=found.currency,
        balance=plan.wallet_balance,
        source=found,
        description=f"{plan.get_type_display()} pass {found.code}",
        idempotency_key=f"pass:{found.pk}",
        expires_on=(
            site_today() + timedelta(days=plan.funds_valid_days) if plan.funds_valid_days else None
        ),
    )
    return PassRedemption.objects.create(pass_obj=found, contact=contact, wallet_transaction=credit)


@transaction.atomic
def pass_plan_close(*, actor: User, plan: PassPlan) -> PassPlan:
    """Active → closed: no pass is issued any more; passes already out can still be redeemed."""
    closed = PassPlan.objects.filter(pk=plan.pk, status=PassPlan.Status.ACTIVE).update(
        status=PassPlan.Status.CLOSED
    )
    plan.refresh_from_db()
    if not closed:
        raise DomainError(f"The plan {plan.name} is {plan.get_status_display().lower()}.")
    return plan


# --- Changes to one pass (the API) ----------------------------------------------------------


def pass_update(
    *,
    actor: User,
    pass_obj: Pass,
    status: str | None = None,
    expires_on: date | None = None,
    value: Decimal | None = None,
    reset_pin: bool = False,
) -> tuple[Pass, str]:
    """Change a pass's lifecycle state, expiry, initial value or PIN, one event per change.

    A redeemed pass keeps its state and value; a new PIN is returned once (to reprint
    the pass) and only its hash is kept.
    """
    with transaction.atomic():
        current = Pass.objects.select_for_update().select_related("plan").get(pk=pass_obj.pk)
        errors: dict[str, str] = {}
        changes = []
        if status is not None and status != current.status:
            if current.status == Pass.Status.REDEEMED or status == Pass.Status.REDEEMED:
                errors["status"] = "A pass becomes redeemed by being redeemed, and stays so."
            elif status not in Pass.Status.values:
                errors["status"] = "Choose active, cancelled or expired."
            else:
                changes.append(("status", PassEvent.Type.STATUS_CHANGED, status))
        if expires_on is not None and expires_on != current.expires_on:
            changes.append(("expires_on", PassEvent.Type.EXPIRY_CHANGED, expires_on))
            # A pass the sweep expired is usable again when its expiry moves to today or later.
            if (
                status is None
                and current.status == Pass.Status.EXPIRED
                and expires_on >= site_today()
            ):
                changes.append(("status", PassEvent.Type.STATUS_CHANGED, Pass.Status.ACTIVE))
        if value is not None and value != current.value:
            if current.plan.type == PassPlan.Type.PROMOTION:
                errors["value"] = "A promotion pass has no value."
            elif current.status == Pass.Status.REDEEMED:
                errors["value"] = "This pass has been redeemed: its value was credited."
            elif not current.plan.value_min <= value <= current.plan.value_max:
                errors["value"] = (
                    f"Choose a value between {current.plan.value_min} and "
                    f"{current.plan.value_max}, the plan's range."
                )
            else:
                changes.append(("value", PassEvent.Type.VALUE_CHANGED, value))
        if reset_pin and not current.plan.pin_required:
            errors["reset_pin"] = "This pass has no PIN."
        if errors:
            raise ValidationError(errors)
        for field, event_type, new in changes:
            old = getattr(current, field)
            setattr(current, field, new)
            events.pass_changed(
                pass_obj=current, actor=actor, type=event_type, before=old, after=new
            )
        pin = ""
        if reset_pin:
            pin = pins.new_pin()
            current.pin_hash = pins.pin_hash(pin)
            events.pin_reset(pass_obj=current, actor=actor)
        current.save(update_fields=["status", "expires_on", "value", "pin_hash"])
    return current, pin


# --- The gift landing page ----------------------------------------------------------------


def gift_order_place(
    *,
    plan: PassPlan,
    value: Decimal,
    buyer_name: str,
    buyer_email: str,
    beneficiary_name: str,
    beneficiary_email: str,
    message: str = "",
    request_token: str,
) -> GiftOrder:
    """Buy an electronic gift pass for someone: record, pay, issue the pass, email it.

    The order is saved before the payment, under the form's one-time token: a double
    submit returns the first order and pays nothing more. Paid but not issued (the plan
    closed meanwhile), the order says so, to be refunded. The pass's PIN goes into the
    beneficiary's email only, sent by a task that retries.
    """
    from passes import payments

    if not (plan.sold_online and plan.type == PassPlan.Type.GIFT):
        raise DomainError("This gift pass is not sold here.")
    if plan.status != PassPlan.Status.ACTIVE:
        raise DomainError("This gift pass is not on sale any more.")
    value = Decimal(value)
    if not plan.value_min <= value <= plan.value_max:
        raise ValidationError(
            {"value": f"Choose a value between {plan.value_min} and {plan.value_max}."}
        )
    if not request_token:
        raise DomainError("The form has expired: load the page again.")
    one_line = {"\r": " ", "\n": " "}
    order, created = GiftOrder.objects.get_or_create(
        request_token=request_token,
        defaults={
            "plan": plan,
            "value": value,
            "currency": plan.currency,
            "buyer_name": buyer_name.strip().translate(str.maketrans(one_line)),
            "buyer_email": buyer_email.strip().lower(),
            "beneficiary_name": beneficiary_name.strip().translate(str.maketrans(one_line)),
            "beneficiary_email": beneficiary_email.strip().lower(),
            "message": message.strip(),
            "payment_provider": payments.payment_backend().name,
            "status": GiftOrder.Status.PENDING,
            "token": secrets.token_urlsafe(24),
        },
    )
    if not created:
        return order
    backend = payments.payment_backend()
    paid = backend.charge(amount=value, currency=plan.currency, description=plan.name)
    order.payment_reference = paid.reference
    if not paid.ok:
        order.status = GiftOrder.Status.FAILED
        order.save(update_fields=["status", "payment_reference"])
        raise DomainError(f"The payment was refused: {paid.message or 'try another card'}.")
    try:
        with transaction.atomic():
            issued, _ = pass_issue(actor=None, plan=plan, contact=None, value=value)
            order.pass_obj = issued
            order.status = GiftOrder.Status.PAID
            order.save(update_fields=["pass_obj", "status", "payment_reference"])
    except (DomainError, ValidationError, IntegrityError):
        logger.exception("Gift order %s paid but not issued", order.pk)
        order.status = GiftOrder.Status.NOT_ISSUED
        order.save(update_fields=["status", "payment_reference"])
        raise DomainError(
            "The payment went through but the pass could not be issued: it will be refunded."
        ) from None
    from passes.tasks import send_gift_email

    order_id = order.pk
    transaction.on_commit(lambda: send_gift_email.delay(order_id))
    return order


def gift_email_send(*, order_id: int) -> bool:
    """Email the beneficiary their pass with a fresh PIN (the one issued is never kept).

    Setting the PIN and sending happen together, once per order: a retry after a failed
    send sets another PIN, so the one in the email that arrives is always the valid one.
    """
    from django.core.mail import send_mail
    from django.template.loader import render_to_string
    from django.urls import reverse

    order = GiftOrder.objects.select_related("pass_obj", "plan").get(pk=order_id)
    if order.pass_obj is None or order.pass_obj.status != Pass.Status.ACTIVE:
        return False
    pin = ""
    if order.plan.pin_required:
        _, pin = pass_update(actor=None, pass_obj=order.pass_obj, reset_pin=True)
    link = f"{settings.SITE_URL}{reverse('passes:gift_landing', args=[order.token])}"
    context = {"order": order, "pin": pin, "link": link}
    send_mail(
        subject=f"You received a gift pass: {order.value} {order.currency}",
        message=render_to_string("passes/email/gift.txt", context),
        from_email=None,
        recipient_list=[order.beneficiary_email],
    )
    return True


# --- Purchase events (promotions) -----------------------------------------------------------


def purchase_event_record(
    *,
    actor: User,
    reference: str,
    contact: AbstractBaseUser,
    products: list[str],
    segments: list[str],
    amount: Decimal | None = None,
) -> PurchaseEvent:
    """A purchase: every active electronic promotion plan whose criteria match gives the
    contact its code — a new unique one (one per contact and plan), or the plan's
    universal code. Idempotent by reference: a repeated event returns the first result.
    """
    reference = reference.strip()
    if not reference:
        raise ValidationError({"reference": "Give the purchase's reference (an order number)."})
    products = sorted({p.strip() for p in products if p.strip()})
    segments = sorted({s.strip() for s in segments if s.strip()})
    existing = PurchaseEvent.objects.filter(reference=reference).first()
    if existing is not None:
        return existing
    with transaction.atomic():
        results = []
        plans = PassPlan.objects.filter(
            type=PassPlan.Type.PROMOTION,
            format=PassPlan.Format.ELECTRONIC,
            status=PassPlan.Status.ACTIVE,
        ).order_by("pk")
        for plan in plans:
            if plan.target_products and not set(plan.target_products) & set(products):
                continue
            if plan.target_segments and not set(plan.target_segments) & set(segments):
                continue
            if plan.code_mode == "universal":
                code = plan.passes.values_list("code", flat=True).first()
            else:
                held = plan.passes.filter(contact=contact).values_list("code", flat=True).first()
                code = held or pass_issue(actor=actor, plan=plan, contact=contact)[0].code
            results.append({"plan": plan.pk, "code": code, "mode": plan.code_mode})
        try:
            with transaction.atomic():
                return PurchaseEvent.objects.create(
                    reference=reference,
                    contact=contact,
                    products=products,
                    segments=segments,
                    amount=amount,
                    results=results,
                )
        except IntegrityError:
            # The same event, twice at once: the other one's passes stand.
            transaction.set_rollback(True)
    return PurchaseEvent.objects.get(reference=reference)


# --- The nightly expiry sweep ----------------------------------------------------------

EXPIRE_CHUNK = 5_000


def passes_expire(*, today: date | None = None) -> int:
    """Nightly: mark active passes whose `expires_on` has passed as expired; how many.

    Set-based, a chunk at a time (rows locked in primary-key order, so a redemption
    running meanwhile either wins first or sees the pass expired), with one event per
    pass. Redemption already refuses a pass past its date; the status makes it visible
    on the pages and in the API.
    """
    today = today or site_today()
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                Pass.objects.select_for_update()
                .filter(status=Pass.Status.ACTIVE, expires_on__lt=today)
                .order_by("pk")
                .values_list("pk", flat=True)[:EXPIRE_CHUNK]
            )
            if not ids:
                break
            Pass.objects.filter(pk__in=ids, status=Pass.Status.ACTIVE).update(
                status=Pass.Status.EXPIRED
            )
            events.passes_expired(pass_ids=ids)
            total += len(ids)
    logger.info("Expiry sweep: %s passes expired (before %s)", total, today)
    return total
