"""Upside-down pages in the review page: the result records the turn, and the display image,
the field crops, the painted-over My Number and the boxes sent to the page are all upright.

The review service runs over the real one-machine stores (folder + SQLite); the pipeline test
aligns real synthetic pages (the fake engine answers the reads: only the geometry matters)."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.support.people import number_viewer

MY_NUMBER = "123456789018"
SIZE = (1240, 1754)  # an A4 page at 150 dpi keeps the test quick
# field boxes on the UPRIGHT page; none is symmetric about the page centre
NAME_BOX = (200, 300, 700, 380)
MN_BOX = (150, 520, 900, 600)


def _upright_page() -> Image.Image:
    """A white page with an asymmetric mark in the name box: a black block in its top-left
    corner and a thin bar along its bottom edge."""
    page = Image.new("L", SIZE, 255)
    draw = ImageDraw.Draw(page)
    x0, y0, x1, y1 = NAME_BOX
    draw.rectangle((x0 + 10, y0 + 8, x0 + 90, y0 + 40), fill=0)
    draw.rectangle((x0 + 10, y1 - 12, x1 - 10, y1 - 6), fill=60)
    mx0, my0, mx1, my1 = MN_BOX
    draw.rectangle((mx0 + 20, my0 + 15, mx1 - 20, my1 - 15), fill=0)  # the "handwritten" number
    return page


def _turned(box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where an upright-page box lies on the scan fed in upside down (pixel index x -> w-1-x)."""
    w, h = SIZE
    return (w - 1 - box[2], h - 1 - box[3], w - 1 - box[0], h - 1 - box[1])


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture()
def service(tmp_path):
    """A review service over one document whose scan was fed in upside down."""
    from yomitori.batch import page_key
    from yomitori.results import DocumentResult, FieldResult, FieldStatus
    from yomitori.steps.review import open_review_gate
    from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore
    from yomitori_agent.review import ReviewService

    results = LocalResultStore(tmp_path / "store")
    reviews = SqliteReviewStore(tmp_path / "review.sqlite3")
    releaser = LocalGateReleaser()
    batch = "b-rot-1"
    scan = _upright_page().transpose(Image.Transpose.ROTATE_180)
    results.put_page(batch, "doc-0001.png", _png(scan))
    results.put_document(DocumentResult(
        batch_id=batch, document_id="doc-0001", source="doc-0001.png", form_id="furusato_onestop",
        page_keys=[page_key(batch, "doc-0001.png")], page_rotation=180,
        fields={  # boxes in scan pixels, as the pipeline maps them
            "name": FieldResult(value="池田 恵子", raw="池田 恵子", confidence=0.4, box=_turned(NAME_BOX),
                                status=FieldStatus.NEEDS_REVIEW, reasons=["low_confidence"]),
            "my_number": FieldResult(value=MY_NUMBER, raw=MY_NUMBER, confidence=0.4, box=_turned(MN_BOX),
                                     status=FieldStatus.NEEDS_REVIEW, reasons=["low_confidence"]),
        },
    ))
    open_review_gate(results, reviews, releaser, batch_id=batch, task_token="token-1")
    alice = number_viewer("os:alice")
    return ReviewService(results, reviews, releaser, principal=alice, batch_id=batch), batch


def test_result_json_without_page_rotation_still_reads_and_only_quarter_turns_are_accepted():
    from pydantic import ValidationError
    from yomitori.results import DocumentResult

    # Given a result written before the field existed
    old = {"schema_version": 1, "batch_id": "b", "document_id": "d", "source": "d.png", "fields": {}}
    # When read, Then it is an upright page; a turn other than 0/90/180/270 is refused
    assert DocumentResult.model_validate(old).page_rotation == 0
    assert DocumentResult.model_validate_json(json.dumps({**old, "page_rotation": 180})).page_rotation == 180
    assert DocumentResult.model_validate({**old, "page_rotation": 90}).page_rotation == 90
    with pytest.raises(ValidationError):
        DocumentResult.model_validate({**old, "page_rotation": 45})


@pytest.mark.parametrize("rotation", [90, 270])
def test_a_sideways_page_is_shown_upright_with_its_boxes(rotation):
    from yomitori_agent.review.images import crop_png, render

    # Given the page fed in sideways: turning it `rotation` degrees clockwise rights it
    upright = _upright_page()
    scan = upright.rotate(rotation, expand=True)  # PIL turns counter-clockwise
    # and the name box where the scan shows it (the inverse of righting the page)
    w, h = SIZE
    x0, y0, x1, y1 = NAME_BOX
    scan_box = ((y0, w - 1 - x1, y1, w - 1 - x0) if rotation == 90
                else (h - 1 - y1, x0, h - 1 - y0, x1))
    # When the review page renders it
    pages = render(_png(scan), [], rotation=rotation)
    # Then the page is upright, the box lands on the field, and the crop is the upright field
    assert pages.size == SIZE
    assert pages.upright(scan_box) == NAME_BOX
    got = np.asarray(Image.open(io.BytesIO(crop_png(pages.scan, pages.upright(scan_box)))).convert("L"))
    want = np.asarray(Image.open(io.BytesIO(crop_png(upright, NAME_BOX))).convert("L"))
    assert np.array_equal(got, want)


def test_upside_down_page_crop_and_boxes_come_out_upright(service):
    svc, batch = service
    # When the reviewer opens the document and its name crop
    view = svc.open(batch, "doc-0001")
    png = svc.crop(batch, "doc-0001", "name")
    # Then the box sent to the page is the field's place on the upright page
    boxes = {f["name"]: f["box"] for f in view["fields"]}
    assert boxes == {"name": list(NAME_BOX), "my_number": list(MN_BOX)}
    # and the crop is the upright page's field area, pixel for pixel (block top-left, bar below)
    crop = np.asarray(Image.open(io.BytesIO(png)).convert("L"))
    from yomitori_agent.review.images import crop_png

    want = np.asarray(Image.open(io.BytesIO(crop_png(_upright_page(), NAME_BOX))).convert("L"))
    assert crop.shape == want.shape
    np.testing.assert_array_equal(crop, want)
    h, w = crop.shape
    assert crop[: h // 2, : w // 4].mean() < crop[h // 2 :, 3 * w // 4 :].mean()  # block is top-left


def test_upside_down_page_display_is_upright_with_the_my_number_painted_over(service):
    svc, batch = service
    svc.open(batch, "doc-0001")
    # When the page image is fetched
    jpeg, (w, h) = svc.page_image(batch, "doc-0001")
    img = Image.open(io.BytesIO(jpeg)).convert("L")
    k = img.width / w
    assert (w, h) == SIZE

    def at(box, fx=0.5, fy=0.5):
        return img.getpixel((round((box[0] + (box[2] - box[0]) * fx) * k),
                             round((box[1] + (box[3] - box[1]) * fy) * k)))

    # Then the name block shows at the name's top-left on the upright page
    assert at(NAME_BOX, 0.1, 0.3) < 60
    assert at(_turned(NAME_BOX), 0.9, 0.7) > 240  # nothing where the scan had it
    # and the My Number is covered with flat grey (not the black ink, not white) at its upright
    # place, while its place on the turned scan is blank paper
    assert 130 < at(MN_BOX) < 190
    assert 130 < at(MN_BOX, 0.02, 0.1) < 190  # the whole box is painted, margins included
    assert at(_turned(MN_BOX)) > 240
    # and the crop of the hidden number is still refused until revealed
    from yomitori_agent.review.service import ReviewError

    with pytest.raises(ReviewError):
        svc.crop(batch, "doc-0001", "my_number")


def test_pipeline_records_upside_down_page_and_review_crop_matches_the_upright_one(tmp_path):
    from yomitori.forms import load_form
    from yomitori.pipeline import process_directory
    from yomitori.results import DocumentResult
    from yomitori.synth import generate
    from yomitori_agent.review import images

    # Given a synthetic page and the same page fed in upside down
    scans = tmp_path / "scans"
    [path] = generate(load_form("water_start"), count=1, out_dir=scans, seed=5, dpi=200, degrade="none")
    upright = Image.open(path).convert("L")
    upright.transpose(Image.Transpose.ROTATE_180).save(scans / "water_start-0002.png")
    # When the batch is processed (real alignment; the fake engine answers the reads)
    out = tmp_path / "out"
    process_directory(scans, form_id="water_start", out_dir=out, engine="fake", workers=1)
    docs = {d: DocumentResult.model_validate_json((out / f"{d}.json").read_text(encoding="utf-8"))
            for d in ("water_start-0001", "water_start-0002")}
    # Then the result records the turn
    assert docs["water_start-0001"].page_rotation == 0
    assert docs["water_start-0002"].page_rotation == 180
    # and on the upright page every field box is where the upright scan has it (±1 px)
    straight = images.render((scans / path.name).read_bytes(), [], rotation=0)
    turned = images.render((scans / "water_start-0002.png").read_bytes(), [], rotation=180)
    for name, fr in docs["water_start-0001"].fields.items():
        got = turned.upright(docs["water_start-0002"].fields[name].box)
        assert max(abs(a - b) for a, b in zip(got, fr.box, strict=True)) <= 1, name
    # and the review crop of the turned page shows what the upright page shows there

    def crop(pages, doc, field):
        box = pages.upright(docs[doc].fields[field].box)
        return np.asarray(Image.open(io.BytesIO(images.crop_png(pages.scan, box))).convert("L"),
                          dtype=np.float64)

    a = crop(straight, "water_start-0001", "name")
    b = crop(turned, "water_start-0002", "name")
    assert a.std() > 10  # the field holds handwriting to compare
    h, w = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    a, b = a[:h, :w], b[:h, :w]
    same = np.abs(a - b).mean()
    flipped = np.abs(a - b[::-1, ::-1]).mean()
    assert same < flipped / 10, (same, flipped)
