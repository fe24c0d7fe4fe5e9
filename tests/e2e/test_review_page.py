"""The review page end to end: a demo batch (synth -> real Tesseract -> routing) reviewed in
Debian's Chromium with the keyboard only, through the one-machine stores.

Timings are recorded (test-artifacts/review-timings.json) and printed, never asserted.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import threading
from pathlib import Path

import pytest

from tests.support.people import PASSPHRASE, number_viewer, users_file

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ERA = {"令和": 2018, "平成": 1988, "昭和": 1925}
OPTIONS = {"gender": ["男", "女"], "account_type": ["普通", "当座"]}


def _wareki(iso: str) -> str:
    """2000-10-07 -> 平成12年10月7日 (as a person might have typed it)."""
    d = dt.date.fromisoformat(iso)
    era = "令和" if d >= dt.date(2019, 5, 1) else "平成" if d >= dt.date(1989, 1, 8) else "昭和"
    return f"{era}{d.year - ERA[era]}年{d.month}月{d.day}日"


def _bad_check_digit(number: str, step: int = 1) -> str:
    return number[:11] + str((int(number[11]) + step) % 10)


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    """Three furusato forms read by Tesseract, with two OCR slips put back through the real
    validators: one document's My Number with a wrong check digit (invalid) and one birth
    date written in 和暦 (the date validator suggests the ISO date)."""
    from yomitori.forms import load_form
    from yomitori.pipeline import process_directory
    from yomitori.results import DocumentResult
    from yomitori.synth import generate
    from yomitori.validation import route_document

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    root = tmp_path_factory.mktemp("review")
    form = load_form("furusato_onestop")
    generate(form, count=3, out_dir=root / "scans", seed=11)
    process_directory(root / "scans", form_id=form.id, out_dir=root / "out")
    truth = {p.stem: json.loads(p.read_text(encoding="utf-8"))["fields"]
             for p in (root / "scans" / "truth").glob("*.json")}
    paths = sorted((root / "out").glob("furusato_onestop-*.json"))
    for k, path in enumerate(paths):
        doc = DocumentResult.model_validate_json(path.read_text(encoding="utf-8"))
        t = truth[doc.document_id]
        if k == 0:
            doc.fields["birth_date"].value = _wareki(t["birth_date"])
            doc.fields["birth_date"].confidence = 0.99
        if k == 1:
            doc.fields["my_number"].value = _bad_check_digit(t["my_number"])
        if k == 2:
            doc.fields["phone"].confidence = 0.1
        for fr in doc.fields.values():
            fr.status = fr.status.NEEDS_REVIEW  # routed again below, as the pipeline does
        route_document(form, doc)
        path.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    return {"root": root, "out": root / "out", "truth": truth, "form": form}


@pytest.fixture()
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


class Keys:
    """The keyboard, counting key presses (a typed character counts as one)."""

    def __init__(self, page):
        self.page, self.count, self.typed = page, 0, 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)
        self.count += len(text)
        self.typed += len(text)


def _current(page) -> dict:
    return page.evaluate(
        "() => { const r = document.querySelector('.field.current');"
        " const i = r && r.querySelector('input');"
        " return r ? {name: r.dataset.name,"
        " value: i.classList.contains('grouped') ? i.value.replace(/ /g, '') : i.value,"
        " suggestion: !!r.querySelector('.suggest'), masked: i.classList.contains('masked'),"
        " sv: r.querySelector('.suggest .sv') ? r.querySelector('.suggest .sv').textContent : null,"
        " refused: r.querySelectorAll('.refused li').length,"
        " type: i.dataset.type,"
        " era: r.querySelector('select.era') ? r.querySelector('select.era').value : null,"
        " doc: document.getElementById('doc-title').textContent} : null; }"
    )


ERA_START = {"令和": dt.date(2019, 5, 1), "平成": dt.date(1989, 1, 8), "昭和": dt.date(1926, 12, 25)}


def _date_forms(iso: str, era_selected: str | None) -> list[str]:
    """What a clerk may type for ``iso``: ISO, 令和8年7月23日, R8.7.23, and 8.7.23 when the
    era preselected beside the input is the right one."""
    d = dt.date.fromisoformat(iso)
    era = next((e for e, start in ERA_START.items() if d >= start), None)
    forms = [iso]
    if era:
        y = d.year - ERA[era]
        forms += [f"{era}{y}年{d.month}月{d.day}日", f"{'RHS'['令平昭'.index(era[0])]}{y}.{d.month}.{d.day}"]
        if era_selected == era:
            forms.append(f"{y}.{d.month}.{d.day}")
    return forms


def _edit(keys: Keys, value: str, want: str) -> None:
    """Change the selected input's ``value`` into ``want`` the cheapest way a clerk would: type
    it over the selection, or keep a common start (End, Backspace…) or end (Home, Delete…)."""
    both = min(len(value), len(want))
    p = next((i for i, (a, b) in enumerate(zip(value[:both], want[:both], strict=True)) if a != b), both)
    back = zip(value[::-1][:both], want[::-1][:both], strict=True)
    sfx = next((i for i, (a, b) in enumerate(back) if a != b), both)
    retype = len(want) if want else 1
    tail = 1 + (len(value) - p) + (len(want) - p)
    head = 1 + (len(value) - sfx) + (len(want) - sfx)
    if retype <= min(tail, head):
        if want:
            keys.type(want)
        else:
            keys.press("Backspace")
    elif tail <= head:
        keys.press("End")
        for _ in range(len(value) - p):
            keys.press("Backspace")
        keys.type(want[p:])
    else:
        keys.press("Home")
        for _ in range(len(value) - sfx):
            keys.press("Delete")
        keys.type(want[: len(want) - sfx])


def _settle(page, keys: Keys, cur: dict, want: str, options: list[str] | None = None) -> None:
    """Make the current field hold ``want`` (the truth) with as few keys as the page allows,
    then settle it: F2 on a right suggestion, Space on tick boxes and choices, a date in its
    shortest accepted form, an edit otherwise; Enter unless the page moved on by itself (a
    digits field of fixed length moves on when all digits are typed)."""
    name = cur["name"]
    if cur["suggestion"] and cur["sv"] == want:
        keys.press("F2")
        return
    if cur["type"] == "checkbox":
        assert cur["value"] in ("✓", "空欄"), cur["value"]  # shown as ticked or blank, not true/false
        if cur["value"] != {"true": "✓", "false": "空欄"}.get(want, want):
            keys.press("Space")
    elif cur["type"] == "choice" and options:
        for _ in range(len(options)):
            if _current(page)["value"] == want:
                break
            keys.press("Space")
    elif cur["value"] != want:
        if cur["type"] == "date" and want:
            keys.type(min(_date_forms(want, cur["era"]), key=len))
        else:
            _edit(keys, cur["value"], want)
    after = _current(page)
    if after is None or after["name"] != name or after["doc"] != cur["doc"]:
        return  # moved on by itself
    keys.press("Enter")


def _log_in(page, name: str, passphrase: str = PASSPHRASE) -> None:
    """Log in on the page's form (shown after the one-time link when a users file is used)."""
    from playwright.sync_api import expect

    expect(page.locator("#login-name")).to_be_focused(timeout=10_000)
    page.keyboard.type(name)
    page.keyboard.press("Tab")
    page.keyboard.type(passphrase)
    page.keyboard.press("Enter")


def _wait_moved(page, doc_id: str, name: str) -> None:
    """Wait until the page moved on from field ``name`` (another field, document or the end)."""
    page.wait_for_function(
        """([docId, name]) => { const r = document.querySelector('.field.current');
            return !r || !document.getElementById('doc-title').textContent.includes(docId)
                || r.dataset.name !== name; }""",
        arg=[doc_id, name],
        timeout=10_000,
    )


def _wait_document(page, previous: str | None) -> str:
    from playwright.sync_api import expect

    if previous:
        expect(page.locator("#doc-title")).not_to_contain_text(previous, timeout=10_000)
    expect(page.locator(".field.current input")).to_be_focused(timeout=10_000)
    return page.locator("#doc-title").inner_text()


def test_review_demo_batch_with_the_keyboard(batch, browser):
    from playwright.sync_api import expect
    from yomitori.store.base import AuditAction
    from yomitori_agent.review import local_backend, make_server

    # Given a processed batch waiting for review in the one-machine stores, and the page open
    work = batch["root"] / "work"
    shutil.copytree(batch["out"], work)
    users = users_file(batch["root"] / "users.json", {"reviewer-1": ["reviewer", "number_viewer"]})
    backend = local_backend(work, users=users)
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    truth = batch["truth"]
    waiting = [q.document_id for q in backend.reviews.queue(backend.batch_id)]
    needing_fields = 0
    for d in waiting:
        doc = backend.results.get_document(backend.batch_id, d)
        needing_fields += sum(1 for f in doc.fields.values() if f.status.value in ("needs_review", "invalid"))
    assert len(waiting) >= 2, "the fixture makes at least two documents need a person"
    page = browser.new_page(viewport={"width": 1600, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    keys = Keys(page)
    try:
        page.goto(server.url)
        # When the clerk logs in with their name and passphrase (the users file)
        _log_in(page, "reviewer-1")
        title = _wait_document(page, None)
        # Then the header names them
        expect(page.locator("#who")).to_have_text("確認者: reviewer-1")
        ARTIFACTS.mkdir(exist_ok=True)
        # Tab and Shift+Tab move between the fields that need a person; Alt+= zooms the scan
        first_field = _current(page)["name"]
        if page.locator("#fields .field").count() >= 2:
            page.keyboard.press("Tab")
            assert _current(page)["name"] != first_field
            page.keyboard.press("Shift+Tab")
            assert _current(page)["name"] == first_field
        before_zoom = page.locator("#stage").evaluate("e => e.style.transform")
        page.keyboard.press("Alt+=")
        assert page.locator("#stage").evaluate("e => e.style.transform") != before_zoom
        seen_suggestion = seen_refusal = seen_reveal = seen_illegible = False
        detour = 0
        docs_done = 0
        while True:
            doc_id = next(d for d in waiting if d in title)
            t = truth[doc_id]
            for _ in range(40):  # fields of this document, one by one, as the reviewer moves
                cur = _current(page)
                if cur is None or doc_id not in cur["doc"]:
                    break
                name = cur["name"]
                if cur["masked"]:
                    # When the reviewer reveals a My Number (F8)
                    assert t["my_number"] not in page.content(), "the full number is not in the page"
                    keys.press("F8")
                    # Then the page asks why (the first purpose is preselected), and Enter shows it
                    expect(page.locator("#purpose-box")).to_be_visible()
                    keys.press("Enter")
                    expect(page.locator(f"#f-{name}")).to_have_js_property("readOnly", False)
                    seen_reveal = True
                    cur = _current(page)
                if cur["suggestion"] and not seen_suggestion:
                    # When the reviewer accepts the suggested correction with one key
                    page.screenshot(path=str(ARTIFACTS / "review.png"))
                    keys.press("F2")
                    seen_suggestion = True
                elif name == "my_number" and not seen_refusal:
                    # When the reviewer types a My Number with a wrong check digit and submits
                    before = keys.count
                    wrong = _bad_check_digit(t[name])
                    if wrong == cur["value"]:  # typing what is already there would change nothing
                        wrong = _bad_check_digit(t[name], 2)
                    keys.type(wrong)
                    keys.press("Control+Enter")
                    detour = keys.count - before  # not needed to review; reported apart
                    refused = page.locator(f".field[data-name='{name}'] .refused")
                    # Then the page says why, in Japanese, and keeps the document open
                    expect(refused).to_contain_text("チェックデジット")
                    page.screenshot(path=str(ARTIFACTS / "review-refused.png"))
                    seen_refusal = True
                    expect(page.locator(f"#f-{name}")).to_be_focused()
                    if cur["value"] == t[name]:  # the reading was right after all: Esc restores it
                        keys.press("Escape")
                        detour += 1
                    else:
                        keys.type(t[name])
                    keys.press("Enter")
                elif name == "phone" and not seen_illegible and docs_done == len(waiting) - 1:
                    # When the reviewer cannot read a field and marks it 保留 (F4)
                    keys.press("F4")
                    seen_illegible = True
                else:
                    _settle(page, keys, cur, t[name], OPTIONS.get(name))
                _wait_moved(page, doc_id, name)
            docs_done += 1
            if page.locator("#done").is_visible():
                break
            title = _wait_document(page, doc_id)
        expect(page.locator("#done-text")).to_contain_text("確認ゲートを解除")
        expect(page.locator("#progress")).to_have_text("残り 0 件")
        # and the done screen lists the field held with F4, to follow up
        expect(page.locator("#held-table tbody tr")).to_have_count(1)
        expect(page.locator("#held-table tbody tr")).to_contain_text("判読不能")
        timings = page.evaluate("() => window.reviewTimings")
    finally:
        server.shutdown()
        server.server_close()

    # Then every document was reviewed, the gate released and the results written back
    assert not errors, errors
    assert seen_suggestion and seen_refusal and seen_reveal and seen_illegible
    gate = backend.reviews.get_gate(backend.batch_id)
    assert gate.released_at is not None and not gate.pending
    assert backend.releaser.released, "the local runner's continuation ran"
    for d in waiting:
        doc = json.loads((work / f"{d}.json").read_text(encoding="utf-8"))
        statuses = {f["status"] for f in doc["fields"].values()}
        assert not statuses & {"needs_review", "invalid"}, (d, statuses)
    first = json.loads((work / f"{waiting[0]}.json").read_text(encoding="utf-8"))
    assert first["fields"]["birth_date"]["value"] == truth[waiting[0]]["birth_date"]
    assert first["fields"]["birth_date"]["status"] == "corrected"
    second = json.loads((work / f"{waiting[1]}.json").read_text(encoding="utf-8"))
    assert second["fields"]["my_number"]["value"] == truth[waiting[1]]["my_number"]
    assert "illegible" in {f["status"] for f in json.loads(
        (work / f"{waiting[-1]}.json").read_text(encoding="utf-8"))["fields"].values()}
    assert not list((work / ".review" / "store").rglob("*.jpg")), "the store's scan copies are gone"

    # And the audit trail says who did what, never a value
    trail = backend.reviews.audit_trail(backend.batch_id)
    actions = [r.action for r in trail]
    assert all(r.reviewer == "reviewer-1" for r in trail if r.action is not AuditAction.RELEASE_GATE)
    assert [r.reasons for r in trail if r.action is AuditAction.LOGIN] == [[]]
    work = (AuditAction.LEASE, AuditAction.CORRECT, AuditAction.CONFIRM, AuditAction.COMPLETE,
            AuditAction.RELEASE_GATE)
    assert all(r.role == "reviewer" for r in trail if r.action in work)
    assert any(r.action is AuditAction.REVEAL_MY_NUMBER and r.document_id == waiting[1]
               and r.field == "my_number" and r.role == "number_viewer" and r.purpose == "identity_check"
               for r in trail)
    assert any(r.action is AuditAction.REFUSED and "my_number_check_digit" in r.reasons for r in trail)
    assert actions.count(AuditAction.COMPLETE) == len(waiting)
    assert actions.count(AuditAction.RELEASE_GATE) == 1
    assert {r.document_id for r in trail if r.action is AuditAction.LEASE} == set(waiting)
    dumped = json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
    for d in waiting:
        for name in ("my_number", "name", "address", "phone"):
            assert truth[d][name] not in dumped
    assert PASSPHRASE not in dumped

    report = {
        "documents": len(waiting),
        "fields_needing_review": needing_fields,
        "key_presses_in_test": keys.count,
        "key_presses_without_the_deliberate_refusal": keys.count - detour,
        "of_which_typed_characters": keys.typed - len(_bad_check_digit("0" * 12)),
        "first_field_focused_ms": round(timings["firstFieldFocused"]),
        "next_document": timings["nextDocument"],
    }
    (ARTIFACTS / "review-timings.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print("\nreview page measurements:", json.dumps(report))
    assert (ARTIFACTS / "review.png").stat().st_size > 10_000


@pytest.fixture()
def small_batch(tmp_path):
    """Two furusato documents needing a person (blank scans): for the page's behaviour alone."""
    from tests.unit.test_review_cli import _batch_folder

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    return _batch_folder(tmp_path)


def test_errors_are_japanese_with_a_button_that_does_the_next_step(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the page open on a document, with one field confirmed on the page
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        title = _wait_document(page, None)
        doc_id = next(d for d in ("doc-0001", "doc-0002") if d in title)
        page.locator("#f-phone").focus()
        page.keyboard.press("Enter")
        # Then the row does not claim to be saved before the server stored it
        expect(page.locator(".field[data-name='phone'] .mark")).to_have_text("確認（未提出）")
        # When the lease runs out and another reviewer takes the document, and the clerk submits
        backend.reviews.release_lease(backend.batch_id, doc_id, "reviewer-1")
        backend.reviews.lease(backend.batch_id, "os:bob", document_id=doc_id)
        page.keyboard.press("Control+Enter")
        # Then the page says so in Japanese, says nothing was saved, and offers to open it again
        message = page.locator("#message")
        expect(message).to_contain_text("まだ保存されていません", timeout=10_000)
        expect(message).not_to_contain_text("leased")
        button = message.locator("button")
        expect(button).to_have_text("もう一度開く")
        assert page.locator(".mark", has_text="確認済み").count() == 0
        # When bob gives it back and the clerk presses the button (Enter on it)
        backend.reviews.release_lease(backend.batch_id, doc_id, "os:bob")
        expect(button).to_be_focused()
        page.keyboard.press("Enter")
        # Then the document is the clerk's again, and what was typed is still there
        expect(message).to_contain_text("もう一度開きました")
        holder = {q.document_id: q.leased_by for q in backend.reviews.queue(backend.batch_id)}[doc_id]
        assert holder == "reviewer-1"
        expect(page.locator(".field[data-name='phone'] .mark")).to_have_text("確認（未提出）")
        # When the login link is opened a second time (in another tab)
        other = browser.new_page()
        other.goto(server.url)
        # Then a Japanese page says what to do (not a bare 403)
        expect(other.locator("h1")).to_have_text("確認画面を開けません")
        # When the network to the server fails and the clerk submits
        page.route("**/api/**", lambda route: route.abort())
        page.locator("#f-phone").focus()
        page.keyboard.press("Control+Enter")
        # Then the page offers to reconnect (not "Failed to fetch")
        expect(message).to_contain_text("接続できません", timeout=10_000)
        expect(message).not_to_contain_text("fetch")
        expect(message.locator("button")).to_have_text("再接続")
        # When the network is back and the clerk presses 再接続, Then the submission is sent again
        # (and answered: the My Number is still to be settled)
        page.unroute("**/api/**")
        page.keyboard.press("Enter")
        expect(message).to_contain_text("受け付けられませんでした", timeout=10_000)
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def test_a_second_window_of_the_same_clerk_gets_its_own_document_or_a_clear_message(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the clerk logged in, with the page open in one tab
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        first = context.new_page()
        first.goto(server.url)
        title_1 = _wait_document(first, None)
        # When they open the page in a second tab (same login)
        second = context.new_page()
        second.goto(server.url.split("?", 1)[0])
        title_2 = _wait_document(second, None)
        # Then each tab has its own document
        docs = ("doc-0001", "doc-0002")
        assert {d for d in docs if d in title_1} != {d for d in docs if d in title_2}
        # When a third tab opens, with nothing else left
        third = context.new_page()
        third.goto(server.url.split("?", 1)[0])
        # Then it says that the rest is open in another window, with a button to reload
        expect(third.locator("#done-text")).to_contain_text("別の画面", timeout=10_000)
        expect(third.locator("#done-text button")).to_have_text("読み込み直す")
    finally:
        context.close()
        server.shutdown()
        server.server_close()


def test_skip_back_pick_and_a_reload_keep_what_was_typed(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the page open on a document, and the clerk has typed a phone number
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        title = _wait_document(page, None)
        first = next(d for d in ("doc-0001", "doc-0002") if d in title)
        page.locator("#f-phone").focus()
        page.keyboard.press("Control+a")
        page.keyboard.type("0312345679")
        # When the page is reloaded
        page.reload()
        _wait_document(page, None)
        # Then the same document is open with what was typed, said to be not yet submitted
        expect(page.locator("#doc-title")).to_contain_text(first)
        expect(page.locator("#f-phone")).to_have_value("0312345679")
        expect(page.locator("#message")).to_contain_text("まだ提出されていません")
        # When the clerk skips it (Alt+PageDown), Then the other document opens
        page.keyboard.press("Alt+PageDown")
        title = _wait_document(page, first)
        assert first not in title
        # When they go back (Alt+PageUp), Then the first is open again, with the draft
        page.keyboard.press("Alt+PageUp")
        _wait_document(page, title)
        expect(page.locator("#doc-title")).to_contain_text(first)
        expect(page.locator("#f-phone")).to_have_value("0312345679")
        # When they pick the other document in the queue, Then it opens
        other = "doc-0002" if first == "doc-0001" else "doc-0001"
        page.locator("#queue-list button", has_text=other).click()
        expect(page.locator("#doc-title")).to_contain_text(other)
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def test_a_revealed_my_number_is_grouped_and_masked_again_on_leaving_or_after_a_minute(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    from tests.unit.test_review_server import MY_NUMBER

    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.clock.install()
    mn = page.locator("#f-my_number")
    try:
        page.goto(server.url)
        _wait_document(page, None)
        # When the clerk reveals the My Number (F8)
        mn.focus()
        page.keyboard.press("F8")
        page.keyboard.press("Enter")  # the purpose asked (the first of the list)
        # Then it is shown grouped 4-4-4
        grouped = f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}"
        expect(mn).to_have_value(grouped)
        # When they leave the field, Then it is masked again and no longer in the page
        page.keyboard.press("Tab")
        expect(mn).to_have_js_property("readOnly", True)
        assert MY_NUMBER not in mn.input_value().replace(" ", "")
        # When it is shown again and the focus leaves for something that is no field (another
        # window, a button), Then it is masked again too
        mn.focus()
        page.keyboard.press("F8")
        page.keyboard.press("Enter")
        expect(mn).to_have_value(grouped)
        page.locator("#accepted-toggle").focus()
        expect(mn).to_have_js_property("readOnly", True)
        assert MY_NUMBER not in mn.input_value().replace(" ", "")
        # When they reveal it again and a minute passes, Then it is masked again
        mn.focus()
        page.keyboard.press("F8")
        page.keyboard.press("Enter")
        expect(mn).to_have_value(grouped)
        page.clock.run_for(61_000)
        expect(mn).to_have_js_property("readOnly", True)
        assert MY_NUMBER not in mn.input_value().replace(" ", "")
    finally:
        server.shutdown()
        server.server_close()


def test_zoom_at_full_resolution_keyboard_panning_and_an_enlarged_crop(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the page open on a document at 1366×768
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        _wait_document(page, None)
        url = page.url
        page.locator("#f-phone").focus()
        expect(page.locator(".field[data-name='phone'] .crop")).to_be_visible()
        # When the clerk zooms onto the current field (Alt+Z)
        page.keyboard.press("Alt+z")
        hires = page.locator("#hires")
        # Then the part in view is shown from the full scan: as many image pixels as scan pixels
        expect(hires).to_be_visible(timeout=10_000)
        region = [int(v) for v in hires.get_attribute("data-region").split(",")]
        assert hires.evaluate("e => e.naturalWidth") == region[2] - region[0]
        phone_box = (558, 1626, 1491, 1749)
        assert region[0] <= phone_box[0] and region[2] >= phone_box[2]
        assert region[1] <= phone_box[1] and region[3] >= phone_box[3]
        # When they pan with Alt+arrows, Then the view moves and the browser does not go back
        before = page.locator("#stage").evaluate("e => e.style.transform")
        page.keyboard.press("Alt+ArrowLeft")
        page.keyboard.press("Alt+ArrowDown")
        assert page.locator("#stage").evaluate("e => e.style.transform") != before
        assert page.url == url
        expect(page.locator("#f-phone")).to_be_focused()
        # When they press F9, Then the field's full-resolution crop is shown large; Esc closes it
        page.keyboard.press("F9")
        big = page.locator("#crop-big img")
        expect(big).to_be_visible()
        small_w = page.locator(".field[data-name='phone'] .crop").evaluate("e => e.clientWidth")
        assert big.evaluate("e => e.clientWidth") > small_w
        assert big.evaluate("e => e.naturalWidth") >= phone_box[2] - phone_box[0]
        page.keyboard.press("Escape")
        expect(big).to_be_hidden()
        expect(page.locator("#f-phone")).to_be_focused()
        # And the page's help names the keys
        for key in ("Alt+Z", "Alt+←↑↓→", "F9"):
            expect(page.locator("#keys")).to_contain_text(key)
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def test_a_zoom_asked_while_the_scan_still_loads_is_done_once_it_is_shown(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the page open on a document whose scan has not arrived yet (held on the network)
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    held = []
    page.route("**/api/page?*", lambda route: held.append(route))
    try:
        page.goto(server.url)
        _wait_document(page, None)
        page.locator("#f-phone").focus()
        expect(page.locator(".field[data-name='phone'] .crop")).to_be_visible()
        page.wait_for_function("() => !document.getElementById('scan').naturalWidth")
        # When the clerk zooms onto the field (Alt+Z) before it is shown, and then it arrives
        page.keyboard.press("Alt+z")
        assert len(held) == 1
        held[0].continue_()
        page.unroute("**/api/page?*")
        # Then the key press was not lost: the field is shown from the full scan
        hires = page.locator("#hires")
        expect(hires).to_be_visible(timeout=10_000)
        region = [int(v) for v in hires.get_attribute("data-region").split(",")]
        phone_box = (558, 1626, 1491, 1749)
        assert region[0] <= phone_box[0] and region[2] >= phone_box[2]
        assert region[1] <= phone_box[1] and region[3] >= phone_box[3]
        expect(page.locator("#f-phone")).to_be_focused()
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def test_usable_at_200_percent_zoom_with_reasons_tied_to_inputs_and_a_name_in_the_header(small_batch,
                                                                                          browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given a 1366×768 screen at 200 % browser zoom (683×384 CSS pixels, 2 device pixels each)
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 683, "height": 384}, device_scale_factor=2)
    try:
        page.goto(server.url)
        _wait_document(page, None)
        # Then the header shows the person's name, not the audit id
        expect(page.locator("#who")).to_have_text("確認者: reviewer-1")
        # and Tab past the last field comes back to the first (focus stays in the fields)
        page.locator("#f-phone").focus()
        page.keyboard.press("Tab")
        expect(page.locator("#f-my_number")).to_be_focused()
        page.keyboard.press("Shift+Tab")
        expect(page.locator("#f-phone")).to_be_focused()
        # and nothing is wider than the window: every input can be scrolled to and seen whole
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 683
        page.keyboard.press("F6")  # the accepted fields too
        for i in range(page.locator("input.value").count()):
            inp = page.locator("input.value").nth(i)
            inp.scroll_into_view_if_needed()
            box = inp.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= 683, (i, box)
            assert box["y"] >= 0 and box["y"] + box["height"] <= 384, (i, box)
        # And each input names its reasons for a screen reader (aria-describedby)
        ids = page.locator("#f-phone").get_attribute("aria-describedby").split()
        described = " ".join(page.locator(f"[id='{i}']").inner_text() for i in ids)
        assert "確信度" in described
        # When a submission is refused, Then the refusal is read with the input as well
        page.locator("#f-phone").focus()
        page.keyboard.press("Control+Enter")
        expect(page.locator(".field[data-name='my_number'] .refused")).not_to_be_empty(timeout=10_000)
        mn = page.locator("#f-my_number")
        refused_id = next(i for i in mn.get_attribute("aria-describedby").split() if i.startswith("x-"))
        expect(page.locator(f"[id='{refused_id}']")).to_contain_text("確認")
        assert mn.get_attribute("aria-invalid") == "true"
    finally:
        server.shutdown()
        server.server_close()


def test_a_submitted_document_is_reopened_and_corrected_before_the_batch_is_released(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the clerk submitted the first document (the second still waits)
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        title = _wait_document(page, None)
        first = next(d for d in ("doc-0001", "doc-0002") if d in title)
        page.locator("#f-my_number").focus()
        page.keyboard.press("F8")
        page.keyboard.press("Enter")  # the purpose (the first of the list)
        expect(page.locator("#f-my_number")).to_have_js_property("readOnly", False)
        page.keyboard.press("Enter")
        page.locator("#f-phone").focus()
        page.keyboard.press("Control+a")
        page.keyboard.type("0312345678")
        page.keyboard.press("Control+Enter")
        _wait_document(page, first)
        expect(page.locator("#submitted-list button")).to_have_text([first])
        # When they press Alt+R (reopen what they just submitted)
        page.keyboard.press("Alt+r")
        # Then it is open again with the values as stored, the decided fields among those to check
        expect(page.locator("#doc-title")).to_contain_text(first)
        expect(page.locator("#message")).to_contain_text("開き直しました")
        expect(page.locator("#fields #f-phone")).to_have_value("0312345678")
        # When they correct the phone and submit again, Then the new value is stored
        page.locator("#f-phone").focus()
        page.keyboard.press("Control+a")
        page.keyboard.type("0312345679")
        page.keyboard.press("Control+Enter")
        _wait_document(page, first)
        stored = backend.results.get_document(backend.batch_id, first)
        assert stored.fields["phone"].value == "0312345679"
        assert backend.reviews.get_gate(backend.batch_id).released_at is None
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors


def test_field_by_field_mode_checks_one_field_of_many_documents_with_the_keyboard(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori.results import DocumentResult, FieldStatus
    from yomitori_agent.review import local_backend, make_server

    # Given two documents whose phone needs a person; on doc-0002 nothing else does
    path = small_batch / "doc-0002.json"
    doc = DocumentResult.model_validate_json(path.read_text(encoding="utf-8"))
    mn = doc.fields["my_number"]
    mn.status, mn.reasons, mn.confidence = FieldStatus.ACCEPTED, [], 0.99
    path.write_text(doc.model_dump_json(), encoding="utf-8")
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    keys = Keys(page)
    try:
        page.goto(server.url)
        _wait_document(page, None)
        # When the clerk switches to field by field (F3) and picks the phone (Enter)
        keys.press("F3")
        select = page.locator("#column-field")
        expect(select).to_be_focused(timeout=10_000)
        expect(select.locator("option")).to_have_text(["電話番号（2 件）"])
        keys.press("Enter")
        # Then a column shows the phone of both documents, each with its crop and value
        rows = page.locator("#column-rows .crow")
        expect(rows).to_have_count(2, timeout=10_000)
        expect(rows.locator("img.ccrop").first).to_be_visible()
        expect(rows.nth(0).locator("input")).to_be_focused()
        assert rows.nth(0).locator("input").input_value() == "03-1234-5678"
        held = {q.document_id: q.leased_by for q in backend.reviews.queue(backend.batch_id)}
        assert held == {"doc-0001": "reviewer-1", "doc-0002": "reviewer-1"}
        # When they correct the first, confirm the second (Enter on the last row saves)
        keys.type("0312345679")
        keys.press("Enter")
        expect(rows.nth(1).locator("input")).to_be_focused()
        keys.press("Enter")
        # Then doc-0002 is stored through the submission, and doc-0001 (its My Number still to
        # check) keeps the phone as a draft and goes back to the queue
        expect(page.locator("#column-message")).to_contain_text("保存 1 件、下書き 1 件", timeout=10_000)
        stored = backend.results.get_document(backend.batch_id, "doc-0002")
        assert stored.fields["phone"].status.value == "corrected"
        queue = backend.reviews.queue(backend.batch_id)
        assert [(q.document_id, q.leased_by) for q in queue] == [("doc-0001", None)]
        # When they go back to document by document (F3), Then doc-0001 opens with the draft
        keys.press("F3")
        _wait_document(page, None)
        expect(page.locator("#doc-title")).to_contain_text("doc-0001")
        expect(page.locator("#f-phone")).to_have_value("0312345679")
        expect(page.locator("#message")).to_contain_text("復元")
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors
    print(f"\nfield-by-field: {keys.count} key presses for 2 phone numbers (10 typed)")


@pytest.fixture(scope="module", params=["water_start", "furusato_onestop"])
def walk_batch(request, tmp_path_factory):
    """Six forms with heavy degradation, read by Tesseract (no slips added): 水道使用開始 and
    ふるさと納税ワンストップ."""
    from yomitori.forms import load_form
    from yomitori.pipeline import process_directory
    from yomitori.synth import generate

    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    root = tmp_path_factory.mktemp(request.param)
    form = load_form(request.param)
    generate(form, count=6, out_dir=root / "scans", seed=7, degrade="heavy")
    process_directory(root / "scans", form_id=form.id, out_dir=root / "out")
    truth = {p.stem: json.loads(p.read_text(encoding="utf-8"))["fields"]
             for p in (root / "scans" / "truth").glob("*.json")}
    return {"out": root / "out", "truth": truth, "root": root, "form": request.param}


def test_keystrokes_per_field_walk_on_heavily_degraded_forms(walk_batch, browser):
    """The keys a clerk presses per field to review, counted as they are pressed (recorded in
    test-artifacts/review-timings-<form>.json; the targets are figures in docs/review.md, not
    assertions). What is asserted: every value stored is the truth, or held (F4) where a
    validator refuses the truth."""
    from yomitori_agent.review import local_backend, make_server

    work = walk_batch["root"] / "work"
    shutil.copytree(walk_batch["out"], work)
    backend = local_backend(work, principal=number_viewer("reviewer-1"))
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    truth = walk_batch["truth"]
    waiting = [q.document_id for q in backend.reviews.queue(backend.batch_id)]
    needing = {d: [n for n, f in backend.results.get_document(backend.batch_id, d).fields.items()
                   if f.status.value in ("needs_review", "invalid")] for d in waiting}
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    keys = Keys(page)
    spent: dict[str, int] = {}
    held: list[tuple[str, str]] = []
    try:
        page.goto(server.url)
        title = _wait_document(page, None)
        while True:
            doc_id = next(d for d in waiting if d in title)
            for _ in range(60):
                cur = _current(page)
                if cur is None or doc_id not in cur["doc"]:
                    break
                before = keys.count
                want = truth[doc_id][cur["name"]]
                if cur["masked"]:  # a My Number: reveal it (F8 and its purpose, audited) to check it
                    keys.press("F8")
                    keys.press("Enter")
                    page.wait_for_function(f"() => !document.getElementById('f-{cur['name']}').readOnly")
                    cur = _current(page)
                if cur["refused"] and cur["value"] == want:
                    keys.press("F4")  # a validator refuses what is written: held for follow-up
                    held.append((doc_id, cur["name"]))
                else:
                    _settle(page, keys, cur, want, OPTIONS.get(cur["name"]))
                spent[cur["name"]] = spent.get(cur["name"], 0) + keys.count - before
                _wait_moved(page, doc_id, cur["name"])
            if page.locator("#done").is_visible():
                break
            title = _wait_document(page, doc_id)
        timings = page.evaluate("() => window.reviewTimings")
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors
    assert backend.reviews.get_gate(backend.batch_id).released_at is not None
    wrong = []
    for d, names in needing.items():
        stored = json.loads((work / f"{d}.json").read_text(encoding="utf-8"))["fields"]
        wrong += [(d, n) for n in names if (d, n) not in held
                  and stored[n]["value"].replace("\u3000", " ") != truth[d][n].replace("\u3000", " ")]
    assert not wrong, wrong
    fields = sum(len(v) for v in needing.values())
    report = {
        "form": walk_batch["form"], "documents": len(waiting), "fields_needing_review": fields,
        "held": len(held),
        "key_presses": keys.count, "of_which_typed_characters": keys.typed,
        "keys_per_field": round(keys.count / fields, 2),
        "keys_by_field": dict(sorted(spent.items(), key=lambda kv: -kv[1])),
        "first_field_focused_ms": round(timings["firstFieldFocused"]),
        "next_document": timings["nextDocument"],
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / f"review-timings-{walk_batch['form']}.json").write_text(
        json.dumps(report, indent=2, ensure_ascii=False), encoding="utf-8")
    print("\nkeystroke walk:", json.dumps(report, ensure_ascii=False))


def test_the_done_screen_counts_nothing_left_when_the_server_has_stopped(small_batch, browser):
    from playwright.sync_api import expect
    from yomitori_agent.review import local_backend, make_server

    # Given the one-machine server that stops after the last document (as `yomitori review`)
    backend = local_backend(small_batch, principal=number_viewer("reviewer-1"))
    server = make_server(backend, exit_when_done=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(server.url)
        title = _wait_document(page, None)
        # When the clerk settles both documents
        for _ in range(2):
            doc_id = next(d for d in ("doc-0001", "doc-0002") if d in title)
            page.locator("#f-my_number").focus()
            page.keyboard.press("F8")
            page.keyboard.press("Enter")  # the purpose
            expect(page.locator("#f-my_number")).to_have_js_property("readOnly", False)
            page.keyboard.press("Enter")
            if page.locator("#queue-list li").count() == 1:
                # the last one: the server stops as soon as it is stored, before the page can
                # ask for the queue again
                page.route("**/api/queue", lambda route: route.abort())
            page.keyboard.press("Enter")  # the phone, the last field: submits
            expect(page.locator("#doc-title")).not_to_contain_text(doc_id, timeout=10_000)
            if page.locator("#done").is_visible():
                break
            title = _wait_document(page, doc_id)
        # Then the done screen says nothing is left (not the count from before the last submission)
        expect(page.locator("#done-text")).to_contain_text("確認ゲートを解除", timeout=10_000)
        expect(page.locator("#progress")).to_have_text("残り 0 件")
    finally:
        server.shutdown()
        server.server_close()


def test_login_refuses_a_wrong_passphrase_and_a_reviewer_cannot_reveal(small_batch, browser, tmp_path):
    from playwright.sync_api import expect
    from yomitori.store.base import AuditAction
    from yomitori_agent.review import local_backend, make_server

    from tests.unit.test_review_server import MY_NUMBER

    # Given a users file where sato reviews but may not see My Numbers, and the page opened
    people = {"sato": ["reviewer"], "suzuki": ["reviewer", "number_viewer"]}
    users = users_file(tmp_path / "users.json", people)
    backend = local_backend(small_batch, users=users)
    server = make_server(backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    try:
        page.goto(server.url)
        # Then a login form is shown in Japanese, and nothing of the batch
        expect(page.locator("#login-title")).to_have_text("確認画面にログイン")
        expect(page.locator("#main")).to_be_hidden()
        # When sato types a wrong passphrase
        _log_in(page, "sato", "not-my-passphrase")
        # Then the form says so in Japanese and stays
        expect(page.locator("#login-message")).to_contain_text("名前またはパスフレーズが違います")
        expect(page.locator("#main")).to_be_hidden()
        # When sato logs in with the right one
        page.locator("#login-name").fill("")
        page.locator("#login-name").focus()
        _log_in(page, "sato")
        _wait_document(page, None)
        # Then the header names sato, and the My Number's hint says a number viewer is needed
        expect(page.locator("#who")).to_have_text("確認者: sato")
        expect(page.locator(".field[data-name='my_number'] .hint.mn")).to_contain_text("番号閲覧者")
        # When sato presses F8 on the My Number
        page.locator("#f-my_number").focus()
        page.keyboard.press("F8")
        # Then no purpose is asked, the page says (in Japanese) who may see it and what to do,
        # with a button that closes the message, and the number is not in the page
        message = page.locator("#message")
        expect(message).to_contain_text("番号閲覧者", timeout=10_000)
        expect(message).to_contain_text("依頼")
        expect(message.locator("button")).to_have_text("閉じる")
        assert MY_NUMBER not in page.content()
        page.keyboard.press("Enter")
        expect(page.locator("#f-my_number")).to_be_focused()
        # When sato logs out and suzuki logs in, presses F8 and then Esc in the purpose dialog
        page.locator("#logout").click()
        _log_in(page, "suzuki")
        _wait_document(page, None)
        page.locator("#f-my_number").focus()
        page.keyboard.press("F8")
        expect(page.locator("#purpose")).to_be_focused()
        options = page.locator("#purpose option").all_inner_texts()
        assert "記載内容の確認" in options and "本人確認（番号確認）" in options
        page.keyboard.press("Escape")
        # Then nothing is shown; nor when she tabs to やめる (the keyboard stays in the dialog)
        expect(page.locator("#f-my_number")).to_have_js_property("readOnly", True)
        page.keyboard.press("F8")
        page.keyboard.press("Tab")
        page.keyboard.press("Tab")
        expect(page.locator("#purpose-box button", has_text="やめる")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("#purpose-box")).to_have_count(0)
        expect(page.locator("#f-my_number")).to_have_js_property("readOnly", True)
        # When suzuki picks 記載内容の確認 and confirms, Then it is shown
        page.keyboard.press("F8")
        page.locator("#purpose").select_option(label="記載内容の確認")
        page.keyboard.press("Enter")
        grouped = f"{MY_NUMBER[:4]} {MY_NUMBER[4:8]} {MY_NUMBER[8:]}"
        expect(page.locator("#f-my_number")).to_have_value(grouped)
    finally:
        server.shutdown()
        server.server_close()
    assert not errors, errors
    # And the trail has the failed and the good logins, sato's refused reveal, suzuki's reveal
    # with its purpose, and no passphrase or number
    trail = backend.reviews.audit_trail(backend.batch_id)
    assert [(r.reviewer, r.reasons) for r in trail if r.action is AuditAction.LOGIN] == [
        ("sato", ["wrong_passphrase"]), ("sato", []), ("suzuki", [])]
    assert [(r.reviewer, r.role, r.reasons) for r in trail if r.action is AuditAction.REFUSED] == [
        ("sato", "reviewer", ["number_viewer_required"])]
    assert [(r.reviewer, r.role, r.purpose) for r in trail if r.action is AuditAction.REVEAL_MY_NUMBER] == [
        ("suzuki", "number_viewer", "entry_check")]
    dumped = json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
    assert MY_NUMBER not in dumped and PASSPHRASE not in dumped and "not-my-passphrase" not in dumped
