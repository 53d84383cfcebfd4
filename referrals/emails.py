"""The program's emails: welcome, referral received, reward earned; placeholders in braces.

Staff write them per program; an empty subject or body falls back to the default here.
A placeholder that is not known is refused when the program is saved, by name.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError

from core import placeholders

PLACEHOLDERS = {
    "name": "the referrer's name",
    "company": "the referrer's company",
    "program": "the program's name",
    "referral_link": "the referrer's link to share",
    "status_link": "the referrer's private status page",
    "successful": "successful referrals so far",
    "next_reward": "what the next reward needs, in words",
    "referred_name": "the name of the person referred (referral received)",
    "reward": "the reward's name (reward earned)",
    "reward_details": "what was given: a code, a pass, a credit (reward earned)",
}

KINDS = ("welcome", "referral", "reward")

DEFAULTS = {
    "welcome": (
        "Welcome to {program}",
        "Hello {name},\n\nYou are now part of {program}. Share your link:\n\n  {referral_link}\n\n"
        "Follow your referrals and rewards on your status page:\n\n  {status_link}\n",
    ),
    "referral": (
        "{referred_name} joined through your link",
        "Hello {name},\n\n{referred_name} joined {program} through your link. "
        "Successful referrals so far: {successful}. {next_reward}\n\n"
        "Your status page: {status_link}\n",
    ),
    "reward": (
        "You earned a reward: {reward}",
        "Hello {name},\n\nThank you for your referrals: you earned {reward}.\n\n"
        "{reward_details}\n\nYour status page: {status_link}\n",
    ),
}

SAMPLE = {
    "name": "Ann Lee",
    "company": "Acme Ltd",
    "program": "Partner program",
    "referral_link": "https://example.com/r/7K3QX9M2/",
    "status_link": "https://example.com/refer/status/…/",
    "successful": "2",
    "next_reward": "1 more referral earns Gold.",
    "referred_name": "Bo Chen",
    "reward": "Gold",
    "reward_details": "Your code: ACME7K3QX9M2",
}


def unknown_placeholders(text: str) -> list[str]:
    """The {names} in `text` that are not placeholders; raises on broken braces."""
    return placeholders.unknown(text, PLACEHOLDERS)


def check_templates(fields: dict[str, str]) -> None:
    """Refuse templates with unknown placeholders or stray braces, naming each."""
    errors = {}
    for field, text in fields.items():
        try:
            unknown = unknown_placeholders(text or "")
        except ValueError:
            errors[field] = "A brace is not closed: write {{ and }} for a literal brace."
            continue
        if unknown:
            names = placeholders.braced(unknown)
            errors[field] = (
                f"Unknown placeholder {names}. Known: " + placeholders.braced(PLACEHOLDERS) + "."
            )
    if errors:
        raise ValidationError(errors)


def template_of(program, kind: str) -> tuple[str, str]:
    subject = getattr(program, f"{kind}_subject") or DEFAULTS[kind][0]
    body = getattr(program, f"{kind}_body") or DEFAULTS[kind][1]
    return subject, body


def render(program, kind: str, values: dict[str, str]) -> tuple[str, str]:
    """Subject and body of `kind` for `program`, with the placeholders filled in."""
    subject, body = template_of(program, kind)
    filled = {name: str(values.get(name, "")) for name in PLACEHOLDERS}
    # A subject is one line, whatever a name holds.
    return " ".join(subject.format_map(filled).split()), body.format_map(filled)
