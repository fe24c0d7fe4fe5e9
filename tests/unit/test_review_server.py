"""The review server's security and the review service, over the real one-machine stores
(folder + SQLite) with documents built directly (no OCR, no browser)."""

from __future__ import annotations

import http.client
import io
import json
import re
import threading
from importlib import resources
from pathlib import Path

import pytest
from PIL import Image

from tests.support.people import number_viewer

MY_NUMBER = "123456789018"  # a valid check digit (see test_my_number.py)
SCAN_SIZE = (2480, 3508)
MN_BOX = (543, 1063, 1677, 1181)


def _doc(document_id: str, batch_id: str, *, my_number: str = MY_NUMBER):
    from yomitori.batch import page_key
    from yomitori.results import DocumentResult, FieldResult, FieldStatus

    return DocumentResult(
        batch_id=batch_id, document_id=document_id, source=f"{document_id}.png", form_id="furusato_onestop",
        page_keys=[page_key(batch_id, f"{document_id}.png")],
        fields={
            "my_number": FieldResult(value=my_number, raw=my_number, confidence=0.4, box=MN_BOX,
                                     status=FieldStatus.NEEDS_REVIEW, reasons=["low_confidence"]),
            "phone": FieldResult(value="03-1234-5678", raw="03-1234-5678", confidence=0.5,
                                 box=(558, 1626, 1491, 1749), status=FieldStatus.NEEDS_REVIEW,
                                 reasons=["low_confidence"]),
            "name": FieldResult(value="池田 恵子", raw="池田 恵子", confidence=0.95,
                                box=(551, 850, 1700, 1000), status=FieldStatus.ACCEPTED),
        },
    )


@pytest.fixture()
def stores(tmp_path):
    from yomitori.steps.review import open_review_gate
    from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore

    results = LocalResultStore(tmp_path / "store")
    reviews = SqliteReviewStore(tmp_path / "review.sqlite3")
    releaser = LocalGateReleaser()
    batch = "b-review-1"
    buf = io.BytesIO()
    Image.new("L", SCAN_SIZE, 255).save(buf, "PNG")
    for d in ("doc-0001", "doc-0002"):
        results.put_page(batch, f"{d}.png", buf.getvalue())
        results.put_document(_doc(d, batch))
    open_review_gate(results, reviews, releaser, batch_id=batch, task_token="token-1")
    return results, reviews, releaser, batch


@pytest.fixture()
def server(stores):
    from yomitori_agent.review import ReviewServer, ReviewService

    results, reviews, releaser, batch = stores
    alice = number_viewer("os:alice")
    srv = ReviewServer(ReviewService(results, reviews, releaser, principal=alice, batch_id=batch))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _request(srv, method, path, *, host=None, cookie=None, headers=None, body=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    h = {"Host": host or f"127.0.0.1:{srv.port}", **(headers or {})}
    if cookie:
        h["Cookie"] = cookie
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    out = (r.status, dict(r.getheaders()), r.read())
    conn.close()
    return out


def _login(srv) -> str:
    status, headers, _ = _request(srv, "GET", "/?t=" + srv.url.split("?t=")[1])
    assert status == 303
    return headers["Set-Cookie"].split(";")[0]


def _post(srv, cookie, path, body):
    return _request(srv, "POST", path, cookie=cookie, body=body,
                    headers={"X-Yomitori-CSRF": srv.csrf, "Origin": f"http://127.0.0.1:{srv.port}"})


def test_bound_to_loopback_and_login_token_works_once(server):
    # Given a running review server
    assert server.server_address[0] == "127.0.0.1"
    # When the printed link is used, Then it sets a strict HttpOnly cookie
    token = server.url.split("?t=")[1]
    status, headers, _ = _request(server, "GET", "/?t=" + token)
    assert status == 303
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    # And the same link cannot log in a second browser (another local user who saw it)
    assert _request(server, "GET", "/?t=" + token)[0] == 403


@pytest.mark.parametrize(
    "path", ["/", "/static/review.js", "/api/queue", "/api/page?b=b-review-1&d=doc-0001"]
)
def test_every_request_needs_the_session(server, path):
    # Given no session cookie (another local user, another web page), When anything is asked
    status, _, body = _request(server, "GET", path)
    # Then it is refused and nothing personal is sent
    assert status == 403
    assert b"review" in body and MY_NUMBER.encode() not in body
    # And a made-up cookie does not help
    assert _request(server, "GET", path, cookie=f"yomitori_review_{server.port}=guess")[0] == 403


def test_a_page_on_another_local_port_cannot_use_the_session(server):
    # Given a valid session cookie (cookies ignore ports, and 127.0.0.1:other is "same-site")
    cookie = _login(server)
    # When a page served from another local port embeds or fetches the review data
    status, _, body = _request(server, "GET", "/api/page?b=b-review-1&d=doc-0001", cookie=cookie,
                               headers={"Sec-Fetch-Site": "same-site"})
    # Then the browser's fetch metadata gives it away and it is refused
    assert status == 403 and body == b"cross-site request"
    origin = {"Origin": "http://127.0.0.1:1", "X-Yomitori-CSRF": server.csrf}
    assert _request(server, "POST", "/api/next", cookie=cookie, body={}, headers=origin)[0] == 403


def test_dns_rebinding_host_is_refused(server):
    # Given a valid session, When the request names another host (a rebound DNS name)
    cookie = _login(server)
    status, _, _ = _request(server, "GET", "/api/queue", cookie=cookie, host=f"evil.example:{server.port}")
    # Then it is refused; the right host works
    assert status == 421
    assert _request(server, "GET", "/api/queue", cookie=cookie)[0] == 200


def test_posts_need_the_page_token_and_same_origin(server):
    cookie = _login(server)
    # When a POST comes without the page's CSRF header (a cross-site form)
    assert _request(server, "POST", "/api/next", cookie=cookie, body={})[0] == 403
    # or from another origin, or marked cross-site by the browser
    assert _request(server, "POST", "/api/next", cookie=cookie, body={},
                    headers={"X-Yomitori-CSRF": server.csrf, "Origin": "http://evil.example"})[0] == 403
    assert _request(server, "POST", "/api/next", cookie=cookie, body={},
                    headers={"X-Yomitori-CSRF": server.csrf, "Sec-Fetch-Site": "cross-site"})[0] == 403
    # or as a form instead of JSON
    assert _request(server, "POST", "/api/next", cookie=cookie, body={},
                    headers={"X-Yomitori-CSRF": server.csrf, "Content-Type": "text/plain"})[0] == 415
    # Then only the page's own request works
    assert _post(server, cookie, "/api/next", {})[0] == 200


def test_strict_csp_and_no_third_party_assets(server):
    cookie = _login(server)
    status, headers, html = _request(server, "GET", "/", cookie=cookie)
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe" not in csp
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"
    # no inline scripts or styles, and nothing loaded from anywhere else
    assert not re.search(rb"<script(?![^>]*\bsrc=)", html) and b"style=" not in html and b"<style" not in html
    for name in ("index.html", "review.js", "review.css"):
        text = resources.files("yomitori_agent.review").joinpath("static", name).read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text and "//cdn" not in text, name


def test_my_number_masked_until_revealed_and_the_reveal_is_audited(server, stores):
    from yomitori.store.base import AuditAction

    _, reviews, _, batch = stores
    cookie = _login(server)
    # When the reviewer opens the next document
    status, _, body = _post(server, cookie, "/api/next", {})
    doc = json.loads(body)["document"]
    # Then the My Number is masked in everything sent, and its crop is refused
    assert MY_NUMBER.encode() not in body
    mn = next(f for f in doc["fields"] if f["name"] == "my_number")
    assert mn["masked"] and mn["value"] == "********9018"
    q = f"b={batch}&d={doc['document_id']}"
    assert _request(server, "GET", f"/api/crop?{q}&f=my_number", cookie=cookie)[0] == 400
    # And the display image has the box painted over (white page, grey box)
    status, headers, jpeg = _request(server, "GET", f"/api/page?{q}", cookie=cookie)
    img = Image.open(io.BytesIO(jpeg))
    assert headers["X-Scan-Size"] == "2480x3508" and img.width <= 1200
    k = img.width / SCAN_SIZE[0]
    centre = (round((MN_BOX[0] + MN_BOX[2]) / 2 * k), round((MN_BOX[1] + MN_BOX[3]) / 2 * k))
    assert img.convert("L").getpixel(centre) < 200 and img.convert("L").getpixel((5, 5)) > 240
    # When the reviewer reveals it without a purpose, Then nothing is shown: a purpose is needed
    ids = {"batch_id": batch, "document_id": doc["document_id"]}
    status, _, body = _post(server, cookie, "/api/reveal", {**ids, "field": "my_number"})
    assert status == 400 and json.loads(body)["error"] == "purpose_required"
    assert MY_NUMBER.encode() not in body
    # When the reviewer reveals it for a purpose from the list
    reveal = {**ids, "field": "my_number", "purpose": "number_match"}
    status, _, body = _post(server, cookie, "/api/reveal", reveal)
    assert status == 200 and json.loads(body)["value"] == MY_NUMBER
    # Then the reveal is audited (who, in which role, why, which document and field; never the
    # number) and the crop is served
    reveals = [r for r in reviews.audit_trail(batch) if r.action is AuditAction.REVEAL_MY_NUMBER]
    who = [(r.reviewer, r.role, r.purpose, r.document_id, r.field) for r in reveals]
    assert who == [("os:alice", "number_viewer", "number_match", doc["document_id"], "my_number")]
    assert MY_NUMBER not in json.dumps([r.model_dump(mode="json") for r in reviews.audit_trail(batch)])
    status, headers, png = _request(server, "GET", f"/api/crop?{q}&f=my_number", cookie=cookie)
    assert status == 200 and headers["Content-Type"] == "image/png"
    crop = Image.open(io.BytesIO(png))
    assert crop.width > MN_BOX[2] - MN_BOX[0]  # full resolution plus a margin
    # And the view itself was audited when the document was opened
    assert any(r.action is AuditAction.LEASE and r.document_id == doc["document_id"]
               for r in reviews.audit_trail(batch))


def test_refused_correction_says_why_in_japanese_and_stores_nothing(server, stores):
    results, _, _, batch = stores
    cookie = _login(server)
    doc = json.loads(_post(server, cookie, "/api/next", {})[2])["document"]
    d = doc["document_id"]
    # When a My Number with a wrong check digit is submitted
    bad = MY_NUMBER[:11] + "9"
    ids = {"batch_id": batch, "document_id": d}
    fixes = [{"field": "my_number", "action": "correct", "value": bad},
             {"field": "phone", "action": "confirm"}]
    out = json.loads(_post(server, cookie, "/api/submit", {**ids, "corrections": fixes})[2])
    # Then it is refused with the reason in plain Japanese, and the stored result is unchanged
    assert out["ok"] is False
    assert any("チェックデジット" in r["text"] for r in out["refused"]["my_number"])
    assert results.get_document(batch, d).fields["my_number"].value == MY_NUMBER
    # When the reviewer fixes it, Then the document is done and the next one is offered
    fixes = [{"field": "my_number", "action": "confirm"}, {"field": "phone", "action": "confirm"}]
    out = json.loads(_post(server, cookie, "/api/submit", {**ids, "corrections": fixes})[2])
    assert out["ok"] is True and out["remaining"] == 1 and out["released"] is False
    assert results.get_document(batch, d).fields["my_number"].status.value == "corrected"


def test_two_reviewers_never_get_the_same_document(stores):
    from yomitori.store.base import LeaseConflict
    from yomitori_agent.review import ReviewService

    results, reviews, releaser, batch = stores
    alice = ReviewService(results, reviews, releaser, principal=number_viewer("os:alice"), batch_id=batch)
    bob = ReviewService(results, reviews, releaser, principal=number_viewer("os:bob"), batch_id=batch)
    # Given Alice has the first document open
    first = alice.open_next()["document_id"]
    # When Bob asks for the next document, Then he gets another one
    assert bob.open_next()["document_id"] != first
    # And he cannot open Alice's, nor see its images
    with pytest.raises(LeaseConflict):
        bob.open(batch, first)
    with pytest.raises(Exception, match="not open"):
        bob.page_image(batch, first)
    # And when both are taken, there is nothing for a third reviewer
    carol = ReviewService(results, reviews, releaser, principal=number_viewer("os:carol"), batch_id=batch)
    assert carol.open_next() is None


def test_last_document_releases_the_gate(stores):
    from yomitori_agent.review import ReviewService

    results, reviews, releaser, batch = stores
    svc = ReviewService(results, reviews, releaser, principal=number_viewer("os:alice"), batch_id=batch)
    outs = []
    while (doc := svc.open_next()) is not None:
        outs.append(svc.submit(batch, doc["document_id"], [
            {"field": "my_number", "action": "illegible", "reason": "needs_inquiry"},
            {"field": "phone", "action": "correct", "value": "03-1234-5679"}]))
    assert [o["ok"] for o in outs] == [True, True]
    assert outs[-1]["released"] is True
    assert releaser.released == [("token-1", {"batch_id": batch, "reviewed": 2})]
    assert reviews.get_gate(batch).released_at is not None


def test_every_reason_code_of_the_validators_has_a_japanese_text():
    from yomitori_agent.review.reasons import REASON_TEXTS

    folder = Path(__file__).resolve().parents[2] / "layers/domain/python/yomitori/validation"
    src = "".join(p.read_text(encoding="utf-8") for p in folder.glob("*.py"))
    codes = set(re.findall(r'Finding\(\s*"([a-z_0-9]+)"', src))
    codes |= set(re.findall(r'code = "([a-z_0-9]+)"', src))
    codes |= set(re.findall(r'reason="([a-z_0-9]+)"', src))
    assert codes, "the pattern still finds the codes"
    missing = sorted(c for c in codes if c not in REASON_TEXTS)
    assert not missing, f"add Japanese texts for {missing} to yomitori_agent/review/reasons.py"


@pytest.mark.parametrize("length", ["abc", "-1", "-100", "1e3", "１０"])
def test_a_bad_content_length_gets_400_not_a_dropped_or_hung_connection(server, length):
    # Given a logged-in reviewer's request whose Content-Length is not a decimal number
    import socket

    cookie = _login(server)
    head = (f"POST /api/next HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nCookie: {cookie}\r\n"
            f"X-Yomitori-CSRF: {server.csrf}\r\nOrigin: http://127.0.0.1:{server.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{}}")
    # When it is sent (the connection stays open, as a browser's would)
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
        s.sendall(head.encode("utf-8"))
        reply = s.recv(4096)
    # Then the server answers 400 at once
    assert reply.startswith(b"HTTP/1.1 400"), reply[:80]
