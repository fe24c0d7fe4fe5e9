"""Extraction with the real Tesseract on a few rendered and filled-in pages (synth)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from PIL import Image
from yomitori.extract import extract_document
from yomitori.forms import load_form
from yomitori.ocr.engine import OcrEngine, Word
from yomitori.ocr.tesseract import TesseractEngine
from yomitori.synth import generate

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def engine():
    e = TesseractEngine()
    yield e
    e.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    paths = generate(load_form("water_start"), count=2, out_dir=out, seed=11, degrade="light",
                     today=dt.date(2025, 6, 1))
    return [(p, json.loads((out / "truth" / f"{p.stem}.json").read_text("utf-8"))) for p in paths]


def test_reads_filled_forms_close_to_truth(pages, engine):
    # Given two filled water_start pages (Klee One and Seto) with their truth
    form = load_form("water_start")
    right = total = 0
    for path, truth in pages:
        # When extracted with Tesseract
        doc = extract_document(path, form, engine, batch_id="b", document_id=path.stem, source=path.name)
        # Then every field has a value, a confidence in 0..1 and a box inside the scan
        w, h = Image.open(path).size
        for name, want in truth["fields"].items():
            fr = doc.fields[name]
            assert 0.0 <= fr.confidence <= 1.0
            x0, y0, x1, y1 = fr.box
            assert -5 <= x0 < x1 <= w + 5 and -5 <= y0 < y1 <= h + 5
            total += 1
            right += fr.value == want
        # and the digit fields and dates, where the voting readers are strongest, are right
        for name in ("bank_code", "application_date", "account_type"):
            assert doc.fields[name].value == truth["fields"][name], name
    assert right / total >= 0.8


def test_upside_down_scan_is_read_not_failed(pages, engine, tmp_path):
    # Given the first page turned upside down
    path, truth = pages[0]
    flipped = tmp_path / "flipped.png"
    Image.open(path).rotate(180).save(flipped)
    # When extracted
    form = load_form("water_start")
    doc = extract_document(flipped, form, engine, batch_id="b", document_id="f", source="flipped.png")
    # Then the dates and codes read the same as the right way up
    for name in ("bank_code", "branch_code", "application_date"):
        assert doc.fields[name].value == truth["fields"][name], name


class _PageWords(OcrEngine):
    """A page-reading engine (like Textract) that 'sees' given words at given page positions."""

    name = "fake-page"
    reads_pages = True

    def __init__(self, words):
        self.words = words
        self.pages_read = 0

    def read_field(self, crop, hint):  # pragma: no cover - a page engine is never asked for fields
        raise AssertionError("page engines read pages, not fields")

    def read_page(self, page):
        self.pages_read += 1
        return self.words


def test_page_engine_words_are_assigned_to_fields_by_box(pages):
    # Given an engine that returns words placed inside the postal code and address boxes of the
    # 300 dpi working page, plus one word outside every field
    form = load_form("water_start")
    px = 300 / 25.4
    postal, address = form.field("postal_code").box, form.field("address").box

    def at(box, dx_mm, text):
        x, y = (box.x + dx_mm) * px, (box.y + box.h / 2) * px
        return Word(text, (round(x), round(y - 20), round(x + 30), round(y + 20)), 0.9)

    words = [at(postal, 2, "123"), at(postal, 20, "4567"), at(address, 5, "東京都"), at(address, 20, "港区"),
             Word("ノイズ", (5, 5, 30, 30), 0.9)]
    engine = _PageWords(words)
    # When a real page is extracted with it
    path, _ = pages[0]
    doc = extract_document(path, form, engine, batch_id="b", document_id="p", source=path.name)
    # Then the page was read once and words landed in their fields, in reading order
    assert engine.pages_read == 1
    assert doc.fields["postal_code"].value == "1234567"
    assert doc.fields["address"].value.replace(" ", "") == "東京都港区"
    assert doc.fields["address"].confidence == pytest.approx(0.9)
