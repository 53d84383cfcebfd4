"""Distribution at size, on the PostgreSQL of DATABASE_URL.

Part 1, sending: the benchmark makes its own contract with MESSAGES participants, each
holding one code (participants bulk-inserted, codes issued through the same set-based
service the CSV import uses), and an email template using every text placeholder
(first and last name, code, registration link, product, price, valid until, contract).
CAMPAIGN_SEND_RATE is 0 (no pause): what is measured is the app, not the limit.

For each email backend, Django's locmem backend first, then SMTP to a local sink:

1. Queue: `distribution_create` for every participant holding an unused code — the plan
   (who gets a message, who is skipped and why) and the set-based insert of MESSAGES
   message rows. The sending task it would start after the commit is held back here, so
   that the two are timed apart.
2. Send: `distribution_send`, the sending task's body: locked chunks of 100 over one email
   connection, each message rendered for its participant (with its signed unsubscribe
   link and List-Unsubscribe headers), handed to the backend and marked sent. Messages
   per second.

The SMTP sink is aiosmtpd in a thread of this process, on 127.0.0.1 at a free port,
counting what it receives (it shares the process, and so the GIL, with the sender: a
separate mail server would only make the sending faster). Checks: every message sent,
the backend or sink received exactly MESSAGES emails, each to a different address, and a
received email carries its participant's code and the unsubscribe headers. Between the
two backends the first send's messages are deleted, or the second send would rightly
skip every code as already sent.

A last, smaller send (QR_MESSAGES, locmem) uses {qr}: each email then also carries an
HTML alternative and its own QR code PNG.

Everything the benchmark made is deleted at the end, also on failure (and a contract an
earlier, interrupted run left behind).

Environment, for a quick try only: BENCH_DISTRIBUTION_MESSAGES (100,000),
BENCH_DISTRIBUTION_QR_MESSAGES (2,000).
"""

from __future__ import annotations

import os
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any

import _setup
from _setup import Row, fmt_s, print_table, timer

MESSAGES = int(os.environ.get("BENCH_DISTRIBUTION_MESSAGES", 100_000))
QR_MESSAGES = int(os.environ.get("BENCH_DISTRIBUTION_QR_MESSAGES", 2_000))
LABEL = "distribution"
CHECKS_FAILED: list[Row] = []

BODY = (
    "Hello {first_name} {last_name},\n\n"
    "Your invitation code for {product} ({price}) is {code}, valid until {valid_until}.\n"
    "Book here: {link}\n\n"
    "{contract}\n"
)


def check(row: Row) -> Row:
    """A row that checks what happened: the run fails when it does not hold."""
    if not row.ok:
        CHECKS_FAILED.append(row)
    return row


# --- data ------------------------------------------------------------------------------


@dataclass
class Made:
    fixture: Any
    participants: int
    seconds: float


def make_contract() -> Made:
    """A contract of MESSAGES participants, each holding one code of width 10."""
    from django.db import transaction

    from contracts.models import Participant
    from invitations.services.generation import codes_issue_to_participants
    from invitations.services.participants import _assigned_batch

    fixture = _setup.create_contract(LABEL)
    contract = fixture.contract
    with timer() as t, transaction.atomic():
        Participant.objects.bulk_create(
            (
                Participant(
                    contract=contract,
                    first_name=f"First{i}",
                    last_name=f"Last{i}",
                    email=f"person{i}@bench.example",
                    external_reference=f"B{i:07d}",
                )
                for i in range(MESSAGES)
            ),
            batch_size=5_000,
        )
        ids = list(contract.participants.order_by("pk").values_list("pk", flat=True))
        batch = _assigned_batch(
            actor=None,
            contract=contract,
            price=fixture.price,
            width=_setup.SHARED_WIDTH,
            quantity=len(ids),
            note="distribution benchmark",
        )
        codes_issue_to_participants(batch=batch, participant_ids=ids)
    _analyze()
    # A worker has its URL resolver built after its first task: build it before timing.
    from django.urls import reverse

    reverse("register:book", args=["WARMUP"])
    return Made(fixture=fixture, participants=len(ids), seconds=t.seconds)


def _analyze() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("contracts_participant", "invitations_invitationcode", "campaigns_message"):
            cur.execute(f"ANALYZE {table}")


def cleanup(contract_ids: list[int]) -> None:
    """Delete the benchmark's sends, templates and participants, then its contract."""
    from django.db import connection, transaction

    if not contract_ids:
        return
    with transaction.atomic(), connection.cursor() as cur:
        for table in ("campaigns_message", "campaigns_distribution", "campaigns_messagetemplate"):
            cur.execute(f"DELETE FROM {table} WHERE contract_id = ANY(%s)", [contract_ids])
        cur.execute(
            "DELETE FROM invitations_historicalinvitationcode WHERE contract_id = ANY(%s)",
            [contract_ids],
        )
        cur.execute(
            "DELETE FROM invitations_invitationcode WHERE contract_id = ANY(%s)", [contract_ids]
        )
        cur.execute(
            "DELETE FROM contracts_historicalparticipant WHERE contract_id = ANY(%s)",
            [contract_ids],
        )
        cur.execute("DELETE FROM contracts_participant WHERE contract_id = ANY(%s)", [contract_ids])
    for contract_id in contract_ids:
        _setup.cleanup(contract_id, vacuum=False)
    with connection.cursor() as cur:
        for table in ("campaigns_message", "contracts_participant", "invitations_invitationcode"):
            cur.execute(f"VACUUM (ANALYZE) {table}")


def leftovers() -> list[int]:
    from contracts.models import Contract

    return list(
        Contract.objects.filter(name__startswith=f"Benchmark {LABEL} ").values_list("pk", flat=True)
    )


def forget_sends(contract: Any) -> None:
    """Delete a contract's sends, so that the next send finds every code unsent again."""
    from django.db import connection

    with connection.cursor() as cur:
        for table in ("campaigns_message", "campaigns_distribution"):
            cur.execute(f"DELETE FROM {table} WHERE contract_id = %s", [contract.pk])
        cur.execute("VACUUM (ANALYZE) campaigns_message")


# --- the SMTP sink ---------------------------------------------------------------------


class Sink:
    """aiosmtpd on 127.0.0.1 in a thread: counts emails, recipients, and keeps one."""

    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.count = 0
        self.recipients: set[str] = set()
        self.sample = b""
        with socket.socket() as probe:  # a free port (the controller wants one named)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.count += 1
        self.recipients.update(envelope.rcpt_tos)
        if not self.sample:
            self.sample = envelope.content
        return "250 OK"

    def __enter__(self) -> Sink:
        import logging

        logging.getLogger("mail.log").setLevel(logging.WARNING)  # a line per SMTP command
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


# --- part 1: queue and send ------------------------------------------------------------


@dataclass
class Run:
    backend: str
    queue_seconds: float
    send_seconds: float
    distribution: Any


def queue_and_send(contract: Any, template: Any, **recipients: Any) -> Run:
    """Time distribution_create (its task held back), then the task's body."""
    from django.conf import settings

    from campaigns import services
    from campaigns.services import distribution as module

    held: list[int] = []
    real_enqueue = module._enqueue_on_commit
    module._enqueue_on_commit = held.append
    try:
        _setup.checkpoint()
        with timer() as queued:
            distribution = services.distribution_create(
                actor=None, contract=contract, template=template, **recipients
            )
    finally:
        module._enqueue_on_commit = real_enqueue
    assert held == [distribution.pk], held
    _analyze()
    with timer() as sent:
        services.distribution_send(distribution_id=distribution.pk)
    distribution.refresh_from_db()
    return Run(
        settings.EMAIL_BACKEND.rsplit(".", 2)[-2], queued.seconds, sent.seconds, distribution
    )


def run_rows(run: Run, *, received: int, recipients: int) -> list[Row]:
    from campaigns import selectors

    counts = selectors.distribution_progress(distribution=run.distribution).counts
    n = counts["sent"]
    return [
        Row(
            f"{run.backend}: queue {MESSAGES:,} messages (plan + insert)", fmt_s(run.queue_seconds)
        ),
        Row("   rows queued per second", f"{MESSAGES / run.queue_seconds:,.0f}"),
        Row(f"{run.backend}: send them (render, hand over, mark sent)", fmt_s(run.send_seconds)),
        Row("   messages per second", f"{n / run.send_seconds:,.0f}"),
        Row(
            "   queue + send, messages per second",
            f"{n / (run.queue_seconds + run.send_seconds):,.0f}",
        ),
        check(
            Row(
                "   sent / failed / queued / skipped",
                f"{n:,} / {counts['failed']:,} / {counts['queued']:,} / {counts['skipped']:,}",
                f"{MESSAGES:,} / 0 / 0 / 0",
                n == MESSAGES and run.distribution.status == "done",
            )
        ),
        check(
            Row(
                "   emails received; distinct recipients",
                f"{received:,}; {recipients:,}",
                f"{MESSAGES:,}; {MESSAGES:,}",
                received == MESSAGES and recipients == MESSAGES,
            )
        ),
    ]


def sample_ok(raw: bytes, contract: Any) -> bool:
    """One received email: its participant's code, link and the unsubscribe headers."""
    from email import message_from_bytes

    from invitations.models import InvitationCode

    email = message_from_bytes(raw)
    to = email["To"]
    code = InvitationCode.objects.get(contract=contract, participant__email=to).code
    body = email.get_payload(decode=True).decode()
    return (
        f"is {code}," in body
        and f"/register/{code}/" in body
        and email["List-Unsubscribe"].strip().startswith("<http")
        and email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    )


def part_sending(contract: Any) -> list[Row]:
    """Part 1: queue and send MESSAGES personalised emails, locmem then SMTP."""
    from django.conf import settings
    from django.core import mail

    from campaigns import services

    settings.CAMPAIGN_SEND_RATE = 0
    template = services.template_create(
        actor=None,
        contract=contract,
        name="Benchmark invitation",
        channel="email",
        subject="Your code for {contract}, {first_name}",
        body=BODY,
    )
    rows: list[Row] = []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    run = queue_and_send(contract, template)
    received = len(mail.outbox)
    recipients = len({m.to[0] for m in mail.outbox})
    sample = mail.outbox[0].message().as_bytes() if mail.outbox else b""
    mail.outbox = []
    rows += run_rows(run, received=received, recipients=recipients)
    rows.append(check(Row("   a received email is right", str(sample_ok(sample, contract)), "True",
                          sample_ok(sample, contract))))  # fmt: skip
    print_table(f"Distribution: {MESSAGES:,} emails, locmem backend", rows)

    forget_sends(contract)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with Sink() as sink:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", sink.port
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        run = queue_and_send(contract, template)
        time.sleep(0.2)  # the sink's last acknowledgement is counted before the reply
        smtp_rows = run_rows(run, received=sink.count, recipients=len(sink.recipients))
        ok = sample_ok(sink.sample, contract)
        smtp_rows.append(check(Row("   a received email is right", str(ok), "True", ok)))
    print_table(f"Distribution: {MESSAGES:,} emails, SMTP to a local aiosmtpd sink", smtp_rows)
    rows += smtp_rows

    if QR_MESSAGES:
        rows += part_qr(contract)
    return rows


def part_qr(contract: Any) -> list[Row]:
    """QR_MESSAGES emails with {qr}: an HTML alternative and a PNG each (locmem)."""
    from django.conf import settings
    from django.core import mail

    from campaigns import services

    forget_sends(contract)
    template = services.template_create(
        actor=None,
        contract=contract,
        name="Benchmark invitation with QR",
        channel="email",
        subject="Your code, {first_name}",
        body=BODY + "\n{qr}\n",
    )
    ids = list(contract.participants.order_by("pk").values_list("pk", flat=True)[:QR_MESSAGES])
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    mail.outbox = []
    run = queue_and_send(contract, template, participant_ids=ids)
    images = sum(1 for m in mail.outbox if m.mixed_subtype == "related")
    mail.outbox = []
    rows = [
        Row(f"send {len(ids):,} emails with a QR code image", fmt_s(run.send_seconds)),
        Row("   messages per second", f"{len(ids) / run.send_seconds:,.0f}"),
        check(
            Row(
                "   emails with an inline PNG",
                f"{images:,}",
                f"{len(ids):,}",
                images == len(ids),
            )
        ),
    ]
    print_table(f"Distribution: {len(ids):,} emails with {{qr}}, locmem backend", rows)
    return rows


# --- main ------------------------------------------------------------------------------


def main() -> int:
    _setup.bootstrap()
    if not os.environ.get("BENCH_HEADER_PRINTED"):
        from run import header

        header()
    stale = leftovers()
    if stale:
        cleanup(stale)
        print(f"removed {len(stale)} contract(s) an earlier run left behind", flush=True)
    made = make_contract()
    contract = made.fixture.contract
    try:
        print(
            f"\nset-up: {made.participants:,} participants each holding a code, "
            f"in {fmt_s(made.seconds)}",
            flush=True,
        )
        part_sending(contract)
        for row in CHECKS_FAILED:
            print(f"correctness check failed: {row.label.strip()}")
        return 1 if CHECKS_FAILED else 0
    finally:
        with timer() as t:
            cleanup([contract.pk])
        print(f"\nclean-up: benchmark contract {contract.pk} removed in {fmt_s(t.seconds)}")


if __name__ == "__main__":
    sys.exit(main())
