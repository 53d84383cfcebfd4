"""The payment step of the gift landing page, behind a small interface.

PASS_PAYMENT_BACKEND names the class. The built-in TestPayments takes no money and says
so on the page and in every order it records ("test mode"); a real provider is an adapter
with the same two methods.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class PaymentResult:
    ok: bool
    reference: str
    message: str = ""


class TestPayments:
    name = "test"
    label = "Test mode: no card is charged"
    test_mode = True

    def charge(self, *, amount: Decimal, currency: str, description: str) -> PaymentResult:
        return PaymentResult(ok=True, reference=f"test-{secrets.token_hex(6)}")


def payment_backend():
    backend = import_string(settings.PASS_PAYMENT_BACKEND)()
    if backend.test_mode and not (settings.DEBUG or settings.PASS_TEST_PAYMENTS):
        # In production the test step would give passes away: nothing is sold until a
        # real provider is configured (or test payments are switched on knowingly).
        raise PaymentsUnavailable(
            "Gift passes are not sold online yet: no payment provider is configured."
        )
    return backend


class PaymentsUnavailable(Exception):
    """No real payment provider, and test payments are not allowed here."""
