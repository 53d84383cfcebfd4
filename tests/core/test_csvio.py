import csv
import io
from datetime import date
from decimal import Decimal

from core import csvio


def _read(chunks) -> list[list[str]]:
    text = "".join(chunks)
    assert text.startswith(csvio.BOM)
    return list(csv.reader(io.StringIO(text[1:])))


def test_export_starts_with_a_bom_and_the_header():
    rows = _read(csvio.iter_csv(["Code", "Name"], [("ABC", "Zoë")]))
    assert rows == [["Code", "Name"], ["ABC", "Zoë"]]


def test_cells_a_spreadsheet_would_evaluate_get_a_leading_apostrophe():
    dangerous = ["=1+1", "+SUM(A1)", "-2+3", "@cmd", "\tx", "\rx"]
    rows = _read(csvio.iter_csv(["v"], [(v,) for v in dangerous]))
    assert [r[0] for r in rows[1:]] == ["'" + v for v in dangerous]


def test_numbers_and_dates_are_not_escaped():
    rows = _read(csvio.iter_csv(["a", "b", "c"], [(Decimal("-5.00"), -3, date(2026, 1, 2))]))
    assert rows[1] == ["-5.00", "-3", "2026-01-02"]


def test_trusted_columns_skip_the_check_others_keep_it():
    rows = _read(csvio.iter_csv(["code", "name"], [("=A", "=B")], trusted_columns=[0]))
    assert rows[1] == ["=A", "'=B"]


def test_rows_are_yielded_in_chunks_not_all_at_once():
    chunks = list(csvio.iter_csv(["n"], ((i,) for i in range(5_000))))
    assert len(chunks) == 1 + 3  # header, then 2,000 + 2,000 + 1,000 rows
    assert len(_read(chunks)) == 5_001


# --- Reading uploads -----------------------------------------------------------------


def _table(data: bytes) -> tuple[list[str], list[tuple[int, list[str]]]]:
    table = csvio.read_table(data)
    return table.header, list(table.rows)


def _read_error(data: bytes) -> str:
    try:
        _table(data)
    except csvio.CsvReadError as exc:
        return exc.message
    raise AssertionError("the file was read")


def test_utf8_with_and_without_bom_read_the_same():
    text = "Name,Town\r\nZoë,Köln\r\n"
    assert _table(text.encode("utf-8")) == _table(b"\xef\xbb\xbf" + text.encode("utf-8"))
    assert _table(text.encode("utf-8"))[1] == [(2, ["Zoë", "Köln"])]


def test_windows_1252_is_read_when_the_bytes_are_not_utf8():
    table = csvio.read_table("Name;Town\r\nZoë;Málaga\r\n".encode("cp1252"))
    assert table.encoding == "Windows-1252"
    assert table.delimiter == ";"
    assert list(table.rows) == [(2, ["Zoë", "Málaga"])]


def test_excel_unicode_text_utf16_tab_separated_is_read():
    table = csvio.read_table("Name\tTown\r\nZoë\tKöln\r\n".encode("utf-16"))
    assert table.delimiter == "\t"
    assert list(table.rows) == [(2, ["Zoë", "Köln"])]


def test_quoted_delimiters_and_newlines_stay_in_their_cell_and_rows_keep_their_numbers():
    data = b'A,B\n"Smith, Jr","line one\nline two"\n\n,\n \xc2\xa0, \nx,y\n\n\n'
    header, rows = _table(data)
    assert header == ["A", "B"]
    # Blank lines and rows of empty cells are skipped but still counted as rows.
    assert rows == [(2, ["Smith, Jr", "line one\nline two"]), (6, ["x", "y"])]


def test_every_cell_is_text_leading_zeros_stay():
    assert _table(b"Phone,Ref\n0044 20 7946,00123\n")[1] == [(2, ["0044 20 7946", "00123"])]


def test_our_formula_guard_is_undone_on_the_way_back_in():
    rows = _table(b"Phone,Note\n'+44 20 7946,'=1+1\n'plain,it's\n")[1]
    assert rows == [(2, ["+44 20 7946", "=1+1"]), (3, ["'plain", "it's"])]


def test_empty_trailing_columns_of_the_header_are_dropped():
    assert _table(b"A,B,,\n1,2,,\n")[0] == ["A", "B"]


def test_an_empty_file_is_reported():
    assert _read_error(b"") == "The file is empty."
    assert _read_error(b"\xef\xbb\xbf\r\n\r\n") == "The file is empty."


def test_a_workbook_or_pdf_is_named_and_the_way_out_given():
    message = _read_error(b"PK\x03\x04\x14\x00\x06\x00rest-of-a-zip")
    assert "Excel workbook (.xlsx)" in message and "Save As" in message
    assert "PDF document" in _read_error(b"%PDF-1.7\n...")


def test_binary_data_renamed_csv_is_not_csv_text():
    import random

    rng = random.Random(4)
    noise = bytes(rng.randrange(256) for _ in range(4_000))
    assert "not CSV text" in _read_error(b"ID,Name\n" + noise)
    assert "not CSV text" in _read_error(b"ID,Name\n1,\x01\x02\x03\x04\x05\x06\x07\x08\n")


def test_an_unclosed_quote_names_the_row():
    table = csvio.read_table(b'A,B\n1,2\n3,"never closed\n')
    try:
        list(table.rows)
    except csvio.CsvReadError as exc:
        assert "quote" in exc.message
    else:
        raise AssertionError("read without complaint")
