"""Money is a Decimal with an ISO 4217 currency; never a float."""

from decimal import Decimal

from django.db import models

CURRENCIES = [
    ("EUR", "EUR – Euro"),
    ("GBP", "GBP – Pound sterling"),
    ("USD", "USD – US dollar"),
    ("CHF", "CHF – Swiss franc"),
    ("SEK", "SEK – Swedish krona"),
    ("DKK", "DKK – Danish krone"),
    ("NOK", "NOK – Norwegian krone"),
    ("PLN", "PLN – Polish złoty"),
    ("AUD", "AUD – Australian dollar"),
    ("CAD", "CAD – Canadian dollar"),
]
DEFAULT_CURRENCY = "EUR"


def amount_field(**kwargs) -> models.DecimalField:
    return models.DecimalField(max_digits=12, decimal_places=2, **kwargs)


def currency_field(**kwargs) -> models.CharField:
    kwargs.setdefault("default", DEFAULT_CURRENCY)
    return models.CharField(max_length=3, choices=CURRENCIES, **kwargs)


def format_money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return ""
    return f"{amount:,.2f} {currency}"
