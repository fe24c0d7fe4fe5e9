"""Validators for Japanese identifiers: My Number (個人番号).

The check digit itself lives in :mod:`yomitori.validation.my_number` (pure, imported by the
synthetic-data generator too). Runs in Lambda and on one machine. Never logs the value.
"""

from __future__ import annotations

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
