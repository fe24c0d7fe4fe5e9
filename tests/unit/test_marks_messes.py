"""Marks and messes as people make them, on synth pages drawn at the working resolution (the
page is its own aligned template), read without OCR or with the fake engine."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yomitori.extract.crops import DROPOUT_CUT, has_writing, remove_specks, split_at_gaps
from yomitori.extract.fields import CropReader, read_field
from yomitori.extract.images import load_grey
from yomitori.extract.kana import fix_small_kana
from yomitori.extract.marks import read_marks
from yomitori.extract.messes import erase_correction
from yomitori.fonts import handwriting_font_paths
from yomitori.forms import load_form
from yomitori.forms.layout import mark_targets, mm_to_px
from yomitori.ocr.fake import FakeEngine
from yomitori.render import render_form
from yomitori.results import CORRECTION_MARK, DocumentResult
from yomitori.synth import to_scanner_grey
from yomitori.synth.handwriting import MARK_STYLES, Pen
from yomitori.synth.messes import LEVELS, MessyWriter
from yomitori.validation.routing import route_document

DPI = 300


def field(form, name):
    return next(f for f in form.fields if f.name == name)


def pen(style="check", seed=3, font=0):
    p = Pen.for_document(handwriting_font_paths()[font], np.random.default_rng(seed), DPI)
    p.check_style = style
    return p


def mark(page, f, value, style, seed=3):
    t = next(t for t in mark_targets(f) if t.value == value)
    pen(style, seed).mark(page, t.box, t.label)


@pytest.fixture(scope="module")
def water():
    return load_form("water_start")


@pytest.fixture(scope="module")
def blank(water):
    return render_form(water, DPI)


@pytest.mark.parametrize("style", MARK_STYLES)
@pytest.mark.parametrize("value", ["普通", "当座"])
def test_every_kind_of_mark_chooses_its_option(water, blank, style, value):
    # Given 預金種目 marked with a tick, fill, cross, scribble, or a circle around box or label
    page = blank.copy()
    mark(page, field(water, "account_type"), value, style)
    # When the marks are read
    got, conf = read_marks(to_scanner_grey(page), field(water, "account_type"))
    # Then that option is chosen, surely
    assert (got, style) == (value, style) and conf >= 0.9


@pytest.mark.parametrize("era", ["西暦", "令和", "平成", "昭和", "大正"])
def test_a_circle_around_an_era_sets_that_era_and_not_its_neighbour(era):
    # Given the five-calendar birth date of the furusato form with one era's label circled
    form = load_form("furusato_onestop")
    f = field(form, "birth_date")
    for seed in (1, 2, 3):
        page = render_form(form, DPI)
        mark(page, f, era, "circle_label", seed)
        # When its calendar is read, Then it is that era (a circle ends near the next box)
        got, conf = read_marks(to_scanner_grey(page), f)
        assert got == era and conf >= 0.9, (seed, got, conf)


def test_an_unmarked_choice_is_empty_even_with_dust_around_it(water, blank):
    page = blank.copy()
    f = field(water, "account_type")
    draw = ImageDraw.Draw(page)
    for t in mark_targets(f):  # dust specks just outside each box and label
        for bx in (t.box, t.label):
            x, y = mm_to_px(bx.right + 0.8, DPI), mm_to_px(bx.y - 0.8, DPI)
            draw.ellipse((x - 2, y - 2, x + 2, y + 2), fill=(40, 40, 40))
    assert read_marks(to_scanner_grey(page), f) == ("", 0.99)


def test_a_circle_on_one_option_and_a_tick_on_the_other_goes_to_a_person(water, blank):
    page = blank.copy()
    f = field(water, "account_type")
    mark(page, f, "普通", "circle_label")
    mark(page, f, "当座", "check")
    value, conf = read_marks(to_scanner_grey(page), f)
    assert value in ("普通", "当座") and conf <= 0.3


def test_a_circled_checkbox_is_ticked():
    form = load_form("furusato_onestop")
    f = field(form, "declaration_income")
    page = render_form(form, DPI)
    pen("circle_box").mark(page, f.box)
    assert read_marks(to_scanner_grey(page), f)[0] == "true"
    assert read_marks(to_scanner_grey(render_form(form, DPI)), f) == ("false", 0.99)


def corrected_page(blank, water, name, value, seed=4):
    """``value`` written into field ``name`` as a correction: a wrong value struck through."""
    page = blank.copy()
    spec = LEVELS["heavy"]
    writer = MessyWriter(spec.__class__(**{**spec.__dict__, "correction": 1.0}), pen(seed=seed), seed, 1)
    writer.write_line(page, field(water, name), value)
    assert [name, "correction"] in writer.log
    return np.array(to_scanner_grey(page))  # writable, like an aligned page


@pytest.mark.parametrize("name, value", [("name", "後藤\u3000愛"), ("phone", "090-1234-5678"),
                                         ("name_kana", "ゴトウ\u3000アイ")])
def test_a_struck_through_value_is_erased_and_the_field_goes_to_a_person(water, blank, name, value):
    # Given a field whose first value is struck through and the right one written beside it
    page = corrected_page(blank, water, name, value)
    f = field(water, name)
    engine = FakeEngine({name: (value, 0.99)})
    # When the field is read
    result = read_field(CropReader(page, engine), page, f)
    # Then the old value is gone from what the engine sees (only the right-hand part has ink)
    left = page[round(mm_to_px(f.box.y + 1, DPI)):round(mm_to_px(f.box.bottom - 1, DPI)),
                round(mm_to_px(f.box.x + 1, DPI)):round(mm_to_px(f.box.x + f.box.w * 0.4, DPI))]
    assert (left >= DROPOUT_CUT).all()
    # and the field carries 訂正あり with a low confidence, which routing keeps: a person looks
    assert result.value and CORRECTION_MARK in result.reasons and result.confidence <= 0.5
    doc = DocumentResult(batch_id="b", document_id="d", source="s", form_id=water.id, fields={name: result})
    route_document(water, doc)
    route_document(water, doc)  # routing again (after review) keeps the reader's reason
    assert doc.fields[name].reasons.count(CORRECTION_MARK) == 1 and doc.fields[name].status == "needs_review"


def test_clean_handwriting_is_never_taken_for_a_correction(water, blank):
    # Given every line field written normally, in both default hands
    values = {"address": "東京都千代田区一番町二丁目三番", "name": "三田\u3000一二三",
              "name_kana": "サンダ\u3000ヒフミ", "phone": "03-1111-2222",
              "account_holder": "ニシ\u3000ミチヨ"}
    for font in (0, 1):
        page = blank.copy()
        p = pen(font=font)
        for name, value in values.items():
            p.write_line(page, field(water, name).box, value)
        grey = to_scanner_grey(page)
        # Then no field is taken for a struck-through correction
        for name in values:
            assert not erase_correction(grey.copy(), field(water, name)), (font, name)


def test_a_thin_one_is_writing_and_a_speck_is_not():
    cell = np.full((80, 80), 255, np.uint8)
    one = cell.copy()
    one[15:65, 40] = 60  # a one-pixel stroke 50 px (4 mm) tall: 50 ink pixels
    speck = cell.copy()
    speck[38:43, 38:43] = 40  # 25 ink pixels, 0.4 mm across
    assert has_writing(one) and not has_writing(speck) and not has_writing(cell)


def test_isolated_specks_are_cleaned_but_dots_by_a_stroke_stay():
    arr = np.full((120, 400), 255, np.uint8)
    arr[30:90, 50:56] = 30  # a stroke
    arr[30:34, 62:66] = 30  # a dakuten-like dot beside it
    arr[100:104, 300:304] = 30  # dust far away
    out = remove_specks(arr)
    assert (out[30:34, 62:66] == 30).all() and (out[100:104, 300:304] == 255).all()


def test_a_speck_far_from_the_writing_is_not_a_piece_of_the_line():
    arr = np.full((120, 600), 255, np.uint8)
    arr[30:90, 50:110] = 30  # a character
    arr[60:63, 400:403] = 30  # a speck one line-height and more away
    assert len(split_at_gaps(arr, 1.0)) == 1


def test_small_kana_are_fixed_after_the_kana_that_follow_them():
    assert fix_small_kana("テッャ") == "テツヤ"
    assert fix_small_kana("サッカー") == "サッカー"
    assert fix_small_kana("きゃっと\u3000ゆう") == "キャット\u3000ユウ"  # a reading written in hiragana


def test_a_colour_scan_loses_its_red_seal_but_keeps_black_and_blue_ink():
    # Given a colour scan: black and blue writing, a vermilion seal over it
    img = Image.new("RGB", (200, 100), "white")
    d = ImageDraw.Draw(img)
    d.rectangle((10, 10, 60, 30), fill=(25, 25, 30))
    d.rectangle((70, 10, 120, 30), fill=(30, 70, 200))
    d.ellipse((100, 20, 180, 95), outline=(205, 45, 40), width=8)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    # When loaded
    grey = load_grey(buf.getvalue())
    # Then the seal is as light as the drop-out print, the writing stays dark
    assert grey[20, 30] < 80 and grey[20, 90] < 80
    assert grey[60, 101:108].min() >= DROPOUT_CUT


def test_heavy_synth_records_its_messes_and_light_has_none(tmp_path, water):
    import datetime as dt
    import json

    from yomitori.synth import generate

    generate(water, count=3, out_dir=tmp_path / "h", seed=5, degrade="heavy", today=dt.date(2025, 6, 1))
    generate(water, count=2, out_dir=tmp_path / "l", seed=5, degrade="light", today=dt.date(2025, 6, 1))
    heavy = [json.loads(p.read_text("utf-8")) for p in sorted((tmp_path / "h" / "truth").glob("*.json"))]
    light = [json.loads(p.read_text("utf-8")) for p in sorted((tmp_path / "l" / "truth").glob("*.json"))]
    assert all(any(k.startswith("mark:") for _, k in t["messes"]) for t in heavy)
    assert all("messes" not in t for t in light)
    # the truth stays what the writer meant: katakana readings
    katakana = {chr(c) for c in range(0x30A1, 0x30F7)} | {"ー", "\u3000"}
    assert all(set(t["fields"]["name_kana"]) <= katakana for t in heavy)
