"""Synthetic forms on disk: determinism, fonts, degradations, truth files."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from yomitori.errors import YomitoriError
from yomitori.forms import load_form
from yomitori.forms.layout import MARK_SIZE_MM, mm_to_px
from yomitori.synth import SynthUsageError, generate
from yomitori.synth.degrade import Degradation, apply_degradation

TODAY = dt.date(2026, 4, 1)
NOTO = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"


def files(directory: Path) -> dict[str, bytes]:
    paths = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): p.read_bytes() for p in paths}


def marks(image: np.ndarray, dpi: int) -> list[tuple[int, int, int, int]]:
    """Bounding boxes of the registration-mark-sized dark squares that lie wholly on the image."""
    dark = (image < 110).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark)
    side = mm_to_px(MARK_SIZE_MM, dpi)
    found = []
    h, w = image.shape
    for x, y, bw, bh, area in stats[1:n]:
        square = 0.8 * side < bw < 1.35 * side and 0.8 * side < bh < 1.35 * side and area > 0.6 * side * side
        if square and x > 0 and y > 0 and x + bw < w and y + bh < h:
            found.append((x, y, bw, bh))
    return found


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    form = load_form("water_start")
    # Given the same arguments twice, and once with another seed
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate(form, count=3, out_dir=tmp_path / name, seed=seed, dpi=200, degrade="light", today=TODAY)
    # Then the first two are byte-identical and the third differs in images and truth
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b
    assert a.keys() != c.keys() or all(a[k] != c[k] for k in a)


def test_truth_files_match_the_images_one_to_one(tmp_path):
    form = load_form("water_stop")
    paths = generate(form, count=4, out_dir=tmp_path, seed=2, dpi=200, degrade="heavy", today=TODAY)
    truths = sorted((tmp_path / "truth").glob("*.json"))
    assert [p.stem for p in paths] == [p.stem for p in truths] == [f"water_stop-{k:04d}" for k in range(1, 5)]
    images = {p.name for p in tmp_path.iterdir() if p.is_file()}
    assert images == {p.name for p in paths}
    for path, truth_path in zip(paths, truths, strict=True):
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        assert truth["source"] == path.name and truth["document_id"] == path.stem
        assert truth["form_id"] == "water_stop" and truth["schema_version"] == 1
        assert truth["degrade"] == "heavy" and truth["seed"] == 2
        assert set(truth["fields"]) == {f.name for f in form.fields}
        assert path.suffix == ".jpg"  # heavy simulates JPEG artefacts
        # grey, unless the messes say it was scanned in colour (heavy does that to some pages)
        assert Image.open(path).mode == ("RGB" if ["", "colour"] in truth["messes"] else "L")


def test_default_fonts_alternate_and_no_degradation_gives_png(tmp_path):
    # Given an earlier run with JPEG artefacts in the same folder
    generate(load_form("water_stop"), count=2, out_dir=tmp_path, dpi=200, degrade="light", today=TODAY)
    # When it is remade without degradation
    paths = generate(load_form("water_stop"), count=2, out_dir=tmp_path, dpi=200, degrade="none", today=TODAY)
    # Then fonts alternate, the images are PNG, and the old JPEGs are gone (one image per truth file)
    fonts = [json.loads((tmp_path / "truth" / f"{p.stem}.json").read_text())["font"] for p in paths]
    assert fonts == ["KleeOne-Regular.ttf", "setofont.ttf"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == [p.name for p in paths]
    assert all(p.suffix == ".png" for p in paths)


@pytest.mark.parametrize("font", [NOTO, DEJAVU])
def test_any_font_file_writes_the_form(tmp_path, font):
    # Given a font that is not one of ours (DejaVu has no Japanese: those glyphs fall back)
    form = load_form("water_start")
    generate(form, count=1, out_dir=tmp_path / "klee", seed=3, dpi=200, degrade="none", today=TODAY,
             fonts=["/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf"])
    # When we write with it
    [path] = generate(form, count=1, out_dir=tmp_path / "other", seed=3, dpi=200, degrade="none", today=TODAY,
                      fonts=[font])
    # Then the page is written, with the same values, in other glyphs
    truth = json.loads((tmp_path / "other" / "truth" / f"{path.stem}.json").read_text())
    klee_truth = json.loads((tmp_path / "klee" / "truth" / f"{path.stem}.json").read_text())
    assert truth["font"] == Path(font).name
    assert truth["fields"] == klee_truth["fields"]
    other = np.asarray(Image.open(path))
    klee = np.asarray(Image.open(tmp_path / "klee" / path.name))
    assert (other < 128).sum() > 0.9 * (klee < 128).sum() * 0.5  # ink is there
    assert (other != klee).any()


def test_a_missing_or_broken_font_file_is_a_clear_usage_error(tmp_path):
    with pytest.raises(SynthUsageError, match="does not exist"):
        generate(load_form("water_stop"), count=1, out_dir=tmp_path, fonts=[tmp_path / "nope.ttf"])
    (tmp_path / "notes.ttf").write_text("not a font")
    with pytest.raises(SynthUsageError, match="Cannot open font file"):
        generate(load_form("water_stop"), count=1, out_dir=tmp_path / "out", fonts=[tmp_path / "notes.ttf"])
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").glob("*.*"))


def test_unknown_degradation_is_a_usage_error(tmp_path):
    with pytest.raises(YomitoriError, match="Unknown degradation"):
        generate(load_form("water_stop"), count=1, out_dir=tmp_path, degrade="medium")


@pytest.mark.parametrize("dpi", [200, 300])
def test_degraded_pages_keep_all_four_registration_marks(tmp_path, dpi):
    paths = generate(load_form("water_stop"), count=3, out_dir=tmp_path, seed=11, dpi=dpi, degrade="heavy",
                     today=TODAY)
    for path in paths:
        image = np.asarray(Image.open(path).convert("L"))  # heavy scans some pages in colour
        assert image.shape == (round(mm_to_px(297, dpi)), round(mm_to_px(210, dpi)))
        assert len(marks(image, dpi)) >= 4


def test_a_degradation_too_strong_for_the_page_is_drawn_again_until_the_marks_stay_on():
    # Given shifts far larger than the margin around the marks (they sit 9 mm from the edge)
    form = load_form("water_stop")
    dpi = 100
    from yomitori.render import render_form

    page = np.asarray(render_form(form, dpi).convert("L"))
    brutal = Degradation(max_angle=8, max_shift_mm=40, max_scale=0.1, blur_sigma=(0.1, 0.2),
                         noise_sigma=(1, 2), jpeg_quality=None, upside_down=0.0)
    for k in range(15):
        # When it is applied
        out, flipped, quality = apply_degradation(page, brutal, np.random.default_rng(k), form, dpi)
        # Then the four marks are still wholly on the image
        assert len(marks(out, dpi)) >= 4 and not flipped and quality is None


def test_an_upside_down_page_is_turned_by_180_degrees_and_says_so():
    form = load_form("water_stop")
    spec = Degradation(0, 0, 0, (0.1, 0.2), (1, 2), None, upside_down=1.0)
    page = np.full((100, 80), 255, np.uint8)
    page[5:15, 5:15] = 0
    out, flipped, _ = apply_degradation(page, spec, np.random.default_rng(1), form, 10)
    assert flipped and out[85:95, 65:75].mean() < 128 and out[:20, :20].mean() > 200


@pytest.mark.parametrize("font", ["/usr/share/fonts/truetype/klee/KleeOne-Regular.ttf", NOTO, DEJAVU])
def test_long_text_is_shrunk_to_stay_inside_its_box(font):
    # Given a box far too short for the text at the usual size
    from yomitori.forms.schema import Box
    from yomitori.synth.handwriting import Pen

    box, dpi = Box(x=10, y=10, w=60, h=12), 200
    for k in range(5):
        page = Image.new("RGB", (800, 300), "white")
        # When a pen writes a long address into it
        Pen.for_document(font, np.random.default_rng(k), dpi).write_line(
            page, box, "北海道札幌市中央区大通西12丁目34-56 コーポ大通101号室")
        # Then all ink lies inside the box (one millimetre of slack for the jitter)
        ys, xs = np.nonzero(np.asarray(page.convert("L")) < 200)
        slack = mm_to_px(1, dpi)
        assert xs.size > 500
        assert xs.min() >= mm_to_px(box.x, dpi) - slack and xs.max() <= mm_to_px(box.right, dpi) + slack
        assert ys.min() >= mm_to_px(box.y, dpi) - slack and ys.max() <= mm_to_px(box.bottom, dpi) + slack
