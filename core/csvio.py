"""CSV that spreadsheets open correctly and cannot turn into formulas.

Exports stream: rows are written a chunk at a time, so memory does not grow with the
number of rows. The file starts with a UTF-8 byte-order mark so Excel reads accents.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone

from core.timezones import site_zone

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
            # The site's zone, whenever the rows stream (core.timezones.zone_header).
            timezone.localtime(value, site_zone()).strftime("%Y-%m-%d %H:%M:%S")
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


# --- Reading what spreadsheets save -------------------------------------------------------

UTF8_BOM = b"\xef\xbb\xbf"
DELIMITERS = (",", ";", "\t")
# Signatures of files people pick by mistake, with what to do instead.
_NOT_CSV = (
    (b"PK\x03\x04", "an Excel workbook (.xlsx) or another zip file"),
    (b"\xd0\xcf\x11\xe0", "an old Excel workbook (.xls)"),
    (b"%PDF", "a PDF document"),
)
# Two-byte UTF-8 sequences of accented letters (é is C3 A9): in a file that is not valid
# UTF-8 as a whole, they show that UTF-8 and Windows-1252 rows were mixed.
_MULTIBYTE_UTF8 = re.compile(rb"[\xc3\xc5][\x80-\xbf]")
SAVE_AS_CSV = (
    "In your spreadsheet choose File → Save As (or Download) → CSV, then upload that file."
)


class CsvReadError(Exception):
    """The file cannot be read as CSV text at all; the message says why, for a person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass
class CsvTable:
    header: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (spreadsheet row number, cells); header is row 1
    encoding: str
    delimiter: str
    empty_trailing_columns: int = 0  # empty headers at the right end, dropped from `header`


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes to text: UTF-8 with or without BOM, UTF-16 with BOM, else Windows-1252.

    Raises CsvReadError for an empty file or one that is not text (a workbook, a PDF,
    anything with NUL bytes or control characters).
    """
    if not data.strip(b" \t\r\n\x00" + UTF8_BOM):
        raise CsvReadError("The file is empty.")
    for signature, what in _NOT_CSV:
        if data.startswith(signature):
            raise CsvReadError(f"This file is {what}, not CSV text. {SAVE_AS_CSV}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        # Excel's "Unicode Text" export: UTF-16 with a BOM, usually tab-separated.
        try:
            return data.decode("utf-16"), "UTF-16"
        except UnicodeDecodeError:
            raise CsvReadError(f"This file is not readable CSV text. {SAVE_AS_CSV}") from None
    if b"\x00" in data:
        raise CsvReadError(f"This file is not CSV text (it holds binary data). {SAVE_AS_CSV}")
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM) :]
        try:
            text, encoding = data.decode("utf-8"), "UTF-8 with BOM"
        except UnicodeDecodeError:
            raise CsvReadError(
                "The file says it is UTF-8 but holds bytes that are not. " + SAVE_AS_CSV
            ) from None
    else:
        try:
            text, encoding = data.decode("utf-8"), "UTF-8"
        except UnicodeDecodeError as exc:
            if _MULTIBYTE_UTF8.search(data):
                # Some rows are UTF-8 and some are not: reading it either way garbles names.
                row = data.count(b"\n", 0, exc.start) + 1
                raise CsvReadError(
                    "This file mixes two text encodings (UTF-8 and Windows-1252), as when rows "
                    f"from different files are pasted together; the first byte that is not UTF-8 "
                    f"is on row {row}. Accented letters would come out wrong: save the file "
                    "again as CSV UTF-8."
                ) from None
            try:
                text, encoding = data.decode("cp1252"), "Windows-1252"
            except UnicodeDecodeError:
                raise CsvReadError(
                    "This file is neither UTF-8 nor Windows-1252 text. " + SAVE_AS_CSV
                ) from None
    sample = text[:65_536]
    controls = sum(1 for ch in sample if ch < " " and ch not in "\t\r\n")
    if controls > max(2, len(sample) // 1_000):
        raise CsvReadError(f"This file is not CSV text (it holds binary data). {SAVE_AS_CSV}")
    return text, encoding


def _sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: whichever of comma, semicolon, tab it holds most."""
    first_line = text.lstrip("\ufeff").split("\n", 1)[0]
    counts = {d: first_line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def clean_cell(value: str) -> str:
    """A cell as typed: outer spaces (non-breaking too) trimmed, our formula guard undone.

    Our exports put an apostrophe before a cell that starts like a formula; reading it
    back removes it, so a round-trip keeps `+44…` as it was.
    """
    value = value.strip(" \t\r\n\xa0")
    if len(value) > 1 and value[0] == "'" and value[1] in "=+-@":
        return value[1:]
    return value


def read_table(data: bytes) -> CsvTable:
    """Parse an uploaded CSV: any of our encodings, delimiters and line endings.

    Every cell is text (leading zeros stay); fully blank rows, such as the trailing
    ones spreadsheets add, are skipped. Raises CsvReadError when there is nothing to read.
    """
    text, encoding = decode_text(data)
    text = text.lstrip("\ufeff")
    # Excel's "sep=;" first line names the delimiter.
    hint = re.match(r"sep=(.)\r?\n", text)
    if hint and hint[1] in DELIMITERS:
        text = text[hint.end() :]
    delimiter = hint[1] if hint and hint[1] in DELIMITERS else _sniff_delimiter(text)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvReadError(f"The header line cannot be read as CSV: {exc}.") from None
    if header is None or not any(cell.strip() for cell in header):
        raise CsvReadError("The file is empty: the first line should hold the column names.")
    header = [clean_cell(cell) for cell in header]
    # Spreadsheets may add empty columns at the right end of every line.
    width = len(header)
    while header and not header[-1]:
        header.pop()

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvReadError(
                    f"Row {number + 1} cannot be read as CSV ({exc}): "
                    "look for a quote that is opened and never closed."
                ) from None
            number += 1
            if any(cell.strip(" \t\r\n\xa0") for cell in cells):
                yield number, [clean_cell(cell) for cell in cells]

    return CsvTable(
        header=header,
        rows=rows(),
        encoding=encoding,
        delimiter=delimiter,
        empty_trailing_columns=width - len(header),
    )
