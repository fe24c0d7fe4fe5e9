"""The Textract engine: recorded-shape DetectDocumentText responses (built for our sample
forms) through botocore's Stubber, mapped into the same Word structure Tesseract produces,
throttling retried with backoff and jitter, and a data-residency refusal before any call."""

from __future__ import annotations

import json
import random
import uuid

import boto3
import pytest
from botocore.stub import ANY, Stubber
from yomitori.errors import EngineError
from yomitori.forms import load_form
from yomitori.ocr.textract import THROTTLED, TextractEngine, words_from_response
from yomitori.settings import ResidencyError

REGION = "ap-northeast-1"


def _block(
    kind: str,
    text: str | None,
    left: float,
    top: float,
    width: float,
    height: float,
    conf: float,
    children: list[str] | None = None,
) -> dict:
    b = {
        "BlockType": kind,
        "Id": str(uuid.uuid4()),
        "Confidence": conf,
        "Geometry": {
            "BoundingBox": {"Width": width, "Height": height, "Left": left, "Top": top},
            "Polygon": [
                {"X": left, "Y": top},
                {"X": left + width, "Y": top},
                {"X": left + width, "Y": top + height},
                {"X": left, "Y": top + height},
            ],
        },
    }
    if text is not None:
        b["Text"] = text
        b["TextType"] = "HANDWRITING" if kind == "WORD" else None
        if kind == "LINE":
            del b["TextType"]
    if children:
        b["Relationships"] = [{"Type": "CHILD", "Ids": children}]
    return b


def detect_response(lines: list[list[tuple[str, float, float, float, float, float]]]) -> dict:
    """A DetectDocumentText response in Textract's shape: PAGE -> LINE -> WORD blocks with
    relative geometry and confidences 0..100. ``lines``: words (text, left, top, w, h, conf)."""
    blocks, line_ids = [], []
    for words in lines:
        wblocks = [_block("WORD", *w) for w in words]
        left, top = min(w[1] for w in words), min(w[2] for w in words)
        right, bottom = max(w[1] + w[3] for w in words), max(w[2] + w[4] for w in words)
        line = _block(
            "LINE",
            " ".join(w[0] for w in words),
            left,
            top,
            right - left,
            bottom - top,
            min(w[5] for w in words),
            [b["Id"] for b in wblocks],
        )
        line_ids.append(line["Id"])
        blocks += [line, *wblocks]
    page = _block("PAGE", None, 0, 0, 1, 1, 99.9, line_ids)
    return {
        "DocumentMetadata": {"Pages": 1},
        "Blocks": [page, *blocks],
        "DetectDocumentTextModelVersion": "1.0",
        "ResponseMetadata": {"HTTPStatusCode": 200},
    }


def form_response(form_id: str, values: dict[str, str], conf: float = 97.0) -> dict:
    """Words placed inside each named field's box of the form (relative to the page)."""
    form = load_form(form_id)
    pw, ph = form.page_size_mm
    lines = []
    for name, text in values.items():
        box = form.field(name).box
        lines.append(
            [
                (
                    text,
                    (box.x + 2) / pw,
                    (box.y + 2) / ph,
                    min(box.w - 4, 4 * len(text)) / pw,
                    (box.h - 4) / ph,
                    conf,
                )
            ]
        )
    return detect_response(lines)


@pytest.fixture
def textract():
    client = boto3.client("textract", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_words_are_mapped_to_pixel_boxes_and_unit_confidences():
    # Given a response with one word at 10%/20% of the page, 30% wide, 5% high, 88.5% sure
    response = detect_response([[("水道", 0.10, 0.20, 0.30, 0.05, 88.5)]])
    # When it is mapped for a 2000 x 3000 image
    words = words_from_response(response, 2000, 3000)
    # Then the box is in pixels (left, top, right, bottom) and the confidence is 0..1
    assert [(w.text, w.box) for w in words] == [("水道", (200, 600, 800, 750))]
    assert words[0].confidence == pytest.approx(0.885)


def test_a_page_read_by_textract_fills_the_same_fields_as_any_engine(tmp_path, textract):
    # Given a synthetic water_stop form and a recorded-shape response holding its true values
    from yomitori.extract import extract_document
    from yomitori.synth import generate

    form = load_form("water_stop")
    [image] = generate(form, count=1, out_dir=tmp_path, seed=3, dpi=300, degrade="none")
    truth = json.loads((tmp_path / "truth" / f"{image.stem}.json").read_text(encoding="utf-8"))["fields"]
    wanted = {k: truth[k] for k in ("name", "address", "phone")}
    client, stub = textract
    stub.add_response("detect_document_text", form_response("water_stop", wanted), None)
    # When extraction reads the page with the Textract engine
    engine = TextractEngine(REGION, client=client)
    doc = extract_document(image, form, engine, batch_id="b-001", document_id=image.stem, source=image.name)
    # Then the words landed in their fields, with Textract's confidence
    assert {k: doc.fields[k].value for k in wanted} == wanted
    assert doc.fields["name"].confidence == pytest.approx(0.97, abs=0.01)


def test_throttling_is_retried_with_backoff_and_jitter(textract):
    # Given Textract throttles twice, then answers
    from PIL import Image

    client, stub = textract
    for _ in range(2):
        stub.add_client_error(
            "detect_document_text", service_error_code="ThrottlingException", http_status_code=400
        )
    stub.add_response("detect_document_text", detect_response([[("中止", 0.5, 0.5, 0.1, 0.02, 90.0)]]), None)
    waits: list[float] = []
    engine = TextractEngine(REGION, client=client, base_delay=1.0, sleep=waits.append, rng=random.Random(1))
    # When a page is read
    words = engine.read_page(Image.new("L", (100, 100), 255))
    # Then it took three calls, and the waits were random within the growing caps (1 s, 2 s)
    assert [w.text for w in words] == ["中止"] and engine.attempts == 3
    assert len(waits) == 2 and 0 <= waits[0] <= 1.0 and 0 <= waits[1] <= 2.0 and waits[0] != waits[1]


def test_a_page_is_recorded_as_failed_when_retries_run_out(tmp_path, textract):
    # Given Textract throttles on every attempt, and a page stored in the (local) result store
    from yomitori.batch import PageEntry, sha256_file
    from yomitori.forms import load_form
    from yomitori.steps.ocr import ocr_page
    from yomitori.store import LocalResultStore
    from yomitori.synth import generate

    [image] = generate(load_form("water_stop"), count=1, out_dir=tmp_path / "scans", seed=5, degrade="none")
    store = LocalResultStore(tmp_path / "store")
    store.put_page("b-001", image.name, image.read_bytes())
    client, stub = textract
    for _ in range(3):
        stub.add_client_error(
            "detect_document_text", service_error_code="ThrottlingException", http_status_code=400
        )
    engine = TextractEngine(REGION, client=client, max_attempts=3, sleep=lambda s: None)
    page = PageEntry(name=image.name, size=image.stat().st_size, sha256=sha256_file(image))
    # When the OCR step reads it
    outcome = ocr_page(store, engine, batch_id="b-001", form_id="water_stop", page=page)
    # Then the page is a recorded failure with the throttling code, not lost
    assert outcome.error == THROTTLED
    stored = store.get_ocr("b-001", image.stem)["result"]
    assert stored["error"]["code"] == THROTTLED and stored["fields"] == {}


def test_a_region_outside_the_residency_list_is_refused_before_any_call(textract):
    # Given a deployment that names us-east-1 for Textract while residency allows Japan only
    client, stub = textract  # no responses queued: any call would fail the stubber
    # When the engine is built, Then it refuses, naming the region
    with pytest.raises(ResidencyError, match="us-east-1"):
        TextractEngine("us-east-1", allowed_regions=["ap-northeast-1", "ap-northeast-3"], client=client)


def test_a_refused_page_is_not_retried(textract):
    # Given Textract rejects the document outright
    from PIL import Image

    client, stub = textract
    stub.add_client_error(
        "detect_document_text", service_error_code="UnsupportedDocumentException", http_status_code=400
    )
    engine = TextractEngine(REGION, client=client, sleep=lambda s: pytest.fail("must not wait"))
    # When a page is read, Then it fails once with a clear code
    with pytest.raises(EngineError) as e:
        engine.read_page(Image.new("L", (50, 50), 255))
    assert e.value.code == "ocr_rejected" and engine.attempts == 1


def test_analyze_document_is_used_when_features_are_configured(textract):
    # Given an engine configured for AnalyzeDocument with FORMS, and a response that also
    # carries key-value blocks (which are not words and must be ignored)
    from PIL import Image

    client, stub = textract
    response = detect_response(
        [[("申込日", 0.1, 0.1, 0.1, 0.02, 95.0), ("令和6年", 0.25, 0.1, 0.1, 0.02, 80.0)]]
    )
    response.pop("DetectDocumentTextModelVersion")
    response["AnalyzeDocumentModelVersion"] = "1.0"
    kv = _block("KEY_VALUE_SET", None, 0.1, 0.1, 0.25, 0.02, 90.0)
    kv["EntityTypes"] = ["KEY"]
    response["Blocks"].append(kv)
    stub.add_response("analyze_document", response, {"Document": {"Bytes": ANY}, "FeatureTypes": ["FORMS"]})
    engine = TextractEngine(REGION, client=client, feature_types=["FORMS"])
    # When a 1000 x 1000 page is read
    words = engine.read_page(Image.new("L", (1000, 1000), 255))
    # Then only the words come back, in pixels
    assert [(w.text, w.box) for w in words] == [
        ("申込日", (100, 100, 200, 120)),
        ("令和6年", (250, 100, 350, 120)),
    ]
