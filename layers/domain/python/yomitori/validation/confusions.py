"""Characters OCR (and hurried handwriting) mistake for each other. Used to suggest the code
a misread one most likely was, and by :mod:`yomitori.validation.inject` to fake misreads."""

from __future__ import annotations

DIGIT_PAIRS = (("0", "6"), ("0", "8"), ("6", "8"), ("1", "7"), ("3", "8"), ("5", "6"), ("4", "9"), ("2", "7"))
KANA_PAIRS = (("ソ", "ン"), ("シ", "ツ"), ("ク", "タ"), ("ワ", "ウ"), ("チ", "テ"), ("ー", "一"))
KANJI_PAIRS = (("日", "目"), ("口", "ロ"), ("土", "士"), ("末", "未"), ("人", "入"), ("丁", "了"))


def _neighbours(pairs: tuple[tuple[str, str], ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a, b in pairs:
        out[a] = out.get(a, "") + b
        out[b] = out.get(b, "") + a
    return out


DIGIT_NEIGHBOURS = _neighbours(DIGIT_PAIRS)
CHAR_NEIGHBOURS = _neighbours(DIGIT_PAIRS + KANA_PAIRS + KANJI_PAIRS)


def one_confusion_away(code: str) -> list[str]:
    """Every string that differs from ``code`` by one digit confusion (0↔6↔8, 1↔7, ...)."""
    out = []
    for i, ch in enumerate(code):
        for alt in DIGIT_NEIGHBOURS.get(ch, ""):
            out.append(code[:i] + alt + code[i + 1 :])
    return out
