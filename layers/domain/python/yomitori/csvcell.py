"""CSV cells that a spreadsheet or an RPA robot opens safely (one machine, Lambda, agent).

A cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or the full-width
forms ``＝ ＋ － ＠``, which Japanese Excel also evaluates) is read as a formula by Excel,
LibreOffice and many robots: ``=HYPERLINK("http://…"&B2,…)`` in a name field would send the
row's data elsewhere when clicked. Every such cell gets one leading single quote (the usual
OWASP rule; Excel shows the text and hides the quote). A cell that already starts with a quote
gets one more, so the rule is reversible: :func:`restore_cell` removes exactly one leading
quote from any cell that has one. The database and the JSON results keep the raw value; only
CSV files are neutralised. Digit fields are unaffected in practice: validators already
constrain them to digits (``03-1234-5678`` starts with a digit).
"""

from __future__ import annotations

QUOTE = "'"
FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")  # ＝ ＋ － ＠


def neutralise_cell(value: str) -> str:
    """``value`` as it goes into a CSV file: quoted when a spreadsheet would evaluate it."""
    if value[:1] in FORMULA_STARTS or value[:1] == QUOTE:
        return QUOTE + value
    return value


def restore_cell(value: str) -> str:
    """The raw value of a cell written by :func:`neutralise_cell` (for importing a CSV back)."""
    return value[1:] if value[:1] == QUOTE else value
