"""Field crops from an aligned page, with the drop-out colour removed.

Boxes and cell lines print in a pale red that a greyscale scan turns into light grey (about
170 of 255); handwriting is near black. Everything lighter than ``DROPOUT_CUT`` becomes white,
and crops are taken a little inside the printed lines, so only the writing reaches the engine.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from yomitori.extract.align import WORK_DPI
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import Box

DROPOUT_CUT = 145  # lighter than this is paper or drop-out print
INK = 128
MIN_INK_MM2 = 0.4  # this much ink is writing whatever its shape
# A blob smaller than this both ways is a speck (dust, toner) unless it sits by a stroke (a
# dakuten, the dots of 氵); a stroke this long is writing however thin (a handwritten 1 can
# have as little as 25 ink pixels at 300 dpi).
SPECK_MAX_MM = 0.8
SPECK_ISOLATION_MM = 1.5
DUST_MAX_MM = 1.6  # a round, solid blob up to this size standing apart is dust too
DUST_MIN_FILL = 0.6  # share of its bounding box it fills (a disc fills ~0.78, 。 or 、 far less)
DUST_MAX_ASPECT = 1.6
STROKE_MIN_MM = 1.2
STROKE_MIN_PX = 12
PAD_PX = 14


def box_px(box: Box, inset_mm: float = 0.0, dpi: int = WORK_DPI) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of ``box`` on the working page, shrunk by ``inset_mm``."""
    return (round(mm_to_px(box.x + inset_mm, dpi)), round(mm_to_px(box.y + inset_mm, dpi)),
            round(mm_to_px(box.right - inset_mm, dpi)), round(mm_to_px(box.bottom - inset_mm, dpi)))


def crop(page: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    h, w = page.shape
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(w, box[2]), min(h, box[3])
    return page[y0:y1, x0:x1]


def drop_out(arr: np.ndarray) -> np.ndarray:
    """A copy with the drop-out print (and paper noise) turned white."""
    out = arr.copy()
    out[out >= DROPOUT_CUT] = 255
    return out


def ink_pixels(arr: np.ndarray) -> int:
    return int(np.count_nonzero(arr < INK))


def min_ink_pixels(dpi: int = WORK_DPI) -> int:
    return round(MIN_INK_MM2 * mm_to_px(1.0, dpi) ** 2)


def _blobs(arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Labels and stats (cv2 layout) of the connected non-white blobs of a dropped-out crop."""
    mask = (arr < DROPOUT_CUT).astype(np.uint8)
    _, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    return labels, stats


def has_writing(arr: np.ndarray, dpi: int = WORK_DPI) -> bool:
    """Whether a dropped-out crop holds writing: enough ink, or a thin stroke long enough not
    to be a speck (a handwritten 1 is thin but tall)."""
    ink = ink_pixels(arr)
    if ink >= min_ink_pixels(dpi):
        return True
    if ink < STROKE_MIN_PX or arr.size == 0:
        return False
    _, stats = _blobs(arr)
    longest = max((max(int(w), int(h)) for _, _, w, h, _ in stats[1:]), default=0)
    return longest >= mm_to_px(STROKE_MIN_MM, dpi)


def clean_specks(arr: np.ndarray, dpi: int = WORK_DPI) -> np.ndarray:
    """``arr`` (dropped out) with specks that stand apart from any stroke turned white.

    Dust inside a text box otherwise becomes a phantom character (。 - 画) or stretches the
    line's ink box. A speck is a blob under 0.8 mm, or a round solid one under 1.6 mm. Specks
    near a stroke are kept: dakuten and the dots of characters."""
    if arr.size == 0 or not (arr < DROPOUT_CUT).any():
        return arr
    labels, stats = _blobs(arr)
    small, dust = mm_to_px(SPECK_MAX_MM, dpi), mm_to_px(DUST_MAX_MM, dpi)
    w, h = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    fill = stats[1:, cv2.CC_STAT_AREA] / np.maximum(1, w * h)
    is_speck = np.zeros(len(stats), bool)
    # tiny blobs, and larger ones that are round and solid like dust (written dots and marks
    # of that size are strokes: open, or long one way)
    round_ = np.maximum(w, h) <= DUST_MAX_ASPECT * np.minimum(w, h)
    is_speck[1:] = ((w < small) & (h < small)) | ((w < dust) & (h < dust) & (fill >= DUST_MIN_FILL) & round_)
    if not is_speck.any():
        return arr
    strokes = (~is_speck[labels]) & (labels > 0)
    reach = max(1, round(mm_to_px(SPECK_ISOLATION_MM, dpi)))
    near = cv2.dilate(strokes.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    touching = np.unique(labels[near & is_speck[labels]])
    drop = is_speck.copy()
    drop[touching] = False
    out = arr.copy()
    out[drop[labels]] = 255
    return out


FAINT_MAX = 205  # strokes between the drop-out cut and this are faint writing (pencil) ...
FAINT_MIN_SHARE = 0.015  # ... when they cover this share of a field, away from its printed edges
FAINT_EDGE_MM = 1.0


def faint_writing(raw: np.ndarray, dpi: int = WORK_DPI) -> bool:
    """Whether a field's raw crop (before drop-out) holds faint strokes the drop-out cut would
    remove: pencil, or a pen running dry. Such a field is not "empty for sure"."""
    edge = round(mm_to_px(FAINT_EDGE_MM, dpi))
    inner = raw[edge:-edge, edge:-edge] if min(raw.shape) > 3 * edge else raw
    if inner.size == 0:
        return False
    faint = np.count_nonzero((inner >= DROPOUT_CUT) & (inner < FAINT_MAX))
    return faint >= FAINT_MIN_SHARE * inner.size


def darken_faint(raw: np.ndarray) -> np.ndarray:
    """A raw crop with its faint strokes (up to ``FAINT_MAX``) made as dark as pen ink and the
    paper white, so a pencil entry can be read (and then checked by a person)."""
    lut = np.where(np.arange(256) < FAINT_MAX, np.arange(256) * 0.55, 255).astype(np.uint8)
    return cv2.LUT(raw, lut)


def field_crop(page: np.ndarray, box: Box, inset_mm: float) -> np.ndarray:
    """The dropped-out crop of ``box`` (shrunk by ``inset_mm``) with isolated specks removed:
    what a field's reader should see."""
    return clean_specks(drop_out(crop(page, box_px(box, inset_mm))))


def ink_bounds(arr: np.ndarray) -> tuple[int, int, int, int] | None:
    """The bounding box of ink in ``arr`` (left, top, right, bottom), or None."""
    mask = arr < INK
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def to_ocr_image(arr: np.ndarray, *, pad: int = PAD_PX, max_height: int | None = None,
                 min_height: int | None = None) -> Image.Image:
    """Tight crop around the ink, resized into Tesseract's comfortable range, on a white margin."""
    bounds = ink_bounds(arr)
    if bounds is not None:
        x0, y0, x1, y1 = bounds
        arr = arr[y0:y1, x0:x1]
    img = Image.fromarray(arr)
    h = img.height
    if max_height and h > max_height:
        img = img.resize((max(1, round(img.width * max_height / h)), max_height), Image.LANCZOS)
    elif min_height and h < min_height:
        img = img.resize((max(1, round(img.width * min_height / h)), min_height), Image.LANCZOS)
    canvas = Image.new("L", (img.width + 2 * pad, img.height + 2 * pad), 255)
    canvas.paste(img, (pad, pad))
    return canvas


def split_at_gaps(arr: np.ndarray, min_gap: float = 1.0) -> list[np.ndarray]:
    """Pieces of a line crop separated by white gaps at least ``min_gap`` times the line's ink
    height wide: the spaces a writer leaves (e.g. between family and given name). Gaps inside
    and between characters are narrower. Each piece is cut to its own ink columns."""
    bounds = ink_bounds(arr)
    if bounds is None:
        return []
    x0, y0, x1, y1 = bounds
    line = arr[y0:y1, x0:x1]
    cols = (line < INK).any(axis=0)
    wide = max(2, round(min_gap * line.shape[0]))
    pieces, start, x = [], 0, 0
    n = cols.size
    while x < n:
        if cols[x]:
            x += 1
            continue
        gap_start = x
        while x < n and not cols[x]:
            x += 1
        if x - gap_start >= wide and x < n:
            pieces.append(line[:, start:gap_start])
            start = x
    pieces.append(line[:, start:])
    # A piece with no writing (a speck, a stray dot) would be read as 。 or - or as nothing
    # with no confidence; it is not part of the line.
    kept = [p for p in pieces if has_writing(p)]
    return kept or pieces
