"""Reading each field of an aligned page, by field type.

Two readers give the same answers to the field logic: :class:`CropReader` hands each field
(or each character cell) to an engine that reads crops (Tesseract); :class:`PageWordsReader`
takes the words an engine found on the whole page once (Textract) and assigns them to fields
by where their centres fall. Tick boxes are decided by ink in both cases.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections.abc import Sequence

import numpy as np
from PIL import Image

from yomitori.extract.address import fix_prefecture
from yomitori.extract.checkbox import TICK_INSET_MM, TICKED_MIN, is_ticked, tick_confidence
from yomitori.extract.crops import (
    box_px,
    clean_specks,
    crop,
    darken_faint,
    drop_out,
    faint_writing,
    field_crop,
    has_writing,
    ink_bounds,
    ink_pixels,
    split_at_gaps,
    to_ocr_image,
)
from yomitori.extract.dates import SEIREKI, assemble_date
from yomitori.extract.digits import UNANIMOUS, check_shapes, repeats_for, vote
from yomitori.extract.kana import fix_small_kana, has_small_vowel
from yomitori.extract.marks import read_marks
from yomitori.extract.messes import erase_correction, flag_correction, read_gan
from yomitori.forms.layout import cell_boxes, date_layout, mark_targets
from yomitori.forms.schema import Box, FieldDef, FieldType
from yomitori.normalise import normalise_digits, normalise_value
from yomitori.ocr.engine import FieldHint, OcrEngine, Word
from yomitori.results import FieldResult

LINE_INSET_MM = 0.5
CELL_INSET_MM = 0.7
EMPTY_CONFIDENCE = 0.97  # nothing written and no ink at all
SPECK_CONFIDENCE = 0.6  # a little ink, too little to be writing: a person should glance
LINE_MAX_HEIGHT = 72  # px; Tesseract's LSTM works on ~36 px lines, larger only costs time
CELL_HEIGHT = 48
CELL_LINE_HEIGHT = 64  # px per character when cells are set on one line (engines scale it down)
CELL_LINE_GAP = 0.3  # gap between composed cells, as a share of the line height
CELL_MISMATCH_CONFIDENCE = 0.4
SMALL_VOWEL_CONFIDENCE = 0.6
FAINT_CONFIDENCE = 0.6  # writing read only after darkening (pencil): a suggestion for a person
# A white gap this many line heights wide is a space (measured on synth: spaces >= 1.04, others <= 0.95).
SPACE_GAP = 1.0


def combine(confs: Sequence[float]) -> float:
    """A field is as sure as its least sure part, pulled a little towards the mean."""
    if not confs:
        return 0.0
    return round(0.7 * min(confs) + 0.3 * (sum(confs) / len(confs)), 4)


class CropReader:
    """Reads crops of the working page with an engine that reads fields."""

    def __init__(self, page: np.ndarray, engine: OcrEngine):
        self.page = page
        self.engine = engine
        self.faint_seen = False  # some field was written in pencil (see :meth:`_crop`)

    def _empty(self, arr: np.ndarray, box: Box | None = None,
               inset: float = LINE_INSET_MM) -> tuple[str, float]:
        """An empty reading: sure when there is no ink at all; unsure with a speck, or with
        faint strokes the drop-out cut removed (pencil): a person looks."""
        if ink_pixels(arr) or (box is not None and faint_writing(crop(self.page, box_px(box, inset)))):
            return "", SPECK_CONFIDENCE
        return "", EMPTY_CONFIDENCE

    def _crop(self, box: Box, inset: float) -> tuple[np.ndarray, bool]:
        """The field's cleaned crop, and whether it holds faint writing (pencil) that had to be
        darkened to be read at all: such a reading is only ever a suggestion for a person."""
        arr = field_crop(self.page, box, inset)
        if has_writing(arr):
            return arr, False
        raw = crop(self.page, box_px(box, inset))
        if faint_writing(raw):
            darkened = clean_specks(drop_out(darken_faint(raw)))
            if has_writing(darkened):
                self.faint_seen = True
                return darkened, True
        return arr, False

    def read_line(self, box: Box, hint: FieldHint) -> tuple[str, float]:
        arr, faint = self._crop(box, LINE_INSET_MM)
        if not has_writing(arr):
            return self._empty(arr, box)
        text, conf = self._read_line(arr, hint)
        return text, (min(conf, FAINT_CONFIDENCE) if faint else conf)

    def _read_line(self, arr: np.ndarray, hint: FieldHint) -> tuple[str, float]:
        if hint.field_type == "digits":
            img = to_ocr_image(arr, max_height=LINE_MAX_HEIGHT)
            if self.engine.reads_digit_votes:
                # Characters of a handwritten line stand apart: column gaps give each glyph
                # for the shape check (skipped when the count does not match the text).
                return self._voted_digits(img, hint, None, split_at_gaps(arr, 0.0))
            reading = self.engine.read_field(img, hint)
            return reading.text, reading.confidence
        # Spaces come from the paper, not from the engine: read each gap-separated piece.
        texts, confs = [], []
        for piece in split_at_gaps(arr, SPACE_GAP):
            reading = self.engine.read_field(to_ocr_image(piece, max_height=LINE_MAX_HEIGHT), hint)
            texts.append(reading.text.replace(" ", ""))
            confs.append(reading.confidence)
        return " ".join(t for t in texts if t), min(confs)

    def read_cells(self, cells: list[Box], hint: FieldHint) -> tuple[str, float]:
        """The characters of a row of one-character cells, left to right, empty cells skipped.

        The written cells are set side by side on one clean line and read at once (the LSTM
        reads a line far better than lone characters); if the count of characters read does
        not match the count of written cells, each cell is read alone and the field is left
        for a person."""
        crops = [self._crop(c, CELL_INSET_MM) for c in cells]
        arrs = [a for a, _ in crops]
        if any(faint for _, faint in crops):
            text, conf = self._read_cells(cells, arrs, hint)
            return text, min(conf, FAINT_CONFIDENCE)
        return self._read_cells(cells, arrs, hint)

    def _read_cells(self, cells: list[Box], arrs: list[np.ndarray], hint: FieldHint) -> tuple[str, float]:
        written = [a for a in arrs if has_writing(a)]
        blank_conf = min((self._empty(a, c, CELL_INSET_MM)[1] for a, c in zip(arrs, cells, strict=True)
                          if not has_writing(a)), default=EMPTY_CONFIDENCE)
        if not written:
            return "", blank_conf
        line_hint = FieldHint(field_type=hint.field_type, single_char=False, name=hint.name)
        if hint.field_type == "digits" and self.engine.reads_digit_votes:
            # A short line is set several times over: context for the LSTM, and more votes.
            line = compose_cells(written * repeats_for(len(written)))
            text, conf = self._voted_digits(line, line_hint, len(written), written)
            if len(text) == len(written):
                return text, min(conf, blank_conf)
            return self._cell_by_cell(written, hint)
        reading = self.engine.read_field(compose_cells(written), line_hint)
        text = reading.text.replace(" ", "")
        if len(text) == len(written):
            return text, min(reading.confidence, blank_conf)
        return self._cell_by_cell(written, hint)

    def _voted_digits(self, img: Image.Image, hint: FieldHint, length: int | None,
                      glyphs: Sequence[np.ndarray]) -> tuple[str, float]:
        """Digits voted over the engine's readings, each 1/7 checked by shape. Unless the
        first readings agree completely, the spare readings are added and all of them vote
        (all but one agreeing is then good enough to accept)."""
        readings = [r.text for r in self.engine.digit_readings(img, hint)]
        repeats = repeats_for(length) if length else 1
        voted = vote(readings, length, repeats)
        if voted is None or min(voted[1], default=0.0) < UNANIMOUS:
            readings += [r.text for r in self.engine.digit_readings(img, hint, spare=True)]
            voted = vote(readings, length, repeats)
        if voted is None:
            return "", 0.0
        text, confs = check_shapes(*voted, glyphs)
        return text, combine(confs)

    def _cell_by_cell(self, written: list[np.ndarray], hint: FieldHint) -> tuple[str, float]:
        parts, confs = [], []
        for arr in written:
            img = to_ocr_image(arr, max_height=CELL_HEIGHT, min_height=CELL_HEIGHT, pad=20)
            r = self.engine.read_field(img, hint)
            parts.append(r.text.strip())
            confs.append(r.confidence)
        return "".join(parts), min(combine(confs), CELL_MISMATCH_CONFIDENCE)


class PageWordsReader:
    """Assigns words an engine read from the whole working page to field boxes."""

    def __init__(self, page: np.ndarray, words: list[Word]):
        self.page = page
        self.words = words

    def read_line(self, box: Box, hint: FieldHint) -> tuple[str, float]:
        x0, y0, x1, y1 = box_px(box)
        inside = [w for w in self.words
                  if x0 <= (w.box[0] + w.box[2]) / 2 <= x1 and y0 <= (w.box[1] + w.box[3]) / 2 <= y1]
        if not inside:
            arr = drop_out(crop(self.page, box_px(box, LINE_INSET_MM)))
            if has_writing(arr):
                return "", 0.0  # ink the engine did not read: a person must look
            return "", EMPTY_CONFIDENCE
        inside.sort(key=lambda w: w.box[0])
        return join_words(inside), combine([w.confidence for w in inside])

    def read_cells(self, cells: list[Box], hint: FieldHint) -> tuple[str, float]:
        text, conf = self.read_line(_bounding(cells), hint)
        return text.replace(" ", ""), conf


def compose_cells(arrs: list[np.ndarray], height: int = CELL_LINE_HEIGHT,
                  gap: float = CELL_LINE_GAP) -> Image.Image:
    """Written cells cut to their ink, scaled to one height and set on one line with even gaps."""
    pieces = []
    for a in arrs:
        b = ink_bounds(a)
        if b is not None:
            pieces.append(a[b[1]:b[3], b[0]:b[2]])
    tallest = max(p.shape[0] for p in pieces)
    scale = height / tallest
    imgs = [Image.fromarray(p).resize((max(1, round(p.shape[1] * scale)), max(1, round(p.shape[0] * scale))),
                                      Image.LANCZOS) for p in pieces]
    g = max(4, round(gap * height))
    canvas = Image.new("L", (sum(i.width for i in imgs) + g * (len(imgs) + 1), height + 2 * g), 255)
    x = g
    for i in imgs:
        canvas.paste(i, (x, g + (height - i.height) // 2))
        x += i.width + g
    return canvas


def join_words(words: list[Word]) -> str:
    """Words left to right; a space only where the gap on paper is wide (Japanese has none)."""
    heights = [w.box[3] - w.box[1] for w in words if w.box[3] > w.box[1]]
    unit = statistics.median(heights) if heights else 1
    out = [words[0].text]
    for prev, cur in zip(words, words[1:], strict=False):
        if cur.box[0] - prev.box[2] > SPACE_GAP * unit:
            out.append(" ")
        out.append(cur.text)
    return "".join(out)


def _hint(f: FieldDef, field_type: str | None = None, single: bool = False) -> FieldHint:
    return FieldHint(field_type=field_type or str(f.type), charset=f.charset, single_char=single, name=f.name)


def _read_cells(reader, cells: list[Box], hint: FieldHint) -> tuple[str, float]:
    return reader.read_cells(cells, hint)


def _bounding(boxes: list[Box]) -> Box:
    x0, y0 = min(b.x for b in boxes), min(b.y for b in boxes)
    return Box(x=x0, y=y0, w=max(b.right for b in boxes) - x0, h=max(b.bottom for b in boxes) - y0)


def read_date(reader, page: np.ndarray, f: FieldDef) -> FieldResult:
    lay = date_layout(f)
    era, era_conf = read_marks(page, f)  # a tick in the box or a circle around 令和
    hint = FieldHint(field_type="digits", single_char=True, name=f.name)
    parts, confs = [], [era_conf]
    for group in lay.digit_groups:
        text, conf = _read_cells(reader, group, hint)
        if group is lay.year and not text and era != SEIREKI:
            text, conf = read_gan(reader, page, group, f.name) or (text, conf)  # 令和元年
        parts.append(text)
        confs.append(conf)
    year, month, day = parts
    if not (year or month or day):
        return FieldResult(value="", raw="", confidence=combine(confs) if era == "" else 0.5)
    if not era:
        # No calendar ticked: four digits can only be a Western year; anything else needs a person.
        era, confs[0] = (SEIREKI, 0.6) if len(year) == 4 else (lay.eras[0][0], 0.0)
    reading = assemble_date(era, year, month, day)
    conf = combine(confs)
    if reading.problem:
        conf = min(conf, 0.3)
    return FieldResult(value=reading.iso or reading.raw, raw=reading.raw, confidence=conf)


# A handwritten era (「　年　月　日」 on existing forms): its first kanji or its letter.
ERA_SIGNS = {"令": "令和", "R": "令和", "平": "平成", "H": "平成", "昭": "昭和", "S": "昭和",
             "大": "大正", "T": "大正"}
ERA_CHARSET = "令和平成昭大正元RHST"
UNSURE_ERA_CONFIDENCE = 0.3


def era_from_text(text: str) -> str:
    """The era a writer put down by hand (令和, 令, R, Ｒ...), or "" when none is recognised."""
    for ch in unicodedata.normalize("NFKC", text).upper():
        if ch in ERA_SIGNS:
            return ERA_SIGNS[ch]
    return ""


def read_existing_date(reader, page: np.ndarray, f: FieldDef) -> FieldResult:
    """A date printed as 「令和　年　月　日」 with gaps for the numbers: the era printed (one in
    ``eras``), circled among printed eras, or written by hand in its own gap."""
    parts = f.parts
    assert parts is not None
    hint = FieldHint(field_type="digits", charset="0123456789", name=f.name)
    texts, confs = [], []
    for box in (parts.year, parts.month, parts.day):
        if box is parts.year and parts.era_in_year:
            era_hint = FieldHint(field_type="text", charset=ERA_CHARSET + "0123456789", name=f.name)
            text, conf = reader.read_line(box, era_hint)
        else:
            text, conf = reader.read_line(box, hint)
        texts.append(text.replace(" ", ""))
        confs.append(conf)
    year, month, day = texts
    if parts.era_in_year:
        written = year
        year = normalise_digits(written) or ("元" if "元" in written else "")
        era, era_conf = era_from_text(written.replace("元", "")), confs[0]
        if not era and len(year) == 4:
            era = SEIREKI
        elif not era and written:
            era_conf = 0.0
    elif f.options:
        era, era_conf = read_marks(page, f)
    elif parts.era is not None:
        written, era_conf = reader.read_line(parts.era, FieldHint(field_type="text", charset=ERA_CHARSET,
                                                                   name=f.name))
        era = era_from_text(written)
        if not written.strip() and len(year) == 4:
            era, era_conf = SEIREKI, 0.9  # no era and a four-digit year: a Western year
        elif written.strip() and not era:
            era_conf = 0.0
    else:
        era, era_conf = f.eras[0], 0.99
    if not year and not parts.era_in_year:
        gan = read_gan(reader, page, [parts.year], f.name) if era != SEIREKI else None
        if gan:
            year, confs[0] = gan
    if not (year or month or day):
        return FieldResult(value="", raw="", confidence=combine(confs))
    if not era:
        era, era_conf = (SEIREKI, 0.6) if len(year) == 4 else (f.eras[0], UNSURE_ERA_CONFIDENCE)
    reading = assemble_date(era, year, month, day)
    conf = combine([era_conf, *confs])
    if reading.problem:
        conf = min(conf, 0.3)
    return FieldResult(value=reading.iso or reading.raw, raw=reading.raw, confidence=conf)


def read_field(reader, page: np.ndarray, f: FieldDef) -> FieldResult:
    """Value (normalised), raw text and confidence of one field; box and status are left to
    the caller and to routing."""
    if f.type in (FieldType.CHECKBOX, FieldType.CHOICE):
        value, conf = read_marks(page, f)
        return FieldResult(value=value, raw=value, confidence=conf)
    if f.type is FieldType.DATE:
        return read_existing_date(reader, page, f) if f.parts else read_date(reader, page, f)
    corrected = erase_correction(page, f)  # only the new value of a struck-through field is read
    if f.cells:
        raw, conf = _read_cells(reader, cell_boxes(f), _hint(f, single=True))
    else:
        raw, conf = reader.read_line(f.box, _hint(f))
    if f.type is FieldType.KANA:
        raw = fix_small_kana(raw)
        if has_small_vowel(raw):
            # a small ァィゥェォ that spelling allows (ウェ, フィ) is still a guess at a
            # handwritten size, and rare in names: a person looks
            conf = min(conf, SMALL_VOWEL_CONFIDENCE)
    elif f.type is FieldType.TEXT:
        raw = fix_prefecture(raw)
    if f.unit and raw.rstrip().endswith(f.unit):
        raw = raw.rstrip()[: -len(f.unit)].rstrip()  # the printed unit, if any of it was left
    value = normalise_value(str(f.type), raw, f.charset)
    result = FieldResult(value=value, raw=raw, confidence=conf)
    return flag_correction(result) if corrected else result


def doubt_marks_on_a_pencilled_page(reader, form_fields: Sequence[FieldDef], results: dict) -> None:
    """A page written in pencil may carry pencil ticks and circles too, which the drop-out cut
    removes like the writing: its marks (checkboxes, choices, eras) go to a person, and a box
    that only a pencil tick fills is offered as the value."""
    if not getattr(reader, "faint_seen", False):
        return
    for f in form_fields:
        result = results.get(f.name)
        if result is None or f.type not in (FieldType.CHECKBOX, FieldType.CHOICE, FieldType.DATE):
            continue
        if f.type is FieldType.DATE:
            _date_with_pencilled_era(reader.page, f, result)
        elif result.value in ("", "false"):
            pencilled = [t.value for t in mark_targets(f) if pencil_tick(reader.page, t.box)]
            if len(pencilled) == 1:
                result.value = result.raw = pencilled[0]
        result.confidence = min(result.confidence, FAINT_CONFIDENCE)


_ERALESS = re.compile(r"^(\d{1,2})年(\d{1,2})月(\d{1,2})日$")  # no era read: 8年10月12日


def _date_with_pencilled_era(page: np.ndarray, f: FieldDef, result: FieldResult) -> None:
    """A date whose era was ticked in pencil (read as none) gets that era, when exactly one of
    its era boxes holds a pencil tick."""
    m = _ERALESS.match(result.raw)
    if not m:
        return
    pencilled = [t.value for t in mark_targets(f) if pencil_tick(page, t.box)]
    if len(pencilled) != 1:
        return
    reading = assemble_date(pencilled[0], *m.groups())
    result.value, result.raw = reading.iso or reading.raw, reading.raw


def pencil_tick(page: np.ndarray, box: Box) -> bool:
    """Whether the inside of a tick box holds a pencil mark (faint strokes, darkened)."""
    raw = crop(page, box_px(box, TICK_INSET_MM))
    darkened = drop_out(darken_faint(raw))
    return np.count_nonzero(darkened < 128) / max(1, darkened.size) >= TICKED_MIN


__all__ = ["CropReader", "PageWordsReader", "combine", "is_ticked", "read_field", "tick_confidence"]
