"""The ocr and validate handlers over a real moto server: keys only in their results, objects
SSE-KMS with our key, retries give one result, and every kind of bad input becomes a recorded
per-page failure with a reason code while the rest of the batch goes on."""

from __future__ import annotations

import json

import cloud_helpers
import pytest
from cloud_helpers import document_id, event, upload
from yomitori import settings
from yomitori.batch import ocr_key
from yomitori.cloud_local import invoke
from yomitori.steps import config


def pages(scans):
    return sorted(scans.glob("*.jpg")) + sorted(scans.glob("*.png"))


def test_ocr_then_validate_store_encrypted_objects_and_return_ids_only(cloud, scans, batch_id):
    # Given a page uploaded to the intake bucket
    page = pages(scans)[0]
    upload(batch_id, page)
    # When the state machine's Map runs ocr, then validate on its output
    ocr = invoke("ocr", event("ocr", batch_id=batch_id, page=page))
    result = invoke("validate", ocr)
    # Then both return ids, keys and counts, and the objects are SSE-KMS with our key
    doc_id = document_id(batch_id, page)  # opaque: the scan's name never enters the flow
    assert ocr["error"] is None and ocr["ocr_key"] == ocr_key(batch_id, doc_id)
    assert result["document_id"] == doc_id and page.stem not in json.dumps([ocr, result])
    assert result["accepted"] + result["needs_review"] + result["invalid"] > 0
    s3 = cloud.client("s3")
    key_arn = cloud.environment()[settings.ENV_KMS_KEY_ARN]
    for key in (ocr["ocr_key"], result["document_key"]):
        head = s3.head_object(Bucket=cloud.bucket(settings.BUCKET_RESULTS), Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    stored = config.result_store().get_document(batch_id, doc_id)
    assert stored.source == page.name  # the name stays inside the result
    assert stored.form_id == "water_stop" and all(f.status for f in stored.fields.values())


def test_the_same_event_twice_gives_one_result(cloud, scans, batch_id):
    # Given a page that was read once
    page = pages(scans)[1]
    upload(batch_id, page)
    ev = event("ocr", batch_id=batch_id, page=page)
    first = invoke("ocr", ev)
    v_first = invoke("validate", first)
    # ... and whose stored objects then vanish (so a second real run would be visible)
    store = config.result_store()
    s3 = cloud.client("s3")
    for key in (first["ocr_key"], v_first["document_key"]):
        s3.delete_object(Bucket=cloud.bucket(settings.BUCKET_RESULTS), Key=key)
    # When Step Functions retries both steps with the same events
    second = invoke("ocr", ev)
    v_second = invoke("validate", first)
    # Then the idempotency table answered: same results, and the steps did not run again
    assert second == first and v_second == v_first
    assert store.list_keys(f"{batch_id}/") == []


def _failure_code(batch_id: str, ev: dict) -> str:
    out = invoke("ocr", ev)
    validated = invoke("validate", out)
    doc = config.result_store().get_document(batch_id, out["document_id"])
    assert validated["error"] == out["error"] == doc.error.code  # recorded, same code everywhere
    assert doc.fields == {} and doc.error.action  # no values; says what to do
    return out["error"]


def test_bad_pages_are_recorded_failures_with_reason_codes(cloud, scans, batch_id, tmp_path):
    # Given pages that cannot be read for different reasons
    text = tmp_path / "not-an-image.png"
    text.write_bytes(b"this is a text file, not a scan\n")
    blank = tmp_path / "blank.png"
    from PIL import Image

    Image.new("L", (2480, 3508), 255).save(blank)
    good = pages(scans)[2]
    upload(batch_id, text, blank, good)
    missing = tmp_path / "never-uploaded.png"
    missing.write_bytes(good.read_bytes())
    # the same page, listed again under its own name in another batch whose manifest says
    # another checksum
    upload(f"{batch_id}-t", good)
    tampered = event("ocr", batch_id=f"{batch_id}-t", page=good)
    cloud_helpers.tamper_checksum(f"{batch_id}-t", good)
    # When each goes through ocr and validate
    codes = {
        "not an image": _failure_code(batch_id, event("ocr", batch_id=batch_id, page=text)),
        "blank": _failure_code(batch_id, event("ocr", batch_id=batch_id, page=blank)),
        "missing": _failure_code(batch_id, event("ocr", batch_id=batch_id, page=missing)),
        "checksum": _failure_code(f"{batch_id}-t", tampered),
    }
    # Then each is a recorded failure with its own code
    assert codes["not an image"] == "not_an_image"
    assert codes["blank"] in ("blank_page", "no_registration_marks")
    assert codes["missing"] == "page_missing"
    assert codes["checksum"] == "checksum_mismatch"
    # and the good page still reads fine afterwards (a poison page blocks nothing)
    upload(f"{batch_id}-ok", good)
    ok = invoke("ocr", event("ocr", batch_id=f"{batch_id}-ok", page=good))
    assert ok["error"] is None


def test_an_event_of_the_wrong_shape_is_refused_with_the_fields_named(cloud, batch_id, capfd):
    # Given an event that does not match the OCR step's model
    ev = event("ocr_wrong_shape", batch_id=batch_id)
    # When the handler gets it
    out = invoke("ocr", ev)
    # Then it answers with a typed failure naming the bad fields, not their contents
    assert out["ok"] is False and out["error"] == "bad_event" and out["batch_id"] == batch_id
    assert "form_id" in out["fields"] and "ordinal" in out["fields"]
    assert "water_stop" not in out["message"]


def test_an_engine_that_crashes_costs_one_page(cloud, scans, batch_id, monkeypatch):
    # Given an engine that crashes on every read (injected through the engine factory seam)
    from yomitori.ocr.engine import OcrEngine
    from yomitori.steps import ocr as ocr_step

    class Crashing(OcrEngine):
        name = "crashing"

        def read_field(self, crop, hint):
            raise RuntimeError("segfault-like failure")

    monkeypatch.setattr(ocr_step, "engine_for", lambda *a: Crashing())
    page = pages(scans)[0]
    upload(batch_id, page)
    # When the page is read
    out = invoke("ocr", event("ocr", batch_id=batch_id, page=page))
    # Then it is a recorded failure (engine_failed), and the handler did not raise
    assert out["error"] == "engine_failed"
    stored = config.result_store().get_ocr(batch_id, out["document_id"])
    assert stored["result"]["error"]["code"] == "engine_failed"


def test_the_model_load_time_is_reported_once_per_container(
    cloud, scans, batch_id, monkeypatch, capfd, caplog
):
    # Given an engine that loads its model on first use (as ppocr does), built once
    from yomitori.ocr.engine import OcrEngine, Reading
    from yomitori.steps import ocr as ocr_step

    class LoadsOnFirstUse(OcrEngine):
        name = "loads-on-first-use"
        load_seconds = None

        def read_field(self, crop, hint):
            if self.load_seconds is None:
                self.load_seconds = 0.25
            return Reading(text="", confidence=0.0)

    engine = LoadsOnFirstUse()
    monkeypatch.setattr(ocr_step, "engine_for", lambda *a: engine)
    capfd.readouterr()
    caplog.clear()
    # When two pages are read by the same container
    for page in pages(scans)[:2]:
        upload(batch_id, page)
        assert invoke("ocr", event("ocr", batch_id=batch_id, page=page))["error"] is None
    # Then the load time is one metric (milliseconds) and one log line, after the first page only
    captured = capfd.readouterr()  # Powertools writes to stdout (the local runner: stderr)
    lines = [json.loads(line) for line in (captured.out + captured.err).splitlines() if line.startswith("{")]
    emf = [line for line in lines if "ModelLoadTime" in line]
    assert len(emf) == 1 and emf[0]["ModelLoadTime"] == [250.0]
    declared = emf[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    assert {"Name": "ModelLoadTime", "Unit": "Milliseconds"} in declared
    loaded = [r for r in caplog.records if r.getMessage() == "ocr model loaded"]
    assert len(loaded) == 1 and loaded[0].load_ms == 250 and loaded[0].engine == engine.name


@pytest.mark.parametrize("engine,region", [("textract", "us-east-1")])
def test_a_deployment_outside_residency_fails_closed(cloud, scans, batch_id, monkeypatch, engine, region):
    # Given the function is configured to send pages to Textract in us-east-1
    monkeypatch.setenv(settings.ENV_OCR_ENGINE, engine)
    monkeypatch.setenv(settings.ENV_OCR_REGION, region)
    config.reset()
    page = pages(scans)[0]
    upload(batch_id, page)
    # When a page arrives, Then the handler refuses before reading or sending anything
    try:
        with pytest.raises(settings.ResidencyError):
            invoke("ocr", event("ocr", batch_id=batch_id, page=page))
        assert config.result_store().list_keys(f"{batch_id}/") == []
    finally:
        monkeypatch.undo()
        config.reset()


SECRET = "山田太郎"  # stands for a personal value a broken caller might put in an event


@pytest.mark.parametrize("function", ["ocr", "validate", "review", "finalize", "purge"])
@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"batch_id": "../../etc", "document_id": SECRET, "form_id": "water_stop", "action": "wait"},
        {"batch_id": 12345, "action": "submit", "page": SECRET, "corrections": SECRET},
        [SECRET],
        SECRET,
    ],
)
def test_every_handler_refuses_a_wrong_event_without_echoing_it(cloud, function, bad):
    # Given an event of the wrong shape (with a value in it that must not come back)
    # When the handler gets it
    out = invoke(function, bad)
    # Then it answers with a typed refusal naming fields, and nothing of the event's content
    assert out["ok"] is False and out["error"] == "bad_event" and out["fields"]
    assert SECRET not in json.dumps(out, ensure_ascii=False) and "../../etc" not in json.dumps(out)
