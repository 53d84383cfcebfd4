"""CSV that spreadsheets open correctly and cannot turn into formulas.

Exports stream: rows are written a chunk at a time, so memory does not grow with the
number of rows. The file starts with a UTF-8 byte-order mark so Excel reads accents.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

BOM = "\ufeff"
# A cell that starts with one of these is read as a formula by Excel, LibreOffice and
# Google Sheets (OWASP "CSV injection"); a leading apostrophe makes it text.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
CHUNK_ROWS = 2_000


def safe_cell(value: object) -> str:
    """Render one value as CSV text, defusing anything a spreadsheet would evaluate."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            timezone.localtime(value).strftime("%Y-%m-%d %H:%M:%S")
            if timezone.is_aware(value)
            else value.strftime("%Y-%m-%d %H:%M:%S")
        )
    if isinstance(value, (date, Decimal, int)):
        return str(value)
    text = str(value)
    if text.startswith(FORMULA_TRIGGERS):
        return "'" + text
    return text


def iter_csv(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    trusted_columns: Iterable[int] = (),
) -> Iterator[str]:
    """Yield the CSV text in chunks: BOM and header first, then CHUNK_ROWS rows at a time.

    `trusted_columns` are indexes of columns that can only hold text we generated
    (codes, statuses, numbers as text): they skip the formula check, which is most of
    the cost of a large export.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    yield BOM + buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()

    trusted = set(trusted_columns)
    checked = [i for i in range(len(header)) if i not in trusted]
    pending = 0
    for row in rows:
        row = list(row)
        for i in checked:
            value = row[i]
            if value is not None and not isinstance(value, str | int | Decimal):
                row[i] = safe_cell(value)
            elif isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
                row[i] = "'" + value
        writer.writerow(row)
        pending += 1
        if pending >= CHUNK_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def csv_response(
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    trusted_columns: Iterable[int] = (),
) -> StreamingHttpResponse:
    response = StreamingHttpResponse(
        iter_csv(header, rows, trusted_columns=trusted_columns),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
