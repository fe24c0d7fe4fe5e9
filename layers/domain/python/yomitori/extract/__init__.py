"""Template-driven extraction: scanned page(s) in, one :class:`DocumentResult` out.

load safely -> grey levels of a too light or too dark scan stretched back -> find the
registration marks -> orientation -> warp onto the template -> check the form code -> scanner
streaks removed -> read every field by type -> normalise. An existing form (``layout:
existing``) is registered to its blank by features and the blank's print subtracted instead of
the marks and the code strip (:mod:`yomitori.extract.register`). Routing (statuses) is left to
:func:`yomitori.validation.route_document`. Runs in Lambda and on one machine; engine-agnostic.
A form of several pages (``pages: N``) reads each page's fields from its own page.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from yomitori.extract.align import WORK_DPI, Alignment, align_page, check_form_code
from yomitori.extract.crops import box_px, drop_out
from yomitori.extract.fields import CropReader, PageWordsReader, doubt_marks_on_a_pencilled_page, read_field
from yomitori.extract.images import load_grey
from yomitori.extract.messes import flag_streak
from yomitori.extract.register import load_reference, register_page, subtract_reference
from yomitori.extract.scanner import normalise_levels, remove_streaks, streak_crosses
from yomitori.forms.schema import FieldDef, FormDefinition
from yomitori.ocr.engine import OcrEngine
from yomitori.results import ALIGNMENT_UNCERTAIN, DocumentResult, FieldResult


def extract_document(
    image: bytes | Path,
    form: FormDefinition,
    engine: OcrEngine,
    *,
    batch_id: str,
    document_id: str,
    source: str,
) -> DocumentResult:
    """Read every field of ``form`` from one page image (a one-page file).

    Fills value, raw, confidence and box (in pixels of the original scan) per field; statuses
    are left for routing. Raises :class:`yomitori.errors.DocumentError` with code
    ``empty_file``, ``not_an_image``, ``corrupt_image``, ``image_too_large``,
    ``multi_page_file``, ``blank_page``, ``no_registration_marks`` or ``wrong_form``
    (yomitori-printed forms), ``poor_alignment`` or ``reference_missing`` (existing forms) when
    the page cannot be read."""
    grey = load_grey(image, name=source)
    return extract_pages([grey], form, engine, batch_id=batch_id, document_id=document_id, source=source)


def extract_pages(
    greys: Sequence[np.ndarray],
    form: FormDefinition,
    engine: OcrEngine,
    *,
    batch_id: str,
    document_id: str,
    source: str,
    source_pages: Sequence[int] = (1,),
) -> DocumentResult:
    """Read ``form`` from its decoded pages (``form.pages`` of them, in order). Raises
    DocumentError as :func:`extract_document` for the first page that cannot be read."""
    started = time.perf_counter()
    if len(greys) != form.pages:
        raise ValueError(f"form '{form.id}' has {form.pages} page(s), got {len(greys)}")
    fields: dict[str, FieldResult] = {}
    rotation = 0
    for number, grey in enumerate(greys, start=1):
        page, alignment, uncertain = _aligned(normalise_levels(grey), form)
        if number == 1:
            rotation = alignment.rotation
        fields.update(_read_page(page, alignment, [f for f in form.fields if f.page == number], engine,
                                 uncertain=uncertain))
    return DocumentResult(
        batch_id=batch_id,
        document_id=document_id,
        source=source,
        form_id=form.id,
        page_rotation=rotation,
        source_page=source_pages[0],
        source_pages=list(source_pages) if len(source_pages) > 1 else [],
        fields={f.name: fields[f.name] for f in form.fields},
        seconds=round(time.perf_counter() - started, 3),
    )


def _aligned(grey: np.ndarray, form: FormDefinition) -> tuple[np.ndarray, Alignment, bool]:
    """The page on the form's template, and whether the fit is only fair (every field then goes
    to a person). ``grey`` has had its levels normalised: the blank-page check and the corner
    marks need black ink."""
    if form.is_existing:
        # the office's own form: features matched to its blank, the blank's print subtracted
        ref = load_reference(form)
        page, alignment = register_page(grey, form, ref)
        return subtract_reference(page, ref), alignment, alignment.uncertain
    page, alignment = align_page(grey, form)
    check_form_code(page, form)
    return page, alignment, False


def _read_page(page: np.ndarray, alignment: Alignment, on_page: list[FieldDef], engine: OcrEngine, *,
               uncertain: bool) -> dict[str, FieldResult]:
    """Every field of one aligned page, with the page's own doubts (a scanner streak through a
    field, an only fair fit, pencil) added to the fields they touch."""
    page, streaks = remove_streaks(page, WORK_DPI)  # after the code strip: its cells stand in a row
    if engine.reads_pages:
        reader = PageWordsReader(page, engine.read_page(Image.fromarray(drop_out(page))))
    else:
        reader = CropReader(page, engine)
    fields = {}
    for f in on_page:
        result = read_field(reader, page, f)
        if streak_crosses(page, streaks, box_px(f.box)):
            flag_streak(result)
        result.box = alignment.to_scan_box(box_px(f.box))
        if uncertain and ALIGNMENT_UNCERTAIN not in result.reasons:
            result.reasons.append(ALIGNMENT_UNCERTAIN)
        fields[f.name] = result
    doubt_marks_on_a_pencilled_page(reader, on_page, fields)
    return fields


__all__ = ["WORK_DPI", "Alignment", "extract_document", "extract_pages"]
