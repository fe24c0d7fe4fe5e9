"""Printable blank forms: ``yomitori forms render FORM`` (PNG at 300 dpi and A4 PDF).

Labels and registration marks print in ink; writing boxes print in a drop-out colour (see
:mod:`yomitori.forms.layout`) so a greyscale scan can lose them before OCR.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

from yomitori.fonts import font, label_font_path
from yomitori.forms.layout import (
    CHOICE_LABEL_GAP_MM,
    CHOICE_LABEL_MM,
    DATE_ERA_LABEL_MM,
    DROPOUT_RGB,
    HINT_GAP_MM,
    HINT_MM,
    INK_RGB,
    MARK_SIZE_MM,
    ORIENTATION_DOT_MM,
    Box,
    box_to_px,
    cell_boxes,
    date_layout,
    form_code_bits,
    form_code_cells,
    mm_to_px,
    orientation_dot_centre,
    page_size_px,
    registration_mark_centres,
    square,
)
from yomitori.forms.schema import FieldDef, FieldType, FormDefinition

LABEL_COLUMN_X_MM = 16.0


def _text(draw: ImageDraw.ImageDraw, xy_mm: tuple[float, float], text: str, size_mm: float, dpi: int,
          anchor: str = "lm") -> None:
    f = font(label_font_path(), max(8, round(mm_to_px(size_mm, dpi))))
    draw.text((mm_to_px(xy_mm[0], dpi), mm_to_px(xy_mm[1], dpi)), text, font=f, fill=INK_RGB, anchor=anchor)


def _rect(draw: ImageDraw.ImageDraw, box: Box, dpi: int, width_mm: float = 0.3) -> None:
    width = max(1, round(mm_to_px(width_mm, dpi)))
    draw.rectangle(box_to_px(box, dpi), outline=DROPOUT_RGB, width=width)


def _draw_field(draw: ImageDraw.ImageDraw, f: FieldDef, dpi: int) -> None:
    label_y = f.box.y + f.box.h / 2
    _text(draw, (LABEL_COLUMN_X_MM, label_y), f.label, 3.2, dpi)
    if f.type is FieldType.DATE:
        lay = date_layout(f)
        for (_, tick), (era, lb) in zip(lay.eras, lay.era_labels, strict=True):
            _rect(draw, tick, dpi)
            _text(draw, (lb.x, lb.y + lb.h / 2), era, DATE_ERA_LABEL_MM, dpi)
        for group in lay.digit_groups:
            for cell in group:
                _rect(draw, cell, dpi, width_mm=0.2)
        for unit, ub in lay.units:
            _text(draw, (ub.x, ub.y + ub.h / 2), unit, 3.2, dpi)
    elif f.type is FieldType.CHOICE:
        for opt in f.options:
            _rect(draw, opt.box, dpi)
            label_at = (opt.box.right + CHOICE_LABEL_GAP_MM, opt.box.y + opt.box.h / 2)
            _text(draw, label_at, opt.label, CHOICE_LABEL_MM, dpi)
    elif f.type is FieldType.CHECKBOX:
        _rect(draw, f.box, dpi)
    else:
        _rect(draw, f.box, dpi)
        for cell in cell_boxes(f)[1:]:
            x = round(mm_to_px(cell.x, dpi))
            top, bottom = round(mm_to_px(cell.y, dpi)), round(mm_to_px(cell.bottom, dpi))
            draw.line([(x, top), (x, bottom)], fill=DROPOUT_RGB, width=max(1, round(mm_to_px(0.2, dpi))))
    if f.hint:
        _text(draw, (f.box.right + HINT_GAP_MM, label_y), f.hint, HINT_MM, dpi)


def render_form(form: FormDefinition, dpi: int = 300, page_number: int = 1) -> Image.Image:
    """The blank form (its page ``page_number`` of ``form.pages``) as an RGB image at ``dpi``."""
    page = Image.new("RGB", page_size_px(form, dpi), "white")
    draw = ImageDraw.Draw(page)
    for centre in registration_mark_centres(form):
        draw.rectangle(box_to_px(square(centre, MARK_SIZE_MM), dpi), fill=(0, 0, 0))
    draw.rectangle(box_to_px(square(orientation_dot_centre(form), ORIENTATION_DOT_MM), dpi), fill=(0, 0, 0))
    for bit, cell in zip(form_code_bits(form.id), form_code_cells(form), strict=True):
        if bit:
            draw.rectangle(box_to_px(cell, dpi), fill=(0, 0, 0))
    width_mm, _ = form.page_size_mm
    title = form.title if form.pages == 1 else f"{form.title} ({page_number}/{form.pages})"
    _text(draw, (width_mm / 2, 26), title, 6.0, dpi, anchor="mm")
    for f in form.fields:
        if f.page == page_number:
            _draw_field(draw, f, dpi)
    return page


def save_blank(form: FormDefinition, out_dir: Path, dpi: int = 300) -> list[Path]:
    """Write ``<form>.png`` and ``<form>.pdf`` (A4 at ``dpi``) into ``out_dir``; a form of
    several pages gets ``<form>-p1.png`` ... and one PDF of all its pages."""
    out_dir.mkdir(parents=True, exist_ok=True)
    pages = [render_form(form, dpi, n) for n in range(1, form.pages + 1)]
    pngs = ([out_dir / f"{form.id}.png"] if form.pages == 1
            else [out_dir / f"{form.id}-p{n}.png" for n in range(1, form.pages + 1)])
    for page, png in zip(pages, pngs, strict=True):
        page.save(png, dpi=(dpi, dpi))
    pdf = out_dir / f"{form.id}.pdf"
    pages[0].save(pdf, "PDF", resolution=float(dpi), save_all=True, append_images=pages[1:])
    return [*pngs, pdf]
