"""HTML to PDF with WeasyPrint, over several processes for long documents.

Kept free of Django so that worker processes start with nothing but WeasyPrint. Every
document is rendered with a URL fetcher that only accepts data: URLs: a template can
embed its own images and nothing else, neither local files nor the network.
"""

from __future__ import annotations

import io
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor


def html_to_pdf(html: str) -> bytes:
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols={"data"}, fail_on_errors=True)
    return HTML(string=html, url_fetcher=fetcher).write_pdf()


def documents_to_pdf(documents: Sequence[str], *, processes: int = 1) -> bytes:
    """Render each HTML document and join them, in order, into one PDF.

    WeasyPrint is pure Python and holds one core per document; with `processes` > 1 the
    documents render side by side in fresh processes (spawned, not forked, so no
    database connection is shared with them).
    """
    from pypdf import PdfWriter

    # A Celery prefork worker's process is a daemon, and a daemon may not start processes.
    if multiprocessing.current_process().daemon:
        processes = 1
    if processes > 1 and len(documents) > 1:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=processes, mp_context=context) as pool:
            parts = list(pool.map(html_to_pdf, documents))
    else:
        parts = [html_to_pdf(html) for html in documents]
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()
