"""Synthetic filled-in forms with a truth file each: ``yomitori synth`` (one machine).

For each document: realistic values (:mod:`yomitori.synth.values`), written by hand
(:mod:`yomitori.synth.handwriting`) onto the blank form of :func:`yomitori.render.render_form`,
turned grey the way a drop-out scanner does, then degraded (:mod:`yomitori.synth.degrade`).
Writes ``DIR/<document_id>.png|.jpg`` and ``DIR/truth/<document_id>.json``.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from yomitori.errors import ExitCode, YomitoriError
from yomitori.fonts import FontNotFound, font, handwriting_font_paths
from yomitori.forms.layout import SCANNER_GREY_MATRIX, cell_boxes, date_layout, mark_targets
from yomitori.forms.schema import FieldDef, FieldType, FormDefinition
from yomitori.render import render_form
from yomitori.synth.degrade import apply_degradation, level
from yomitori.synth.handwriting import Pen
from yomitori.synth.messes import MessyWriter, messes
from yomitori.synth.values import WESTERN, Value, WrittenDate, generate_values, truth_value

TRUTH_SCHEMA_VERSION = 1
TRUTH_DIR = "truth"
PROGRESS_FROM = 20  # documents; smaller runs finish before progress would help
# Cells of a digits field are filled from the right when the number is shorter (世帯人数 "3").
RIGHT_ALIGNED_TYPES = (FieldType.DIGITS,)


class SynthUsageError(YomitoriError):
    code = "synth_usage"
    exit_code = ExitCode.USAGE
    action = "Check the arguments of `yomitori synth` (see --help)."


def document_id(form: FormDefinition, index: int) -> str:
    """``water_start-0001`` for the first document (1-based)."""
    return f"{form.id}-{index:04d}"


def to_scanner_grey(page: Image.Image) -> np.ndarray:
    """Greyscale the way a drop-out scanner sees the page: mostly the red channel, so the pale
    red boxes almost vanish while dark ink stays dark."""
    return np.asarray(page.convert("L", matrix=SCANNER_GREY_MATRIX))


def write_field(pen: Pen, page: Image.Image, field: FieldDef, value: Value,
                mess: MessyWriter | None = None) -> None:
    """Put ``value`` onto ``page`` the way a person fills in ``field`` (with ``mess``: the way a
    person in a hurry does)."""
    if value == "" or value == "false":
        return
    targets = {t.value: t for t in mark_targets(field)}
    if isinstance(value, WrittenDate) and field.parts:
        _write_existing_date(pen, page, field, value, mess)
    elif field.marking == "circle" and field.type is FieldType.CHOICE:
        pen.circle(page, targets[value].box)  # printed words are circled
    elif isinstance(value, WrittenDate):
        lay = date_layout(field)
        era = targets[value.calendar]
        pen.mark(page, era.box, era.label)
        era_year = value.year_written
        year = mess.year(field, era_year, value.calendar != WESTERN) if mess else str(era_year)
        for cells, number in zip(lay.digit_groups, (year, value.date.month, value.date.day), strict=True):
            pen.write_cells(page, cells, str(number), align="right")
    elif field.type in (FieldType.CHECKBOX, FieldType.CHOICE):
        target = targets[value]
        pen.mark(page, target.box, target.label if field.type is FieldType.CHOICE else None)
    elif field.cells:
        align = "right" if field.type in RIGHT_ALIGNED_TYPES and len(value) < field.cells else "left"
        pen.write_cells(page, cell_boxes(field), mess.spelling(field, value) if mess else value, align=align)
    elif mess is not None:
        mess.write_line(page, field, mess.spelling(field, value))
    else:
        pen.write_line(page, field.box, value)


def _write_existing_date(pen: Pen, page: Image.Image, field: FieldDef, value: WrittenDate,
                         mess: MessyWriter | None) -> None:
    """Numbers into the gaps of 「令和　年　月　日」; the era circled, written, or printed."""
    parts = field.parts
    assert parts is not None
    western = value.calendar == WESTERN
    if field.options:
        pen.circle(page, {o.value: o for o in field.options}[value.calendar].box)
    elif parts.era is not None and not western:
        pen.write_line(page, parts.era, value.calendar)
    year = mess.year(field, value.year_written, not western) if mess else str(value.year_written)
    if parts.era_in_year and not western:
        year = value.calendar + year  # 「令和7」年: era and year in one gap
    for box, number in zip((parts.year, parts.month, parts.day), (year, value.date.month, value.date.day),
                           strict=True):
        pen.write_line(page, box, str(number))


def blank_page(form: FormDefinition, dpi: int) -> Image.Image:
    """The page a writer fills: yomitori's printed form, or an existing form's reference scan."""
    if not form.is_existing:
        return render_form(form, dpi)
    from yomitori.forms.layout import page_size_px
    from yomitori.forms.schema import reference_path

    with Image.open(reference_path(form)) as ref:
        return ref.convert("RGB").resize(page_size_px(form, dpi), Image.LANCZOS)


def _check_fonts(fonts: Sequence[str | Path] | None) -> list[str]:
    paths = [str(p) for p in fonts] if fonts else handwriting_font_paths()
    for p in paths:
        if not Path(p).is_file():
            raise SynthUsageError(f"Font file {p} does not exist.",
                                  action="Pass an existing .ttf/.otf/.ttc file.")
        try:
            font(p, 20)  # fail before writing anything when the file is not a font
        except FontNotFound as e:
            raise SynthUsageError(e.message, action=e.action) from None
    return paths


def _encode(page: np.ndarray, quality: int | None, dpi: int) -> tuple[bytes, str]:
    buf = io.BytesIO()
    image = Image.fromarray(page)  # L, or RGB for a colour scan
    if quality is None:
        image.save(buf, "PNG", dpi=(dpi, dpi), compress_level=1)
        return buf.getvalue(), ".png"
    image.save(buf, "JPEG", quality=quality, dpi=(dpi, dpi))
    return buf.getvalue(), ".jpg"


def generate(
    form: FormDefinition,
    *,
    count: int,
    out_dir: Path,
    seed: int = 1,
    fonts: Sequence[str | Path] | None = None,
    dpi: int = 300,
    degrade: str = "light",
    today: dt.date | None = None,
) -> list[Path]:
    """Write ``count`` filled-in copies of ``form`` into ``out_dir`` with a truth JSON each
    (``out_dir/truth/<document_id>.json``) and return the image paths.

    Fonts alternate by document (default: Klee One and Seto). The same seed, fonts, dpi, level
    and ``today`` (the reference for recent dates, default the current date) give
    byte-identical files. An image of the same document with the other suffix (.png/.jpg)
    from an earlier run is removed. Progress goes to stderr for larger runs. Raises
    :class:`SynthUsageError` for bad arguments and ``FontNotFound`` without default fonts.
    """
    if count < 0:
        raise SynthUsageError(f"--count must be 0 or more (got {count}).")
    if not 100 <= dpi <= 600:
        raise SynthUsageError(f"--dpi must be between 100 and 600 (got {dpi}).")
    spec = level(degrade)
    mess_spec = messes(degrade)
    font_paths = _check_fonts(fonts)
    today = today or dt.date.today()
    out_dir = Path(out_dir)
    (out_dir / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    blank = blank_page(form, dpi)
    paths: list[Path] = []
    for index in range(1, count + 1):
        doc_id = document_id(form, index)
        rng = np.random.default_rng([seed, index])  # per document: any document can be remade alone
        values = generate_values(form, rng, today)
        font_path = font_paths[(index - 1) % len(font_paths)]
        pen = Pen.for_document(font_path, rng, dpi)
        mess = MessyWriter(mess_spec, pen, seed, index) if mess_spec else None
        page = blank.copy()
        for field in form.fields:
            write_field(pen, page, field, values[field.name], mess)
        if mess is not None:
            mess.finish(page)
            if form.office_use:
                mess.office_stamps(page, form.office_use)
        scan = np.asarray(page.convert("RGB")) if mess is not None and mess.colour else to_scanner_grey(page)
        grey, flipped, quality = apply_degradation(scan, spec, rng, form, dpi)
        data, suffix = _encode(grey, quality, dpi)
        image_path = out_dir / f"{doc_id}{suffix}"
        image_path.write_bytes(data)
        for stale in (".png", ".jpg"):  # an earlier run at another level must not be read twice
            if stale != suffix:
                (out_dir / f"{doc_id}{stale}").unlink(missing_ok=True)
        truth = {
            "schema_version": TRUTH_SCHEMA_VERSION,
            "form_id": form.id,
            "document_id": doc_id,
            "source": image_path.name,
            "fields": {f.name: truth_value(f, values[f.name]) for f in form.fields},
            "seed": seed,
            "font": Path(font_path).name,
            "degrade": degrade,
            "rotated_180": flipped,
        }
        if mess is not None:
            truth["messes"] = mess.log
        (out_dir / TRUTH_DIR / f"{doc_id}.json").write_text(
            json.dumps(truth, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        paths.append(image_path)
        if count >= PROGRESS_FROM and (index % max(1, count // 10) == 0 or index == count):
            print(f"synth {index}/{count}", file=sys.stderr, flush=True)
    return paths

