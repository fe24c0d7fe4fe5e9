"""An existing form (registered from its blank, no corner marks) read end to end with the
default engine: synth fills it, `process` aligns, subtracts the blank and reads every kind of
field; a page of another form in the batch is an error, not a shifted read."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from yomitori.forms import load_form
from yomitori.pipeline import process_directory
from yomitori.synth import generate

pytestmark = pytest.mark.slow

EXACT = ("application_date", "start_date", "phone_type", "account_type", "household_size", "deposit_amount",
         "account_number", "phone")


def test_a_registered_existing_form_is_read_like_a_printed_one(tmp_path):
    # Given two filled-in existing forms and a page of another form in the same folder
    scans = tmp_path / "scans"
    generate(load_form("water_city"), count=2, out_dir=scans, seed=21, degrade="light",
             today=dt.date(2025, 6, 1))
    other = generate(load_form("water_start"), count=1, out_dir=tmp_path / "other", seed=2)[0]
    shutil.copy(other, scans / "zz-other-form.png")
    # When processed as the existing form
    report = process_directory(scans, form_id="water_city", out_dir=tmp_path / "out", workers=1)
    # Then the other form's page is refused with a clear reason
    assert report.documents == 3 and report.errors == {"poor_alignment": 1}
    refused = json.loads((tmp_path / "out" / "zz-other-form.json").read_text("utf-8"))
    assert "water_city" in refused["error"]["message"]
    # and the filled pages read: dates from their gaps, circled words, numbers before 人 and 円
    for n in (1, 2):
        doc = json.loads((tmp_path / "out" / f"water_city-000{n}.json").read_text("utf-8"))
        truth = json.loads((scans / "truth" / f"water_city-000{n}.json").read_text("utf-8"))["fields"]
        assert doc["error"] is None
        for name in EXACT:
            assert doc["fields"][name]["value"] == truth[name], name
        assert doc["fields"]["bank_name"]["value"] and doc["fields"]["account_holder"]["value"]


def test_form_auto_sorts_registered_existing_forms_among_printed_ones(tmp_path):
    # Given a folder with existing-form pages (one lying sideways), a yomitori-printed page and
    # a page of no installed form
    import numpy as np
    from PIL import Image

    scans = tmp_path / "scans"
    city = generate(load_form("water_city"), count=2, out_dir=tmp_path / "city", seed=8, degrade="heavy",
                    today=dt.date(2025, 6, 1))
    start = generate(load_form("water_start"), count=1, out_dir=tmp_path / "start", seed=8)
    scans.mkdir()
    shutil.copy(city[0], scans / f"a-city{city[0].suffix}")
    with Image.open(city[1]) as img:
        img.transpose(Image.Transpose.ROTATE_90).save(scans / "b-city-sideways.png")
    shutil.copy(start[0], scans / "c-start.png")
    rng = np.random.default_rng(3)
    other = np.full((3508, 2480), 255, np.uint8)
    for _ in range(40):  # a page of another kind: boxes and lines nowhere near the forms'
        x, y = int(rng.integers(100, 2200)), int(rng.integers(100, 3200))
        other[y:y + 8, x:x + int(rng.integers(50, 300))] = 0
    Image.fromarray(other).save(scans / "d-other.png")
    # When processed with --form auto
    process_directory(scans, form_id="auto", out_dir=tmp_path / "out", engine="fake", workers=1)
    # Then each page is sorted to its form, the sideways one turned, the unknown one refused
    docs = {p.stem: json.loads(p.read_text("utf-8")) for p in (tmp_path / "out").glob("*.json")
            if p.name != "batch.json"}
    got = {d: (doc["error"]["code"] if doc["error"] else doc["form_id"]) for d, doc in docs.items()}
    assert got == {"a-city": "water_city", "b-city-sideways": "water_city", "c-start": "water_start",
                   "d-other": "form_not_recognised"}
    assert docs["b-city-sideways"]["page_rotation"] == 90
