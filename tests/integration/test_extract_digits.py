"""Digit cells read with the real Tesseract: short lines, 1 against 7, slashed zeros."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yomitori.extract.fields import CropReader
from yomitori.fonts import font, handwriting_font_paths
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import Box
from yomitori.ocr.engine import FieldHint
from yomitori.ocr.tesseract import TesseractEngine

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    e = TesseractEngine()
    yield e
    e.close()


def _page_with_cells(text: str, path: str, cells: int) -> tuple[np.ndarray, list[Box]]:
    """A 300 dpi working page with ``cells`` 8x10 mm cells (drop-out grey lines) and ``text``
    written right-aligned in them, one character per cell."""
    img = Image.new("L", (round(mm_to_px(120, 300)), round(mm_to_px(30, 300))), 255)
    draw = ImageDraw.Draw(img)
    boxes = [Box(x=10 + 8 * i, y=10, w=8, h=10) for i in range(cells)]
    for b in boxes:
        draw.rectangle((mm_to_px(b.x, 300), mm_to_px(b.y, 300), mm_to_px(b.right, 300),
                        mm_to_px(b.bottom, 300)), outline=170, width=3)
    f = font(path, round(mm_to_px(6.5, 300)))
    for b, ch in zip(boxes[cells - len(text):], text, strict=True):
        centre = (mm_to_px(b.x + b.w / 2, 300), mm_to_px(b.y + b.h / 2, 300))
        draw.text(centre, ch, font=f, fill=25, anchor="mm")
    return np.asarray(img), boxes


@pytest.mark.parametrize("path", handwriting_font_paths())
@pytest.mark.parametrize(("text", "cells"), [("7", 2), ("1", 2), ("0", 2), ("11", 2), ("001", 3),
                                             ("7328445", 7)])
def test_cells_read_right_and_sure(engine, path, text, cells):
    # Given a row of cells with digits written in a handwriting font (short rows included,
    # which Tesseract alone reads badly)
    page, boxes = _page_with_cells(text, path, cells)
    # When the cells are read
    value, conf = CropReader(page, engine).read_cells(boxes, FieldHint(field_type="digits", single_char=True))
    # Then the digits are right; empty cells are skipped
    assert value == text
    assert 0.0 <= conf <= 1.0


def test_empty_cells_read_as_nothing(engine):
    page, boxes = _page_with_cells("", handwriting_font_paths()[0], 3)
    value, conf = CropReader(page, engine).read_cells(boxes, FieldHint(field_type="digits", single_char=True))
    assert value == "" and conf > 0.9


def test_short_rows_are_mostly_read_with_confidence(engine):
    # Given one or two digits written in two cells with each handwriting font (one or two
    # characters give the line reader no context; such rows are set several times over)
    sure = total = 0
    for path in handwriting_font_paths():
        for text in ("1", "0", "11"):
            page, boxes = _page_with_cells(text, path, 2)
            # When read
            value, conf = CropReader(page, engine).read_cells(boxes, FieldHint(field_type="digits",
                                                                               single_char=True))
            assert value == text
            total += 1
            sure += conf >= 0.85
    # Then nearly all of them clear the digits threshold (a single reading of the row: 4 of 6)
    assert sure >= total - 1
