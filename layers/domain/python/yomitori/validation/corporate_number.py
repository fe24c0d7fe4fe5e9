"""Corporate Number (法人番号): 13 digits whose FIRST digit is a check digit.

法人番号の指定等に関する省令 第二条: with P_n the n-th digit counted leftwards from the last
digit (n = 1..12, the check digit excluded) and Q_n = 1 for odd n, 2 for even n, the check
digit is 9 - (sum P_n * Q_n mod 9). Pure (standard library only), never logs the value.
"""

from __future__ import annotations

__all__ = ["check_digit", "is_valid"]

_ASCII_DIGITS = frozenset("0123456789")


def check_digit(base12: str) -> int:
    """The check digit (the first digit) for the 12 digits that follow it."""
    if len(base12) != 12 or not set(base12) <= _ASCII_DIGITS:
        raise ValueError("check_digit needs exactly 12 ASCII digits")
    total = sum(int(ch) * (1 if n % 2 else 2) for n, ch in enumerate(reversed(base12), start=1))
    return 9 - total % 9


def is_valid(number: str) -> bool:
    """True when ``number`` is 13 ASCII digits whose first digit is the right check digit."""
    if len(number) != 13 or not set(number) <= _ASCII_DIGITS:
        return False
    return check_digit(number[1:]) == int(number[0])
