"""The verifier's view on the review server (/verify): the session and CSRF checks apply, a
person without the verifier role is refused in Japanese, a second entry's answer is blind,
and a server that ends by itself stops when its person has no review and no double entry
left to do (a reviewer without the verifier role does not wait for the verifiers)."""

from __future__ import annotations

import io
import json
import threading

import pytest
from PIL import Image
from yomitori.access import Principal, Role

from tests.unit.test_review_server import MY_NUMBER, SCAN_SIZE, _doc, _login, _post, _request

OTHER = "123456789093"  # another valid My Number


@pytest.fixture()
def stores(tmp_path, monkeypatch):
    from yomitori.steps.review import open_review_gate
    from yomitori.steps.verification import ENV_DOUBLE_ENTRY
    from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore

    monkeypatch.setenv(ENV_DOUBLE_ENTRY, "on")
    results = LocalResultStore(tmp_path / "store")
    reviews = SqliteReviewStore(tmp_path / "review.sqlite3")
    released: list[dict] = []
    releaser = LocalGateReleaser(lambda token, out: released.append(out))
    batch = "b-verify-1"
    buf = io.BytesIO()
    Image.new("L", SCAN_SIZE, 255).save(buf, "PNG")
    results.put_page(batch, "doc-0001.png", buf.getvalue())
    results.put_document(_doc("doc-0001", batch))
    open_review_gate(results, reviews, releaser, batch_id=batch, task_token="token-1")
    return results, reviews, releaser, batch, released


def _serve(stores, who: Principal, *, exit_when_done: bool = False):
    from yomitori_agent.review import ReviewServer, ReviewService
    from yomitori_agent.review.verification import VerificationService

    results, reviews, releaser, batch, _ = stores
    srv = ReviewServer(
        ReviewService(results, reviews, releaser, principal=who, batch_id=batch),
        exit_when_done=exit_when_done,
    )
    srv.verification = VerificationService(results, reviews, releaser, principal=lambda: who, batch_id=batch)
    srv.thread = threading.Thread(target=srv.serve_forever, daemon=True)
    srv.thread.start()
    return srv


def _stop(*servers):
    for s in servers:
        s.shutdown()
        s.server_close()


def test_review_then_blind_second_entry_then_decision_over_http(stores):
    results, reviews, _, batch, released = stores
    # alice reviews and may settle a My Number (number viewer), but is no verifier
    alice = _serve(
        stores, Principal("alice", frozenset({Role.REVIEWER, Role.NUMBER_VIEWER})), exit_when_done=True
    )
    bob = _serve(stores, Principal("bob", frozenset({Role.VERIFIER})))
    carol = _serve(stores, Principal("carol", frozenset({Role.SUPERVISOR})))
    try:
        # Given alice (no verifier role): the verifier's view refuses her, in Japanese
        ca = _login(alice)
        status, _, body = _post(alice, ca, "/api/verify/next", {})
        assert status == 403 and "権限" in json.loads(body)["message_ja"]
        # When she reviews the document and confirms its My Number (the first entry)
        assert _post(alice, ca, "/api/open", {"batch_id": batch, "document_id": "doc-0001"})[0] == 200
        corrections = [{"field": "my_number", "action": "confirm"}, {"field": "phone", "action": "confirm"}]
        status, _, body = _post(
            alice,
            ca,
            "/api/submit",
            {"batch_id": batch, "document_id": "doc-0001", "corrections": corrections},
        )
        # Then the gate waits for the double entry, and her server, which ends by itself, stops:
        # she has nothing left to do
        assert status == 200 and json.loads(body)["released"] is False
        # and her done screen is told how many fields wait for the second entry
        assert json.loads(body)["double_entry_open"] == 1
        alice.thread.join(timeout=10)
        assert not alice.thread.is_alive() and not alice.work_left()

        # When bob opens the verifier's view (the session and CSRF checks apply)
        cb = _login(bob)
        assert _request(bob, "GET", "/verify")[0] == 403
        status, _, page = _request(bob, "GET", "/verify", cookie=cb)
        assert status == 200 and bob.csrf.encode() in page and b"/static/verify.js" in page
        assert _request(bob, "POST", "/api/verify/next", cookie=cb, body={})[0] == 403  # no CSRF header
        status, _, body = _post(bob, cb, "/api/verify/next", {})
        field = json.loads(body)["field"]
        # Then he gets the field without any value in it (blind), and its crop
        assert field["field"] == "my_number" and field["kind"] == "second" and MY_NUMBER not in body.decode()
        q = f"/api/verify/crop?b={batch}&d=doc-0001&f=my_number"
        status, headers, png = _request(bob, "GET", q, cookie=cb)
        assert status == 200 and headers["Content-Type"] == "image/png" and png.startswith(b"\x89PNG")
        # When he types another number, Then the answer does not say whether it matched
        status, _, body = _post(
            bob,
            cb,
            "/api/verify/submit",
            {"batch_id": batch, "document_id": "doc-0001", "field": "my_number", "value": OTHER},
        )
        assert status == 200 and json.loads(body) == {"ok": True, "released": False}

        # When carol decides, she sees both entries; an invalid value is refused in Japanese
        cc = _login(carol)
        field = json.loads(_post(carol, cc, "/api/verify/next", {})[2])["field"]
        assert (field["kind"], field["first"], field["second"]) == ("decide", MY_NUMBER, OTHER)
        bad = MY_NUMBER[:11] + str((int(MY_NUMBER[11]) + 1) % 10)
        out = json.loads(
            _post(
                carol,
                cc,
                "/api/verify/submit",
                {"batch_id": batch, "document_id": "doc-0001", "field": "my_number", "value": bad},
            )[2]
        )
        assert out["ok"] is False and any(
            "チェックデジット" in r["text"] or "検査" in r["text"] for r in out["refused"]
        )
        out = json.loads(
            _post(
                carol,
                cc,
                "/api/verify/submit",
                {"batch_id": batch, "document_id": "doc-0001", "field": "my_number", "value": MY_NUMBER},
            )[2]
        )
        # Then the gate is released with the first entry kept
        assert out == {"ok": True, "released": True} and len(released) == 1
        assert results.get_document(batch, "doc-0001").fields["my_number"].value == MY_NUMBER
    finally:
        _stop(bob, carol)
        if alice.thread.is_alive():
            alice.shutdown()
        alice.server_close()
