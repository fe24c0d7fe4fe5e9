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


@lru_cache(maxsize=4096)
def _initials(ch: str) -> frozenset[str]:
    """First kana (voicing kept) of every reading of the words that start with ``ch``."""
    table = _kanwa().load(ch) or {}
    return frozenset(fold_kana(r)[:1] for readings in table.values() for r, _ in readings if fold_kana(r))


def initials_agree(name: str, kana: str) -> bool:
    """Whether each part's first kana has the voicing its name part can start with. Voicing is
    folded elsewhere for rendaku (中島 ナカジマ), which never happens at the start of a word, so
    there a dakuten the reader added or lost (タクヤ read ダクヤ) is a misreading. Parts pair by
    their spaces; without a pairing, or for an initial the dictionary does not know, True."""
    names, kanas = name.split(), kana.split()
    if len(names) != len(kanas):
        return True
    for n, k in zip(names, kanas, strict=True):
        first, initial = n[:1], fold_kana(k)[:1]
        if not first or not initial:
            continue
        is_kana = "\u3040" <= first <= "\u30ff"
        allowed = {fold_kana(first)[:1]} if is_kana else set(_initials(first))
        if allowed and initial not in allowed and fold_kana(initial, voicing=True) in {
            fold_kana(a, voicing=True) for a in allowed
        }:
            return False
    return True


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
    if not n or not k or (plausible_reading(n, k) and initials_agree(n, k)):
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


def spaced_like(unspaced: str, spaced: str, *, unspaced_is_kana: bool) -> str | None:
    """``unspaced`` (a name or its reading written without the space between family and given
    name) with the space where ``spaced`` (the other of the two, with one space) puts it: the
    one cut at which both halves read as each other. None when there is no such single cut."""
    parts = spaced.split()
    if len(parts) != 2 or " " in unspaced or "\u3000" in unspaced or len(unspaced) < 2:
        return None
    cuts = []
    for i in range(1, len(unspaced)):
        left, right = unspaced[:i], unspaced[i:]
        if unspaced_is_kana:
            ok = plausible_reading(parts[0], left) and plausible_reading(parts[1], right)
        else:
            ok = plausible_reading(left, parts[0]) and plausible_reading(right, parts[1])
        if ok:
            cuts.append(i)
    if len(cuts) != 1:
        return None
    gap = "\u3000" if unspaced_is_kana else " "
    return unspaced[:cuts[0]] + gap + unspaced[cuts[0]:]


def align_name_spaces(values: dict[str, str], name: str = "name",
                      reading: str = "name_kana") -> dict[str, str]:
    """New values for a name and its reading where one lost the space between family and
    given name on paper (a narrow gap) and the other has it: ``{field: value}``, maybe empty."""
    n, k = values.get(name, ""), values.get(reading, "")
    if not n or not k:
        return {}
    if len(k.split()) == 2 and len(n.split()) == 1:
        fixed = spaced_like(n, k.replace("\u3000", " "), unspaced_is_kana=False)
        return {name: fixed} if fixed else {}
    if len(n.split()) == 2 and len(k.split()) == 1:
        fixed = spaced_like(k, n, unspaced_is_kana=True)
        return {reading: fixed} if fixed else {}
    return {}


def holder_spaced_like_reading(holder: str, reading: str) -> str | None:
    """The account holder (口座名義) spaced as the applicant's reading when the two are the same
    kana and only the holder lost its space; else None."""
    def squeeze(text: str) -> str:
        return "".join(text.split())

    if not holder or len(reading.split()) != 2 or len(holder.split()) != 1:
        return None
    return reading if squeeze(holder) == squeeze(reading) else None
