"""Joining a program, confirming, visiting a referral link, referrals and their review."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core import codes as codelib
from core.errors import DomainError
from referrals import fraud, links
from referrals.models import (
    REFERRAL_CODE_WIDTH,
    Referral,
    ReferralProgram,
    Referrer,
    new_status_key,
)
from referrals.services import notify
from referrals.services.rewards import referral_count


class AlreadyInProgram(DomainError):
    """The email has joined this program before."""

    def __init__(self, referrer: Referrer) -> None:
        super().__init__(f"{referrer.email} has already joined {referrer.program.name}.")
        self.referrer = referrer


@dataclass(frozen=True)
class Person:
    name: str
    email: str
    company: str = ""

    @classmethod
    def clean(cls, *, name: str, email: str, company: str = "") -> Person:
        name, email, company = (name or "").strip(), (email or "").strip().lower(), company or ""
        errors = {}
        if not name:
            errors["name"] = "Enter your name."
        try:
            validate_email(email)
        except ValidationError:
            errors["email"] = "Enter a valid email address."
        if errors:
            raise ValidationError(errors)
        return cls(name=name[:200], email=email, company=company.strip()[:200])


def _open_program(program: ReferralProgram) -> None:
    if program.status != ReferralProgram.Status.ACTIVE:
        raise DomainError(f"{program.name} is not taking new members at the moment.")


def referrer_by_code(*, program: ReferralProgram | None, code: str) -> Referrer | None:
    """The referrer behind a referral code as typed or stored; None if unknown."""
    try:
        normalised = codelib.normalise(code or "")
    except codelib.CodeError:
        return None
    if len(normalised) != REFERRAL_CODE_WIDTH or not codelib.has_valid_check(normalised):
        return None
    # By the unique code alone (the program is compared after): one index lookup.
    found = Referrer.objects.select_related("program").filter(code=normalised).order_by()[:1]
    referrer = next(iter(found), None)
    if referrer is None or (program is not None and referrer.program_id != program.pk):
        return None
    return referrer


def _insert_referrer(program: ReferralProgram, person: Person, **fields) -> Referrer:
    """Insert a referrer with a fresh code; the unique indexes decide code and email."""
    for _ in range(10):
        try:
            with transaction.atomic():
                return Referrer.objects.create(
                    program=program,
                    name=person.name,
                    company=person.company,
                    email=person.email,
                    mailbox=fraud.mailbox(person.email),
                    code=codelib.draw_codes("", REFERRAL_CODE_WIDTH, 1)[0],
                    **fields,
                )
        except IntegrityError:
            existing = Referrer.objects.filter(program=program, email=person.email).first()
            if existing is not None:
                raise AlreadyInProgram(existing) from None
    raise DomainError("Could not find a free referral code; try again.")


@transaction.atomic
def referrer_signup(
    *,
    program: ReferralProgram,
    person: Person,
    address: str = "",
    referral_code: str = "",
) -> Referrer:
    """Join a program through its signup form; the email is confirmed before anything counts.

    With the code of a referral link (its cookie or ?ref=), the signup becomes a referral
    of that referrer, checked by the fraud guards and flagged for review when suspicious.
    """
    _open_program(program)
    # The unique (program, email) index says whether the email joined before.
    referrer = _insert_referrer(program, person, signup_address=address)
    by = referrer_by_code(program=program, code=referral_code) if referral_code else None
    if by is not None and by.pk != referrer.pk:
        _referral_create(program=program, by=by, referred=referrer, address=address)
    notify.email_later("confirm", referrer.pk)
    return referrer


def _referral_create(
    *,
    program: ReferralProgram,
    by: Referrer,
    referred: Referrer | None,
    address: str = "",
    email: str = "",
    external_id: str = "",
    stage: str = Referral.Stage.SIGNED_UP,
) -> Referral | None:
    """A referral of `email` by `by`; None when the email was referred before (first wins).

    A conversion reported by API before the person signed up already holds their email:
    the signup becomes that referral's person instead of a second referral.
    """
    email = referred.email if referred else email
    if referred is not None:
        linked = Referral.objects.filter(
            program=program, email=email, referred__isnull=True
        ).update(referred=referred)
        if linked:
            return Referral.objects.get(program=program, email=email)
    flags = fraud.referral_flags(
        program=program,
        referrer=by,
        email=email,
        address=address,
        referred_pk=referred.pk if referred else None,
    )
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                program=program,
                referrer=by,
                referred=referred,
                email=email,
                external_id=external_id,
                stage=stage,
                converted_at=timezone.now() if stage == Referral.Stage.CONVERTED else None,
                review=Referral.Review.FLAGGED if flags else Referral.Review.CLEAN,
                flags=flags,
            )
    except IntegrityError:
        return None  # referred (or reported) before, or at the same moment
    Referrer.objects.filter(pk=by.pk).update(signups=F("signups") + 1)
    notify.announce(program, "referral.created", {"referral": notify.referral_data(referral)})
    return referral


def _activate(referrer: Referrer) -> bool:
    """Pending → active, once: the welcome email, and the referral this person came
    through is confirmed and counted. False when the referrer was active already."""
    activated = Referrer.objects.filter(pk=referrer.pk, status=Referrer.Status.PENDING).update(
        status=Referrer.Status.ACTIVE, confirmed_at=timezone.now()
    )
    if not activated:
        return False
    referrer.refresh_from_db(fields=["status", "confirmed_at"])
    notify.email_later("welcome", referrer.pk)
    referral = Referral.objects.filter(referred=referrer).first()
    if referral is not None:
        Referral.objects.filter(pk=referral.pk, stage=Referral.Stage.SIGNED_UP).update(
            stage=Referral.Stage.CONFIRMED
        )
        referral.refresh_from_db()
        referral_count(referral=referral)
        notify.email_later("referral", referral.referrer_id, about_id=referral.pk)
    return True


@transaction.atomic
def referrer_confirm(*, token: str) -> Referrer:
    """Confirm a referrer's email (double opt-in); a second click changes nothing."""
    referrer_id = links.confirm_reader(token)
    referrer = Referrer.objects.select_related("program").filter(pk=referrer_id).first()
    if referrer is None:
        raise links.LinkInvalid("This confirmation link is not valid.")
    _activate(referrer)
    return referrer


@transaction.atomic
def referrer_join(*, token: str, address: str = "") -> tuple[Referrer, bool]:
    """Join through an instant signup link: the link proves the email; no form, no opt-in.

    Returns the referrer and whether it is new; a known email just gets its status page.
    """
    data = links.join_reader(token)
    program = ReferralProgram.objects.filter(pk=data["program_id"]).first()
    if program is None:
        raise links.LinkInvalid("This signup link is not valid.")
    existing = Referrer.objects.filter(program=program, email=data["email"].lower()).first()
    if existing is not None:
        _activate(existing)  # the link proves the email, as the confirmation would
        return existing, False
    _open_program(program)
    person = Person.clean(
        name=data["name"] or data["email"].split("@")[0],
        email=data["email"],
        company=data["company"],
    )
    try:
        referrer = _insert_referrer(
            program,
            person,
            source=Referrer.Source.INSTANT,
            status=Referrer.Status.ACTIVE,
            confirmed_at=timezone.now(),
            signup_address=address,
        )
    except AlreadyInProgram as exc:  # two clicks at once
        return exc.referrer, False
    notify.email_later("welcome", referrer.pk)
    return referrer, True


def referrer_visit(*, code: str) -> Referrer | None:
    """Count a visit of a referral link; None when the code belongs to nobody."""
    referrer = referrer_by_code(program=None, code=code)
    if referrer is not None:
        Referrer.objects.filter(pk=referrer.pk).update(visits=F("visits") + 1)
    return referrer


RESEND_COOLDOWN = 600


def referrer_links_resend(*, referrer: Referrer) -> bool:
    """Email a referrer their links again (or the confirmation, while unconfirmed), at most
    once per RESEND_COOLDOWN seconds: a form anyone can fill must not flood a mailbox."""
    if not cache.add(f"referrals:resend:{referrer.pk}", 1, timeout=RESEND_COOLDOWN):
        return False
    kind = "confirm" if referrer.status == Referrer.Status.PENDING else "welcome"
    notify.email_later(kind, referrer.pk)
    return True


def signup_replayed(*, nonce: str, email: str) -> Referrer | None:
    """The referrer a form (by its one-time nonce) already signed up: a double click or a
    retry gets the first answer instead of "already joined"."""
    if not nonce:
        return None
    pk = cache.get(f"referrals:signup:{nonce}")
    return Referrer.objects.filter(pk=pk, email=email.strip().lower()).first() if pk else None


def signup_remember(*, nonce: str, referrer: Referrer) -> None:
    if nonce:
        cache.set(f"referrals:signup:{nonce}", referrer.pk, timeout=3600)


class ConversionConflict(DomainError):
    """The external id was reported before for another email."""


@transaction.atomic
def referral_convert(
    *,
    actor: User | None,
    program: ReferralProgram,
    email: str,
    external_id: str,
    referral_code: str = "",
    _retried: bool = False,
) -> tuple[Referral, bool]:
    """Record a conversion reported by the business's system; idempotent by external id.

    The referral is the one this email signed up through; without one, `referral_code`
    names the referrer to credit. Returns the referral and whether this call changed it.
    """
    email = (email or "").strip().lower()
    external_id = (external_id or "").strip()
    if not external_id:
        raise ValidationError({"external_id": "Give the conversion's id in your system."})
    Person.clean(name="-", email=email)
    seen = Referral.objects.select_for_update().filter(program=program, external_id=external_id)
    seen = seen.first()
    if seen is not None:
        if seen.email != email:
            raise ConversionConflict(
                f"The conversion {external_id} was reported before for another email."
            )
        return seen, False
    referral = Referral.objects.select_for_update().filter(program=program, email=email).first()
    if referral is None:
        by = referrer_by_code(program=program, code=referral_code) if referral_code else None
        if by is None:
            raise DomainError(
                f"No referral of {email} in {program.name}: give the referral_code of the "
                "referrer who brought them.",
                field="referral_code" if referral_code else "email",
            )
        referral = _referral_create(
            program=program,
            by=by,
            referred=None,
            email=email,
            external_id=external_id,
            stage=Referral.Stage.CONVERTED,
        )
        if referral is None:
            if _retried:
                raise DomainError("The referral changed while it was recorded; report it again.")
            # The same report (or a signup of the email) won by a moment: answer as it now is.
            return referral_convert(
                actor=actor,
                program=program,
                email=email,
                external_id=external_id,
                referral_code=referral_code,
                _retried=True,
            )
    elif referral.external_id == external_id:  # the same report, raced with its twin
        return referral, False
    elif referral.external_id:
        raise ConversionConflict(
            f"{email} converted before, as {referral.external_id}; a referral converts once."
        )
    else:
        referral.external_id = external_id
        referral.stage = Referral.Stage.CONVERTED
        referral.converted_at = timezone.now()
        referral.save(update_fields=["external_id", "stage", "converted_at"])
    referral_count(referral=referral)
    return referral, True


@transaction.atomic
def referral_review(*, actor: User | None, referral: Referral, approve: bool) -> Referral:
    """Staff's verdict on a flagged referral: approved ones count, rejected ones never do."""
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.counted_at and not approve:
        raise DomainError("This referral counted already; revoke the reward it earned instead.")
    if referral.review == Referral.Review.CLEAN:
        raise DomainError("This referral was not flagged; there is nothing to review.")
    referral.review = Referral.Review.APPROVED if approve else Referral.Review.REJECTED
    referral.reviewed_at = timezone.now()
    referral.reviewed_by = actor
    referral.save(update_fields=["review", "reviewed_at", "reviewed_by"])
    if approve:
        referral_count(referral=referral)
    return referral


@transaction.atomic
def referrer_status_link_renew(*, actor: User | None, referrer: Referrer) -> Referrer:
    """Give a referrer a new status link (a new key) and email it: the old link, passed on or
    leaked, stops opening at once. Their referral link and code stay as they are."""
    referrer = Referrer.objects.select_for_update().get(pk=referrer.pk)
    referrer.status_key = new_status_key()
    referrer.save(update_fields=["status_key"])
    notify.email_later("status_link", referrer.pk)
    return referrer
