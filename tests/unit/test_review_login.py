"""Logins and roles on the review page's server: the session's principal comes from the users
file; failed logins are audited (never the passphrase) and limited; a reviewer without the
number_viewer role is refused a My Number with a Japanese message saying what to do."""

from __future__ import annotations

import json
import threading

import pytest
from yomitori.store.base import AuditAction

from tests.support.people import PASSPHRASE, users_file
from tests.unit.test_review_server import MY_NUMBER, _login, _post, _request, stores  # noqa: F401


@pytest.fixture()
def login_server(stores, tmp_path):  # noqa: F811 - the fixture
    from yomitori_agent.review import ReviewServer, ReviewService

    results, reviews, releaser, batch = stores
    users = users_file(
        tmp_path / "users.json", {"sato": ["reviewer"], "suzuki": ["reviewer", "number_viewer"]}
    )

    def service_for(principal):
        return ReviewService(results, reviews, releaser, principal=principal, batch_id=batch)

    srv = ReviewServer(None, users=users, service_for=service_for, reviews=reviews, batch_id=batch)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


def test_login_decides_who_reviews_and_only_a_number_viewer_reveals(login_server, stores):  # noqa: F811
    _, reviews, _, batch = stores
    cookie = _login(login_server)
    # Given the one-time link was used, When the page asks for work before anyone logged in
    status, _, body = _request(login_server, "GET", "/api/queue", cookie=cookie)
    # Then it is told to log in (in Japanese)
    assert status == 401 and json.loads(body)["error"] == "login_required"
    me = json.loads(_request(login_server, "GET", "/api/me", cookie=cookie)[2])
    assert me["login_required"] is True and me["logged_in"] is False
    # When someone tries a wrong passphrase, and then types a passphrase into the name field
    status, _, body = _post(
        login_server, cookie, "/api/login", {"name": "sato", "passphrase": "guess-guess-1"}
    )
    assert status == 401 and json.loads(body)["message_ja"].startswith("名前またはパスフレーズ")
    _post(login_server, cookie, "/api/login", {"name": PASSPHRASE, "passphrase": "x"})
    # Then both failures are audited with a reason, and neither passphrase is in the trail
    logins = [r for r in reviews.audit_trail(batch) if r.action is AuditAction.LOGIN]
    assert [(r.reviewer, r.reasons) for r in logins] == [
        ("sato", ["wrong_passphrase"]),
        ("-unknown-", ["unknown_user"]),
    ]
    # When sato (reviewer only) logs in
    status, _, body = _post(login_server, cookie, "/api/login", {"name": "sato", "passphrase": PASSPHRASE})
    assert status == 200 and json.loads(body)["name"] == "sato" and json.loads(body)["roles"] == ["reviewer"]
    # Then the header's name is the person's, and they can open a document
    assert json.loads(_request(login_server, "GET", "/api/queue", cookie=cookie)[2])["reviewer"] == "sato"
    doc = json.loads(_post(login_server, cookie, "/api/next", {})[2])["document"]
    ids = {"batch_id": batch, "document_id": doc["document_id"]}
    # When sato asks to reveal the My Number
    status, _, body = _post(
        login_server, cookie, "/api/reveal", {**ids, "field": "my_number", "purpose": "number_match"}
    )
    # Then it is refused (403), in Japanese with what to do, without the number, and audited
    refusal = json.loads(body)
    assert status == 403 and refusal["error"] == "number_viewer_required" and MY_NUMBER not in body.decode()
    assert "番号閲覧者" in refusal["message_ja"] and "依頼" in refusal["action_ja"]
    refused = [r for r in reviews.audit_trail(batch) if r.action is AuditAction.REFUSED]
    assert [(r.reviewer, r.role, r.field, r.reasons) for r in refused] == [
        ("sato", "reviewer", "my_number", ["number_viewer_required"])
    ]
    # When sato logs out and suzuki (number viewer) logs in and reveals it for a purpose
    _post(login_server, cookie, "/api/logout", {})
    assert _request(login_server, "GET", "/api/queue", cookie=cookie)[0] == 401
    _post(login_server, cookie, "/api/login", {"name": "suzuki", "passphrase": PASSPHRASE})
    doc = json.loads(_post(login_server, cookie, "/api/open", ids)[2])["document"]
    status, _, body = _post(
        login_server, cookie, "/api/reveal", {**ids, "field": "my_number", "purpose": "identity_check"}
    )
    assert status == 200 and json.loads(body)["value"] == MY_NUMBER
    # And submits the document
    fixes = [
        {"field": "my_number", "action": "confirm"},
        {"field": "phone", "action": "correct", "value": "03-9876-5432"},
    ]
    assert json.loads(_post(login_server, cookie, "/api/submit", {**ids, "corrections": fixes})[2])["ok"]
    # Then every record of the work names the person and the role they acted in, the reveal its
    # purpose, and no value read from the form is anywhere in the trail
    trail = reviews.audit_trail(batch)
    work = [r for r in trail if r.action not in (AuditAction.LOGIN, AuditAction.RELEASE_GATE)]
    assert work and all(r.reviewer in ("sato", "suzuki") and r.role for r in work)
    reveal = [(r.reviewer, r.role, r.purpose) for r in trail if r.action is AuditAction.REVEAL_MY_NUMBER]
    assert reveal == [("suzuki", "number_viewer", "identity_check")]
    assert {(r.reviewer, r.role) for r in trail if r.action is AuditAction.CORRECT} == {
        ("suzuki", "reviewer")
    }
    dumped = json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
    for secret in (MY_NUMBER, "9876-5432", "池田", PASSPHRASE, "guess-guess-1"):
        assert secret not in dumped


def test_five_failed_logins_lock_the_name(login_server, stores):  # noqa: F811
    _, reviews, _, batch = stores
    cookie = _login(login_server)
    # When five wrong passphrases are tried for one name
    for _ in range(5):
        assert (
            _post(login_server, cookie, "/api/login", {"name": "sato", "passphrase": "wrong-wrong-1"})[0]
            == 401
        )
    # Then the right passphrase is refused too, with a wait and a Japanese explanation
    status, headers, body = _post(
        login_server, cookie, "/api/login", {"name": "sato", "passphrase": PASSPHRASE}
    )
    out = json.loads(body)
    assert status == 401 and out["error"] == "login_locked" and int(headers["Retry-After"]) > 0
    assert "しばらく" in out["message_ja"]
    assert _request(login_server, "GET", "/api/queue", cookie=cookie)[0] == 401
    # And every try is in the audit trail with its reason
    reasons = [r.reasons[0] for r in reviews.audit_trail(batch) if r.action is AuditAction.LOGIN]
    assert reasons == ["wrong_passphrase"] * 5 + ["locked_out"]


def test_without_a_users_file_the_os_user_reviews_but_cannot_reveal(tmp_path):
    from yomitori.access import NotAllowed, Role
    from yomitori_agent.review import ReviewService, local_backend

    from tests.unit.test_review_cli import _batch_folder

    # Given a processed batch reviewed on one machine without a users file
    backend = local_backend(_batch_folder(tmp_path))
    # Then the OS user reviews, by name (no "os:" prefix), with the reviewer role only
    assert backend.principal.roles == {Role.REVIEWER} and not backend.principal.name.startswith("os:")
    svc = ReviewService(
        backend.results,
        backend.reviews,
        backend.releaser,
        principal=backend.principal,
        batch_id=backend.batch_id,
    )
    doc = svc.open_next()
    with pytest.raises(NotAllowed):
        svc.reveal(backend.batch_id, doc["document_id"], "my_number", "number_match")


def test_the_purposes_come_from_the_users_file_when_it_has_them(stores, tmp_path):  # noqa: F811
    from yomitori.access import Role
    from yomitori.store.base import AuditAction
    from yomitori.users import UsersFile
    from yomitori_agent.review import ReviewService
    from yomitori_agent.review.service import PurposeRequired

    results, reviews, releaser, batch = stores
    # Given a users file whose office lists its own purposes
    users = users_file(tmp_path / "users.json", {"suzuki": ["reviewer", "number_viewer"]})
    users.set_purposes({"tax_deduction": "寄附金控除の確認"})
    users.save()
    users = UsersFile.load(users.path)
    principal = users.authenticate("suzuki", PASSPHRASE)
    assert principal is not None and principal.has(Role.NUMBER_VIEWER)
    svc = ReviewService(
        results, reviews, releaser, principal=principal, batch_id=batch, purposes=users.purposes
    )
    # Then the page is offered that list, and only it
    assert svc.me()["purposes"] == [{"code": "tax_deduction", "label": "寄附金控除の確認"}]
    doc = svc.open_next()
    with pytest.raises(PurposeRequired):
        svc.reveal(batch, doc["document_id"], "my_number", "identity_check")  # a default, not this office's
    assert svc.reveal(batch, doc["document_id"], "my_number", "tax_deduction")["value"] == MY_NUMBER
    purposes = [r.purpose for r in reviews.audit_trail(batch) if r.action is AuditAction.REVEAL_MY_NUMBER]
    assert purposes == ["tax_deduction"]


def test_only_a_logged_in_supervisor_reads_the_audit_trail(stores, tmp_path):  # noqa: F811
    from yomitori_agent.review import ReviewServer, ReviewService

    results, reviews, releaser, batch = stores
    users = users_file(tmp_path / "users.json", {"sato": ["reviewer"], "kato": ["supervisor"]})

    def service_for(principal):
        return ReviewService(results, reviews, releaser, principal=principal, batch_id=batch)

    srv = ReviewServer(None, users=users, service_for=service_for, reviews=reviews, batch_id=batch)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        cookie = _login(srv)
        # Given nobody logged in, Then the audit trail is refused
        assert _request(srv, "GET", "/api/audit", cookie=cookie)[0] == 403
        # When a reviewer logs in, Then it is still refused
        _post(srv, cookie, "/api/login", {"name": "sato", "passphrase": PASSPHRASE})
        assert _request(srv, "GET", "/api/audit", cookie=cookie)[0] == 403
        # When the supervisor logs in instead, Then the trail is served, with the logins in it
        _post(srv, cookie, "/api/logout", {})
        _post(srv, cookie, "/api/login", {"name": "kato", "passphrase": PASSPHRASE})
        status, _, body = _request(srv, "GET", "/api/audit", cookie=cookie)
        assert status == 200 and "kato" in body.decode() and PASSPHRASE not in body.decode()
    finally:
        srv.shutdown()
        srv.server_close()
