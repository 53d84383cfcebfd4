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
