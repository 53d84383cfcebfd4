"""Text messages (SMS) through a small backend interface chosen by settings, like email.

`send_sms(to, body)` hands one message to the backend named by SMS_BACKEND:

- `ConsoleSMSBackend` (the default, embedded mode) logs and prints it;
- `LocmemSMSBackend` keeps it in `sms_outbox`, for tests;
- `HttpSMSBackend` posts it as JSON to SMS_HTTP_URL with SMS_HTTP_TOKEN as a bearer token,
  the adapter for an HTTP provider (or a small relay in front of one).

A backend raises `SMSError` when the message was not accepted. Numbers are E.164
(`+` and 8–15 digits): `e164()` is the one check, and callers report a number that fails it
instead of sending.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import lru_cache
from urllib import error, request

from django.conf import settings
from django.utils.module_loading import import_string

# A redirect is not an acceptance: the same opener as webhooks, which follows none.
from core.netguard import no_redirects

logger = logging.getLogger(__name__)

# E.164: a plus, then the country code (never 0) and the number, 8 to 15 digits in all.
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
# What people write inside a number to make it readable; dropped before the check.
_SEPARATORS = re.compile(r"[\s().\-/]")
# The same characters one by one (every character `\s` matches, then the others), for
# the database to drop them too (campaigns' STOP replies match stored numbers so).
SEPARATOR_CHARS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
    "().-/"
)
# "+44 (0)20 …": the trunk prefix a caller inside the country dials. Dropping only the
# brackets would keep the 0 and make another number; whether to drop the 0 too differs
# by country (Italy keeps it), so such a number is not guessed at either.
_TRUNK_ZERO = re.compile(r"\(\s*0\s*\)")


class SMSError(Exception):
    """The backend did not accept the message; the text says why, for the delivery log."""


def e164(number: str) -> str | None:
    """The number in E.164 form (`+4915112345678`), or None when it is not one.

    Spaces, hyphens, dots, slashes and brackets are dropped first (`+49 151 1234-5678`);
    a number without its `+` and country code, or with a trunk `(0)`, is not guessed at.
    """
    if _TRUNK_ZERO.search(number or ""):
        return None
    compact = _SEPARATORS.sub("", number or "")
    return compact if _E164.fullmatch(compact) else None


@dataclass(frozen=True)
class SMS:
    to: str
    body: str


class BaseSMSBackend(ABC):
    """What an SMS backend is: one method that sends a message."""

    @abstractmethod
    def send_sms(self, to: str, body: str) -> None:
        """Send one text message; raise SMSError when it was not accepted."""


class ConsoleSMSBackend(BaseSMSBackend):
    """Embedded mode: the message goes to the log and standard output, nowhere else."""

    def send_sms(self, to: str, body: str) -> None:
        logger.info("SMS to %s: %s", to, body)
        sys.stdout.write(f"SMS to {to}\n{body}\n{'-' * 40}\n")
        sys.stdout.flush()


# What LocmemSMSBackend sent, oldest first; tests empty it between themselves.
sms_outbox: list[SMS] = []


class LocmemSMSBackend(BaseSMSBackend):
    """Tests: keeps each message in `core.notifications.sms_outbox`."""

    def send_sms(self, to: str, body: str) -> None:
        sms_outbox.append(SMS(to=to, body=body))


class HttpSMSBackend(BaseSMSBackend):
    """POST `{"to": …, "body": …}` (and `"from"` when SMS_FROM is set) as JSON to SMS_HTTP_URL,
    `Authorization: Bearer SMS_HTTP_TOKEN`; any 2xx answer is an acceptance."""

    def __init__(self) -> None:
        if not settings.SMS_HTTP_URL:
            raise SMSError("SMS_HTTP_URL is not set: the HTTP SMS backend has nowhere to post.")
        self.url = settings.SMS_HTTP_URL
        self.token = settings.SMS_HTTP_TOKEN
        self.sender = settings.SMS_FROM
        self.timeout = settings.SMS_HTTP_TIMEOUT

    def send_sms(self, to: str, body: str) -> None:
        payload = {"to": to, "body": body}
        if self.sender:
            payload["from"] = self.sender
        headers = {"Content-Type": "application/json", "User-Agent": "Voucherdesk-SMS/1"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        req = request.Request(
            self.url, data=json.dumps(payload).encode(), headers=headers, method="POST"
        )
        try:
            with no_redirects.open(req, timeout=self.timeout) as response:
                status = response.status
        except error.HTTPError as exc:
            raise SMSError(f"The SMS provider answered HTTP {exc.code} {exc.reason}") from exc
        except Exception as exc:  # refused, timed out, DNS: the reason is what staff need
            reason = getattr(exc, "reason", exc)
            raise SMSError(f"The SMS provider could not be reached: {reason}") from exc
        if not 200 <= status < 300:  # 1xx/3xx reach here (redirects are not followed)
            raise SMSError(f"The SMS provider answered HTTP {status}")


@lru_cache(maxsize=8)
def _backend_class(path: str) -> type[BaseSMSBackend]:
    return import_string(path)


def get_sms_backend(path: str | None = None) -> BaseSMSBackend:
    """A backend instance of SMS_BACKEND (or `path`); keep it for a batch of messages."""
    return _backend_class(path or settings.SMS_BACKEND)()


def send_sms(to: str, body: str) -> None:
    """Send one text message through SMS_BACKEND; raises SMSError when it was not accepted."""
    get_sms_backend().send_sms(to, body)
