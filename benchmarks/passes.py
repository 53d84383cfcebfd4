"""Passes and wallets on the PostgreSQL of DATABASE_URL.

Measured:

1. Activation of a printed gift plan of 100,000 passes with PINs (`pass_plan_activate`):
   the plan turns active and every pass is generated, its PIN stored as a keyed hash,
   one 'issued' event each. Timed from the call until the batch reaches "printing", the
   moment its passes exist and can be redeemed; the PDF of 100,000 passes (10,000
   pages) is printed after that and is not part of it. Target: ≤ 20 s.
2. The PDF of a 1,000-pass plan, end to end through activation (generation and the
   PDF): seconds, pages per second, file size. Target: ≤ 20 s. Its text is read back
   with pypdf to check every pass is printed with its code and PIN, and one printed
   PIN is used to redeem its pass.
3. Wallet debits through the API: DEBITS sequential `POST /api/v1/wallets/{id}/debit`
   calls with a token and an Idempotency-Key, through django.test.Client (the whole
   Django stack, no network); p50, p99 and max latency, and the ledger reconciled after.

Everything made is removed at the end, also on failure.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from decimal import Decimal

import _setup
from _setup import Row, fmt_mb, fmt_ms, fmt_s, print_table

PASSES = int(os.environ.get("BENCH_PASSES", 100_000))
PDF_PASSES = 1_000
DEBITS = int(os.environ.get("BENCH_DEBITS", 500))
TARGET_ACTIVATION_S = 20
TARGET_PDF_S = 20


def main() -> int:
    _setup.bootstrap()
    from django.conf import settings

    media = tempfile.mkdtemp(prefix="bench-passes-")
    settings.MEDIA_ROOT = media
    settings.PASS_BATCH_SYNC_LIMIT = 10**9  # in this process, to be timed
    made: dict[str, list[int]] = {"plans": [], "wallets": [], "users": []}
    try:
        rows = activation(made) + pdf(made) + debits(made)
        print_table(
            f"Passes and wallets ({PASSES:,} passes, PDF of {PDF_PASSES:,}, {DEBITS} debits)",
            rows,
        )
        return 0 if all(r.ok is not False for r in rows) else 1
    finally:
        cleanup(made)
        shutil.rmtree(media, ignore_errors=True)


def printed_gift_plan(made: dict, name: str, value: Decimal, prefix: str, quantity: int):
    """A draft printed gift plan with PINs, recorded for the clean-up."""
    from passes import services

    plan = services.pass_plan_create(
        actor=None,
        name=name,
        type="gift",
        format="printed",
        value_min=value,
        pin_required=True,
        prefix=prefix,
        code_width=10,
        quantity=quantity,
        valid_days=365,
    )
    made["plans"].append(plan.pk)
    return plan


def activation(made: dict) -> list[Row]:
    from passes import documents, services
    from passes.models import Pass, PassBatch, PassEvent

    plan = printed_gift_plan(made, "Bench gift 100k", Decimal("25.00"), "BNP", PASSES)
    reached: dict[str, float] = {}
    original = documents.batch_pdf_save

    def stop_at_printing(*, batch, pins):
        # The passes are committed and the batch says "printing": activation is done.
        reached["printing"] = time.perf_counter()
        reached["pins"] = len(pins)
        reached["status"] = PassBatch.objects.get(pk=batch.pk).get_status_display()
        return batch

    documents.batch_pdf_save = stop_at_printing
    _setup.checkpoint()
    try:
        start = time.perf_counter()
        services.pass_plan_activate(actor=None, plan=plan)
    finally:
        documents.batch_pdf_save = original
    seconds = reached["printing"] - start
    stored = Pass.objects.filter(plan=plan).count()
    hashed = Pass.objects.filter(plan=plan).exclude(pin_hash="").count()
    issued = PassEvent.objects.filter(pass_obj__plan=plan, type="issued").count()
    ok = stored == hashed == issued == reached["pins"] == PASSES
    return [
        Row(
            f"1. Activate a printed plan of {PASSES:,} passes with PINs",
            fmt_s(seconds),
            f"≤ {TARGET_ACTIVATION_S} s",
            seconds <= TARGET_ACTIVATION_S,
        ),
        Row("   rate", f"{PASSES / seconds:,.0f} passes/s"),
        Row(
            "   passes stored, PIN hashes, 'issued' events",
            f"{stored:,}, {hashed:,}, {issued:,}",
            f"{PASSES:,} each",
            ok,
        ),
        Row("   batch status when activation returns to the PDF step", reached["status"]),
    ]


def pdf(made: dict) -> list[Row]:
    from pypdf import PdfReader

    from passes import services
    from passes.models import PassBatch

    plan = printed_gift_plan(made, "Bench gift 1k", Decimal("50.00"), "BNQ", PDF_PASSES)
    _setup.checkpoint()
    start = time.perf_counter()
    services.pass_plan_activate(actor=None, plan=plan)
    seconds = time.perf_counter() - start
    batch = PassBatch.objects.get(plan=plan)
    with batch.pdf.open("rb") as stored:
        data = stored.read()
    reader = PdfReader(io.BytesIO(data))
    pages = len(reader.pages)
    text = "".join(page.extract_text() for page in reader.pages)
    printed = dict(re.findall(r"(BNQ[0-9A-Z]{10})\s+PIN (\d{6})", text))
    codes = set(plan.passes.values_list("code", flat=True))
    code, pin = next(iter(printed.items()))
    redeemed = services.pass_redeem(code=code, pin=pin)
    made["wallets"].append(redeemed.wallet_transaction.wallet_id)
    return [
        Row(
            f"2. Activate and print a plan of {PDF_PASSES:,} passes (PDF)",
            fmt_s(seconds),
            f"≤ {TARGET_PDF_S} s",
            seconds <= TARGET_PDF_S,
        ),
        Row("   pages, pages/s", f"{pages}, {pages / seconds:.1f}"),
        Row("   file size", fmt_mb(len(data))),
        Row(
            "   passes printed with code and PIN; a printed PIN redeems",
            f"{len(printed):,}; {redeemed.wallet_transaction.amount} EUR",
            f"{PDF_PASSES:,}",
            set(printed) == codes,
        ),
    ]


def debits(made: dict) -> list[Row]:
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from wallets import selectors, services

    till = _setup.create_superuser()
    made["users"].append(till.pk)
    owner = _setup.create_superuser()
    made["users"].append(owner.pk)
    wallet = services.wallet_create(owner=owner, currency="EUR")
    made["wallets"].append(wallet.pk)
    services.wallet_credit(actor=None, wallet=wallet, amount=Decimal(DEBITS + 1))
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=till).key}")
    url = f"/api/v1/wallets/{wallet.pk}/debit"
    latencies = []
    statuses = set()
    for i in range(DEBITS + 20):  # the first 20 warm up and are not counted
        start = time.perf_counter()
        response = client.post(
            url,
            {"amount": "1.00" if i >= 20 else "0.01"},
            content_type="application/json",
            HTTP_IDEMPOTENCY_KEY=f"bench-{i}",
        )
        if i >= 20:
            latencies.append(time.perf_counter() - start)
            statuses.add(response.status_code)
    latencies.sort()
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    differences = list(selectors.wallet_differences())
    left = wallet.balances.get().amount
    return [
        Row(
            f"3. Wallet debits through the API ({DEBITS})",
            f"{statuses}",
            "{201}",
            statuses == {201},
        ),
        Row("   latency p50", fmt_ms(statistics.median(latencies))),
        Row("   latency p99", fmt_ms(p99)),
        Row("   latency max", fmt_ms(latencies[-1])),
        Row(
            "   balance left; ledger reconciles afterwards",
            f"{left} EUR; {'yes' if not differences else 'no'}",
            "0.80 EUR; yes",
            left == Decimal("0.80") and not differences,
        ),
    ]


def cleanup(made: dict) -> None:
    from django.contrib.auth import get_user_model
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from passes.models import Pass, PassBatch, PassEvent, PassPlan, PassRedemption
    from wallets.models import Wallet, WalletBalance, WalletTransaction

    plans = made["plans"]
    PassRedemption.objects.filter(pass_obj__plan_id__in=plans).delete()
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM passes_passevent WHERE pass_obj_id IN "
            "(SELECT id FROM passes_pass WHERE plan_id = ANY(%s))",
            [plans],
        )
        cursor.execute("DELETE FROM passes_pass WHERE plan_id = ANY(%s)", [plans])
    PassBatch.objects.filter(plan_id__in=plans).delete()
    PassPlan.objects.filter(pk__in=plans).delete()
    wallets = made["wallets"]
    WalletTransaction.objects.filter(wallet_id__in=wallets).delete()
    WalletBalance.objects.filter(wallet_id__in=wallets).delete()
    Wallet.objects.filter(pk__in=wallets).delete()
    Token.objects.filter(user_id__in=made["users"]).delete()
    get_user_model().objects.filter(pk__in=made["users"]).delete()
    assert not Pass.objects.filter(plan_id__in=plans).exists()
    assert not PassEvent.objects.filter(pass_obj__plan_id__in=plans).exists()
    print("\nclean-up: bench plans, passes, wallets and users removed")


if __name__ == "__main__":
    sys.exit(main())
