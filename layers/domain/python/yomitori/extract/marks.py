"""Marks as people make them on Japanese forms: a tick, a filled box, a cross or a scribble in
the box, or a circle drawn around the box or around its printed label (○ around 普通, around
令和 in a date's calendar row — the most common mark of all).

Each option gets a mark level in 0..1 from two kinds of evidence: the share of ink inside its
box (:func:`yomitori.extract.checkbox.tick_ratio`) and the ink drawn around the box and the
label, outside the printed label itself. Ink around several options goes to the nearest one,
so a circle around one label does not mark its neighbour. Runs in Lambda and on one machine.
"""

from __future__ import annotations

import cv2
import numpy as np

from yomitori.extract.align import WORK_DPI
from yomitori.extract.checkbox import EMPTY_MAX, TICK_INSET_MM, TICKED_MIN, tick_ratio
from yomitori.extract.crops import DROPOUT_CUT, crop, drop_out
from yomitori.forms.layout import MarkTarget, mark_targets, mm_to_px
from yomitori.forms.schema import Box, FieldDef

REACH_MM = 3.0  # a circle around a box or label runs within this distance of it
LABEL_MARGIN_MM = 0.35  # printed label ink (plus alignment slack) is not a mark
# Ink drawn around an option, in mm² of pen trace. Measured on 430 heavy synth choices and
# dates: circles around a label or a box left >= 4.7 mm², options not marked <= 0.22 (specks,
# label print past the margin).
AROUND_EMPTY_MM2 = 1.0
AROUND_MARKED_MM2 = 3.0
TWO_MARKED_CONFIDENCE = 0.3
MAX_CONFIDENCE = 0.99


def _level(x: float, empty: float, marked: float) -> float:
    return float(min(1.0, max(0.0, (x - empty) / (marked - empty))))


def _px_rect(box: Box, origin: tuple[int, int], grow_mm: float = 0.0, dpi: int = WORK_DPI) -> np.ndarray:
    x0, y0 = origin
    return np.array([mm_to_px(box.x - grow_mm, dpi) - x0, mm_to_px(box.y - grow_mm, dpi) - y0,
                     mm_to_px(box.right + grow_mm, dpi) - x0, mm_to_px(box.bottom + grow_mm, dpi) - y0])


def _distance(rect: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    dx = np.maximum(np.maximum(rect[0] - xs, 0), xs - rect[2])
    dy = np.maximum(np.maximum(rect[1] - ys, 0), ys - rect[3])
    return np.hypot(dx, dy)


def around_ink_mm2(page: np.ndarray, targets: list[MarkTarget], dpi: int = WORK_DPI) -> list[float]:
    """Ink (mm²) drawn around each target — within REACH_MM of its box or label, nearer to it
    than to any other target, outside its box's inside (measured by tick_ratio) and outside
    every printed label."""
    if not targets:
        return []
    cores = [t.box if t.label is None else _union(t.box, t.label) for t in targets]
    area = _union(*cores)
    x0, y0 = round(mm_to_px(area.x - REACH_MM, dpi)), round(mm_to_px(area.y - REACH_MM, dpi))
    x1, y1 = round(mm_to_px(area.right + REACH_MM, dpi)), round(mm_to_px(area.bottom + REACH_MM, dpi))
    region = drop_out(crop(page, (x0, y0, x1, y1)))
    x0, y0 = max(0, x0), max(0, y0)
    ink = (region < DROPOUT_CUT).astype(np.uint8)
    # A stroke belongs wholly to the option most of it is nearest to: the far end of a circle
    # around one label comes close to the next option's box, yet marks only its own.
    _, comp = cv2.connectedComponents(ink, connectivity=8)
    ys, xs = np.nonzero(ink)
    if xs.size == 0:
        return [0.0] * len(targets)
    ids = comp[ys, xs]
    xs, ys = xs.astype(np.float32) + 0.5, ys.astype(np.float32) + 0.5
    keep = np.ones(xs.size, bool)
    for t in targets:
        for inner in (_px_rect(t.box, (x0, y0), -TICK_INSET_MM, dpi),
                      *([_px_rect(t.label, (x0, y0), LABEL_MARGIN_MM, dpi)] if t.label else [])):
            keep &= _distance(inner, xs, ys) > 0
    xs, ys, ids = xs[keep], ys[keep], ids[keep]
    if xs.size == 0:
        return [0.0] * len(targets)
    dists = np.stack([_distance(_px_rect(c, (x0, y0), 0.0, dpi), xs, ys) for c in cores])
    nearest = dists.argmin(axis=0)
    within = dists.min(axis=0) <= mm_to_px(REACH_MM, dpi)
    votes = np.bincount(ids * len(targets) + nearest, minlength=(int(ids.max()) + 1) * len(targets))
    owner = votes.reshape(-1, len(targets)).argmax(axis=1)[ids]
    px_per_mm2 = mm_to_px(1.0, dpi) ** 2
    return [float(np.count_nonzero(within & (owner == k))) / px_per_mm2 for k in range(len(targets))]


def _union(*boxes: Box) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    return Box(x=x0, y=y0, w=max(b.right for b in boxes) - x0, h=max(b.bottom for b in boxes) - y0)


def mark_levels(page: np.ndarray, targets: list[MarkTarget]) -> list[float]:
    """How clearly each target is marked, 0 (clean) .. 1 (clearly marked); 0.5 is the line."""
    around = around_ink_mm2(page, targets)
    return [max(_level(tick_ratio(page, t.box), EMPTY_MAX, TICKED_MIN),
                _level(a, AROUND_EMPTY_MM2, AROUND_MARKED_MM2)) for t, a in zip(targets, around, strict=True)]


def level_confidence(level: float) -> float:
    """0.5 at the line between clean and marked, MAX_CONFIDENCE well away from it."""
    return round(min(MAX_CONFIDENCE, 0.5 + abs(2 * level - 1) / 2), 4)


def decide_levels(levels: list[tuple[str, float]]) -> tuple[str, float]:
    """(value, confidence) of a single choice from its options' mark levels: the marked option;
    "" when none is marked. Two marked options give the stronger at a low confidence (a person
    decides)."""
    ranked = sorted(levels, key=lambda vl: vl[1], reverse=True)
    (best, l1), (_, l2) = ranked[0], ranked[1] if len(ranked) > 1 else ("", 0.0)
    if l1 < 0.5:
        return "", level_confidence(l1)
    if l2 >= 0.5:
        return best, TWO_MARKED_CONFIDENCE
    return best, min(level_confidence(l1), level_confidence(l2))


def read_marks(page: np.ndarray, field: FieldDef) -> tuple[str, float]:
    """(value, confidence) of a checkbox ("true"/"false"), a choice (the option's value or "")
    or a date's calendar (the era's name or "") on the aligned working page."""
    targets = mark_targets(field)
    levels = mark_levels(page, targets)
    if len(targets) == 1 and targets[0].value == "true":
        return ("true" if levels[0] >= 0.5 else "false"), level_confidence(levels[0])
    return decide_levels([(t.value, lv) for t, lv in zip(targets, levels, strict=True)])
