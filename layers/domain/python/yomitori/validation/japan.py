"""Validators for Japanese identifiers: My Number (個人番号) and Corporate Number (法人番号).

The check digit itself lives in :mod:`yomitori.validation.my_number` (pure, imported by the
synthetic-data generator too). Runs in Lambda and on one machine. Never logs the value.
"""

from __future__ import annotations

from yomitori.validation import corporate_number
from yomitori.validation.my_number import is_valid
from yomitori.validation.registry import Finding, ValidationContext, validator


@validator("my_number")
def my_number(value: str, ctx: ValidationContext) -> list[Finding]:
    """12 ASCII digits with the ordinance's check digit; otherwise ``invalid``."""
    if len(value) != 12 or not (value.isascii() and value.isdigit()):
        return [Finding("my_number_format")]
    if not is_valid(value):
        return [Finding("my_number_check_digit")]
    return []


@validator("corporate_number")
def corporate_number_check(value: str, ctx: ValidationContext) -> list[Finding]:
    """13 ASCII digits with the check digit first (法人番号); otherwise ``invalid``."""
    if len(value) != 13 or not (value.isascii() and value.isdigit()):
        return [Finding("corporate_number_format")]
    if not corporate_number.is_valid(value):
        return [Finding("corporate_number_check_digit")]
    return []


@validator("my_or_corporate_number")
def my_or_corporate_number(value: str, ctx: ValidationContext) -> list[Finding]:
    """A payer's 個人番号又は法人番号: 13 digits are a Corporate Number, 12 a My Number (an
    individual payer writes 12 digits and leaves the first cell empty)."""
    if len(value) == 12:
        return my_number(value, ctx)
    return corporate_number_check(value, ctx)
