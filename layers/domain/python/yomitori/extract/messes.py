"""Messes on real paper that extraction must not read wrong silently.

A correction — the old value struck through with one or two lines, the right one written
beside it (sometimes with a small 訂正印, which is red and drops out) — is found by its long
horizontal stroke. The struck part is erased before the field is read, so only the new value
is read and old and new are never joined; the field still goes to a person with the reason
``correction_mark`` (訂正あり), who sees the scan. An era's first year written 元 in the
year's cells is read as 元 (digit readers cannot). Runs in Lambda and on one machine.
"""

from __future__ import annotations

import cv2
import numpy as np

from yomitori.extract.crops import INK, box_px, crop, drop_out, field_crop, has_writing
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import Box, FieldDef, FieldType
from yomitori.ocr.engine import FieldHint
from yomitori.results import CORRECTION_MARK, SCANNER_STREAK, FieldResult

CORRECTION_CONFIDENCE = 0.5  # below every type's threshold: a person confirms the new value
# A strike-through runs across at least two written characters; the longest stroke inside one
# handwritten character (一, ー, the bars of 三) is about one character wide, and characters
# are written at 0.55-0.7 of the box height.
STRIKE_MIN_BOX_HEIGHTS = 1.3
STRIKE_WOBBLE_MM = 0.35  # a hand-drawn line wanders up and down this much
STRIKE_PAD_MM = 1.0  # struck characters reach a little beyond the line's ends
INSET_MM = 0.5
LINE_TYPES = (FieldType.TEXT, FieldType.KANA, FieldType.DIGITS)
GAN_CELL_INSET_MM = 0.7


def find_strikes(arr: np.ndarray, box_height_px: float, dpi: int = 300) -> list[tuple[int, int]]:
    """Column spans (left, right) of strike-through lines in a dropped-out line crop: runs of
    ink at least STRIKE_MIN_BOX_HEIGHTS box heights long, allowing a hand's wobble."""
    mask = (arr < INK).astype(np.uint8)
    if not mask.any():
        return []
    wobble = max(1, round(mm_to_px(STRIKE_WOBBLE_MM, dpi)))
    band = cv2.dilate(mask, np.ones((2 * wobble + 1, 1), np.uint8))
    length = max(2, round(STRIKE_MIN_BOX_HEIGHTS * box_height_px))
    long_runs = cv2.morphologyEx(band, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
    cols = long_runs.any(axis=0)
    spans, x, n = [], 0, cols.size
    while x < n:
        if not cols[x]:
            x += 1
            continue
        start = x
        while x < n and cols[x]:
            x += 1
        spans.append((start, x))
    return spans


def erase_correction(page: np.ndarray, f: FieldDef, dpi: int = 300) -> bool:
    """Whether the line field ``f`` holds a struck-through correction; if so the struck part is
    made white on ``page`` (the aligned working page, changed in place inside this field's box
    only), so the reader sees just the new value."""
    if f.cells or f.type not in LINE_TYPES:
        return False
    x0, y0, x1, y1 = box_px(f.box, INSET_MM, dpi)
    arr = drop_out(crop(page, (x0, y0, x1, y1)))
    spans = find_strikes(arr, mm_to_px(f.box.h, dpi), dpi)
    if not spans:
        return False
    if page.flags.writeable:
        pad = round(mm_to_px(STRIKE_PAD_MM, dpi))
        for left, right in spans:
            a, b = max(0, x0) + max(0, left - pad), max(0, x0) + right + pad
            page[max(0, y0):y1, a:min(b, max(0, x0) + arr.shape[1])] = 255
    return True


def flag_correction(result: FieldResult) -> FieldResult:
    """``result`` sent to a person with the reason 訂正あり."""
    return _flag(result, CORRECTION_MARK)


def flag_streak(result: FieldResult) -> FieldResult:
    """``result`` sent to a person with the reason スキャナの筋 (a removed streak crossed it)."""
    return _flag(result, SCANNER_STREAK)


def _flag(result: FieldResult, reason: str) -> FieldResult:
    result.confidence = min(result.confidence, CORRECTION_CONFIDENCE)
    if reason not in result.reasons:
        result.reasons.append(reason)
    return result


GAN = "元"  # an era's first year, as people write it (令和元年)
GAN_CHARSET = GAN + "0123456789"


def read_gan(reader, page: np.ndarray, cells: list[Box], name: str) -> tuple[str, float] | None:
    """("元", confidence) when the one written cell of an era year the digit reader could not
    read holds 元 (digit readers cannot read it); None otherwise."""
    written = [c for c in cells if has_writing(field_crop(page, c, GAN_CELL_INSET_MM))]
    if len(written) != 1:
        return None
    text, conf = reader.read_cells(written, FieldHint(field_type="text", charset=GAN_CHARSET,
                                                      single_char=True, name=name))
    return (GAN, conf) if text.strip() == GAN else None
