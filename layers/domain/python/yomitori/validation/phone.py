"""Japanese phone numbers against the numbering plan (``phonenumbers``): fixed lines, mobile
070/080/090, IP 050, toll-free 0120/0800, and the hyphenation that matches the area code
(03-1234-5678, 0422-12-3456). Runs in Lambda and on one machine."""

from __future__ import annotations

import re

from yomitori.results import Suggestion
from yomitori.validation.registry import Finding, Severity, ValidationContext, validator

_SHAPE = re.compile(r"^0\d{0,4}(-?\d{1,4}){1,3}$")


def national_format(digits: str) -> str | None:
    """The hyphenated national form of a valid Japanese number (``0312345678`` →
    ``03-1234-5678``), or None when the number is not valid in the numbering plan."""
    import phonenumbers as pn  # imported lazily: its metadata is large

    if not digits.isdigit() or not digits.startswith("0"):
        return None
    try:
        number = pn.parse(digits, "JP")
    except pn.NumberParseException:
        return None
    if not pn.is_valid_number(number):
        return None
    return pn.format_number(number, pn.PhoneNumberFormat.NATIONAL)


@validator("phone_jp")
def phone_jp(value: str, ctx: ValidationContext, require_hyphens: bool = False) -> list[Finding]:
    """A number valid in the Japanese numbering plan. Hyphens, when written, must split it as
    the plan does (031-234-5678 → needs review, suggestion 03-1234-5678); without hyphens it
    passes unless ``require_hyphens``, then the hyphenated form is suggested."""
    if not _SHAPE.match(value):
        return [Finding("phone_format")]
    digits = value.replace("-", "")
    formatted = national_format(digits)
    if formatted is None:
        return [Finding("phone_invalid")]
    if "-" not in value:
        if require_hyphens:
            return [
                Finding(
                    "phone_hyphenation", Severity.REVIEW, Suggestion(value=formatted, reason="phone_format")
                )
            ]
        return []
    if value != formatted:
        return [
            Finding("phone_hyphenation", Severity.REVIEW, Suggestion(value=formatted, reason="phone_format"))
        ]
    return []
