"""Existing forms aligned without corner marks: ORB features and a robust fit to the
registered blank, a print-overlap score, and the blank's print subtracted."""

from __future__ import annotations

import datetime as dt

import cv2
import numpy as np
import pytest
from PIL import Image
from yomitori.errors import DocumentError
from yomitori.extract.crops import DROPOUT_CUT, box_px
from yomitori.extract.images import load_grey
from yomitori.extract.register import load_reference, register_page, subtract_reference
from yomitori.forms import load_form
from yomitori.render import render_form
from yomitori.synth import generate


@pytest.fixture(scope="module")
def form():
    return load_form("water_city")


@pytest.fixture(scope="module")
def scans(tmp_path_factory, form):
    out = tmp_path_factory.mktemp("city")
    return generate(form, count=3, out_dir=out, seed=5, degrade="heavy", today=dt.date(2025, 6, 1))


def _ink_in(page: np.ndarray, box) -> int:
    x0, y0, x1, y1 = box_px(box, 0.8)
    return int(np.count_nonzero(page[y0:y1, x0:x1] < DROPOUT_CUT))


def test_heavy_scans_align_to_the_blank_and_keep_only_the_handwriting(form, scans):
    # Given heavy synthetic scans of the existing form (skew, blur, JPEG, stamps in office areas)
    ref = load_reference(form)
    for path in scans:
        # When registered to its blank and the blank's print subtracted
        page, reg = register_page(load_grey(path), form, ref)
        clean = subtract_reference(page, ref)
        # Then the fit is good, and the printed labels are gone while the writing stays
        assert reg.score > 0.9 and reg.inliers >= 40
        assert _ink_in(clean, form.field("name").box) > 200  # the handwritten name
        assert _ink_in(clean, form.field("account_holder").box) > 200
        label_column = form.field("address").box.model_copy(update={"x": 16.0, "w": 33.0})
        printed = _ink_in(page, label_column)  # 使用場所 printed in the label column
        assert printed > 1000 and _ink_in(clean, label_column) < 0.05 * printed


def test_a_page_turned_upside_down_is_aligned_and_says_so(form, scans):
    # Given a scan, and the same scan turned upside down
    grey = load_grey(scans[0])
    _, as_fed = register_page(grey, form)
    # When the turned one is registered
    page, reg = register_page(grey[::-1, ::-1].copy(), form)
    # Then it is turned back, and the result says by how much
    assert reg.rotation == (as_fed.rotation + 180) % 360 and reg.score > 0.9


def test_the_blank_minus_itself_is_blank(form):
    # Given the blank itself as a scan
    ref = load_reference(form)
    page, reg = register_page(ref.page.copy(), form, ref)
    # When its print is subtracted, nothing is left to read
    clean = subtract_reference(page, ref)
    assert reg.score > 0.98
    assert np.count_nonzero(clean < DROPOUT_CUT) < 0.0005 * clean.size


def test_a_page_of_another_form_is_refused_not_read(form):
    # Given a yomitori-printed form of another kind
    other = np.asarray(render_form(load_form("water_start"), 300).convert("L"))
    # When registered as the existing form, it is refused with a clear code and action
    with pytest.raises(DocumentError) as e:
        register_page(other, form)
    assert e.value.code == "poor_alignment"
    assert "forms new" in e.value.action


def test_a_page_whose_lower_part_is_missing_is_refused_rather_than_read_shifted(form, scans):
    # Given a scan with most of the page lost (a fold, a cut)
    grey = load_grey(scans[1])
    grey[grey.shape[0] // 3:, :] = 255
    # When registered, it is a poor fit (too little of the print where it should be)
    with pytest.raises(DocumentError) as e:
        register_page(grey, form)
    assert e.value.code == "poor_alignment"


def test_a_blank_sheet_is_a_blank_page(form):
    with pytest.raises(DocumentError) as e:
        register_page(np.full((3508, 2480), 250, np.uint8), form)
    assert e.value.code == "blank_page"


def test_scans_at_another_resolution_align_onto_the_same_page(form, scans):
    # Given a 200 dpi scan
    grey = load_grey(scans[2])
    small = cv2.resize(grey, (round(grey.shape[1] * 2 / 3), round(grey.shape[0] * 2 / 3)),
                       interpolation=cv2.INTER_AREA)
    # When registered, it lands on the working page of the 300 dpi scan
    page_a, _ = register_page(grey, form)
    page_b, reg = register_page(small, form)
    assert reg.scan_dpi == pytest.approx(200, rel=0.05)
    diff = np.abs(page_a.astype(int) - page_b.astype(int))
    assert np.median(diff) < 10
    Image.fromarray(page_b)  # a plain grey page


def test_the_classifier_hook_names_the_registered_form_a_page_fits(form, scans):
    from yomitori.extract.register import match_reference

    # a filled existing form is recognised among the installed existing forms; a yomitori form is not
    assert match_reference(load_grey(scans[0])) == "water_city"
    other = np.asarray(render_form(load_form("water_start"), 300).convert("L"))
    assert match_reference(other) is None


def test_stamps_in_the_office_areas_do_not_move_the_fit(form):
    # Given the blank with heavy dark stamps over every office-use area (受付印, お届け印, the table)
    from yomitori.forms.layout import box_to_px

    ref = load_reference(form)
    stamped = ref.page.copy()
    for area in form.office_use:
        x0, y0, x1, y1 = box_to_px(area.box, 300)
        cx, cy, r = (x0 + x1) // 2, (y0 + y1) // 2, min(x1 - x0, y1 - y0) // 2
        cv2.circle(stamped, (cx, cy), r, 30, 12)
        cv2.putText(stamped, "RECEIVED", (x0 + 10, cy), cv2.FONT_HERSHEY_SIMPLEX, 2.0, 30, 8)
    # When registered
    page, reg = register_page(stamped, form, ref)
    # Then the page lands where it is (identity fit), with the print lined up
    assert reg.score > 0.98
    corners = reg.to_scan_box((0, 0, 2480, 3508))
    assert all(abs(a - b) <= 2 for a, b in zip(corners, (0, 0, 2480, 3508), strict=True))
