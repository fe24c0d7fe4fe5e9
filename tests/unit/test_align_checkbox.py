"""Tick boxes decided by ink: checkbox, single choice (two ticks -> low confidence)."""

from __future__ import annotations

import numpy as np
from yomitori.extract.checkbox import decide_checkbox, decide_choice, tick_ratio
from yomitori.extract.crops import box_px
from yomitori.forms.schema import Box


def test_checkbox_empty_ticked_and_unclear():
    # Given clear, empty and borderline ink shares
    # Then clear cases are sure and the grey zone is not
    assert decide_checkbox(0.25) == ("true", 0.99)
    assert decide_checkbox(0.0) == ("false", 0.99)
    value, conf = decide_checkbox(0.055)
    assert conf < 0.7


def test_choice_one_two_or_no_ticks():
    assert decide_choice([("普通", 0.3), ("当座", 0.0)]) == ("普通", 0.99)
    value, conf = decide_choice([("普通", 0.2), ("当座", 0.3)])
    assert value == "当座" and conf <= 0.3  # two ticks: the stronger, for a person to confirm
    assert decide_choice([("普通", 0.0), ("当座", 0.01)])[0] == ""


def test_tick_ratio_ignores_dropout_box_lines():
    # Given a working page with a light-grey (drop-out) box outline and, beside it, a filled box
    page = np.full((400, 400), 255, np.uint8)
    empty, ticked = Box(x=2, y=2, w=5, h=5), Box(x=12, y=2, w=5, h=5)
    for b in (empty, ticked):
        x0, y0, x1, y1 = box_px(b)
        page[y0:y1, x0:x0 + 4] = page[y0:y1, x1 - 4:x1] = 170
        page[y0:y0 + 4, x0:x1] = page[y1 - 4:y1, x0:x1] = 170
    x0, y0, x1, y1 = box_px(ticked)
    page[y0 + 15:y1 - 15, x0 + 15:x1 - 15] = 20
    # When measured, Then the outline counts as no ink and the fill does
    assert tick_ratio(page, empty) == 0.0
    assert tick_ratio(page, ticked) > 0.3
