"""Bad input in a real batch: every file ends as a result, each bad one with its own code."""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import zlib

import pytest
from PIL import Image
from yomitori.forms import load_form
from yomitori.pipeline import process_directory
from yomitori.render import render_form
from yomitori.synth import generate

pytestmark = pytest.mark.slow


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose header claims ``width`` x ``height`` (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0")) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    scans = tmp_path_factory.mktemp("scans")
    good = generate(load_form("water_start"), count=1, out_dir=scans, seed=5, degrade="light",
                    today=dt.date(2025, 6, 1))[0]
    truth = json.loads((scans / "truth" / f"{good.stem}.json").read_text("utf-8"))
    data = good.read_bytes()
    Image.open(good).rotate(180).save(scans / "b-upside-down.png")
    buf = io.BytesIO()
    Image.open(good).convert("L").save(buf, "PNG")
    (scans / "c-truncated.png").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    jbuf = io.BytesIO()
    Image.open(good).convert("L").save(jbuf, "JPEG", quality=80)
    (scans / "d-truncated.jpg").write_bytes(jbuf.getvalue()[:2000])
    (scans / "e-corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 50)
    (scans / "f-text.png").write_text("これは画像ではありません\n", encoding="utf-8")
    (scans / "g-empty.png").write_bytes(b"")
    Image.new("L", (1654, 2339), 255).save(scans / "h-blank.png")
    render_form(load_form("water_stop"), 200).save(scans / "i-wrong-form.png")
    (scans / "j-bomb.png").write_bytes(_png_claiming(60000, 60000))
    (scans / ".hidden.png").write_bytes(data)
    out = tmp_path_factory.mktemp("out")
    report = process_directory(scans, form_id="water_start", out_dir=out, workers=2)
    return scans, out, report, truth, good


EXPECTED = {
    "c-truncated": "corrupt_image", "d-truncated": "corrupt_image", "e-corrupt": "corrupt_image",
    "f-text": "not_an_image", "g-empty": "empty_file", "h-blank": "blank_page",
    "i-wrong-form": "wrong_form", "j-bomb": "image_too_large",
}


def test_each_bad_file_gets_its_code_and_the_batch_completes(batch):
    scans, out, report, truth, good = batch
    # Then every input (hidden files and truth/ aside) has a result JSON and a CSV row
    inputs = sorted(p.name for p in scans.iterdir() if p.is_file() and not p.name.startswith("."))
    results = {json.loads(p.read_text("utf-8"))["source"]: json.loads(p.read_text("utf-8"))
               for p in out.glob("*.json") if p.name != "batch.json"}
    assert sorted(results) == inputs
    csv_lines = (out / "results.csv").read_text("utf-8-sig").splitlines()
    assert len(csv_lines) == len(inputs) + 1
    # and each bad file carries its own code with a message and an action, no traceback
    for stem, code in EXPECTED.items():
        doc = next(r for r in results.values() if r["document_id"] == stem)
        assert doc["error"]["code"] == code, stem
        assert doc["error"]["message"] and doc["error"]["action"]
        assert "Traceback" not in doc["error"]["message"]
    # and the report says some failed
    assert report.failed == len(EXPECTED) and report.documents == len(inputs)
    assert report.errors["corrupt_image"] == 3


def test_good_and_upside_down_pages_are_read(batch):
    scans, out, report, truth, good = batch
    for stem in (good.stem, "b-upside-down"):
        doc = json.loads((out / f"{stem}.json").read_text("utf-8"))
        assert doc["error"] is None
        assert doc["fields"]["bank_code"]["value"] == truth["fields"]["bank_code"]
        assert doc["fields"]["application_date"]["value"] == truth["fields"]["application_date"]


def test_error_messages_carry_no_values(batch):
    scans, out, report, truth, good = batch
    values = [v for v in truth["fields"].values() if len(v) >= 3]
    for p in out.glob("*.json"):
        doc = json.loads(p.read_text("utf-8"))
        if doc.get("error"):
            text = doc["error"]["message"] + doc["error"]["action"]
            assert not any(v in text for v in values)
