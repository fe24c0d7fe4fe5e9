"""Scanner artefacts: grey levels of a scan made too light or too dark, feeder streaks, dust."""

from __future__ import annotations

import cv2
import numpy as np
from yomitori.extract.align import WORK_DPI
from yomitori.extract.crops import clean_specks
from yomitori.extract.scanner import (
    TARGET_BLACK,
    TARGET_PAPER,
    normalise_levels,
    remove_streaks,
    streak_crosses,
)
from yomitori.forms import load_form
from yomitori.forms.layout import box_to_px, mm_to_px, registration_mark_centres


def test_a_page_scanned_too_light_or_too_dark_gets_nominal_levels_back():
    # Given a page of paper (250), drop-out print (170) and ink (20), and the same page scanned
    # too light (ink at 125) and too dark (paper at 185)
    page = np.full((400, 400), 250, np.uint8)
    page[:, :40] = 170
    page[100:200, 100:200] = 20
    faint = (255 - (255 - page.astype(np.float32)) * 0.5).astype(np.uint8)
    dark = (page.astype(np.float32) * 0.74).astype(np.uint8)
    # When their levels are normalised
    # Then ink is dark again, print stays lighter than the drop-out cut, paper is white
    for scan in (faint, dark):
        out = normalise_levels(scan)
        assert out[150, 150] <= TARGET_BLACK + 5 and out[300, 300] >= TARGET_PAPER - 5
        assert 145 <= out[10, 10] < out[300, 300]
    # and a normal page is left exactly as it is
    assert normalise_levels(page) is page


def _page_with_writing() -> np.ndarray:
    page = np.full((3508, 2480), 250, np.uint8)
    page[1000:1100, 600:1400] = 170  # a drop-out box
    cv2.putText(page, "1234", (650, 1080), cv2.FONT_HERSHEY_SIMPLEX, 3, 20, 8)
    return page


def test_a_feeder_streak_is_removed_and_the_fields_it_crossed_are_known():
    # Given a page with writing in a box, and a slightly slanted streak down the whole sheet
    # that crosses the writing
    page = _page_with_writing()
    clean = page.copy()
    cv2.line(page, (760, 0), (790, 3507), 70, 3)
    # When streaks are removed
    out, removed = remove_streaks(page, 300)
    # Then the streak is gone outside the writing, the drop-out print is untouched
    assert (out[200:800, 740:810] >= 145).all() and (out[2000:3000, 740:820] >= 145).all()
    assert (out[1000:1100, 900:1400] == clean[1000:1100, 900:1400]).all()
    # and the box it crossed is known (a person must look at what the streak covered)
    assert streak_crosses(out, removed, (600, 1000, 1400, 1100))
    assert not streak_crosses(out, removed, (600, 2000, 1400, 2100))  # crossed, but no writing there


def test_writing_and_short_lines_are_not_streaks():
    # Given writing, a long horizontal strike-through and a 5 cm vertical stroke
    page = _page_with_writing()
    cv2.line(page, (200, 1500), (2200, 1500), 20, 4)
    cv2.line(page, (300, 2000), (300, 2600), 20, 4)
    # Then nothing is removed
    out, removed = remove_streaks(page, 300)
    assert removed is None and out is page


def test_round_dust_is_cleaned_but_a_written_circle_and_strokes_stay():
    arr = np.full((150, 600), 255, np.uint8)
    cv2.circle(arr, (100, 75), 6, 40, -1)  # solid dust, 1.1 mm across, far from writing
    cv2.circle(arr, (300, 75), 6, 40, 2)  # a small written ring (。)
    cv2.line(arr, (450, 70), (462, 70), 40, 3)  # a short dash
    out = clean_specks(arr)
    assert (out[65:86, 90:111] == 255).all()
    assert (out[65:86, 290:311] < 145).any() and (out[65:76, 445:467] < 145).any()


def test_a_sparse_page_keeps_its_drop_out_print_light():
    # Given an aligned page with nothing on it but its corner marks and drop-out boxes (a form's
    # second page before anyone wrote on it): the corner marks are its only black

    form = load_form("water_stop")
    page = np.full((3508, 2480), 255, np.uint8)
    for centre in registration_mark_centres(form):
        cx, cy = (round(mm_to_px(c, WORK_DPI)) for c in centre)
        page[cy - 35:cy + 35, cx - 35:cx + 35] = 10
    for f in form.fields:
        x0, y0, x1, y1 = box_to_px(f.box, WORK_DPI)
        page[y0:y1, x0:x0 + 6] = page[y0:y1, x1 - 6:x1] = 170
        page[y0:y0 + 6, x0:x1] = page[y1 - 6:y1, x0:x1] = 170
    x0, y0, _, _ = box_to_px(form.field("name").box, WORK_DPI)
    # When its levels are normalised
    # Then nothing is stretched: the marks are black enough, the drop-out print stays light
    assert normalise_levels(page) is page


def test_pencil_writing_is_read_as_a_suggestion_for_a_person_never_accepted():
    from yomitori.extract.fields import FAINT_CONFIDENCE, CropReader, read_field
    from yomitori.ocr.fake import FakeEngine

    # Given a name box written in pencil: strokes at grey ~170, which the drop-out cut removes
    form = load_form("water_start")
    f = form.field("name")
    page = np.full((3508, 2480), 250, np.uint8)
    x0, y0, _, _ = box_to_px(f.box, WORK_DPI)
    for k in range(3):
        cv2.line(page, (x0 + 60 + 90 * k, y0 + 30), (x0 + 100 + 90 * k, y0 + 110), 172, 5)
    engine = FakeEngine({"name": ("山田", 0.99)})
    # When the field is read
    result = read_field(CropReader(page, engine), page, f)
    # Then the engine did see the darkened writing, and its reading is only a suggestion
    assert engine.calls and result.value == "山田"
    assert result.confidence <= FAINT_CONFIDENCE
    # and a truly empty box stays a confident empty
    blank = np.full((3508, 2480), 250, np.uint8)
    assert read_field(CropReader(blank, FakeEngine()), blank, f).confidence > 0.9


def test_on_a_page_written_in_pencil_the_marks_go_to_a_person_too():
    from yomitori.extract.fields import (
        FAINT_CONFIDENCE,
        CropReader,
        doubt_marks_on_a_pencilled_page,
        read_field,
    )
    from yomitori.ocr.fake import FakeEngine

    # Given a page whose name was written in pencil and whose choices look unmarked
    form = load_form("water_start")
    page = np.full((3508, 2480), 250, np.uint8)
    x0, y0, _, _ = box_to_px(form.field("name").box, WORK_DPI)
    for k in range(3):
        cv2.line(page, (x0 + 60 + 90 * k, y0 + 30), (x0 + 100 + 90 * k, y0 + 110), 172, 5)
    reader = CropReader(page, FakeEngine({"name": ("山田", 0.99)}))
    results = {f.name: read_field(reader, page, f) for f in form.fields}
    assert results["account_type"].confidence > 0.9  # no ink seen in its boxes
    # When the page's marks are judged
    doubt_marks_on_a_pencilled_page(reader, form.fields, results)
    # Then a pencil tick the drop-out cut may have removed is not taken for "no mark"
    assert results["account_type"].confidence <= FAINT_CONFIDENCE
    assert results["account_type"].value == ""


def test_a_pencil_tick_is_offered_as_the_choice_for_a_person_to_confirm():
    from yomitori.extract.fields import (
        FAINT_CONFIDENCE,
        CropReader,
        doubt_marks_on_a_pencilled_page,
        read_field,
    )
    from yomitori.ocr.fake import FakeEngine

    # Given a pencilled page with a pencil tick in the 当座 box of the account type
    form = load_form("water_start")
    page = np.full((3508, 2480), 250, np.uint8)
    x0, y0, _, _ = box_to_px(form.field("name").box, WORK_DPI)
    for k in range(3):
        cv2.line(page, (x0 + 60 + 90 * k, y0 + 30), (x0 + 100 + 90 * k, y0 + 110), 172, 5)
    option = form.field("account_type").options[1]
    bx0, by0, bx1, by1 = box_to_px(option.box, WORK_DPI)
    cv2.line(page, (bx0 + 12, (by0 + by1) // 2), ((bx0 + bx1) // 2, by1 - 12), 168, 6)
    cv2.line(page, ((bx0 + bx1) // 2, by1 - 12), (bx1 - 10, by0 + 10), 168, 6)
    reader = CropReader(page, FakeEngine({"name": ("山田", 0.99)}))
    results = {f.name: read_field(reader, page, f) for f in form.fields}
    # When the page's marks are judged
    doubt_marks_on_a_pencilled_page(reader, form.fields, results)
    # Then the pencilled option is offered, for a person to confirm
    assert results["account_type"].value == option.value
    assert results["account_type"].confidence <= FAINT_CONFIDENCE


def test_a_date_whose_era_was_ticked_in_pencil_gets_that_era():
    from yomitori.extract.fields import FAINT_CONFIDENCE, CropReader, doubt_marks_on_a_pencilled_page
    from yomitori.forms.layout import mark_targets
    from yomitori.ocr.fake import FakeEngine
    from yomitori.results import FieldResult

    # Given a pencilled page whose start date read as 8年10月12日 (no era seen) and a pencil
    # tick in its 令和 box
    form = load_form("water_start")
    f = form.field("start_date")
    page = np.full((3508, 2480), 250, np.uint8)
    reiwa = next(t for t in mark_targets(f) if t.value == "令和")
    bx0, by0, bx1, by1 = box_to_px(reiwa.box, WORK_DPI)
    cv2.line(page, (bx0 + 10, by0 + 10), (bx1 - 10, by1 - 10), 168, 6)
    cv2.line(page, (bx0 + 10, by1 - 10), (bx1 - 10, by0 + 10), 168, 6)
    reader = CropReader(page, FakeEngine())
    reader.faint_seen = True
    results = {"start_date": FieldResult(value="0008-10-12", raw="8年10月12日", confidence=0.135)}
    # When the page's marks are judged
    doubt_marks_on_a_pencilled_page(reader, [f], results)
    # Then the date is in 令和, for a person to confirm
    assert results["start_date"].value == "2026-10-12" and results["start_date"].raw == "令和8年10月12日"
    assert results["start_date"].confidence <= FAINT_CONFIDENCE
