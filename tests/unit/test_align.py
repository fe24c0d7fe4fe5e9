"""Registration: transform estimation from mark centres, and alignment of rendered pages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from yomitori.errors import DocumentError
from yomitori.extract.align import WORK_DPI, align_page, check_form_code, estimate_affine, read_form_code
from yomitori.forms import load_form
from yomitori.forms.layout import form_code_bits, mm_to_px, registration_mark_centres
from yomitori.render import render_form


def _template_px(form):
    centres = registration_mark_centres(form)
    return np.array([(mm_to_px(x, WORK_DPI), mm_to_px(y, WORK_DPI)) for x, y in centres])


def _similarity(points, angle_deg, scale, shift):
    a = math.radians(angle_deg)
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]]) * scale
    return points @ rot.T + np.array(shift)


@pytest.mark.parametrize(("angle", "scale", "shift"), [(0, 1.0, (0, 0)), (3, 1.02, (40, -25)),
                                                        (-4, 0.98, (-60, 18)), (180, 1.0, (2480, 3508))])
def test_affine_recovers_rotation_shift_scale(angle, scale, shift):
    # Given the template mark centres and where a skewed, scaled, shifted scan shows them
    form = load_form("water_start")
    template = _template_px(form)
    scan = _similarity(template, angle, scale, shift)
    # When the transform scan -> template is estimated
    m, residual = estimate_affine(scan, template)
    # Then it maps every scan point back onto the template, exactly
    mapped = np.hstack([scan, np.ones((4, 1))]) @ m.T
    assert residual < 1e-6
    np.testing.assert_allclose(mapped, template, atol=1e-6)


def test_affine_reports_marks_that_do_not_fit():
    # Given four points where one mark is 50 px off the rectangle
    template = _template_px(load_form("water_start"))
    scan = template.copy()
    scan[3] += (50, 0)
    # When estimated, Then the residual shows the misfit
    _, residual = estimate_affine(scan, template)
    assert residual > 5


def _scan(form, dpi=200, angle=0.0, flip=False):
    page = render_form(form, dpi).convert("L")
    if angle:
        page = page.rotate(angle, resample=Image.BILINEAR, expand=False, fillcolor=255)
    if flip:
        page = page.rotate(180)
    return np.asarray(page)


@pytest.mark.parametrize(("angle", "flip"), [(0.0, False), (2.5, False), (-1.5, True)])
def test_align_page_finds_marks_orientation_and_form_code(angle, flip):
    # Given a blank water_start form "scanned" at 200 dpi, skewed and maybe upside down
    form = load_form("water_start")
    grey = _scan(form, angle=angle, flip=flip)
    # When aligned onto the 300 dpi template
    page, alignment = align_page(grey, form)
    # Then the orientation is detected and the form code strip reads back as printed
    assert alignment.rotated_180 is flip
    assert read_form_code(page, form) == form_code_bits(form.id)
    check_form_code(page, form)
    # and a template box maps into the scan at about 200/300 of its size
    x0, y0, x1, y1 = alignment.to_scan_box((300, 300, 600, 450))
    assert abs((x1 - x0) - 200) < 12 and abs((y1 - y0) - 100) < 12


def test_wrong_form_is_refused_by_its_code():
    # Given a water_stop page aligned as if it were water_start (same marks, other code)
    grey = _scan(load_form("water_stop"))
    start = load_form("water_start")
    page, _ = align_page(grey, start)
    # When the code strip is checked, Then it is refused as the wrong form
    with pytest.raises(DocumentError) as e:
        check_form_code(page, start)
    assert e.value.code == "wrong_form"


def test_blank_and_markless_pages():
    form = load_form("water_start")
    # Given a white page, Then blank_page
    with pytest.raises(DocumentError) as e:
        align_page(np.full((2339, 1654), 255, np.uint8), form)
    assert e.value.code == "blank_page"
    # Given a page with writing but no corner marks, Then no_registration_marks, saying to rescan
    grey = np.full((2339, 1654), 255, np.uint8)
    grey[1000:1040, 400:1200] = 0
    with pytest.raises(DocumentError) as e:
        align_page(grey, form)
    assert e.value.code == "no_registration_marks"
    assert "whole page" in e.value.action


@pytest.mark.parametrize("turn", [90, 270])
@pytest.mark.parametrize("form_id", ["water_start", "salary_report"])
def test_a_sideways_page_is_turned_and_its_boxes_map_back_onto_the_scan(form_id, turn):
    # Given a form with an ink block drawn in a known place, fed in sideways (200 dpi)
    from PIL import ImageDraw

    form = load_form(form_id)
    upright = render_form(form, 200).convert("L")
    block = (40.0, 150.0, 70.0, 160.0)  # mm: left, top, right, bottom
    px = [round(mm_to_px(c, 200)) for c in block]
    ImageDraw.Draw(upright).rectangle(px, fill=0)
    grey = np.asarray(upright.rotate(turn, expand=True))  # PIL turns counter-clockwise
    # When aligned
    page, alignment = align_page(grey, form)
    # Then the turn is recorded (degrees clockwise that right the scan) and the code reads
    assert alignment.rotation == turn
    check_form_code(page, form)
    # and the block's template box maps onto the block in the sideways scan
    tpl = tuple(round(mm_to_px(c, WORK_DPI)) for c in block)
    x0, y0, x1, y1 = alignment.to_scan_box(tpl)
    inside = grey[y0 + 3:y1 - 3, x0 + 3:x1 - 3]
    assert inside.size and inside.mean() < 30
    # and the warped page holds the block where the template says
    assert page[tpl[1] + 5:tpl[3] - 5, tpl[0] + 5:tpl[2] - 5].mean() < 30
