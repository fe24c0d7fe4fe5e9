"""Scanner artefacts cleaned from an aligned page before any field is read: grey levels of a
scan made too light or too dark, and the long straight streaks a dirty scanner glass draws
along the feed. Runs in Lambda and on one machine.
"""

from __future__ import annotations

import cv2
import numpy as np

from yomitori.extract.crops import DROPOUT_CUT
from yomitori.forms.layout import mm_to_px

# A scan whose darkest ink is lighter than this, or whose paper is darker than PAPER_MIN, was
# scanned too light or too dark; its grey levels are stretched back before any field is read
# (the drop-out cut and the ink threshold assume black ink on white paper).
INK_MAX_BLACK = 60
PAPER_MIN = 225
TARGET_BLACK, TARGET_PAPER = 15, 245


def normalise_levels(page: np.ndarray) -> np.ndarray:
    """``page`` (a scan, before alignment) with its black (the darkest 0.05 %: the corner marks
    alone cover 0.2 % of a page, so even a sparse page has that much black) and its paper (the
    90th percentile) moved to nominal levels, when a scanner setting left them far off: faint
    writing otherwise falls under the drop-out cut and vanishes, and faint marks are not
    found. Pages with normal levels are returned unchanged."""
    sample = page[::4, ::4]
    black, paper = np.percentile(sample, (0.05, 90))
    if (black <= INK_MAX_BLACK and paper >= PAPER_MIN) or paper - black < 40:
        return page
    scale = (TARGET_PAPER - TARGET_BLACK) / (paper - black)
    lut = np.clip((np.arange(256, dtype=np.float32) - black) * scale + TARGET_BLACK, 0, 255).astype(np.uint8)
    return cv2.LUT(page, lut)


STREAK_MIN_SHARE = 0.4  # a vertical line this long (of the page's height, ~12 cm) is no writing
STREAK_MAX_ANGLE = 6.0  # degrees off vertical (the page was turned by alignment)
STREAK_MAX_WIDTH_MM = 0.8
# Lines are found on the page squashed 16 times in height: fast, and a vertical line averaged
# along itself stays as dark as it was.
SQUASH = 16


def remove_streaks(page: np.ndarray, dpi: int) -> tuple[np.ndarray, np.ndarray | None]:
    """``page`` with long straight dark vertical lines turned white: an automatic document
    feeder with dust on its glass draws one down the whole sheet, and across a row of digit
    cells it reads as a 1 in every cell. yomitori's forms print nothing dark and long (boxes
    are in drop-out colour) and no field is 12 cm tall, so such a line is never the form or
    the writing; a stroke crossing it loses the streak's width, so the fields a streak crossed
    go to a person (:func:`streak_crosses`). Horizontal lines are left alone: a correction's
    strike-through must stay for the reader to see it. Returns the page and the mask of the
    pixels turned white (None when there was no streak)."""
    h, w = page.shape
    squashed = cv2.resize(page, (w, max(1, h // SQUASH)), interpolation=cv2.INTER_AREA)
    mask = (squashed < DROPOUT_CUT).astype(np.uint8)
    min_len = round(STREAK_MIN_SHARE * mask.shape[0])
    lines = cv2.HoughLinesP(mask, 1, np.pi / 720, threshold=min_len // 2, minLineLength=min_len, maxLineGap=3)
    if lines is None:
        return page, None
    slope_max = np.tan(np.radians(STREAK_MAX_ANGLE))
    erase = np.zeros(page.shape, np.uint8)
    width = max(3, round(mm_to_px(STREAK_MAX_WIDTH_MM, dpi)))
    for x0, y0, x1, y1 in lines.reshape(-1, 4):  # (N, 1, 4) or (N, 4) by OpenCV version
        if y0 == y1:
            continue
        slope = (x1 - x0) / ((y1 - y0) * SQUASH)  # x per full-size row
        if abs(slope) > slope_max:
            continue  # not vertical: not a scanner streak
        # a streak runs the whole sheet: erase it from top to bottom, gaps included
        top = x0 - slope * y0 * SQUASH
        cv2.line(erase, (round(top), 0), (round(top + slope * h), h), 1, width)
    removed = (erase > 0) & (page < DROPOUT_CUT)
    if not removed.any():
        return page, None
    out = page.copy()
    out[removed] = 255
    return out, removed


def streak_crosses(page: np.ndarray, removed: np.ndarray | None, box: tuple[int, int, int, int]) -> bool:
    """Whether a removed streak ran through writing inside ``box`` (working-page pixels of the
    cleaned ``page``): ink right beside the removed pixels means a stroke lost a piece."""
    if removed is None:
        return False
    x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), box[2], box[3]
    cut = removed[y0:y1, x0:x1].astype(np.uint8)
    if not cut.any():
        return False
    beside = cv2.dilate(cut, np.ones((1, 5), np.uint8)) > 0
    return bool((beside & (page[y0:y1, x0:x1] < DROPOUT_CUT)).any())
