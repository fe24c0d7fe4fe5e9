"""An existing form whose date prints the eras to circle (「昭和・平成・令和　　年　　月　　日」):
registered from its blank, filled by synth, read by `process` with the default engine."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import yaml
from PIL import Image, ImageDraw
from yomitori.fonts import font, label_font_path
from yomitori.forms.existing import new_existing_form
from yomitori.forms.layout import mm_to_px
from yomitori.forms.schema import load_form_file
from yomitori.pipeline import process_directory
from yomitori.synth import generate

pytestmark = pytest.mark.slow
DPI = 300


def _blank() -> Image.Image:
    page = Image.new("L", (round(mm_to_px(210, DPI)), round(mm_to_px(297, DPI))), 255)
    draw = ImageDraw.Draw(page)
    f = font(label_font_path(), round(mm_to_px(3.6, DPI)))
    big = font(label_font_path(), round(mm_to_px(7, DPI)))

    def text(x, y, s, fnt=f):
        draw.text((mm_to_px(x, DPI), mm_to_px(y, DPI)), s, font=fnt, fill=20, anchor="lm")

    text(20, 25, "転入届（市の様式）", big)
    for y in (50, 70, 90, 110, 130):
        left, right, at = mm_to_px(15, DPI), mm_to_px(195, DPI), mm_to_px(y, DPI)
        draw.line([(left, at), (right, at)], fill=20, width=4)
    text(18, 60, "生年月日")
    text(55, 60, "昭和・平成・令和")  # 3.6 mm per character: 昭和 55-62.2, 平成 65.8-73, 令和 76.6-83.8
    for x, unit in ((100, "年"), (118, "月"), (136, "日")):
        text(x, 60, unit)
    text(18, 80, "転入日")
    text(55, 80, "令和")
    for x, unit in ((80, "年"), (98, "月"), (116, "日")):
        text(x, 80, unit)
    text(18, 100, "氏名")
    return page


def _box(x, y, w, h):
    return {"x": x, "y": y, "w": w, "h": h}


def test_circled_eras_and_a_printed_era_are_read_from_an_existing_form(tmp_path, monkeypatch):
    # Given a blank with circled eras and a printed era, registered with `forms new`
    forms = tmp_path / "forms"
    blank = tmp_path / "blank.png"
    _blank().save(blank, dpi=(DPI, DPI))
    made = new_existing_form("tennyu", blank, title="転入届", directory=forms)
    data = yaml.safe_load(made.definition.read_text(encoding="utf-8"))
    data["fields"] = [
        {"name": "birth_date", "label": "生年月日", "type": "date", "box": _box(54, 52, 88, 16),
         "required": True, "validators": ["date"],
         "options": [{"value": v, "label": v, "box": _box(x, 58, 7.2, 4)}
                     for v, x in (("昭和", 55), ("平成", 65.8), ("令和", 76.6))],
         "parts": {"year": _box(88, 53, 11.5, 14), "month": _box(104, 53, 13.5, 14),
                   "day": _box(122, 53, 13.5, 14)}},
        {"name": "moved_in_date", "label": "転入日", "type": "date", "box": _box(54, 72, 70, 16),
         "required": True, "eras": ["令和"], "validators": ["date"],
         "parts": {"year": _box(64, 73, 15.5, 14), "month": _box(84, 73, 13.5, 14),
                   "day": _box(102, 73, 13.5, 14)}},
        {"name": "name", "label": "氏名", "type": "text", "box": _box(40, 92, 150, 16),
         "required": True},
    ]
    made.definition.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    form = load_form_file(made.definition)
    monkeypatch.setenv("YOMITORI_FORMS_DIR", str(forms))
    # When synth fills three copies and `process` reads them
    scans = tmp_path / "scans"
    generate(form, count=3, out_dir=scans, seed=4, degrade="light", today=dt.date(2025, 6, 1))
    report = process_directory(scans, form_id="tennyu", out_dir=tmp_path / "out", workers=1)
    # Then every date is read, the era from the circle or from the print
    assert report.failed == 0
    for n in (1, 2, 3):
        doc = json.loads((tmp_path / "out" / f"tennyu-000{n}.json").read_text("utf-8"))
        truth = json.loads((scans / "truth" / f"tennyu-000{n}.json").read_text("utf-8"))["fields"]
        assert doc["fields"]["birth_date"]["value"] == truth["birth_date"]
        assert doc["fields"]["moved_in_date"]["value"] == truth["moved_in_date"]
