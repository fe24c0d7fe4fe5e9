"""Text normalisation shared by extraction, validators and evaluation.

Japanese forms mix full-width and half-width forms: digits and Latin letters become
half-width, katakana becomes full-width, spaces are folded. Runs everywhere.
"""

from __future__ import annotations

import re
import unicodedata

import jaconv

_SPACES = re.compile(r"[\s\u3000]+")
_HYPHENS = re.compile(r"[\u2010-\u2015\u2212\u30fc\uff0d\u2500\ufe63\u207b\u208b-]")


def fold_width(text: str) -> str:
    """Full-width ASCII to half-width, half-width katakana to full-width."""
    text = jaconv.h2z(text, kana=True, ascii=False, digit=False)
    return jaconv.z2h(text, kana=False, ascii=True, digit=True)


def normalise_text(text: str) -> str:
    """Width-folded, NFC, with runs of white space collapsed to one space and trimmed."""
    text = unicodedata.normalize("NFC", fold_width(text))
    return _SPACES.sub(" ", text).strip()


def normalise_digits(text: str, keep: str = "") -> str:
    """Only the digits (plus the characters in ``keep``, e.g. "-"), width-folded. Dashes of any
    kind count as "-" when "-" is kept."""
    text = fold_width(text)
    if "-" in keep:
        text = _HYPHENS.sub("-", text)
    return "".join(ch for ch in text if ch.isdigit() or ch in keep)


def normalise_kana(text: str) -> str:
    """Full-width katakana with hiragana turned into katakana; spaces kept as single spaces."""
    text = jaconv.hira2kata(normalise_text(text))
    return text.replace("ｰ", "ー")


def normalise_value(field_type: str, text: str, charset: str | None = None) -> str:
    """The normalised form of a value of ``field_type`` (how results and truth are compared)."""
    if field_type == "digits":
        keep = "".join(ch for ch in (charset or "") if not ch.isdigit())
        return normalise_digits(text, keep)
    if field_type == "kana":
        return normalise_kana(text).replace(" ", "\u3000")
    if field_type in ("text",):
        return normalise_text(text)
    return text.strip()
