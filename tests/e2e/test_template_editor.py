"""The template editor end to end: a blank registered with `forms new`, its fields drawn in
Debian's Chromium with the mouse and described with the keyboard, saved, and the saved YAML
loaded as a form whose boxes are where they were drawn."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture()
def editor(tmp_path):
    from yomitori.forms.editor import EditorServer, EditorSession
    from yomitori.forms.existing import new_existing_form
    from yomitori.synth.city_form import draw_water_city_blank

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    blank = tmp_path / "blank.png"
    draw_water_city_blank(150).convert("L").save(blank, dpi=(150, 150))
    new_existing_form("city_form", blank, title="水道使用開始申込書", directory=tmp_path / "forms")
    server = EditorServer(EditorSession("city_form", tmp_path / "forms"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, tmp_path / "forms"
    server.shutdown()
    server.server_close()


@pytest.fixture()
def page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser.new_page(viewport={"width": 1300, "height": 1200})
        browser.close()


def _drag(page, sheet, mm_per_px: float, box: tuple[float, float, float, float]) -> None:
    x, y, w, h = (v / mm_per_px for v in box)
    page.mouse.move(sheet["x"] + x, sheet["y"] + y)
    page.mouse.down()
    page.mouse.move(sheet["x"] + x + w / 2, sheet["y"] + y + h / 2, steps=3)
    page.mouse.move(sheet["x"] + x + w, sheet["y"] + y + h, steps=3)
    page.mouse.up()


def test_fields_drawn_and_described_in_the_browser_are_saved_as_the_form(editor, page):
    # Given a registered blank open in the editor
    server, forms = editor
    from yomitori.forms import load_form_file

    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    sheet = page.locator("#overlay").bounding_box()
    mm_per_px = 210.0 / sheet["width"]
    # When a field is drawn over the name line and described
    _drag(page, sheet, mm_per_px, (51, 66, 100, 13))
    page.fill("#p-name", "name")
    page.fill("#p-label", "氏名")
    page.select_option("#p-sensitivity", "personal")
    page.fill("#p-validators", "person_name")
    page.check("#p-required")
    page.fill("#p-threshold", "0.8")
    page.keyboard.press("Escape")
    # and a choice of printed words to circle: a field, then its two words (keyboard: N, O)
    page.keyboard.press("n")
    _drag(page, sheet, mm_per_px, (52, 182, 40, 8))
    page.fill("#p-name", "account_type")
    page.fill("#p-label", "預金種目")
    page.keyboard.press("Escape")
    page.keyboard.press("o")
    _drag(page, sheet, mm_per_px, (54.8, 184, 7.2, 4))
    _drag(page, sheet, mm_per_px, (71.8, 184, 7.2, 4))
    page.fill("#p-options", "普通, 当座")
    page.keyboard.press("Escape")
    # an office-use area (U), and the first field nudged right by one step with the arrow key
    page.keyboard.press("u")
    _drag(page, sheet, mm_per_px, (160, 8, 35, 30))
    page.keyboard.press("[")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("Control+s")
    page.wait_for_selector("#status:has-text('saved')")

    # Then the YAML holds the fields where they were drawn, with what was chosen
    form = load_form_file(forms / "city_form.yaml")
    assert form.is_existing and form.reference == "city_form.png"
    name = form.field("name")
    assert name.label == "氏名" and name.required and name.sensitivity == "personal"
    assert name.threshold == 0.8 and [v.name for v in name.validators] == ["person_name"]
    assert abs(name.box.x - 51.5) <= 1.0 and abs(name.box.y - 66) <= 1.0
    assert abs(name.box.w - 100) <= 1.0 and abs(name.box.h - 13) <= 1.0
    choice = form.field("account_type")
    assert choice.type == "choice" and choice.marking == "circle"
    assert [o.value for o in choice.options] == ["普通", "当座"]
    assert abs(choice.options[1].box.x - 71.8) <= 1.0
    assert len(form.office_use) == 1 and abs(form.office_use[0].box.x - 160) <= 1.0


def test_a_definition_the_schema_refuses_is_not_saved_and_the_page_says_why(editor, page):
    # Given a field drawn as a date without its gaps
    server, forms = editor
    before = (forms / "city_form.yaml").read_text(encoding="utf-8")
    page.goto(server.url)
    page.wait_for_selector("body[data-ready='1']")
    sheet = page.locator("#overlay").bounding_box()
    _drag(page, sheet, 210.0 / sheet["width"], (117, 40, 58, 11))
    page.select_option("#p-type", "date")
    page.fill("#p-eras", "令和")
    page.keyboard.press("Escape")
    page.keyboard.press("y")  # only the year gap: month and day are missing
    _drag(page, sheet, 210.0 / sheet["width"], (125.5, 40, 14.5, 11))
    # When saved
    page.keyboard.press("Control+s")
    # Then the page names the problem and the file is unchanged
    page.wait_for_selector("#status.error")
    assert "month" in page.text_content("#status")
    assert (forms / "city_form.yaml").read_text(encoding="utf-8") == before
