"""Basic field validators and rules: required, digits, katakana, household size, amounts,
checkbox groups and required-when. Runs in Lambda and on one machine.

Reason codes are stable identifiers (see docs/validators.md); no value ever goes into one.
"""

from __future__ import annotations

import re
from typing import Any

from yomitori.validation.registry import Finding, Severity, ValidationContext, rule, validator

CHECKED = "true"

# Full-width katakana (ァ..ヺ), middle dot, long vowel mark, iteration marks, spaces.
_KATAKANA = re.compile(r"^[\u30a1-\u30fa\u30fb\u30fc\u30fd\u30fe\u3000 ]+$")


@validator("required")
def required(value: str, ctx: ValidationContext) -> list[Finding]:
    """Empty values are handled by routing (``required: true``); a written value passes."""
    return [] if value.strip() else [Finding("required")]


@validator("digits")
def digits(value: str, ctx: ValidationContext, length: int | None = None) -> list[Finding]:
    """Only ASCII digits; with ``length``, exactly that many."""
    if not (value.isascii() and value.isdigit()):
        return [Finding("not_digits")]
    if length is not None and len(value) != int(length):
        return [Finding("wrong_length")]
    return []


@validator("katakana")
def katakana(value: str, ctx: ValidationContext, extra: str = "") -> list[Finding]:
    """Full-width katakana, long vowel mark, middle dot and spaces (plus ``extra`` characters,
    e.g. "()" for company account holders). Hiragana and half-width kana are normalised to
    full-width katakana before validation, so they pass."""
    if _KATAKANA.match(value) or (extra and all(_KATAKANA.match(ch) or ch in extra for ch in value)):
        return []
    return [Finding("not_katakana")]


@validator("household_size")
def household_size(value: str, ctx: ValidationContext, minimum: int = 1, maximum: int = 20) -> list[Finding]:
    """A number of people living in the household: 1–20 by default."""
    if not (value.isascii() and value.isdigit()):
        return [Finding("not_digits")]
    n = int(value)
    if n < minimum or n > maximum:
        return [Finding("household_size_out_of_range")]
    if value.startswith("0"):
        return [Finding("leading_zero", Severity.REVIEW, _suggest(str(n), "leading_zero"))]
    return []


@validator("amount")
def amount(
    value: str,
    ctx: ValidationContext,
    minimum: int = 1,
    maximum: int = 100_000_000,
    review_above: int | None = None,
) -> list[Finding]:
    """A yen amount: digits without a leading zero, within [minimum, maximum]; amounts above
    ``review_above`` (if set) are possible but unusual and go to a person."""
    if not (value.isascii() and value.isdigit()):
        return [Finding("not_digits")]
    if value.startswith("0") and (value != "0" or minimum > 0):  # 0 is an amount where allowed
        return [Finding("amount_leading_zero")]
    n = int(value)
    if n < minimum or n > maximum:
        return [Finding("amount_out_of_range")]
    if review_above is not None and n > review_above:
        return [Finding("amount_unusual", Severity.REVIEW)]
    return []


def _suggest(value: str, reason: str):
    from yomitori.results import Suggestion

    return Suggestion(value=value, reason=reason)


# --- rules over several fields ----------------------------------------------------------------


def _ticked(ctx: ValidationContext, fields: list[str]) -> list[str]:
    return [f for f in fields if ctx.values.get(f, "") == CHECKED]


@rule("exactly_one")
def exactly_one(ctx: ValidationContext, fields: list[str]) -> list[Finding]:
    """Of the named checkbox fields, exactly one is ticked (e.g. 預金種目 as separate boxes)."""
    n = len(_ticked(ctx, fields))
    if n == 1:
        return []
    code = "none_ticked" if n == 0 else "several_ticked"
    return [Finding(code, Severity.INVALID, field=f) for f in fields]


@rule("at_least_one")
def at_least_one(ctx: ValidationContext, fields: list[str]) -> list[Finding]:
    """Of the named checkbox fields, at least one is ticked."""
    if _ticked(ctx, fields):
        return []
    return [Finding("none_ticked", Severity.INVALID, field=f) for f in fields]


@rule("all_ticked")
def all_ticked(ctx: ValidationContext, fields: list[str]) -> list[Finding]:
    """Every named checkbox is ticked (declarations the applicant must make)."""
    return [
        Finding("declaration_not_ticked", Severity.INVALID, field=f)
        for f in fields
        if ctx.values.get(f, "") != CHECKED
    ]


def _condition_holds(ctx: ValidationContext, when: dict[str, Any]) -> bool:
    value = ctx.values.get(when["field"], "")
    if "equals" in when:
        return value == str(when["equals"])
    if "in" in when:
        return value in [str(v) for v in when["in"]]
    if "filled" in when:
        return bool(value) == bool(when["filled"])
    raise ValueError("required_when: 'when' needs 'equals', 'in' or 'filled'")


@rule("required_when")
def required_when(ctx: ValidationContext, field: str | list[str], when: dict[str, Any]) -> list[Finding]:
    """``field`` (one or several) must be filled when the condition holds, e.g.
    ``{field: bank_code, when: {field: settlement, equals: 口座振替}}``; ``when`` takes
    ``equals``, ``in`` (a list) or ``filled`` (true/false)."""
    names = [field] if isinstance(field, str) else list(field)
    if not _condition_holds(ctx, when):
        return []
    return [Finding("required", Severity.INVALID, field=f) for f in names if not ctx.values.get(f, "")]


def _number(ctx: ValidationContext, name: str) -> int | None:
    value = ctx.values.get(name, "")
    return int(value) if value.isascii() and value.isdigit() else None


@rule("at_most")
def at_most(ctx: ValidationContext, field: str, limit: str | list[str]) -> list[Finding]:
    """The amount in ``field`` is not above the amount in ``limit`` (or the sum of several),
    e.g. 給与所得控除後の金額 <= 支払金額. Both fields are named in the finding: one of the two
    was misread, a person decides which. Empty or non-numeric values are left to the field's
    own validators."""
    limits = [limit] if isinstance(limit, str) else list(limit)
    value = _number(ctx, field)
    bounds = [_number(ctx, name) for name in limits]
    if value is None or any(b is None for b in bounds):
        return []
    if value <= sum(b for b in bounds if b is not None):
        return []
    return [Finding("amount_exceeds_limit", Severity.INVALID, field=f) for f in (field, *limits)]


@rule("all_different")
def all_different(ctx: ValidationContext, fields: list[str]) -> list[Finding]:
    """The filled fields among ``fields`` differ from each other (第1〜第3希望 name three
    different facilities)."""
    seen: dict[str, str] = {}
    findings = []
    for name in fields:
        value = ctx.values.get(name, "")
        if not value:
            continue
        if value in seen:
            findings += [Finding("same_choice_twice", Severity.INVALID, field=f) for f in (seen[value], name)]
        else:
            seen[value] = name
    return findings
