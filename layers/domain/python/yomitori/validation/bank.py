"""Bank and branch codes against the Zengin list (``zengin_code``): codes exist, codes agree
with names written on the form (both directions), and a code that does not exist gets the
existing code one OCR confusion away as a suggestion when there is exactly one. Runs in
Lambda and on one machine; the reference data loads on first use.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from yomitori.refdata import banks
from yomitori.results import Suggestion
from yomitori.validation.confusions import one_confusion_away
from yomitori.validation.names import fold_kana
from yomitori.validation.registry import Finding, Severity, ValidationContext, rule, validator
from yomitori.variants import everyday_forms

# Written forms of institution types → the abbreviations the Zengin list uses.
_BANK_TYPES = (
    ("信用金庫", "信金"),
    ("信用組合", "信組"),
    ("農業協同組合", "農協"),
    ("漁業協同組合", "漁協"),
    ("労働金庫", "労金"),
)
_BRANCH_SUFFIX = re.compile(r"(支店|支所|出張所)$")


def _nearest(code: str, exists) -> Suggestion | None:
    near = [c for c in one_confusion_away(code) if exists(c)]
    return Suggestion(value=near[0], reason="ocr_confusion_nearest_code") if len(near) == 1 else None


@validator("bank_code_exists")
def bank_code_exists(value: str, ctx: ValidationContext) -> list[Finding]:
    """A 4-digit code in the Zengin list; an unknown code is invalid, with the existing code
    one digit confusion away suggested when unique."""
    if len(value) != 4 or not (value.isascii() and value.isdigit()):
        return [Finding("bank_code_format")]
    if banks.bank(value) is None:
        return [
            Finding(
                "bank_code_unknown", Severity.INVALID, _nearest(value, lambda c: banks.bank(c) is not None)
            )
        ]
    return []


@validator("branch_code_exists")
def branch_code_exists(value: str, ctx: ValidationContext, bank_field: str = "bank_code") -> list[Finding]:
    """A 3-digit branch code of the bank in ``bank_field`` (not checked while the bank code is
    itself unknown: that field says so)."""
    if len(value) != 3 or not (value.isascii() and value.isdigit()):
        return [Finding("branch_code_format")]
    bank_code = ctx.values.get(bank_field, "")
    if banks.bank(bank_code) is None:
        return []
    known = banks.branches(bank_code)
    if value not in known:
        return [Finding("branch_code_unknown", Severity.INVALID, _nearest(value, known.__contains__))]
    return []


@rule("bank_branch")
def bank_branch(
    ctx: ValidationContext,
    bank_field: str = "bank_code",
    branch_field: str = "branch_code",
) -> list[Finding]:
    """A branch code the bank does not have may as well come from a misread bank code (which
    then names another existing bank): the bank code goes to review too, with the bank one
    confusion away that has this branch suggested when unique."""
    bank_code, branch_code = ctx.values.get(bank_field, ""), ctx.values.get(branch_field, "")
    if (
        not bank_code
        or not branch_code
        or banks.bank(bank_code) is None
        or branch_code in banks.branches(bank_code)
    ):
        return []
    return [
        Finding(
            "bank_branch_mismatch",
            Severity.REVIEW,
            _nearest(bank_code, lambda c: branch_code in banks.branches(c)),
            field=bank_field,
        )
    ]


def _norm_name(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # spaces and middle dots are left out when written (オーストラリア・ニュージーランド銀行)
    return re.sub(r"[\s・･]+", "", text)


def normalise_bank_name(text: str) -> str:
    """A written bank name as the Zengin list spells it: みずほ銀行 → みずほ, 京都信用金庫 → 京都信金."""
    name = _norm_name(text)
    for long, short in _BANK_TYPES:
        name = name.replace(long, short)
    return re.sub(r"銀行$", "", name)


def normalise_branch_name(text: str) -> str:
    """A written branch name as the Zengin list spells it: 新宿支店 → 新宿."""
    return _BRANCH_SUFFIX.sub("", _norm_name(text))


def _matches(written: str, entry: banks.Entry, normalise) -> bool:
    w = normalise(written)
    return w == _norm_name(entry.name) or fold_kana(w) == fold_kana(_norm_name(entry.kana))


@lru_cache(maxsize=1)
def _bank_names() -> dict[str, list[str]]:
    index: dict[str, list[str]] = {}
    for code, e in banks.all_banks().items():
        for key in (_norm_name(e.name), fold_kana(_norm_name(e.kana))):
            index.setdefault(key, []).append(code)
    return index


def bank_codes_for_name(name: str) -> list[str]:
    """Zengin codes of the bank named ``name`` (kanji/kana as written, 銀行 etc. optional)."""
    w = normalise_bank_name(name)
    index = _bank_names()
    return list(dict.fromkeys(index.get(w, []) + index.get(fold_kana(w), [])))


def branch_codes_for_name(bank_code: str, name: str) -> list[str]:
    """Branch codes of bank ``bank_code`` named ``name``."""
    return [c for c, e in banks.branches(bank_code).items() if _matches(name, e, normalise_branch_name)]


def _code_name_findings(
    kind: str,
    code_field: str,
    name_field: str,
    code: str,
    name: str,
    entry: banks.Entry | None,
    codes_for_name: Callable[[str], list[str]],
    normalise: Callable[[str], str],
) -> list[Finding]:
    """One code/name pair (``kind`` "bank" or "branch"): a name that is not the code's sends
    both to review (with the code the name points to, when only one does); a name without its
    code gets the code suggested."""
    if name and entry is not None and not _matches(name, entry, normalise):
        candidates = codes_for_name(name)
        only = len(candidates) == 1
        hint = Suggestion(value=candidates[0], reason=f"{kind}_code_from_name") if only else None
        return [
            Finding(f"{kind}_name_mismatch", Severity.REVIEW, hint, field=code_field),
            Finding(
                f"{kind}_name_mismatch",
                Severity.REVIEW,
                Suggestion(value=entry.name, reason=f"{kind}_name_from_code"),
                field=name_field,
            ),
        ]
    if name and not code:
        candidates = codes_for_name(name)
        if len(candidates) == 1:
            suggestion = Suggestion(value=candidates[0], reason=f"{kind}_code_from_name")
            return [Finding(f"{kind}_code_suggested", Severity.REVIEW, suggestion, field=code_field)]
    return []


@rule("bank_names")
def bank_names(
    ctx: ValidationContext,
    bank_field: str = "bank_code",
    bank_name_field: str = "bank_name",
    branch_field: str = "branch_code",
    branch_name_field: str = "branch_name",
) -> list[Finding]:
    """Codes and names agree when the form carries both; a name without its code gets the
    code suggested (and a bank code without its name, the name). Mismatch → review of both."""
    code, name = ctx.values.get(bank_field, ""), ctx.values.get(bank_name_field, "")
    entry = banks.bank(code) if code else None
    out = _code_name_findings(
        "bank", bank_field, bank_name_field, code, name, entry, bank_codes_for_name, normalise_bank_name
    )
    if name and not code:  # check the branch against the bank the name points to
        candidates = bank_codes_for_name(name)
        entry = banks.bank(candidates[0]) if len(candidates) == 1 else None
    elif not name and entry is not None and bank_name_field in ctx.values:
        suggestion = Suggestion(value=entry.name, reason="bank_name_from_code")
        out.append(Finding("bank_name_suggested", Severity.REVIEW, suggestion, field=bank_name_field))
    if entry is None:
        return out
    bank_code = entry.code
    bcode, bname = ctx.values.get(branch_field, ""), ctx.values.get(branch_name_field, "")
    return out + _code_name_findings(
        "branch",
        branch_field,
        branch_name_field,
        bcode,
        bname,
        banks.branch(bank_code, bcode) if bcode else None,
        lambda written: branch_codes_for_name(bank_code, written),
        normalise_branch_name,
    )
    bcode, bname = ctx.values.get(branch_field, ""), ctx.values.get(branch_name_field, "")
    branch = banks.branch(entry.code, bcode) if bcode else None
    if bname and branch is not None and not _matches(bname, branch, normalise_branch_name):
        candidates = branch_codes_for_name(entry.code, bname)
        hint = (
            Suggestion(value=candidates[0], reason="branch_code_from_name") if len(candidates) == 1 else None
        )
        out += [
            Finding("branch_name_mismatch", Severity.REVIEW, hint, field=branch_field),
            Finding(
                "branch_name_mismatch",
                Severity.REVIEW,
                Suggestion(value=branch.name, reason="branch_name_from_code"),
                field=branch_name_field,
            ),
        ]
    elif bname and not bcode:
        candidates = branch_codes_for_name(entry.code, bname)
        if len(candidates) == 1:
            out.append(
                Finding(
                    "branch_code_suggested",
                    Severity.REVIEW,
                    Suggestion(value=candidates[0], reason="branch_code_from_name"),
                    field=branch_field,
                )
            )
    return out


# -- banks and branches written as names (existing forms: 大阪信用金庫 / 住之江支店) -------------
NEAR_NAME_RATIO = 0.75  # how alike a misread name and a listed one must be to suggest it


def _near_names(written: str, entries: dict[str, banks.Entry], normalise) -> list[banks.Entry]:
    """Entries whose name is closest to ``written`` (one OCR slip or so away), best first."""
    from difflib import SequenceMatcher

    w = normalise(written)
    scored = []
    for e in entries.values():
        ratio = SequenceMatcher(None, w, _norm_name(e.name)).ratio()
        if ratio >= NEAR_NAME_RATIO:
            scored.append((ratio, e))
    scored.sort(key=lambda re_: re_[0], reverse=True)
    if len(scored) > 1 and scored[0][0] == scored[1][0]:
        return []  # two equally near: no suggestion
    return [e for _, e in scored[:1]]


def _bank_entries() -> dict[str, banks.Entry]:
    return banks.all_banks()


@validator("bank_name_known")
def bank_name_known(value: str, ctx: ValidationContext) -> list[Finding]:
    """A bank written by name is one bank of the Zengin list (its code is then known). A name
    not in the list is invalid, with the nearest listed name suggested when one is near; a name
    several banks share is ambiguous (review)."""
    if not value:
        return []
    codes = bank_codes_for_name(value)
    if len(codes) == 1:
        return []
    if len(codes) > 1:
        return [Finding("bank_name_ambiguous", Severity.REVIEW)]
    folded = everyday_forms(value)  # 台灣銀行 read for 台湾銀行: the list spells it the everyday way
    if folded != value and len(bank_codes_for_name(folded)) == 1:
        entry = banks.bank(bank_codes_for_name(folded)[0])
        hint = Suggestion(value=entry.name if entry else folded, reason="bank_name_everyday_form")
        return [Finding("bank_name_variant", Severity.REVIEW, hint)]
    near = _near_names(value, _bank_entries(), normalise_bank_name)
    hint = Suggestion(value=near[0].name, reason="bank_name_nearest") if near else None
    return [Finding("bank_name_unknown", Severity.INVALID, hint)]


@validator("branch_name_known")
def branch_name_known(value: str, ctx: ValidationContext, bank_field: str = "bank_name") -> list[Finding]:
    """A branch written by name is one branch of the bank named in ``bank_field`` (not checked
    while that bank is itself unknown or ambiguous: that field says so)."""
    if not value:
        return []
    codes = bank_codes_for_name(ctx.values.get(bank_field, ""))
    if len(codes) != 1:
        return []
    found = branch_codes_for_name(codes[0], value)
    if len(found) == 1:
        return []
    if len(found) > 1:
        return [Finding("branch_name_ambiguous", Severity.REVIEW)]
    folded = everyday_forms(value)
    if folded != value and len(branch_codes_for_name(codes[0], folded)) == 1:
        entry = banks.branch(codes[0], branch_codes_for_name(codes[0], folded)[0])
        hint = Suggestion(value=entry.name if entry else folded, reason="branch_name_everyday_form")
        return [Finding("branch_name_variant", Severity.REVIEW, hint)]
    near = _near_names(value, banks.branches(codes[0]), normalise_branch_name)
    hint = Suggestion(value=near[0].name, reason="branch_name_nearest") if near else None
    return [Finding("branch_name_unknown", Severity.INVALID, hint)]


def codes_for_names(bank_name: str, branch_name: str) -> tuple[str, str]:
    """(bank code, branch code) of a bank and branch written by name; "" where not exactly one."""
    bank_codes = bank_codes_for_name(bank_name) if bank_name else []
    if len(bank_codes) != 1:
        return "", ""
    branch_codes = branch_codes_for_name(bank_codes[0], branch_name) if branch_name else []
    return bank_codes[0], branch_codes[0] if len(branch_codes) == 1 else ""


def preload() -> None:
    """Load the bank list and its name index now."""
    _bank_names()
