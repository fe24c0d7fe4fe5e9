"""The marks and messes of real paper, for synthetic forms (``yomitori synth --degrade heavy``).

Circles around labels, crosses and scribbles as choice marks; corrections (the old value
struck through once or twice, the right one written beside it, sometimes a small 訂正印);
red seals over a field; dust inside text boxes; readings written in hiragana; 元 for an era's
first year; blue ink and thick pens; colour scans. Each happens at a realistic rate (a few per
cent) at ``heavy``; ``light`` and ``none`` have none of them, so their pages do not change.
The truth is always what the writer meant (the new value of a correction, the reading in
katakana). Messes draw from their own random stream, so turning them on does not change the
values of a document. Runs on one machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from yomitori.fonts import font, label_font_path
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import Box, FieldDef, FieldType
from yomitori.synth.handwriting import BLUE_INKS, MARK_STYLES, PENCIL, Pen

SEAL_RGB = (205, 45, 40)  # shuin-niku vermilion
MESS_STREAM = 99  # the third seed word of the messes' own random stream
OFFICE_STAMP = 0.5  # share of office-use areas of an existing form that carry a stamp
STAMP_INKS = ((40, 40, 110), (60, 30, 90), (30, 30, 30))  # office stamp pads: blue, violet, black
CORRECTED_TYPES = (FieldType.TEXT, FieldType.KANA, FieldType.DIGITS)


@dataclass(frozen=True)
class Messes:
    """Rates of each mess: per document (pen, ink, seal, colour) or per field."""

    marks: tuple[float, ...]  # weights of MARK_STYLES for a document's writer
    correction: float  # a line field corrected (struck through, rewritten beside)
    correction_seal: float  # a correction carries a small 訂正印
    seal: float  # a red seal over the name field
    box_specks: float  # dust inside a text box
    hiragana: float  # a kana field written in hiragana
    gan: float  # an era's first year written 元
    blue_ink: float
    thick_pen: float
    colour: float  # the page is scanned in colour (the seal stays red on it)
    pencil: float = 0.0  # the whole form written in pencil (strokes lighter than the drop-out cut)


LEVELS: dict[str, Messes | None] = {
    "none": None,
    "light": None,
    "heavy": Messes(marks=(0.5, 0.1, 0.08, 0.05, 0.1, 0.17), correction=0.03, correction_seal=0.4, seal=0.15,
                    box_specks=0.05, hiragana=0.05, gan=0.5, blue_ink=0.15, thick_pen=0.2, colour=0.3,
                    pencil=0.03),
}


def messes(level_name: str) -> Messes | None:
    return LEVELS.get(level_name)


class MessyWriter:
    """Writes one document's fields with the messes of ``spec`` (one per document)."""

    def __init__(self, spec: Messes, pen: Pen, seed: int, index: int):
        self.spec = spec
        self.pen = pen
        self.rng = np.random.default_rng([seed, index, MESS_STREAM])
        self.name_end: tuple[float, Box] | None = None  # where the name ends, for the seal
        self.name_field: FieldDef | None = None
        weights = np.array(spec.marks) / sum(spec.marks)
        pen.check_style = MARK_STYLES[int(self.rng.choice(len(MARK_STYLES), p=weights))]
        if self.rng.random() < spec.blue_ink:
            pen.ink = BLUE_INKS[int(self.rng.integers(len(BLUE_INKS)))]
        if self.rng.random() < spec.pencil:
            pen.ink = PENCIL
        if self.rng.random() < spec.thick_pen:
            pen.stroke = 2 if pen.dpi >= 250 else 1
        self.colour = bool(self.rng.random() < spec.colour)
        # what was done where, for the truth file: [field name or "", mess]
        self.log: list[list[str]] = [["", f"mark:{pen.check_style}"]]
        if self.colour:
            self.log.append(["", "colour"])
        if pen.ink == PENCIL:
            self.log.append(["", "pencil"])

    def happens(self, rate: float) -> bool:
        return bool(self.rng.random() < rate)

    def spelling(self, field: FieldDef, value: str) -> str:
        """How the writer spells ``value``: a reading in hiragana now and then."""
        if field.type is FieldType.KANA and self.happens(self.spec.hiragana):
            self.log.append([field.name, "hiragana"])
            return "".join(chr(ord(c) - 0x60) if "\u30a1" <= c <= "\u30f6" else c for c in value)
        return value

    def year(self, field: FieldDef, year: int, era: bool) -> str:
        if era and year == 1 and self.happens(self.spec.gan):
            self.log.append([field.name, "gan"])
            return "元"
        return str(year)

    def write_line(self, page: Image.Image, field: FieldDef, text: str) -> None:
        """A line field, now and then corrected: a wrong value struck through on the left, the
        right one beside it."""
        box = field.box
        if field.type in CORRECTED_TYPES and len(text) >= 2 and self.happens(self.spec.correction):
            left = Box(x=box.x, y=box.y, w=box.w * 0.42, h=box.h)
            right = Box(x=box.x + box.w * 0.45, y=box.y, w=box.w * 0.55, h=box.h)
            x0, x1 = self.pen.write_line(page, left, self._wrong(field, text))
            middle = mm_to_px(box.y + box.h / 2, self.pen.dpi)
            self.pen.strike(page, x0 - mm_to_px(0.8, self.pen.dpi), x1 + mm_to_px(0.5, self.pen.dpi), middle,
                            lines=1 + int(self.happens(0.4)))
            self.log.append([field.name, "correction"])
            if self.happens(self.spec.correction_seal):
                self._seal(page, ((x0 + x1) / 2, middle - mm_to_px(box.h * 0.3, self.pen.dpi)), 2.2, "訂")
            end = self.pen.write_line(page, right, text)[1]
        else:
            end = self.pen.write_line(page, box, text)[1]
        if field.name == "name" or (self.name_end is None and field.name.endswith("name")):
            self.name_end, self.name_field = (end, box), field
        if field.type in (FieldType.TEXT, FieldType.KANA) and self.happens(self.spec.box_specks):
            self.log.append([field.name, "specks"])
            self._dust(page, box, end)

    def finish(self, page: Image.Image) -> None:
        """After all fields: the seal beside (and over) the name."""
        if self.name_end is not None and self.happens(self.spec.seal):
            end, box = self.name_end
            dpi = self.pen.dpi
            centre = (end + mm_to_px(self.rng.uniform(-1.5, 5.0), dpi),
                      mm_to_px(box.y + box.h / 2 + self.rng.uniform(-1.5, 1.5), dpi))
            self._seal(page, centre, float(self.rng.uniform(4.5, 5.5)), "山")
            self.log.append([self.name_field.name if self.name_field else "", "seal"])

    def office_stamps(self, page: Image.Image, areas: list) -> None:
        """Existing forms: stamps in the office-use areas (受付印, お届け印, a number written in
        整理番号) about half the time, in dark ink so they stay on a grey scan."""
        dpi = self.pen.dpi
        draw = ImageDraw.Draw(page)
        for area in areas:
            if not self.happens(OFFICE_STAMP):
                continue
            b = area.box
            cx = mm_to_px(b.x + b.w / 2 + self.rng.uniform(-2, 2), dpi)
            cy = mm_to_px(b.y + b.h / 2 + self.rng.uniform(-2, 2), dpi)
            r = mm_to_px(min(b.w, b.h) * self.rng.uniform(0.3, 0.42), dpi)
            ink = STAMP_INKS[int(self.rng.integers(len(STAMP_INKS)))]
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=ink, width=max(2, round(r * 0.08)))
            draw.line([(cx - r * 0.9, cy), (cx + r * 0.9, cy)], fill=ink, width=max(2, round(r * 0.05)))
            f = font(label_font_path(), max(8, round(r * 0.45)))
            draw.text((cx, cy - r * 0.45), "受付", font=f, fill=ink, anchor="mm")
            draw.text((cx, cy + r * 0.45), "7.4.1", font=f, fill=ink, anchor="mm")
            self.log.append(["", f"stamp:{area.name}"])

    def _wrong(self, field: FieldDef, text: str) -> str:
        chars = list(text)
        if field.type is FieldType.DIGITS:
            pos = [i for i, c in enumerate(chars) if c.isdigit()]
            for i in self.rng.choice(pos, size=min(2, len(pos)), replace=False):
                chars[i] = str((int(chars[i]) + int(self.rng.integers(1, 10))) % 10)
            return "".join(chars)
        return "".join(chars[1:] + chars[:1]) if len(set(chars)) > 1 else text + text[0]

    def _seal(self, page: Image.Image, centre: tuple[float, float], radius_mm: float, ch: str) -> None:
        r = mm_to_px(radius_mm, self.pen.dpi)
        cx, cy = centre
        draw = ImageDraw.Draw(page)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=SEAL_RGB, width=max(2, round(r * 0.12)))
        f = font(label_font_path(), max(8, round(r * 1.2)))
        draw.text((cx, cy), ch, font=f, fill=SEAL_RGB, anchor="mm")

    def _dust(self, page: Image.Image, box: Box, text_end: float) -> None:
        """One to three dust specks in the free part of a text box (clear of the writing)."""
        dpi = self.pen.dpi
        x_min, x_max = text_end + mm_to_px(3, dpi), mm_to_px(box.right - 1, dpi)
        if x_max <= x_min:
            return
        draw = ImageDraw.Draw(page)
        for _ in range(int(self.rng.integers(1, 4))):
            x = self.rng.uniform(x_min, x_max)
            y = mm_to_px(box.y + self.rng.uniform(1, box.h - 1), dpi)
            r = mm_to_px(self.rng.uniform(0.1, 0.25), dpi)
            grey = int(self.rng.integers(20, 90))
            draw.ellipse((x - r, y - r, x + r, y + r), fill=(grey, grey, grey))
