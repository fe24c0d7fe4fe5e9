"""The OCR step's recording wrapper: it keeps the engine's raw output, passes the engine's
optional abilities through (capability flags on the engine port), and turns an engine crash into a
recorded ``engine_failed`` instead of a lost batch. One machine: a folder result store."""

from __future__ import annotations

import pytest
from yomitori.batch import PageEntry
from yomitori.errors import EngineError
from yomitori.ocr.engine import FieldHint, Reading
from yomitori.ocr.fake import FakeEngine
from yomitori.steps.ocr import RecordingEngine, ocr_page
from yomitori.store import LocalResultStore


class VotingEngine(FakeEngine):
    reads_digit_votes = True

    def digit_readings(self, img, hint: FieldHint, *, spare: bool = False) -> list[Reading]:
        if spare:
            raise RuntimeError("model crashed")
        return [Reading("0312", 0.9), Reading("0312", 0.8)]


def test_optional_abilities_pass_through_and_are_recorded():
    # Given an engine with an extra ability, and one without
    rec, plain = RecordingEngine(VotingEngine()), RecordingEngine(FakeEngine())
    # Then the wrapper has the ability exactly when the engine does
    assert rec.reads_digit_votes and not plain.reads_digit_votes
    # When it is used, Then the readings are kept as raw output with the field's name
    out = rec.digit_readings(None, FieldHint(field_type="digits", name="phone"))
    assert [r.text for r in out] == ["0312", "0312"]
    assert [(r["field"], r["via"], r["text"]) for r in rec.readings] == [
        ("phone", "digit_readings", "0312")
    ] * 2
    # When the ability crashes, Then it is an engine failure with a stable code
    with pytest.raises(EngineError) as e:
        rec.digit_readings(None, FieldHint(field_type="digits", name="phone"), spare=True)
    assert e.value.code == "engine_failed" and "model crashed" not in e.value.message


def test_a_page_whose_size_differs_from_the_manifest_is_recorded(tmp_path):
    # Given a stored page and a manifest entry with another size
    store = LocalResultStore(tmp_path)
    store.put_page("b-001", "p1.png", b"\x89PNG not really")
    page = PageEntry(name="p1.png", size=3, sha256="0" * 64)
    # When the OCR step reads it
    outcome = ocr_page(store, FakeEngine(), batch_id="b-001", form_id="water_stop", page=page)
    # Then it is a recorded failure, stored next to the batch
    assert outcome.error == "size_mismatch"
    assert store.get_ocr("b-001", "p1")["result"]["error"]["code"] == "size_mismatch"


def test_auto_refuses_a_page_of_a_form_that_is_not_installed(tmp_path, monkeypatch, repo_root):
    # Given a water_stop page, and an installation that only knows water_start
    import shutil

    from yomitori.errors import DocumentError
    from yomitori.forms import load_form
    from yomitori.steps.ocr import FORM_NOT_RECOGNISED, extract_any
    from yomitori.synth import generate

    [image] = generate(load_form("water_stop"), count=1, out_dir=tmp_path / "scans", seed=4, degrade="none")
    forms = tmp_path / "forms"
    forms.mkdir()
    shutil.copy(repo_root / "forms" / "water_start.yaml", forms / "water_start.yaml")
    monkeypatch.setenv("YOMITORI_FORMS_DIR", str(forms))
    # When the page is read with form "auto", Then it is refused with a code and what to do
    with pytest.raises(DocumentError) as e:
        extract_any(
            image.read_bytes(),
            "auto",
            FakeEngine(),
            batch_id="b-001",
            document_id=image.stem,
            source=image.name,
        )
    assert e.value.code == FORM_NOT_RECOGNISED and "--form" in e.value.action


def test_a_page_too_large_to_be_a_scan_is_refused_without_being_fetched(tmp_path):
    # Given a manifest entry of 1 GB whose object is not even there (it must not be fetched)
    store = LocalResultStore(tmp_path)
    page = PageEntry(name="junk.png", size=1 << 30, sha256="0" * 64)
    # When the OCR step handles it
    outcome = ocr_page(store, FakeEngine(), batch_id="b-001", form_id="water_stop", page=page)
    # Then it is an image_too_large result, not a missing page
    assert outcome.error == "image_too_large"


def test_a_multi_page_object_gives_one_document_per_page_through_validate_and_finalize(tmp_path):
    # Given a 3-page TIFF uploaded as one page object: a water_stop form, a blank sheet, another form
    import datetime as dt
    import hashlib
    import io
    import json

    from PIL import Image
    from yomitori.batch import BatchManifest
    from yomitori.forms import load_form
    from yomitori.steps.finalize import finalize_batch
    from yomitori.steps.validate import validate_document
    from yomitori.synth import generate

    scans = generate(load_form("water_stop"), count=2, out_dir=tmp_path / "scans", seed=3, dpi=200,
                     degrade="none", today=dt.date(2025, 6, 1))
    first, second = (Image.open(p).convert("L") for p in scans)
    buf = io.BytesIO()
    first.save(buf, "TIFF", save_all=True, append_images=[Image.new("L", first.size, 255), second])
    data = buf.getvalue()
    store = LocalResultStore(tmp_path / "store")
    store.put_page("b-002", "tray.tif", data)
    page = PageEntry(name="tray.tif", size=len(data), sha256=hashlib.sha256(data).hexdigest())
    store.put_manifest(BatchManifest(batch_id="b-002", client_id="c", created_at=dt.datetime.now(dt.UTC),
                                     form_id="auto", pages=[page]))
    # When the OCR step reads it (auto), and validate routes what it returns
    outcome = ocr_page(store, FakeEngine(), batch_id="b-002", form_id="auto", page=page)
    routed = validate_document(store, batch_id="b-002", document_id=outcome.document_id)
    # Then the state machine sees one item with the object's ids and counts, as for a one-page object
    assert outcome.error is None and outcome.form_id == "water_stop" and outcome.document_id == "tray"
    assert routed["documents"] == 3 and routed["error"] is None and routed["needs_person"] is True
    assert "tray.tif" not in json.dumps(routed)
    # and every page is a stored document: two read, the blank one with its error
    docs = {d: store.get_document("b-002", d) for d in ("tray-p01", "tray-p02", "tray-p03")}
    assert [docs[d].error.code if docs[d].error else docs[d].form_id for d in sorted(docs)] == [
        "water_stop", "blank_page", "water_stop"]
    assert [docs[d].source_page for d in sorted(docs)] == [1, 2, 3]
    # and finalize lists exactly those three (the object itself is not 'not processed')
    finalize_batch(store, batch_id="b-002", form_id="auto")
    results = store.get_json("b-002/results.json")
    assert sorted(d["document_id"] for d in results["documents"]) == ["tray-p01", "tray-p02", "tray-p03"]
    # and the batch summary carries its cost estimate (three pages, the default price table)
    assert results["cost_estimate"]["pages"] == 3 and results["cost_estimate"]["total_usd"] > 0
