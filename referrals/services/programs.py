"""Programs, their reward tiers and webhook endpoints: what staff set up."""

from __future__ import annotations

import re
from decimal import Decimal
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from core.errors import DomainError
from core.models import WebhookEndpoint
from referrals import emails
from referrals.models import ReferralProgram, RewardTier

PROGRAM_FIELDS = (
    "name",
    "contract",
    "status",
    "landing_url",
    "success_event",
    "cookie_days",
    "allowed_origins",
    "flag_same_domain",
    "signup_limit_per_address",
    "signup_window_minutes",
)
TEMPLATE_FIELDS = tuple(f"{kind}_{part}" for kind in emails.KINDS for part in ("subject", "body"))
# A host as CSP's frame-ancestors takes it: names (a leading "*." for subdomains) or an
# IPv4 address, and a port. Nothing that could end the directive or widen it to anyone.
_HOST = re.compile(
    r"(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*(:\d{1,5})?"
)
# Words the public referral URLs use after /refer/.
RESERVED_SLUGS = {"confirm", "status"}
WEBHOOK_EVENTS = ("referral.created", "reward.earned", "reward.delivered", "reward.revoked")


def _clean_origins(text: str) -> str:
    """One origin per line, scheme and host (and port) only, as CSP frame-ancestors wants."""
    origins, bad = [], []
    for line in (text or "").splitlines():
        line = line.strip().rstrip("/")
        if not line:
            continue
        parts = urlsplit(line)
        if (
            parts.scheme not in ("http", "https")
            or not _HOST.fullmatch(parts.netloc)
            or parts.path
            or parts.query
            or parts.fragment
        ):
            bad.append(line)
        else:
            origins.append(f"{parts.scheme}://{parts.netloc.lower()}")
    if bad:
        raise ValidationError(
            {
                "allowed_origins": "Not an origin (write https://host or https://host:port, "
                "one per line): " + ", ".join(bad)
            }
        )
    return "\n".join(dict.fromkeys(origins))


def _unique_slug(name: str, *, exclude: int | None = None) -> str:
    base = slugify(name)[:50] or "program"
    if base in RESERVED_SLUGS:
        base = f"{base}-program"
    slug, n = base, 1
    taken = ReferralProgram.objects.exclude(pk=exclude)
    while taken.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


@transaction.atomic
def program_create(*, actor: User | None, **fields) -> ReferralProgram:
    """A referral program, active at once, with its public signup page at /refer/<slug>/."""
    values = {k: v for k, v in fields.items() if k in PROGRAM_FIELDS + TEMPLATE_FIELDS}
    values["allowed_origins"] = _clean_origins(values.get("allowed_origins", ""))
    emails.check_templates({k: v for k, v in values.items() if k in TEMPLATE_FIELDS})
    program = ReferralProgram(**values, created_by=actor)
    program.full_clean(exclude=["slug"])
    for _ in range(5):
        program.slug = _unique_slug(program.name)
        try:
            with transaction.atomic():  # two programs of one name at once: draw again
                program.save()
            return program
        except IntegrityError:
            program.pk = None
    raise DomainError("Could not find a free address for the program; try again.")


@transaction.atomic
def program_update(*, actor: User | None, program: ReferralProgram, **fields) -> ReferralProgram:
    """Change a program's settings or email templates; the slug (its public address) stays."""
    values = {k: v for k, v in fields.items() if k in PROGRAM_FIELDS + TEMPLATE_FIELDS}
    if "allowed_origins" in values:
        values["allowed_origins"] = _clean_origins(values["allowed_origins"])
    emails.check_templates({k: v for k, v in values.items() if k in TEMPLATE_FIELDS})
    for name, value in values.items():
        setattr(program, name, value)
    program.full_clean()
    program.save(update_fields=list(values))
    return program


@transaction.atomic
def tier_create(
    *,
    actor: User | None,
    program: ReferralProgram,
    name: str,
    threshold: int,
    kind: str = RewardTier.Kind.MANUAL,
    price=None,
    pass_plan=None,
    credit_amount: Decimal | None = None,
    credit_currency: str = "",
    two_sided: bool = False,
) -> RewardTier:
    """A reward tier; what it gives must be set for its kind (a price, a plan, an amount)."""
    errors = {}
    if kind == RewardTier.Kind.CODE and price is None:
        errors["price"] = "Choose the contract price the reward code is for."
    if kind == RewardTier.Kind.PASS and pass_plan is None:
        errors["pass_plan"] = "Choose the pass plan the reward pass comes from."
    if kind == RewardTier.Kind.PASS and pass_plan is not None and pass_plan.format != "electronic":
        errors["pass_plan"] = "Choose an electronic plan: a printed plan's passes are posted."
    if kind == RewardTier.Kind.WALLET:
        if credit_amount is None or credit_amount <= 0:
            errors["credit_amount"] = "Enter the amount to credit, more than 0."
        if not credit_currency:
            errors["credit_currency"] = "Enter the currency of the credit, e.g. EUR."
    if program.tiers.filter(threshold=threshold).exists():
        errors["threshold"] = f"A tier already fires at {threshold} referrals."
    if errors:
        raise ValidationError(errors)
    tier = RewardTier(
        program=program,
        name=name.strip(),
        threshold=threshold,
        kind=kind,
        price=price if kind == RewardTier.Kind.CODE else None,
        pass_plan=pass_plan if kind == RewardTier.Kind.PASS else None,
        credit_amount=credit_amount if kind == RewardTier.Kind.WALLET else None,
        credit_currency=(credit_currency or "").upper() if kind == RewardTier.Kind.WALLET else "",
        two_sided=two_sided,
    )
    tier.full_clean()
    tier.save()
    return tier


@transaction.atomic
def tier_delete(*, actor: User | None, tier: RewardTier) -> None:
    """Remove a tier nobody has earned yet; an earned tier stays as the rewards' record."""
    if tier.rewards.exists():
        raise DomainError(
            f"{tier.name} has been earned already and stays on record; "
            "add a tier with a higher threshold instead."
        )
    tier.delete()


@transaction.atomic
def endpoint_add(
    *, actor: User | None, program: ReferralProgram, url: str, events: list[str] | None = None
) -> WebhookEndpoint:
    """A webhook endpoint for the program's events, with a new signing secret."""
    unknown = sorted(set(events or ()) - set(WEBHOOK_EVENTS))
    if unknown:
        raise ValidationError({"events": "Unknown event: " + ", ".join(unknown)})
    if urlsplit(url).scheme not in ("http", "https"):
        raise ValidationError({"url": "A webhook endpoint is an http:// or https:// address."})
    endpoint = WebhookEndpoint(url=url, name=f"{program.name}: {urlsplit(url).netloc}"[:200])
    endpoint.events = list(events or [])
    endpoint.full_clean()
    endpoint.save()
    program.webhook_endpoints.add(endpoint)
    return endpoint


@transaction.atomic
def endpoint_remove(*, actor: User | None, program: ReferralProgram, endpoint: WebhookEndpoint):
    """Stop sending to an endpoint; it stays active while other programs (or organisations)
    use it, and its delivery log stays."""
    program.webhook_endpoints.remove(endpoint)
    if not endpoint.referral_programs.exists() and not endpoint.organisations.exists():
        WebhookEndpoint.objects.filter(pk=endpoint.pk).update(is_active=False)
