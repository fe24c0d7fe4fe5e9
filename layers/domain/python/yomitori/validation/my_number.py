"""My Number (個人番号): check digit, validity and masking.

The check digit is defined in 行政手続における特定の個人を識別するための番号の利用等に関する法律施行令
第八条 (the ministerial ordinance): with P_n the n-th digit counted leftwards from the digit just
left of the check digit (n = 1..11) and weights Q_n = n + 1 for n <= 6, n - 5 for n >= 7,
the check digit is 11 - (sum P_n * Q_n mod 11), or 0 when that remainder is 0 or 1.

This module is pure (no imports beyond the standard library) so that the synthetic-data
generator and the Lambda validators can import it cheaply. Values are never logged here and
never placed into exception messages.
"""

from __future__ import annotations

__all__ = ["check_digit", "is_valid", "mask"]

_ASCII_DIGITS = frozenset("0123456789")


def _weight(n: int) -> int:
    return n + 1 if n <= 6 else n - 5


def check_digit(first11: str) -> int:
    """Return the check digit (0-9) for the first 11 digits of a My Number.

    Raises ValueError (without echoing the value) when ``first11`` is not exactly 11 ASCII digits.
    """
    if len(first11) != 11 or not set(first11) <= _ASCII_DIGITS:
        raise ValueError("check_digit needs exactly 11 ASCII digits")
    total = 0
    # P_1 is the rightmost of the 11 digits.
    for n, ch in enumerate(reversed(first11), start=1):
        total += int(ch) * _weight(n)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid(number: str) -> bool:
    """True when ``number`` is 12 ASCII digits whose last digit is the correct check digit."""
    if len(number) != 12 or not set(number) <= _ASCII_DIGITS:
        return False
    return check_digit(number[:11]) == int(number[11])


def mask(value: str) -> str:
    """Mask a My Number for display: every character but the last four becomes ``*``.

    ``mask("123456789018") == "********9018"``; values of four characters or fewer are fully masked.
    """
    if len(value) <= 4:
        return "*" * len(value)
    return "*" * (len(value) - 4) + value[-4:]
