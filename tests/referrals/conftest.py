"""A program and people joining it, made through the services as users would."""

import logging
import re

import pytest
from django.core import mail
from django.db import transaction

from referrals import services
from referrals.models import Referrer


def confirm_path(email: str) -> str:
    """The confirmation link of the last confirmation email sent to `email`."""
    for message in reversed(mail.outbox):
        if email in message.to and message.subject.startswith("Confirm your email"):
            return re.search(r"https?://[^/\s]+(/refer/confirm/\S+/)", message.body)[1]
    raise AssertionError(f"no confirmation email to {email}")


@pytest.fixture(autouse=True)
def _after_commit_now(monkeypatch):
    """Run what services queue for after commit at once: a test's transaction never commits.

    Robust callbacks keep their promise: a failure is logged, never raised to the caller.
    (The browser tests run the real commits.)
    """

    def on_commit(func, using=None, robust=False):
        if not robust:
            return func()
        try:
            func()
        except Exception:
            logging.getLogger(__name__).exception("after-commit callback failed")

    monkeypatch.setattr(transaction, "on_commit", on_commit)


@pytest.fixture
def program(db):
    return services.program_create(actor=None, name="Partner program")


def join(
    program, email: str, *, by: Referrer | None = None, address: str = "", name=""
) -> Referrer:
    """Sign up (through `by`'s link when given) and confirm the email."""
    referrer = services.referrer_signup(
        program=program,
        person=services.Person.clean(name=name or email.split("@")[0].title(), email=email),
        address=address,
        referral_code=by.code if by else "",
    )
    services.referrer_confirm(token=confirm_path(email).split("/")[-2])
    referrer.refresh_from_db()
    return referrer
