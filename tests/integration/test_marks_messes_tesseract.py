"""Lone digits, thin 1s, 元 and a circled era on a whole page, read with the real Tesseract."""

from __future__ import annotations

import io

import numpy as np
import pytest
from yomitori.extract import extract_document
from yomitori.fonts import handwriting_font_paths
from yomitori.forms import load_form
from yomitori.forms.layout import date_layout, mark_targets
from yomitori.ocr.tesseract import TesseractEngine
from yomitori.render import render_form
from yomitori.synth import to_scanner_grey
from yomitori.synth.handwriting import Pen

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    e = TesseractEngine()
    yield e
    e.close()


@pytest.mark.parametrize("font", [0, 1])
@pytest.mark.parametrize("household, era, year, month, day, want", [
    ("4", "令和", "元", "12", "1", "2019-12-01"),
    ("1", "令和", "7", "11", "12", "2025-11-12"),
])
def test_lone_digits_thin_ones_gan_and_a_circled_era_are_read(engine, font, household, era, year, month,
                                                              day, want):
    # Given a water_start page: one digit in the household cells, the era's label circled, the
    # year written 元 or as one digit, months and days with thin 1s
    from PIL import Image

    form = load_form("water_start")
    page = render_form(form, 300)
    pen = Pen.for_document(handwriting_font_paths()[font], np.random.default_rng(7), 300)
    pen.stroke = 0
    pen.check_style = "circle_label"
    fields = {f.name: f for f in form.fields}
    from yomitori.forms.layout import cell_boxes

    pen.write_cells(page, cell_boxes(fields["household_size"]), household, align="right")
    f = fields["start_date"]
    t = next(t for t in mark_targets(f) if t.value == era)
    pen.mark(page, t.box, t.label)
    lay = date_layout(f)
    for cells, text in zip(lay.digit_groups, (year, month, day), strict=True):
        pen.write_cells(page, cells, text, align="right")
    buf = io.BytesIO()
    Image.fromarray(to_scanner_grey(page)).save(buf, "PNG")
    # When the page is extracted
    doc = extract_document(buf.getvalue(), form, engine, batch_id="b", document_id="d", source="p.png")
    # Then the lone digit, the era and the date are read
    assert doc.fields["household_size"].value == household
    assert doc.fields["start_date"].value == want, doc.fields["start_date"].raw
