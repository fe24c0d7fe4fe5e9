"""Handwriting-like text on a form page: one glyph at a time from a (handwriting) font, with
jitter in size, position, rotation, stroke and ink, and hand-drawn tick marks.

Any font file works: glyphs are measured with the font's own metrics and text is shrunk to
fit its box; characters the font lacks come from the default fonts. Runs on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from yomitori.fonts import font, handwriting_font_paths, label_font_path
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import Box

INKS = ((28, 28, 32), (40, 40, 44), (22, 30, 72), (30, 36, 90))  # dark grey, blue-black
BLUE_INKS = ((20, 50, 170), (30, 70, 200))  # a ballpoint's bright blue
PENCIL = (160, 160, 165)  # HB pencil: lighter than the drop-out cut once scanned
# How a choice is marked: in the box (✓, filled, ×, scribbled) or by a circle around the box
# or around the printed label (○ around 普通 or 令和: the most common mark on Japanese forms).
MARK_STYLES = ("check", "fill", "cross", "scribble", "circle_box", "circle_label")
FREE_TEXT_MARGIN_MM = 1.5


@cache
def _covered(path: str) -> frozenset[int]:
    """Code points the font has glyphs for (its cmap)."""
    from fontTools.ttLib import TTFont

    with TTFont(path, fontNumber=0, lazy=True) as tt:
        return frozenset(tt.getBestCmap() or {})


def _font_for(path: str, ch: str) -> str:
    if ord(ch) in _covered(path):
        return path
    for fallback in (*handwriting_font_paths(), label_font_path()):
        if ord(ch) in _covered(fallback):
            return fallback
    return path


@dataclass
class Pen:
    """One writer's hand for one document."""

    font_path: str
    rng: np.random.Generator
    dpi: int
    ink: tuple[int, int, int] = INKS[0]
    stroke: int = 0  # extra stroke width in pixels
    size_jitter: float = 0.06
    angle_jitter: float = 3.0  # degrees
    shift_jitter: float = 0.05  # share of the character size
    check_style: str = "check"  # see MARK_STYLES

    @classmethod
    def for_document(cls, font_path: str, rng: np.random.Generator, dpi: int) -> Pen:
        return cls(
            font_path=font_path, rng=rng, dpi=dpi,
            ink=INKS[int(rng.integers(len(INKS)))],
            stroke=int(rng.integers(0, 2)) if dpi >= 250 else 0,
            size_jitter=float(rng.uniform(0.03, 0.08)),
            angle_jitter=float(rng.uniform(1.5, 4.0)),
            shift_jitter=float(rng.uniform(0.015, 0.045)),
            check_style="check" if rng.random() < 0.75 else "fill",
        )

    # -- glyphs -------------------------------------------------------------------------
    def _font(self, ch: str, size: float) -> ImageFont.FreeTypeFont:
        return font(_font_for(self.font_path, ch), max(6, round(size)))

    def _glyph(self, ch: str, size: float) -> tuple[Image.Image, tuple[float, float]] | None:
        """A rotated mask of ``ch`` and where its ink centre lies relative to the pen origin
        (left end of the baseline)."""
        f = self._font(ch, size * (1 + self.rng.normal(0, self.size_jitter)))
        stroke = self.stroke  # one pen per document: the stroke width does not change
        left, top, right, bottom = f.getbbox(ch, anchor="ls", stroke_width=stroke)
        if right <= left or bottom <= top:
            return None
        pad = 2
        mask = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
        pressure = int(255 * self.rng.uniform(0.8, 1.0))
        ImageDraw.Draw(mask).text((pad - left, pad - top), ch, font=f, fill=pressure, anchor="ls",
                                  stroke_width=stroke, stroke_fill=pressure)
        angle = float(self.rng.normal(0, self.angle_jitter / 2))
        mask = mask.rotate(angle, resample=Image.BICUBIC, expand=True)
        return mask, ((left + right) / 2, (top + bottom) / 2)

    def _stamp(self, page: Image.Image, mask: Image.Image, centre: tuple[float, float]) -> None:
        x = round(centre[0] - mask.width / 2)
        y = round(centre[1] - mask.height / 2)
        page.paste(self.ink, (x, y, x + mask.width, y + mask.height), mask)

    # -- fields -------------------------------------------------------------------------
    def write_line(self, page: Image.Image, box: Box, text: str) -> tuple[float, float]:
        """``text`` left-aligned in ``box`` with a margin, shrunk to fit the box. Returns the
        left and right end of the written text in page pixels."""
        left, top = mm_to_px(box.x, self.dpi), mm_to_px(box.y, self.dpi)
        width, height = mm_to_px(box.w, self.dpi), mm_to_px(box.h, self.dpi)
        margin = mm_to_px(FREE_TEXT_MARGIN_MM, self.dpi)
        size = height * self.rng.uniform(0.55, 0.68)
        spacing = self.rng.uniform(0.02, 0.12)
        advance = sum(self._font(ch, size).getlength(ch) for ch in text) * (1 + spacing)
        room = width - 2 * margin - size * 0.1
        if advance > room:
            size *= room / advance
            advance = room
        ascent, descent = self._font(text[:1] or "あ", size).getmetrics()
        baseline = top + height / 2 + (ascent - descent) / 2 - (ascent + descent) * 0.1
        x = left + margin + self.rng.uniform(0, max(0.0, min(room - advance, 4 * margin)))
        start = x
        for ch in text:
            step = self._font(ch, size).getlength(ch) * (1 + spacing)
            glyph = None if ch.isspace() else self._glyph(ch, size)
            if glyph is not None:
                mask, (cx, cy) = glyph
                jitter = self.rng.normal(0, self.shift_jitter * size, 2)
                self._stamp(page, mask, (x + cx + jitter[0], baseline + cy + jitter[1]))
            x += step
        return start, x

    def write_cell(self, page: Image.Image, cell: Box, ch: str) -> None:
        """One character centred in a cell (with jitter), shrunk to fit it."""
        if not ch or ch.isspace():
            return
        w, h = mm_to_px(cell.w, self.dpi), mm_to_px(cell.h, self.dpi)
        size = min(w, h) * self.rng.uniform(0.62, 0.75)
        glyph = self._glyph(ch, size)
        if glyph is None:
            return
        mask, _ = glyph
        fit = min(0.85 * w / mask.width, 0.85 * h / mask.height)
        if fit < 1:
            size_px = (max(1, round(mask.width * fit)), max(1, round(mask.height * fit)))
            mask = mask.resize(size_px, Image.BILINEAR)
        cx = mm_to_px(cell.x + cell.w / 2, self.dpi) + self.rng.normal(0, self.shift_jitter * w)
        cy = mm_to_px(cell.y + cell.h / 2, self.dpi) + self.rng.normal(0, self.shift_jitter * h)
        self._stamp(page, mask, (cx, cy))

    def write_cells(self, page: Image.Image, cells: list[Box], text: str, align: str = "left") -> None:
        chars = list(text)[: len(cells)]
        start = len(cells) - len(chars) if align == "right" else 0
        for cell, ch in zip(cells[start:], chars, strict=False):
            self.write_cell(page, cell, ch)

    def mark(self, page: Image.Image, box: Box, label: Box | None = None) -> None:
        """Mark an option in this writer's style: in its ``box``, or by a circle around the box
        or around its printed ``label`` (the box when it has none)."""
        if self.check_style == "circle_label":
            self.circle(page, label or box)
        elif self.check_style == "circle_box":
            self.circle(page, box)
        elif self.check_style == "cross":
            self._strokes(page, box, [[(0.15, 0.15), (0.85, 0.85)], [(0.85, 0.15), (0.15, 0.85)]])
        elif self.check_style == "scribble":
            zig = [(0.15 + 0.7 * (k % 2), 0.15 + 0.7 * k / 7) for k in range(8)]
            self._strokes(page, box, [zig])
        else:
            self.tick(page, box)

    def _pen_width(self) -> int:
        return max(2, round(mm_to_px(self.rng.uniform(0.35, 0.6), self.dpi)))

    def _strokes(self, page: Image.Image, box: Box, lines: list[list[tuple[float, float]]]) -> None:
        x0, y0 = mm_to_px(box.x, self.dpi), mm_to_px(box.y, self.dpi)
        w, h = mm_to_px(box.w, self.dpi), mm_to_px(box.h, self.dpi)
        draw = ImageDraw.Draw(page)
        width = self._pen_width()
        for line in lines:
            xy = [(x0 + w * (px + self.rng.normal(0, 0.04)), y0 + h * (py + self.rng.normal(0, 0.04)))
                  for px, py in line]
            draw.line(xy, fill=self.ink, width=width, joint="curve")

    def circle(self, page: Image.Image, around: Box) -> None:
        """A hand-drawn ellipse around ``around`` (a little wobbly, its ends overlapping)."""
        margin = mm_to_px(self.rng.uniform(0.7, 1.3), self.dpi)
        cx = mm_to_px(around.x + around.w / 2, self.dpi)
        cy = mm_to_px(around.y + around.h / 2, self.dpi)
        rx = mm_to_px(around.w / 2, self.dpi) * 1.15 + margin
        ry = mm_to_px(around.h / 2, self.dpi) * 1.15 + margin
        start = self.rng.uniform(0, 2 * np.pi)
        turn = 2 * np.pi * self.rng.uniform(1.03, 1.15)
        t = start + np.linspace(0, turn, 48)
        wobble = 1 + np.cumsum(self.rng.normal(0, 0.008, t.size))
        xy = [(float(cx + rx * wb * np.cos(a)), float(cy + ry * wb * np.sin(a)))
              for a, wb in zip(t, wobble, strict=True)]
        ImageDraw.Draw(page).line(xy, fill=self.ink, width=self._pen_width(), joint="curve")

    def strike(self, page: Image.Image, left: float, right: float, middle: float, lines: int = 1) -> None:
        """One or two lines struck through text between ``left`` and ``right`` (page pixels)
        at height ``middle``: how a wrong value is corrected on Japanese forms."""
        draw = ImageDraw.Draw(page)
        width = max(2, round(mm_to_px(self.rng.uniform(0.3, 0.5), self.dpi)))
        gap = mm_to_px(0.9, self.dpi)
        for k in range(lines):
            y = middle + (k - (lines - 1) / 2) * gap
            tilt = self.rng.normal(0, mm_to_px(0.25, self.dpi))
            draw.line([(left, y - tilt), (right, y + tilt)], fill=self.ink, width=width)

    def tick(self, page: Image.Image, box: Box) -> None:
        """A hand-drawn check mark, or a filled-in tick, inside ``box``."""
        x0, y0 = mm_to_px(box.x, self.dpi), mm_to_px(box.y, self.dpi)
        w, h = mm_to_px(box.w, self.dpi), mm_to_px(box.h, self.dpi)
        draw = ImageDraw.Draw(page)
        j = lambda: float(self.rng.normal(0, 0.05))  # noqa: E731 - tiny local jitter helper
        if self.check_style == "fill":
            inset = self.rng.uniform(0.12, 0.22)
            draw.ellipse((x0 + w * (inset + j()), y0 + h * (inset + j()),
                          x0 + w * (1 - inset + j()), y0 + h * (1 - inset + j())), fill=self.ink)
            return
        points = [(0.18 + j(), 0.52 + j()), (0.42 + j(), 0.82 + j()), (0.88 + j(), 0.12 + j())]
        width = max(2, round(mm_to_px(self.rng.uniform(0.35, 0.6), self.dpi)))
        xy = [(x0 + w * px, y0 + h * py) for px, py in points]
        draw.line(xy, fill=self.ink, width=width, joint="curve")
