"""The supervisor's audit page on the review server (read-only): ``/audit`` and its own
``/static/audit.js`` / ``audit.css``, and ``/api/audit`` (records chosen by since / who /
batch, and the hash chain's verdict per batch). Runs in the agent (cloud review) and on one
machine, behind the review server's checks (host, session, CSP: no inline code).

Only a supervisor reads the trail: every route asks the server's principal for
:attr:`yomitori.access.Role.SUPERVISOR` and answers 403 otherwise. Records hold ids, field
names, statuses and codes: the page can show no value read from a form.
"""

from __future__ import annotations

from http import HTTPStatus
from importlib import resources

from yomitori.access import NotAllowed, Principal, Role
from yomitori.audit.report import ACTION_JA, BREAK_JA, parse_since, select, verify_batches

ROUTES = {"/audit", "/api/audit", "/static/audit.js", "/static/audit.css"}
_STATIC = {"audit.js": "text/javascript; charset=utf-8", "audit.css": "text/css; charset=utf-8"}
MAX_RECORDS = 5000  # the newest first; the command line exports everything


def handles(path: str) -> bool:
    return path in ROUTES


def require_supervisor(principal: Principal | None) -> None:
    if principal is None:
        raise NotAllowed("This review session has no supervisor.",
                         action="Open the audit page from a session of a person with the supervisor role.")
    principal.require(Role.SUPERVISOR)


def _forbidden_page(handler) -> None:
    html = ("<!doctype html><html lang=\"ja\"><meta charset=\"utf-8\"><title>監査ログ</title>"
            "<h1>監査ログを表示できません</h1><p>監査ログを見られるのは監督者（supervisor）の役割を持つ人だけです。"
            "管理者に役割の付与を依頼してください。</p>"
            "<p lang=\"en\">Only a supervisor reads the audit trail.</p></html>")
    handler.send(HTTPStatus.FORBIDDEN, html.encode(), "text/html; charset=utf-8")


def get(handler, path: str, q: dict[str, str]) -> None:
    """Serve one of :data:`ROUTES` for ``handler`` (a review server request)."""
    principal = getattr(handler.server, "principal", None)
    if path == "/audit":
        try:
            require_supervisor(principal)
        except NotAllowed:
            return _forbidden_page(handler)
        html = resources.files("yomitori_agent.review").joinpath("static", "audit.html").read_bytes()
        return handler.send(HTTPStatus.OK, html, "text/html; charset=utf-8")
    require_supervisor(principal)
    if path.startswith("/static/"):
        name = path[len("/static/"):]
        data = resources.files("yomitori_agent.review").joinpath("static", name).read_bytes()
        return handler.send(HTTPStatus.OK, data, _STATIC[name])
    return handler.send_json(HTTPStatus.OK, audit_view(handler.server.service.reviews, q))


def audit_view(reviews, q: dict[str, str]) -> dict:
    """The page's data: records (newest first, at most :data:`MAX_RECORDS`), the batches that
    have a trail, and the verdict of each batch in view."""
    batch = (q.get("batch") or "").strip()[:128] or None
    who = (q.get("who") or "").strip()[:128] or None
    records = select(reviews, batch=batch, since=parse_since((q.get("since") or "").strip()[:40] or None),
                     who=who)
    records.sort(key=lambda r: (r.at, r.batch_id, r.seq or 0), reverse=True)
    verdicts = verify_batches(reviews, batch=batch)
    return {
        "records": [{**r.model_dump(mode="json", exclude={"prev"}), "action_ja": ACTION_JA.get(r.action, "")}
                    for r in records[:MAX_RECORDS]],
        "truncated": len(records) > MAX_RECORDS,
        "batches": reviews.audit_batches(),
        "verify": [{
            "batch_id": v.batch_id, "ok": v.ok, "records": v.records, "unchained": v.unchained,
            "head": v.head[0] if v.head else None, "anchors": len(v.anchors),
            "breaks": [{"seq": b.seq, "kind": b.kind, "kind_ja": BREAK_JA[b.kind], "detail": b.detail}
                       for b in v.breaks],
        } for v in verdicts],
    }
