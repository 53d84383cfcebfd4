"""Printed passes as PDF (WeasyPrint): cards of ten to an A4 page, with crop marks.

One HTML document per chunk of CHUNK_PASSES passes (WeasyPrint's memory grows with the
document), the chunks joined with pypdf. Templates cannot fetch anything: the QR codes
are inline SVG and the url_fetcher refuses every URL, local files included.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from urllib.parse import urlencode, urlsplit

import segno
from django.conf import settings
from django.core.files.base import ContentFile
from django.template.loader import render_to_string
from django.urls import reverse

from passes import selectors
from passes.models import PassBatch, PassPlan

CARDS_PER_PAGE = 10
CHUNK_PASSES = 500  # 50 pages per HTML document


def refuse_fetch(url: str, *args, **kwargs):
    raise ValueError(f"Pass documents load nothing from outside: {url}")


def redeem_url(code: str) -> str:
    return f"{settings.SITE_URL}{reverse('passes:redeem')}?{urlencode({'code': code})}"


def _qr_svg(url: str) -> str:
    return segno.make(url, error="m").svg_inline(scale=2, border=0, omitsize=True)


def _cards(plan: PassPlan, rows: Iterable[tuple], pins: dict[str, str]) -> list[dict]:
    return [
        {
            "code": code,
            "value": value,
            "currency": currency,
            "expires_on": expires_on,
            "pin": pins.get(code, "") if plan.pin_required else "",
            "qr": _qr_svg(redeem_url(code)),
        }
        for code, value, currency, expires_on in rows
    ]


def passes_pdf(plan: PassPlan, rows: list[tuple], pins: dict[str, str]) -> bytes:
    """The PDF of these passes (code, value, currency, expiry rows), PINs printed."""
    from pypdf import PdfWriter
    from weasyprint import HTML

    host = urlsplit(settings.SITE_URL).netloc or settings.SITE_URL
    writer = PdfWriter()
    for start in range(0, max(len(rows), 1), CHUNK_PASSES):
        cards = _cards(plan, rows[start : start + CHUNK_PASSES], pins)
        # Pages of CARDS_PER_PAGE cards, in rows of two.
        sheets = [
            [cards[r : r + 2] for r in range(page, min(page + CARDS_PER_PAGE, len(cards)), 2)]
            for page in range(0, len(cards), CARDS_PER_PAGE)
        ]
        html = render_to_string(
            "passes/pdf/batch.html", {"plan": plan, "sheets": sheets, "redeem_host": host}
        )
        chunk = HTML(string=html, url_fetcher=refuse_fetch).write_pdf()
        writer.append(io.BytesIO(chunk))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def batch_pdf_save(*, batch: PassBatch, pins: dict[str, str]) -> PassBatch:
    """Render a batch's passes with the PINs just generated and store the PDF."""
    rows = list(selectors.batch_passes(batch_id=batch.pk))
    data = passes_pdf(batch.plan, rows, pins)
    batch.pdf.save(f"passes-{batch.plan_id}-{batch.pk}.pdf", ContentFile(data), save=False)
    PassBatch.objects.filter(pk=batch.pk).update(pdf=batch.pdf.name)
    return batch
