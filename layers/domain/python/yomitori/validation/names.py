"""Names and their readings: is the フリガナ a plausible reading of the 氏名, and does the
account holder (口座名義) agree with it. Lenient by design (rare names exist): a mismatch is
``needs_review``, never ``invalid``. Runs in Lambda and on one machine.

Readings come from pykakasi's kanwa dictionary, which lists several readings per word and per
kanji; the reading is plausible when the kana can be cut into readings of consecutive parts of
the name (with voicing, small kana and long vowels folded, so ナカジマ/ナカシマ both pass).
"""

from __future__ import annotations

import unicodedata
from functools import cache, lru_cache

import jaconv

from yomitori.validation.registry import Finding, Severity, ValidationContext, rule, validator
from yomitori.variants import variants_in

_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_VOICED = str.maketrans("ヂヅ", "ジズ")
_SKIP = set(" \u3000・ー-")


def fold_kana(text: str, *, voicing: bool = False) -> str:
    """Katakana for comparison: NFKC, hiragana as katakana, small kana as large, no spaces,
    dots or long vowel marks; with ``voicing`` also dakuten/handakuten removed and ヲ as オ."""
    text = jaconv.hira2kata(unicodedata.normalize("NFKC", text))
    text = "".join(ch for ch in text if ch not in _SKIP).translate(_SMALL)
    if voicing:
        text = text.translate(_VOICED).replace("ヲ", "オ")
        text = unicodedata.normalize(
            "NFC", "".join(ch for ch in unicodedata.normalize("NFD", text) if ch not in "\u3099\u309a")
        )
    return text


@lru_cache(maxsize=1)
def _kanwa():
    from pykakasi.kanji import Kanwa  # loads a pickled dictionary (~0.3 s): only when needed

    return Kanwa()


@lru_cache(maxsize=4096)
def _entries(ch: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    table = _kanwa().load(ch) or {}
    return tuple(
        (word, tuple(dict.fromkeys(fold_kana(r, voicing=True) for r, _ in readings)))
        for word, readings in table.items()
    )


def plausible_reading(name: str, kana: str) -> bool:
    """True when ``kana`` can be read as ``name`` (kanji and kana mixed, spaces ignored)."""
    name = "".join(ch for ch in unicodedata.normalize("NFKC", name) if not ch.isspace())
    target = fold_kana(kana, voicing=True)
    if not name or not target:
        return False

    @cache
    def can(i: int, j: int) -> bool:
        if i == len(name):
            return j == len(target)
        ch = name[i]
        if ch == "々" and i > 0:
            ch = name[i - 1]  # 佐々木: the iteration mark reads like the kanji before it
        if "\u3040" <= ch <= "\u30ff":  # kana in the name read as themselves
            folded = fold_kana(ch, voicing=True)
            return (not folded and can(i + 1, j)) or (
                bool(folded) and target.startswith(folded, j) and can(i + 1, j + len(folded))
            )
        rest = ch + name[i + 1 :]
        for word, readings in _entries(ch):
            if not rest.startswith(word):
                continue
            for r in readings:
                if r and target.startswith(r, j) and can(i + len(word), j + len(r)):
                    return True
        return False

    return can(0, 0)


@rule("name_reading")
def name_reading(ctx: ValidationContext, name: str = "name", reading: str = "name_kana") -> list[Finding]:
    """The フリガナ is a plausible reading of the 氏名; otherwise both go to review (either may
    be misread)."""
    n, k = ctx.values.get(name, ""), ctx.values.get(reading, "")
    if not n or not k or plausible_reading(n, k):
        return []
    return [
        Finding("name_reading_mismatch", Severity.REVIEW, field=reading),
        Finding("name_reading_mismatch", Severity.REVIEW, field=name),
    ]


@rule("account_holder_reading")
def account_holder_reading(
    ctx: ValidationContext, holder: str = "account_holder", reading: str = "name_kana"
) -> list[Finding]:
    """The 口座名義 (katakana) spells the applicant's reading (small kana, spaces and long
    vowel marks ignored, as banks register names). Another person's account is possible, so
    a mismatch goes to review."""
    h, k = ctx.values.get(holder, ""), ctx.values.get(reading, "")
    if not h or not k or fold_kana(h) == fold_kana(k):
        return []
    return [
        Finding("account_holder_mismatch", Severity.REVIEW, field=holder),
        Finding("account_holder_mismatch", Severity.REVIEW, field=reading),
    ]


@validator("person_name")
def person_name(value: str, ctx: ValidationContext) -> list[Finding]:
    """A name holding an old or variant kanji (榮, 髙, 﨑, 惠 ...) goes to a person: people do
    write their names so, and the reader also answers with old forms for everyday ones, so
    only a person can tell which it is. A name is never "modernised" silently."""
    if variants_in(value):
        return [Finding("kanji_variant", Severity.REVIEW)]
    return []


def preload() -> None:
    """Load the reading dictionary now (about 0.6 s), so no request pays for it."""
    _kanwa()
