"""Page geometry shared by render, synth and extraction.

Everything here is in millimetres from the top-left corner of the page; one function turns
millimetres into pixels at a given resolution. Render draws exactly these boxes, synth
writes into them, extraction reads from them, so the three cannot drift apart.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from yomitori.forms.schema import Box, FieldDef, FieldType, FormDefinition

MM_PER_INCH = 25.4

# Registration marks: solid squares near the four corners. A smaller square beside the
# top-left mark tells the page's orientation (a page scanned upside down has it bottom-right).
MARK_SIZE_MM = 6.0
MARK_INSET_MM = 12.0  # centre of a mark from the two nearest page edges
ORIENTATION_DOT_MM = 3.0
ORIENTATION_DOT_OFFSET_MM = 9.0  # centre of the dot right of the top-left mark's centre

# Form code: a strip of squares at the top of the page, black for a 1 bit. It identifies the
# form, so a page of the wrong form is refused instead of read into the wrong fields.
FORM_CODE_BITS = 16
FORM_CODE_CELL_MM = 3.0
FORM_CODE_PITCH_MM = 4.0
FORM_CODE_Y_MM = MARK_INSET_MM - FORM_CODE_CELL_MM / 2

# Boxes and cell lines are printed in a drop-out colour: the scanner's grey conversion makes
# them light enough to threshold away, so only the writing reaches the OCR engine.
DROPOUT_RGB = (240, 140, 140)
# Colour to grey the way a drop-out scanner does: mostly the red channel, so the pale red boxes
# and red seals (印) turn light and drop out, while black and blue ink stay dark.
SCANNER_GREY_MATRIX = (0.8, 0.2, 0.0, 0.0)
INK_RGB = (20, 20, 20)

# Date fields: tick boxes for the calendar, then year/month/day cells.
DATE_ERA_WIDTH_MM = 13.0
DATE_TICK_MM = 4.0
DATE_CELL_MM = 7.0
DATE_UNIT_MM = 6.0
DATE_ERA_LABEL_MM = 2.8  # type size of the calendar names
DATE_YEAR_CELLS = 4
DATE_MONTH_CELLS = 2
DATE_DAY_CELLS = 2


# Choice options: the label prints this far right of the tick box, at this type size; a
# checkbox's hint (its statement) prints HINT_GAP_MM right of the box.
CHOICE_LABEL_GAP_MM = 1.5
CHOICE_LABEL_MM = 3.0
HINT_GAP_MM = 2.0
HINT_MM = 2.4


def mm_to_px(value_mm: float, dpi: int) -> float:
    return value_mm / MM_PER_INCH * dpi


def box_to_px(box: Box, dpi: int) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) in whole pixels."""
    return (
        round(mm_to_px(box.x, dpi)),
        round(mm_to_px(box.y, dpi)),
        round(mm_to_px(box.right, dpi)),
        round(mm_to_px(box.bottom, dpi)),
    )


def page_size_px(form: FormDefinition, dpi: int) -> tuple[int, int]:
    w, h = form.page_size_mm
    return round(mm_to_px(w, dpi)), round(mm_to_px(h, dpi))


def registration_mark_centres(form: FormDefinition) -> list[tuple[float, float]]:
    """Centres of the marks in mm: top-left, top-right, bottom-left, bottom-right."""
    w, h = form.page_size_mm
    i = MARK_INSET_MM
    return [(i, i), (w - i, i), (i, h - i), (w - i, h - i)]


def orientation_dot_centre(form: FormDefinition) -> tuple[float, float]:
    return (MARK_INSET_MM + ORIENTATION_DOT_OFFSET_MM, MARK_INSET_MM)


def square(centre: tuple[float, float], size: float) -> Box:
    return Box(x=centre[0] - size / 2, y=centre[1] - size / 2, w=size, h=size)


def form_code_bits(form_id: str) -> list[int]:
    """16 bits from the SHA-256 of the form id, never all zero (a blank strip is no code)."""
    digest = hashlib.sha256(form_id.encode("utf-8")).digest()
    value = int.from_bytes(digest[:2], "big") or 0xA5A5
    return [(value >> (FORM_CODE_BITS - 1 - k)) & 1 for k in range(FORM_CODE_BITS)]


def form_code_cells(form: FormDefinition) -> list[Box]:
    w, _ = form.page_size_mm
    start = w / 2 - FORM_CODE_BITS * FORM_CODE_PITCH_MM / 2
    return [
        Box(x=start + k * FORM_CODE_PITCH_MM, y=FORM_CODE_Y_MM, w=FORM_CODE_CELL_MM, h=FORM_CODE_CELL_MM)
        for k in range(FORM_CODE_BITS)
    ]


def cell_boxes(field: FieldDef) -> list[Box]:
    """One box per character for ``cells`` fields, left to right."""
    if not field.cells:
        return []
    cw = field.box.w / field.cells
    return [Box(x=field.box.x + k * cw, y=field.box.y, w=cw, h=field.box.h) for k in range(field.cells)]


@dataclass(frozen=True)
class DateLayout:
    eras: list[tuple[str, Box]]  # tick box per calendar (西暦, 令和, ...)
    era_labels: list[tuple[str, Box]]
    year: list[Box]
    month: list[Box]
    day: list[Box]
    units: list[tuple[str, Box]]  # the printed 年 月 日

    @property
    def digit_groups(self) -> list[list[Box]]:
        return [self.year, self.month, self.day]


def date_layout(field: FieldDef) -> DateLayout:
    """Sub-boxes of a date field: calendar tick boxes, then 4+2+2 digit cells with 年月日."""
    b = field.box
    cy = b.y + b.h / 2
    eras, era_labels = [], []
    x = b.x
    for era in field.eras:
        eras.append((era, Box(x=x, y=cy - DATE_TICK_MM / 2, w=DATE_TICK_MM, h=DATE_TICK_MM)))
        era_labels.append((era, Box(x=x + DATE_TICK_MM + 0.8, y=cy - 2.5, w=DATE_ERA_WIDTH_MM - 5, h=5)))
        x += DATE_ERA_WIDTH_MM
    x += 2
    cell_h = min(b.h, DATE_CELL_MM + 2)
    top = cy - cell_h / 2
    groups: list[list[Box]] = []
    units = []
    for count, unit in ((DATE_YEAR_CELLS, "年"), (DATE_MONTH_CELLS, "月"), (DATE_DAY_CELLS, "日")):
        group = [Box(x=x + k * DATE_CELL_MM, y=top, w=DATE_CELL_MM, h=cell_h) for k in range(count)]
        groups.append(group)
        x += count * DATE_CELL_MM
        units.append((unit, Box(x=x + 0.5, y=cy - 2.5, w=DATE_UNIT_MM - 1, h=5)))
        x += DATE_UNIT_MM
    return DateLayout(eras, era_labels, groups[0], groups[1], groups[2], units)


def date_min_width_mm(field: FieldDef) -> float:
    cells = DATE_YEAR_CELLS + DATE_MONTH_CELLS + DATE_DAY_CELLS
    return len(field.eras) * DATE_ERA_WIDTH_MM + 2 + cells * DATE_CELL_MM + 3 * DATE_UNIT_MM


def tick_boxes(field: FieldDef) -> list[tuple[str, Box]]:
    """(value, box) for every tick box of a checkbox or choice field."""
    if field.type is FieldType.CHECKBOX:
        return [("true", field.box)]
    if field.type is FieldType.CHOICE:
        return [(o.value, o.box) for o in field.options]
    if field.type is FieldType.DATE:
        return [(o.value, o.box) for o in field.options] if field.parts else date_layout(field).eras
    return []


@dataclass(frozen=True)
class MarkTarget:
    """One thing a person can mark: its value, its printed tick box and where its label prints
    (None when it has none). A mark may go in the box or around the box or the label."""

    value: str
    box: Box
    label: Box | None


def text_box(left: float, middle: float, text: str, size_mm: float) -> Box:
    """Where ``text`` printed left-middle anchored at (``left``, ``middle``) lies, in mm: a full
    em per character (Japanese labels), so it covers half-width text too."""
    return Box(x=left, y=middle - size_mm / 2, w=max(1, len(text)) * size_mm, h=size_mm)


def mark_targets(field: FieldDef) -> list[MarkTarget]:
    """The markable options of a checkbox, choice or date (its calendars), with their labels."""
    if field.type is FieldType.CHECKBOX:
        b = field.box
        label = text_box(b.right + HINT_GAP_MM, b.y + b.h / 2, field.hint, HINT_MM) if field.hint else None
        return [MarkTarget("true", b, label)]
    if field.options and (field.marking == "circle" or field.parts):
        # printed words to circle (existing forms): the word is both the box and the label
        return [MarkTarget(o.value, o.box, o.box) for o in field.options]
    if field.type is FieldType.DATE and field.parts:
        return []
    if field.type is FieldType.CHOICE:
        return [MarkTarget(o.value, o.box, text_box(o.box.right + CHOICE_LABEL_GAP_MM, o.box.y + o.box.h / 2,
                                                    o.label, CHOICE_LABEL_MM)) for o in field.options]
    if field.type is FieldType.DATE:
        lay = date_layout(field)
        return [MarkTarget(era, box, text_box(lb.x, lb.y + lb.h / 2, era, DATE_ERA_LABEL_MM))
                for (era, box), (_, lb) in zip(lay.eras, lay.era_labels, strict=True)]
    return []
