"""Tick boxes (checkbox, choice, a date's calendar) decided by the share of ink inside them."""

from __future__ import annotations

import numpy as np

from yomitori.extract.crops import INK, box_px, crop, drop_out
from yomitori.forms.schema import Box

EMPTY_MAX = 0.03  # an empty box (after drop-out) has almost no ink
TICKED_MIN = 0.08  # a tick, cross or fill covers more
TICK_INSET_MM = 0.6  # keep clear of the printed box lines


def tick_ratio(page: np.ndarray, box: Box) -> float:
    """Share of ink pixels inside ``box`` on the aligned working page."""
    arr = drop_out(crop(page, box_px(box, TICK_INSET_MM)))
    return float(np.count_nonzero(arr < INK)) / max(1, arr.size)


def tick_confidence(ratio: float) -> float:
    """How clearly ``ratio`` is empty or ticked: 0.5 at the middle of the grey zone, 0.99 outside it."""
    mid = (EMPTY_MAX + TICKED_MIN) / 2
    half = (TICKED_MIN - EMPTY_MAX) / 2
    return round(min(0.99, 0.5 + 0.5 * min(1.0, abs(ratio - mid) / half)), 4)


def is_ticked(ratio: float) -> bool:
    return ratio >= (EMPTY_MAX + TICKED_MIN) / 2


def decide_checkbox(ratio: float) -> tuple[str, float]:
    """("true" | "false", confidence) for one checkbox."""
    return ("true" if is_ticked(ratio) else "false"), tick_confidence(ratio)


def decide_choice(ratios: list[tuple[str, float]]) -> tuple[str, float]:
    """(value, confidence) for a single choice: the ticked option; "" when none is ticked.
    Two ticked options give the stronger one with a low confidence, so a person decides."""
    ranked = sorted(ratios, key=lambda vr: vr[1], reverse=True)
    (best, r1), (_, r2) = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
    if not is_ticked(r1):
        return "", tick_confidence(r1)
    if is_ticked(r2):
        return best, 0.3
    return best, round(min(tick_confidence(r1), tick_confidence(r2)), 4)
