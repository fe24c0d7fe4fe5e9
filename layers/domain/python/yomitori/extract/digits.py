"""Digits read several ways and voted per character, with a shape check for 1 against 7.

Tesseract's readings of handwritten digits err differently with the model (``eng``/``jpn``),
the page-segmentation mode and the stroke width, so agreement between readings is a far
better confidence than one reading's own score. Where we know how many characters were
written (one per cell), only readings of that length take part. Handwritten ``7`` with a
short top bar is Tesseract's most common mistake left (read ``1``, often by every reading
at once); the top of the glyph settles it: a 7's bar spans about half the glyph's height,
a 1's flag a third or less.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from yomitori.extract.crops import INK, ink_bounds

UNANIMOUS = 0.97
SHORT_LINE = 4  # lines of fewer written characters are repeated (the LSTM wants context) ...
SHORT_LINE_MIN = 6  # ... to at least this many
NEAR_UNANIMOUS = 0.9  # all but one of >= 7 readings agree (measured: 173 of 173 right)
NEAR_SHARE = 0.8
NEAR_MIN_READINGS = 5
SPLIT_SHARE = 0.6  # a split vote: at most 0.6 x share of agreeing readings (below any threshold)
SHAPE_FIXED = 0.5  # the shape check overruled the readings: right more often than not, but a person looks
SHAPE_UNSURE = 0.6  # a 1 or 7 whose top is neither clearly flag nor bar
TOP_SHARE = 0.2  # the top fifth of the glyph holds a 7's bar
ONE_MAX_SPAN = 0.38  # width of the ink in that band / glyph height: 1s measured <= 0.33
SEVEN_MIN_SPAN = 0.43  # 7s measured >= 0.47 (synth Klee One and Seto, 200 and 300 dpi)


def vote(texts: Sequence[str], length: int | None = None, repeats: int = 1) -> tuple[str, list[float]] | None:
    """Character-wise majority of several readings, with a confidence per position.

    Only readings of ``length`` characters (when given; else the most common length) can be
    aligned; the others count as disagreeing everywhere. When the written characters were set
    ``repeats`` times on the line (short lines read badly), a reading must hold all copies and
    each copy votes. A position is UNANIMOUS when every copy agrees; with many readings,
    NEAR_UNANIMOUS when at most a fifth dissent or miss. None when fewer than two copies have
    the right length."""
    texts = [t.replace(" ", "") for t in texts]
    if length is None:
        lengths = Counter(len(t) for t in texts if t)
        if not lengths:
            return None
        length = max(lengths, key=lambda n: (lengths[n], n == len(texts[0])))
        repeats = 1
    copies = [t[i * length:(i + 1) * length] for t in texts if len(t) == length * repeats
              for i in range(repeats)]
    total = len(texts) * repeats
    if len(copies) < 2 and total > 1:
        return None
    out, confs = [], []
    for i in range(length):
        ch, agree = Counter(c[i] for c in copies).most_common(1)[0]
        out.append(ch)
        if agree == total:
            confs.append(UNANIMOUS)
        elif len(texts) >= NEAR_MIN_READINGS and agree >= NEAR_SHARE * total:
            confs.append(NEAR_UNANIMOUS)
        else:
            confs.append(SPLIT_SHARE * agree / total)
    return "".join(out), confs


def repeats_for(count: int) -> int:
    """How often ``count`` written characters are set on the line to be read."""
    return -(-SHORT_LINE_MIN // count) if 0 < count < SHORT_LINE else 1


def top_span(arr: np.ndarray) -> float | None:
    """Width of the ink in the top fifth of a glyph, as a share of the glyph's height."""
    b = ink_bounds(arr)
    if b is None:
        return None
    glyph = arr[b[1]:b[3], b[0]:b[2]] < INK
    h = glyph.shape[0]
    if h < 8:
        return None
    cols = np.flatnonzero(glyph[: max(1, round(h * TOP_SHARE))].any(axis=0))
    return float(cols[-1] - cols[0] + 1) / h


def one_or_seven(arr: np.ndarray) -> str | None:
    """"1" or "7" from the top of the glyph, None when the shape does not say clearly."""
    span = top_span(arr)
    if span is None:
        return None
    if span <= ONE_MAX_SPAN:
        return "1"
    if span >= SEVEN_MIN_SPAN:
        return "7"
    return None


def check_shapes(text: str, confs: list[float], glyphs: Sequence[np.ndarray]) -> tuple[str, list[float]]:
    """``text`` with every 1/7 checked against its glyph (``glyphs[i]`` is character i).

    A contradicted character is replaced and its confidence capped at SHAPE_FIXED (a person
    looks); an unclear shape caps it at SHAPE_UNSURE."""
    if len(glyphs) != len(text):
        return text, confs
    chars, confs = list(text), list(confs)
    for i, ch in enumerate(chars):
        if ch not in "17":
            continue
        shape = one_or_seven(glyphs[i])
        if shape is None:
            confs[i] = min(confs[i], SHAPE_UNSURE)
        elif shape != ch:
            chars[i], confs[i] = shape, min(confs[i], SHAPE_FIXED)
    return "".join(chars), confs
