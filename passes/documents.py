"""Printed passes as PDF (WeasyPrint): cards of ten to an A4 page, with crop marks.

One HTML document per chunk of CHUNK_PASSES passes (WeasyPrint's memory grows with the
document), the chunks joined with pypdf. Templates cannot fetch anything: the QR codes
are PNG data URLs made here, and the url_fetcher refuses every other URL, local files
included.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.urls import reverse

from core.pdf import documents_to_pdf
from passes import selectors
from passes.models import PassBatch, PassPlan

CARDS_PER_PAGE = 10
CHUNK_PASSES = 250  # 25 pages per HTML document: enough of them to share out over processes


def redeem_url(code: str) -> str:
    return f"{settings.SITE_URL}{reverse('passes:redeem')}?{urlencode({'code': code})}"


def _qr_png(url: str) -> str:
    """The QR code of a link as a PNG data URL.

    A fixed mask skips segno's search for the best of eight (most of its time), and a PNG
    is decoded by Pillow in C where an SVG path is parsed by WeasyPrint in Python: for a
    thousand passes the two together take the PDF from about 19 s to a third of that.
    """
    out = io.BytesIO()
    segno.make(url, error="m", mask=0).save(out, kind="png", scale=4, border=0)
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _cards(plan: PassPlan, rows: Iterable[tuple], pins: dict[str, str]) -> list[dict]:
    return [
        {
            "code": code,
            "value": value,
            "currency": currency,
            "expires_on": expires_on,
            "pin": pins.get(code, "") if plan.pin_required else "",
            "qr": _qr_png(redeem_url(code)),
        }
        for code, value, currency, expires_on in rows
    ]


def passes_pdf(plan: PassPlan, rows: list[tuple], pins: dict[str, str]) -> bytes:
    """The PDF of these passes (code, value, currency, expiry rows), PINs printed."""
    host = urlsplit(settings.SITE_URL).netloc or settings.SITE_URL
    documents = []
    for start in range(0, max(len(rows), 1), CHUNK_PASSES):
        cards = _cards(plan, rows[start : start + CHUNK_PASSES], pins)
        # Pages of CARDS_PER_PAGE cards, in rows of two.
        sheets = [
            [cards[r : r + 2] for r in range(page, min(page + CARDS_PER_PAGE, len(cards)), 2)]
            for page in range(0, len(cards), CARDS_PER_PAGE)
        ]
        documents.append(
            render_to_string(
                "passes/pdf/batch.html", {"plan": plan, "sheets": sheets, "redeem_host": host}
            )
        )
    return documents_to_pdf(documents, processes=settings.PDF_PROCESSES)


def batch_pdf_save(*, batch: PassBatch, pins: dict[str, str]) -> PassBatch:
    """Render a batch's passes with the PINs just generated and store the PDF."""
    rows = list(selectors.batch_passes(batch_id=batch.pk))
    data = passes_pdf(batch.plan, rows, pins)
    batch.pdf.save(f"passes-{batch.plan_id}-{batch.pk}.pdf", ContentFile(data), save=False)
    PassBatch.objects.filter(pk=batch.pk).update(pdf=batch.pdf.name)
    return batch
