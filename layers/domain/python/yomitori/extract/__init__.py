"""Template-driven extraction: one scanned page in, one :class:`DocumentResult` out.

load safely -> find the registration marks -> orientation -> warp onto the template -> grey
levels of a too light or too dark scan stretched back -> check the form code -> read every
field by type -> normalise. Routing (statuses) is left to
:func:`yomitori.validation.route_document`. Runs in Lambda and on one machine; engine-agnostic.
"""

from __future__ import annotations

import time
from pathlib import Path

from PIL import Image

from yomitori.extract.align import WORK_DPI, Alignment, align_page, check_form_code, normalise_levels
from yomitori.extract.crops import box_px, drop_out
from yomitori.extract.fields import CropReader, PageWordsReader, read_field
from yomitori.extract.images import load_grey
from yomitori.extract.register import load_reference, register_page, subtract_reference
from yomitori.forms.schema import FormDefinition
from yomitori.ocr.engine import OcrEngine
from yomitori.results import ALIGNMENT_UNCERTAIN, DocumentResult


def extract_document(
    image: bytes | Path,
    form: FormDefinition,
    engine: OcrEngine,
    *,
    batch_id: str,
    document_id: str,
    source: str,
) -> DocumentResult:
    """Read every field of ``form`` from one page image.

    Fills value, raw, confidence and box (in pixels of the original scan) per field; statuses
    are left for routing. Raises :class:`yomitori.errors.DocumentError` with code
    ``empty_file``, ``not_an_image``, ``corrupt_image``, ``image_too_large``, ``blank_page``,
    ``no_registration_marks`` or ``wrong_form`` (yomitori-printed forms), ``poor_alignment``,
    ``reference_missing`` (existing forms) when the page cannot be read."""
    started = time.perf_counter()
    grey = load_grey(image, name=source)
    if form.is_existing:
        # the office's own form: features matched to its blank, the blank's print subtracted
        ref = load_reference(form)
        grey = normalise_levels(grey)  # a too light or too dark scan, before matching and subtracting
        page, alignment = register_page(grey, form, ref)
        page = subtract_reference(page, ref)
        # a page lying at 90/270 is read all the same; results carry 0 or 180 (the review page
        # shows the scan as it lay, with the field boxes in its own pixels)
        rotation = 180 if alignment.rotation == 180 else 0
        uncertain = alignment.uncertain
    else:
        page, alignment = align_page(grey, form)
        page = normalise_levels(page)
        check_form_code(page, form)
        rotation = 180 if alignment.rotated_180 else 0
        uncertain = False
    del grey
    if engine.reads_pages:
        words = engine.read_page(Image.fromarray(drop_out(page)))
        reader = PageWordsReader(page, words)
    else:
        reader = CropReader(page, engine)
    fields = {}
    for f in form.fields:
        result = read_field(reader, page, f)
        result.box = alignment.to_scan_box(box_px(f.box))
        if uncertain and ALIGNMENT_UNCERTAIN not in result.reasons:
            result.reasons.append(ALIGNMENT_UNCERTAIN)  # a person sees every field of this page
        fields[f.name] = result
    return DocumentResult(
        batch_id=batch_id,
        document_id=document_id,
        source=source,
        form_id=form.id,
        page_rotation=rotation,
        fields=fields,
        seconds=round(time.perf_counter() - started, 3),
    )


__all__ = ["WORK_DPI", "Alignment", "extract_document"]
