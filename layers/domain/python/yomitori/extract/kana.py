"""Small kana that Japanese spelling does not allow where they were read, made full size.

Handwritten small and full-size kana differ only in size, which Tesseract judges poorly on a
line of jittered handwriting (ユ read as ュ). Where a small kana cannot stand — ャュョ only
after an i-row kana, ァィゥェォ only after the kana they combine with, ッ never at the start
or end of a word, nor before a vowel, n, m, y, r or w sound — it must be the full-size one.
"""

from __future__ import annotations

_SMALL_Y = {"ャ": "ヤ", "ュ": "ユ", "ョ": "ヨ"}
_SMALL_V = {"ァ": "ア", "ィ": "イ", "ゥ": "ウ", "ェ": "エ", "ォ": "オ"}
_RARE = {"ヵ": "カ", "ヶ": "ケ", "ヮ": "ワ"}  # not used in readings of names
# Kana a small ャュョ may follow (キャ, シュ, チョ, ... and デュ, フュ, ヴュ in loanwords).
_BEFORE_Y = set("キシチニヒミリギジヂビピテデフヴ")
# Kana a small ァィゥェォ may follow (ファ, ティ, ウィ, シェ, トゥ, クォ, ...).
_BEFORE_V = set("ウクグシジチツテデトドフヴスズヒビピミリキギニイ")
# After ッ: a vowel, n, m, y, r or w sound cannot be doubled.
_NOT_AFTER_SOKUON = set("アイウエオナニヌネノマミムメモヤユヨラリルレロワヲンーッ")


def fix_small_kana(text: str) -> str:
    """``text`` with impossible small kana replaced by full-size ones (word by word).

    Hiragana (a reading written in hiragana in a フリガナ box) is turned into katakana first.
    A small ッ is judged against the character after it as that one is finally spelt
    (テッャ: ャ cannot follow ッ, so it is ヤ, and ッ cannot stand before ヤ: テツヤ)."""
    text = hira_to_kata(text)
    out = []
    for ch in text:
        prev = out[-1] if out and out[-1] not in " \u3000" else ""
        if ch in _RARE:
            ch = _RARE[ch]
        elif ch in _SMALL_Y and prev not in _BEFORE_Y:
            ch = _SMALL_Y[ch]
        elif ch in _SMALL_V and prev not in _BEFORE_V:
            ch = _SMALL_V[ch]
        out.append(ch)
    # ッ last, right to left, so each one sees the fixed character after it.
    for i in range(len(out) - 1, -1, -1):
        if out[i] != "ッ":
            continue
        prev = out[i - 1] if i > 0 and out[i - 1] not in " \u3000" else ""
        nxt = out[i + 1] if i + 1 < len(out) and out[i + 1] not in " \u3000" else ""
        if not prev or not nxt or nxt in _NOT_AFTER_SOKUON:
            out[i] = "ツ"
    return "".join(out)


def hira_to_kata(text: str) -> str:
    """Hiragana (ぁ..ゖ, ゝゞ) as katakana; everything else unchanged."""
    return "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" or c in "ゝゞ" else c for c in text)
