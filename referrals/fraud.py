"""Fraud guards for referrals: what makes a referral suspicious enough for a person to look.

A flagged referral is kept and shown to staff, never silently counted or dropped.
"""

from __future__ import annotations

from datetime import timedelta

from disposable_email_domains import blocklist
from django.utils import timezone

from referrals.models import ReferralProgram, Referrer

# Gmail ignores dots in the local part; other providers keep them.
_DOTLESS_DOMAINS = {"gmail.com": "gmail.com", "googlemail.com": "gmail.com"}

LABELS = {
    "self_referral": "Same mailbox as the referrer",
    "same_domain": "Same email domain as the referrer",
    "same_address": "Same network address as the referrer",
    "repeated_signups": "Many signups from one address in a short time",
    "disposable_email": "Disposable email address",
    "duplicate_mailbox": "Another address of a mailbox already in the program",
}


def domain_of(email: str) -> str:
    return email.rsplit("@", 1)[-1].lower()


def mailbox(email: str) -> str:
    """The mailbox an address delivers to: ann+x@Example.com and ann@example.com are one."""
    local, _, domain = email.strip().lower().rpartition("@")
    local = local.split("+", 1)[0]
    if domain in _DOTLESS_DOMAINS:
        local, domain = local.replace(".", ""), _DOTLESS_DOMAINS[domain]
    return f"{local}@{domain}"


def is_disposable(email: str) -> bool:
    domain = domain_of(email)
    parts = domain.split(".")
    # A subdomain of a disposable service is one too (x.mailinator.com).
    return any(".".join(parts[i:]) in blocklist for i in range(len(parts) - 1))


def referral_flags(
    *,
    program: ReferralProgram,
    referrer: Referrer,
    email: str,
    address: str = "",
    referred_pk: int | None = None,
) -> list[str]:
    """The reasons to hold a referral of `email` by `referrer` for review; empty if none."""
    flags = []
    box = mailbox(email)
    if box == referrer.mailbox:
        flags.append("self_referral")
    elif program.flag_same_domain and domain_of(email) == domain_of(referrer.email):
        flags.append("same_domain")
    if address and address == referrer.signup_address:
        flags.append("same_address")
    if address and program.signup_limit_per_address:
        since = timezone.now() - timedelta(minutes=program.signup_window_minutes)
        recent = Referrer.objects.filter(
            program=program, signup_address=address, created_at__gte=since
        ).count()
        if recent > program.signup_limit_per_address:
            flags.append("repeated_signups")
    if is_disposable(email):
        flags.append("disposable_email")
    duplicates = Referrer.objects.filter(program=program, mailbox=box).exclude(
        email=email.strip().lower()
    )
    if referred_pk:
        duplicates = duplicates.exclude(pk=referred_pk)
    if box != referrer.mailbox and duplicates.exists():
        flags.append("duplicate_mailbox")
    return flags
