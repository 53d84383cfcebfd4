"""The signed links of a referral program: confirm an email, open a status page, join at once.

Each kind has its own salt, so one kind of link never opens another's page.
"""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from core.errors import DomainError

_CONFIRM = "referrals.confirm"
_STATUS = "referrals.status"
_JOIN = "referrals.join"


class LinkInvalid(DomainError):
    """A signed link was altered, or has expired."""


def site(path: str) -> str:
    return settings.SITE_URL + path


def referral_link(referrer) -> str:
    return site(reverse("referrals_public:visit", args=[referrer.code]))


def status_token(referrer) -> str:
    value = [referrer.pk, referrer.code]
    if referrer.status_key:
        value.append(referrer.status_key)
    return signing.dumps(value, salt=_STATUS, compress=True)


def status_path(referrer) -> str:
    return reverse("referrals_public:status", args=[status_token(referrer)])


def status_link(referrer) -> str:
    return site(status_path(referrer))


def status_reader(token: str) -> tuple[int, str, str]:
    """The referrer a status link names, with its key ("" in a link from before keys).

    It does not expire: it is private, and staff replace it (a new key) when it has
    been passed on."""
    try:
        pk, code, *key = signing.loads(token, salt=_STATUS)
        if len(key) > 1:
            raise ValueError("too many parts")
        return int(pk), str(code), str(key[0]) if key else ""
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid("This status link is not valid. Use the link from your email.") from exc


def confirm_token(referrer) -> str:
    return signing.dumps(referrer.pk, salt=_CONFIRM)


def confirm_link(referrer) -> str:
    return site(reverse("referrals_public:confirm", args=[confirm_token(referrer)]))


def confirm_reader(token: str) -> int:
    try:
        return int(
            signing.loads(token, salt=_CONFIRM, max_age=settings.REFERRAL_CONFIRM_DAYS * 86400)
        )
    except signing.SignatureExpired as exc:
        raise LinkInvalid(
            "This confirmation link has expired. Sign up again to get a new one."
        ) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise LinkInvalid("This confirmation link is not valid.") from exc


def join_token(*, program_id: int, email: str, name: str = "", company: str = "") -> str:
    return signing.dumps(
        {"p": program_id, "e": email, "n": name, "c": company}, salt=_JOIN, compress=True
    )


def join_link(**kwargs) -> str:
    return site(reverse("referrals_public:join", args=[join_token(**kwargs)]))


def join_reader(token: str) -> dict:
    try:
        data = signing.loads(token, salt=_JOIN, max_age=settings.REFERRAL_JOIN_LINK_DAYS * 86400)
        return {
            "program_id": int(data["p"]),
            "email": str(data["e"]),
            "name": str(data.get("n", "")),
            "company": str(data.get("c", "")),
        }
    except signing.SignatureExpired as exc:
        raise LinkInvalid("This signup link has expired. Ask for a new one.") from exc
    except (signing.BadSignature, ValueError, TypeError, KeyError) as exc:
        raise LinkInvalid("This signup link is not valid.") from exc


def cookie_name(program_id: int) -> str:
    return f"vd_ref_{program_id}"
