"""The ppocr engine with the real PP-OCRv6 model: field crops and whole synth pages, the
pinned-model check, and the command line's answer when the model is missing or altered."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yomitori.evaluate import canonical
from yomitori.extract import extract_document
from yomitori.fonts import handwriting_font_paths
from yomitori.forms import load_form
from yomitori.ocr.engine import FieldHint, get_engine
from yomitori.ocr.models import PPOCR_REC, ModelMismatchError, ModelMissingError, locate
from yomitori.synth import generate
from yomitori.validation import route_document


@pytest.fixture(scope="module")
def engine():
    e = get_engine("ppocr")
    yield e
    e.close()


def line(text: str, height: int = 64) -> Image.Image:
    """``text`` written in a handwriting font the synth uses, on white."""
    from PIL import ImageFont

    font = ImageFont.truetype(handwriting_font_paths()[0], height)
    w = int(font.getlength(text)) + 40
    img = Image.new("L", (w, height + 30), 255)
    ImageDraw.Draw(img).text((20, 10), text, font=font, fill=20)
    return img


def test_reads_a_handwritten_name_and_says_how_sure_it_is(engine):
    # Given a name in a handwriting font
    # When read as a text field
    r = engine.read_field(line("山田太郎"), FieldHint("text"))
    # Then it reads the name, sure but never certain
    assert r.text == "山田太郎"
    assert 0.8 < r.confidence < 1.0
    assert engine.load_seconds is not None and engine.new_load_seconds() == engine.load_seconds
    assert engine.new_load_seconds() is None  # reported once


def test_the_digit_mask_turns_letters_into_digits_with_low_confidence(engine):
    # Given letters written where digits belong
    r_text = engine.read_field(line("ABC"), FieldHint("text"))
    r_digits = engine.read_field(line("ABC"), FieldHint("digits"))
    # Then a digit field holds only digits (or nothing), and is not sure of them
    assert r_text.text == "ABC"
    assert all(c.isdigit() for c in r_digits.text)
    assert r_digits.confidence < 0.5


def test_kana_field_reads_hiragana_as_kana_characters(engine):
    r = engine.read_field(line("やまだ"), FieldHint("kana"))
    assert r.text in ("やまだ", "ヤマダ")


@pytest.mark.parametrize("form_id", ["water_start", "furusato_onestop"])
def test_reads_heavy_synth_pages_close_to_truth_without_silent_errors(tmp_path, engine, form_id):
    # Given three heavily degraded synth pages of the form
    form = load_form(form_id)
    paths = generate(form, count=3, out_dir=tmp_path, seed=5, degrade="heavy", today=dt.date(2026, 6, 1))
    right = total = silent = 0
    for path in paths:
        truth = json.loads((tmp_path / "truth" / f"{path.stem}.json").read_text("utf-8"))
        # When extracted and routed with ppocr
        doc = extract_document(path, form, engine, batch_id="b", document_id=path.stem, source=path.name)
        route_document(form, doc, today=dt.date(2026, 6, 1))
        for name, fr in doc.fields.items():
            f = form.field(name)
            ok = canonical(f, fr.value) == canonical(f, str(truth["fields"][name]))
            right += ok
            total += 1
            silent += (not ok) and fr.status == "accepted"
    # Then nearly every field is read right, and no wrong value is accepted
    assert right / total >= 0.9
    assert silent == 0


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    # Given a models folder whose file is not the pinned one
    (tmp_path / PPOCR_REC.file_name).write_bytes(b"not the model")
    monkeypatch.setenv("YOMITORI_MODELS_DIR", str(tmp_path))
    # Then locating it fails with what to do
    with pytest.raises(ModelMismatchError) as e:
        locate(PPOCR_REC)
    assert e.value.exit_code == 5 and "make setup" in e.value.action


def test_the_pinned_model_is_found_and_verified():
    assert locate(PPOCR_REC).name == PPOCR_REC.file_name


def test_process_exits_5_when_the_model_is_altered(tmp_path):
    # Given a folder of scans and a models folder with an altered model, ahead of the installed one
    scans = tmp_path / "scans"
    generate(load_form("water_stop"), count=1, out_dir=scans, seed=1, degrade="none")
    bad = tmp_path / "models"
    bad.mkdir()
    shutil.copy(locate(PPOCR_REC), bad / PPOCR_REC.file_name)
    with open(bad / PPOCR_REC.file_name, "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01")
    # When processed with the default engine
    env = {"YOMITORI_MODELS_DIR": str(bad), "PATH": "/usr/bin:/bin", "OMP_THREAD_LIMIT": "1"}
    run = subprocess.run([sys.executable, "-m", "yomitori.cli", "process", str(scans), "--form", "water_stop",
                          "--out", str(tmp_path / "out")], capture_output=True, text=True, env=env)
    # Then it stops before any work, with exit code 5 and what to do
    assert run.returncode == 5, run.stderr
    assert "SHA-256" in run.stderr and "make setup" in run.stderr
    assert not (tmp_path / "out").exists()


def test_missing_model_is_reported_not_crashed(monkeypatch, tmp_path):
    import yomitori.ocr.models as models

    monkeypatch.setattr(models, "candidate_dirs", lambda: [tmp_path])
    with pytest.raises(ModelMissingError) as e:
        get_engine("ppocr").probe()
    assert "rapidocr==3.10.0" in e.value.message


def test_a_page_scanned_far_too_light_is_still_read(tmp_path, engine):
    # Given a synth page whose ink the scanner left at grey ~125 (the drop-out cut is 145)
    form = load_form("water_start")
    [path] = generate(form, count=1, out_dir=tmp_path, seed=9, degrade="light", today=dt.date(2026, 6, 1))
    grey = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    faint = tmp_path / "faint.png"
    Image.fromarray((255 - (255 - grey) * 0.55).astype(np.uint8)).save(faint)
    truth = json.loads((tmp_path / "truth" / f"{path.stem}.json").read_text("utf-8"))["fields"]
    # When extracted
    doc = extract_document(faint, form, engine, batch_id="b", document_id="d", source="faint.png")
    # Then the fields are read as on a good scan
    right = sum(canonical(form.field(n), fr.value) == canonical(form.field(n), str(truth[n]))
                for n, fr in doc.fields.items())
    assert right >= len(doc.fields) - 1
