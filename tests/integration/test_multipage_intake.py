"""Real-world intake on one machine: multi-page TIFF and PDF files, mixed batches sorted with
``--form auto``, and files whose pages are blank, of another form or unreadable. Every page of
every file must come out as a result or an error. The fake engine reads no text (checkboxes and
choices are read from the ink), so these tests are about pages, not about reading."""

from __future__ import annotations

import csv
import datetime as dt
import json

import numpy as np
import pytest
from PIL import Image, ImageDraw
from yomitori.forms import load_form
from yomitori.pipeline import process_directory
from yomitori.render import render_form
from yomitori.synth import generate

pytestmark = pytest.mark.slow
TODAY = dt.date(2025, 6, 1)
FORMS = ("water_start", "water_stop", "furusato_onestop", "salary_report", "childcare_application")


def _pages(paths):
    return [Image.open(p).convert("L") for p in paths]


def _truth(path):
    return json.loads((path.parent / "truth" / f"{path.stem}.json").read_text("utf-8"))


def _docs(out):
    return {p.stem: json.loads(p.read_text("utf-8")) for p in out.glob("*.json") if p.name != "batch.json"}


@pytest.fixture(scope="module")
def stop_scans(tmp_path_factory):
    """20 filled water_stop forms at 200 dpi (no degradation: these tests count pages)."""
    out = tmp_path_factory.mktemp("stop")
    return generate(load_form("water_stop"), count=20, out_dir=out, seed=11, dpi=200, degrade="none",
                    today=TODAY)


@pytest.mark.parametrize("kind", ["pdf", "tiff"])
def test_a_20_page_file_gives_20_documents_in_page_order(stop_scans, tmp_path, kind):
    # Given one 20-page file (a scanner's multi-page PDF or TIFF) of water_stop forms
    scans = tmp_path / "scans"
    scans.mkdir()
    first, *rest = _pages(stop_scans)
    if kind == "pdf":
        first.save(scans / "batch.pdf", "PDF", resolution=200.0, save_all=True, append_images=rest)
    else:
        first.save(scans / "batch.tif", "TIFF", compression="tiff_deflate", save_all=True, append_images=rest)
    # When the folder is processed
    out = tmp_path / "out"
    report = process_directory(scans, form_id="water_stop", out_dir=out, engine="fake", workers=2)
    # Then there are 20 documents, one per page, named by page, none failed
    docs = _docs(tmp_path / "out")
    assert report.documents == 20 and report.failed == 0
    assert sorted(docs) == [f"batch-p{n:02d}" for n in range(1, 21)]
    # and document k holds page k: its ticked choice is the one written on the k-th form
    for n, scan in enumerate(stop_scans, start=1):
        doc = docs[f"batch-p{n:02d}"]
        assert doc["source"] == scans.joinpath(f"batch.{'pdf' if kind == 'pdf' else 'tif'}").name
        assert doc["source_page"] == n
        assert doc["fields"]["settlement"]["value"] == _truth(scan)["fields"]["settlement"]
    with open(tmp_path / "out" / "results.csv", encoding="utf-8-sig", newline="") as fh:
        assert len(list(csv.reader(fh))) == 21


def _half_page(image: Image.Image) -> Image.Image:
    """The top half of a page only (torn, or fed in part-way): no bottom corner marks."""
    page = Image.new("L", image.size, 255)
    page.paste(image.crop((0, 0, image.width, image.height // 2)), (0, 0))
    return page


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A folder as an office's scanner fills it: one-page files of five forms, a multi-page TIFF
    holding a form, a blank sheet, another form turned 90°, a torn page, and a form upside down;
    a 2-page PDF; a damaged file."""
    root = tmp_path_factory.mktemp("mixed")
    scans = root / "scans"
    made = {}
    for k, form_id in enumerate(FORMS):
        made[form_id] = generate(load_form(form_id), count=2, out_dir=root / form_id, seed=20 + k, dpi=200,
                                 degrade="none", today=TODAY)
    scans.mkdir()
    expected = {}  # document id -> form id, or an error code
    for form_id, paths in made.items():
        Image.open(paths[0]).save(scans / f"{form_id}.png")
        expected[form_id] = form_id
    stop2, salary2, child2 = (Image.open(made[f][1]).convert("L") for f in
                              ("water_stop", "salary_report", "childcare_application"))
    blank = Image.new("L", stop2.size, 255)
    pages = [stop2, blank, salary2.rotate(90, expand=True), _half_page(child2), child2.rotate(180)]
    pages[0].save(scans / "tray.tif", "TIFF", save_all=True, append_images=pages[1:])
    expected.update({"tray-p01": "water_stop", "tray-p02": "blank_page", "tray-p03": "salary_report",
                     "tray-p04": "form_not_recognised", "tray-p05": "childcare_application"})
    start2, furusato2 = (Image.open(made[f][1]).convert("RGB") for f in ("water_start", "furusato_onestop"))
    start2.save(scans / "post.pdf", "PDF", resolution=200.0, save_all=True, append_images=[furusato2])
    expected.update({"post-p01": "water_start", "post-p02": "furusato_onestop"})
    (scans / "damaged.tif").write_bytes((scans / "tray.tif").read_bytes()[:300])
    expected["damaged"] = "corrupt_image"
    return scans, expected


def test_auto_sorts_a_mixed_folder_and_accounts_for_every_page(mixed, tmp_path):
    # Given the mixed folder
    scans, expected = mixed
    out = tmp_path / "out"
    # When it is processed with --form auto
    report = process_directory(scans, form_id="auto", out_dir=out, engine="fake", workers=2)
    # Then every page of every file is a document: its form, or an error that says why
    docs = _docs(out)
    assert set(docs) == set(expected) and report.documents == len(expected)
    got = {d: (doc["error"]["code"] if doc["error"] else doc["form_id"]) for d, doc in docs.items()}
    assert got == expected
    # and a turned page is read upright (turned 90° counter-clockwise: 90° clockwise to right it)
    assert docs["tray-p03"]["page_rotation"] == 90 and docs["tray-p05"]["page_rotation"] == 180
    # and each form has its own CSV with its own columns; pages of no form have theirs
    for form_id in FORMS:
        with open(out / f"results-{form_id}.csv", encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.reader(fh))
        assert rows[0][4:] == [*(f.name for f in load_form(form_id).fields), "follow_up"]
        assert sorted(r[0] for r in rows[1:]) == sorted(d for d, f in expected.items() if f == form_id)
    with open(out / "results-unrecognised.csv", encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    assert {r[0]: r[3] for r in rows[1:]} == {"tray-p02": "blank_page", "tray-p04": "form_not_recognised",
                                             "damaged": "corrupt_image"}
    assert not (out / "results.csv").exists()
    batch = json.loads((out / "batch.json").read_text("utf-8"))
    assert batch["forms"]["childcare_application"] == 2 and batch["files"] == 8
    assert "action" in docs["tray-p04"]["error"] and "--form" in docs["tray-p04"]["error"]["action"]


def test_with_one_form_the_other_pages_are_wrong_form_and_still_accounted_for(mixed, tmp_path):
    # Given the same folder, When it is processed as water_stop
    scans, expected = mixed
    out = tmp_path / "out"
    report = process_directory(scans, form_id="water_stop", out_dir=out, engine="fake", workers=1)
    docs = _docs(out)
    # Then every page is still there; water_stop pages are read, the others refused by code
    assert set(docs) == set(expected) and report.documents == len(expected)
    codes = {d: (doc["error"]["code"] if doc["error"] else "ok") for d, doc in docs.items()}
    assert codes["water_stop"] == codes["tray-p01"] == "ok"
    assert codes["tray-p02"] == "blank_page" and codes["damaged"] == "corrupt_image"
    assert codes["tray-p04"] == "no_registration_marks"
    assert codes["salary_report"] == codes["post-p02"] == codes["tray-p03"] == "wrong_form"


def _two_page_form(tmp_path, repo_root):
    """water_stop split over two pages: its settlement choice on page 2."""
    import yaml

    data = yaml.safe_load((repo_root / "forms" / "water_stop.yaml").read_text("utf-8"))
    data.update(id="two_page", pages=2)
    for f in data["fields"]:
        if f["name"] == "settlement":
            f["page"] = 2
    forms = tmp_path / "forms"
    forms.mkdir()
    (forms / "two_page.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), "utf-8")
    return forms


def test_a_form_of_two_pages_groups_pages_in_order_and_a_short_file_is_an_error(tmp_path, monkeypatch,
                                                                                  repo_root):
    # Given a form declared with `pages: 2`, and a 5-page TIFF of it (two documents and a page)
    monkeypatch.setenv("YOMITORI_FORMS_DIR", str(_two_page_form(tmp_path, repo_root)))
    form = load_form("two_page")
    option = {o.value: o.box for o in form.field("settlement").options}
    ticks = list(option)

    def page(n: int, tick: str | None = None) -> Image.Image:
        img = render_form(form, 200, n).convert("L")
        if tick:
            b = option[tick]
            ImageDraw.Draw(img).line([(b.x * 200 / 25.4, b.y * 200 / 25.4),
                                      (b.right * 200 / 25.4, b.bottom * 200 / 25.4)], fill=0, width=6)
        return img

    scans = tmp_path / "scans"
    scans.mkdir()
    pages = [page(1), page(2, ticks[0]), page(1), page(2, ticks[1]), page(1)]
    pages[0].save(scans / "pair.tif", "TIFF", save_all=True, append_images=pages[1:])
    # When processed with that form
    process_directory(scans, form_id="two_page", out_dir=tmp_path / "out", engine="fake", workers=1)
    docs = _docs(tmp_path / "out")
    # Then pages 1-2 and 3-4 are documents (the choice read from their second page), page 5 an error
    assert sorted(docs) == ["pair-p01", "pair-p03", "pair-p05"]
    assert docs["pair-p01"]["source_pages"] == [1, 2] and docs["pair-p03"]["source_pages"] == [3, 4]
    assert docs["pair-p01"]["fields"]["settlement"]["value"] == ticks[0]
    assert docs["pair-p03"]["fields"]["settlement"]["value"] == ticks[1]
    err = docs["pair-p05"]["error"]
    assert err["code"] == "incomplete_document" and "page 5" in err["message"]
    assert np.all(np.asarray(pages[0]).shape)  # the pages were real images
