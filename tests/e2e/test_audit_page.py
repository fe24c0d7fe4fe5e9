"""The supervisor's audit page in Debian's Chromium: the trail of a real review (SQLite, the
real steps) as a table with Japanese action names, filters by person, batch and date, the
chain's verdict (a changed record is named by its seq), no CSP violation, no personal value,
and a refusal for anyone without the supervisor role."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from support.audit_trail import make_trail, personal_values
from yomitori.access import Principal, Role
from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore

pytestmark = [pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SUPERVISOR = Principal("sato", frozenset({Role.SUPERVISOR}))
REVIEWER = Principal("alice", frozenset({Role.REVIEWER}))


@pytest.fixture
def trail(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make setup)")
    results, reviews = LocalResultStore(tmp_path / "store"), SqliteReviewStore(tmp_path / "review.sqlite3")
    for batch in ("b-page-1", "b-page-2"):
        make_trail(results, reviews, LocalGateReleaser(lambda *_: None), batch)
    return tmp_path, results, reviews


def _serve(results, reviews, principal):
    from yomitori_agent.review.server import ReviewServer
    from yomitori_agent.review.service import ReviewService

    # the session's person (as after a login) is who the audit page asks for the supervisor role
    service = ReviewService(results, reviews, LocalGateReleaser(lambda *_: None), principal=principal)
    server = ReviewServer(service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def _open_audit(browser, server, *, sent_there: bool):
    """Follow the one-time login link (it sets the session cookie), then open /audit. The review
    page sends a person without the reviewer role but with the supervisor role there by itself
    (``sent_there``): wait for that navigation rather than racing it with our own (Page.goto
    was interrupted by it, or the page reloaded under the test); anyone else stays on the
    review page until it knows who they are, then goes to /audit."""
    from playwright.sync_api import expect

    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    audit = server.url.split("?", 1)[0].rstrip("/") + "/audit"
    page.goto(server.url)
    if sent_there:
        page.wait_for_url(audit, timeout=15_000)
    else:
        expect(page.locator("#who")).not_to_be_empty(timeout=15_000)
        page.goto(audit)
    return page, problems


def _rows(page) -> list[list[str]]:
    return page.eval_on_selector_all("#records tbody tr",
                                     "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def test_a_supervisor_reads_filters_and_verifies_the_trail(trail, browser):
    _, results, reviews = trail
    server = _serve(results, reviews, SUPERVISOR)
    try:
        page, problems = _open_audit(browser, server, sent_there=True)
        page.wait_for_selector("#status.ok")
        # Then every record of both batches is listed, with Japanese action names, and it verifies
        n = sum(len(reviews.audit_trail(b)) for b in ("b-page-1", "b-page-2"))
        rows = _rows(page)
        assert len(rows) == n
        assert "改ざんなし" in page.text_content("#status")
        assert any("修正（correct）" in r[5] for r in rows) and any("マイナンバー表示" in r[5] for r in rows)
        # When the supervisor filters by person and batch
        page.fill("#who", "bob")
        page.select_option("#batch", "b-page-2")
        page.click("#apply")
        page.wait_for_function("() => [...document.querySelectorAll('#records tbody tr')]"
                               ".every(r => r.cells[3].textContent === 'bob')")
        rows = _rows(page)
        assert rows and {r[1] for r in rows} == {"b-page-2"} and {r[3] for r in rows} == {"bob"}
        # And by a date after the review: nothing
        page.fill("#who", "")
        page.fill("#since", "2026-03-26")
        page.click("#apply")
        page.wait_for_function("() => document.querySelectorAll('#records tbody tr').length === 0")
        # Then no personal value is on the page, and the CSP was never violated
        html = page.content()
        assert [v for v in personal_values() if v in html] == []
        assert problems == []
    finally:
        server.shutdown()
        server.server_close()


def test_the_page_names_the_seq_of_a_changed_record(trail, browser):
    d, results, reviews = trail
    db = sqlite3.connect(d / "review.sqlite3")
    rowid, text = db.execute("SELECT seq, record FROM audit WHERE batch_id = 'b-page-1' ORDER BY seq "
                             "LIMIT 1 OFFSET 3").fetchone()
    rec = json.loads(text)
    rec["field"] = "name"
    db.execute("UPDATE audit SET record = ? WHERE seq = ?", (json.dumps(rec), rowid))
    db.commit()
    db.close()
    server = _serve(results, reviews, SUPERVISOR)
    try:
        page, problems = _open_audit(browser, server, sent_there=True)
        page.wait_for_selector("#status.broken")
        assert "改ざんの疑い" in page.text_content("#status")
        assert "b-page-1 の seq 4: 改変（changed）" in page.text_content("#breaks")
        assert problems == []
    finally:
        server.shutdown()
        server.server_close()


def test_a_reviewer_without_the_supervisor_role_is_refused(trail, browser):
    _, results, reviews = trail
    server = _serve(results, reviews, REVIEWER)
    try:
        page, _ = _open_audit(browser, server, sent_there=False)
        assert "監査ログを表示できません" in page.text_content("h1")
        status = page.evaluate("async () => (await fetch('/api/audit')).status")
        assert status == 403
        body = page.evaluate("async () => await (await fetch('/api/audit')).text()")
        assert "b-page-1" not in body and "records" not in body
    finally:
        server.shutdown()
        server.server_close()
