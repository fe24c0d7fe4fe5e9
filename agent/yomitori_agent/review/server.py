"""The local review web server: 127.0.0.1 only, one session per run.

Runs in the agent on the external PC (or on the one machine). Security, in order of checks:

* bound to 127.0.0.1; the ``Host`` header must name this very address and port
  (``127.0.0.1:PORT`` or ``localhost:PORT``), which defeats DNS rebinding;
* every request needs the session: the printed URL carries a one-time login token that is
  swapped for an ``HttpOnly; SameSite=Strict`` cookie holding a separate random secret;
  other local users and other web pages have neither;
* state-changing requests are POSTs with a JSON body and an ``X-Yomitori-CSRF`` header whose
  value only the page knows (from its own HTML), and a same-origin ``Origin`` if sent: a
  cross-site form or script cannot send them without a CORS pre-flight we never answer;
* a strict Content-Security-Policy (own scripts and styles only, no inline code, no
  framing), ``no-store`` caching (scans are personal data), no third-party anything.

The checks live in :mod:`yomitori.localweb`, shared with the template editor.
"""

from __future__ import annotations

import sys
import threading
from http import HTTPStatus
from importlib import resources

from yomitori.access import Principal
from yomitori.errors import YomitoriError
from yomitori.localweb import CSP, CSRF_HEADER, HOST, LocalHandler, LocalServer
from yomitori.store.base import LeaseConflict

from yomitori_agent.review import audit_view
from yomitori_agent.review.reasons import error_view
from yomitori_agent.review.service import ReviewError, ReviewService

__all__ = ["CSP", "CSRF_HEADER", "HOST", "ReviewServer"]
COOKIE = "yomitori_review"  # + "_<port>": cookies ignore ports, two sessions must not collide
MAX_BODY = 1 << 20
_STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8",
           "verify.js": "text/javascript; charset=utf-8", "verify.css": "text/css; charset=utf-8",
           "fields.js": "text/javascript; charset=utf-8"}


def _asset(name: str) -> bytes:
    return resources.files("yomitori_agent.review").joinpath("static", name).read_bytes()


class ReviewServer(LocalServer):
    """The HTTP server of one review session. ``url`` is the one-time login address. The
    checks (host, one-time login, session cookie, CSRF, CSP) are :mod:`yomitori.localweb`'s,
    shared with the template editor."""

    cookie_name = COOKIE

    def __init__(self, service: ReviewService, *, port: int = 0, exit_when_done: bool = False,
                 principal: Principal | None = None):
        super().__init__(_Handler, port=port)
        self.service = service
        self.exit_when_done = exit_when_done
        # who holds this session, for the audit page (supervisors only; audit_view.py).
        # TODO(lead): once the review page's login lands, take this from the session's
        # authenticated principal instead of the constructor (and drop the argument).
        self.principal = principal
        self.verification = None  # the verifier's view (ベリファイ): a VerificationService, or None

    def work_left(self) -> bool:
        """Documents to review, or double entries this person can do, are left."""
        if self.service.queue()["documents"]:
            return True
        return self.verification is not None and self.verification.my_work() > 0

    def stop_soon(self) -> None:
        threading.Thread(target=self.shutdown, daemon=True).start()


class _Handler(LocalHandler):
    server: ReviewServer
    server_version = "yomitori-review"
    log_name = "review"
    max_body = MAX_BODY
    no_session = "no review session"
    link_used = ("This review link was already used or is wrong. Use the window that opened, or start the "
                 "review command again.")

    def get(self, path: str, q: dict[str, str]) -> None:
        svc = self.server.service
        if audit_view.handles(path):
            return audit_view.get(self, path, q)
        if path == "/":
            html = _asset("index.html").decode().replace("{{csrf}}", self.server.csrf)
            return self.send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
        if path.startswith("/static/") and path[8:] in _STATIC:
            return self.send(HTTPStatus.OK, _asset(path[8:]), _STATIC[path[8:]])
        if path == "/favicon.ico":
            return self.send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if (path == "/verify" or path.startswith("/api/verify/")) and self.server.verification is not None:
            from yomitori_agent.review.verification import handle_get

            page = _asset("verify.html").decode().replace("{{csrf}}", self.server.csrf).encode()
            return handle_get(self, self.server.verification, path, q, page)
        if path == "/api/queue":
            return self.send_json(HTTPStatus.OK, svc.queue())
        if path == "/api/held":
            return self.send_json(HTTPStatus.OK, svc.held())
        if path == "/api/page":
            jpeg, (w, h) = svc.page_image(q.get("b", ""), q.get("d", ""))
            return self.send(HTTPStatus.OK, jpeg, "image/jpeg", {"X-Scan-Size": f"{w}x{h}"})
        if path == "/api/region":
            try:
                area = tuple(int(q.get(k, "")) for k in ("x0", "y0", "x1", "y1"))
            except ValueError:
                raise ReviewError("The region is not four whole numbers.", code="bad_region") from None
            return self.send(HTTPStatus.OK, svc.region(q.get("b", ""), q.get("d", ""), area,
                                                          frozenset(q.get("hide", "").split(","))),
                             "image/jpeg")
        if path == "/api/crop":
            return self.send(HTTPStatus.OK, svc.crop(q.get("b", ""), q.get("d", ""), q.get("f", "")),
                              "image/png")
        return self.deny(HTTPStatus.NOT_FOUND, "not found")

    def post(self, path: str, body: dict) -> None:
        svc = self.server.service
        b, d = str(body.get("batch_id", "")), str(body.get("document_id", ""))
        window = str(body["window"])[:64] if body.get("window") else None  # this browser tab
        if path.startswith("/api/verify/") and self.server.verification is not None:
            from yomitori_agent.review.verification import handle_post

            handle_post(self, self.server.verification, path, body)
            if (path == "/api/verify/submit" and self.server.exit_when_done
                    and not self.server.work_left()):
                self.server.stop_soon()
            return None
        if path == "/api/next":
            after = (b, d) if b and d else None
            view = svc.open_next(after, window)
            return self.send_json(HTTPStatus.OK, {"document": view,
                                                  "elsewhere": 0 if view else svc.open_elsewhere(window)})
        if path == "/api/open":
            return self.send_json(HTTPStatus.OK, {"document": svc.open(b, d, window)})
        if path == "/api/reopen":
            return self.send_json(HTTPStatus.OK, {"document": svc.reopen(b, d, window)})
        if path == "/api/column-fields":
            from yomitori_agent.review.column import column_fields

            return self.send_json(HTTPStatus.OK, column_fields(svc, window))
        if path == "/api/column":
            from yomitori_agent.review.column import column

            skip = body.get("skip") if isinstance(body.get("skip"), list) else []
            return self.send_json(HTTPStatus.OK, column(svc, str(body.get("field", ""))[:64], window,
                                                        skip=frozenset(str(s)[:200] for s in skip[:2000])))
        if path == "/api/reveal":
            return self.send_json(HTTPStatus.OK, svc.reveal(b, d, str(body.get("field", ""))))
        if path == "/api/renew":
            return self.send_json(HTTPStatus.OK, svc.renew(b, d, window))
        if path == "/api/date":
            from yomitori_agent.review.service import date_preview

            era = body.get("era")
            return self.send_json(HTTPStatus.OK, date_preview(str(body.get("text", ""))[:40],
                                                              str(era)[:4] if era else None))
        if path == "/api/leave":
            svc.leave(b, d)
            return self.send_json(HTTPStatus.OK, {"ok": True})
        if path == "/api/submit":
            corrections = body.get("corrections")
            if not isinstance(corrections, list):
                raise ReviewError("corrections must be a list.", code="bad_submission")
            out = svc.submit(b, d, corrections)
            if out.get("ok") and body.get("then_next"):
                # the next document in the same answer: one round trip less between documents
                try:
                    view = svc.open_next((b, d), window)
                    out["next"] = {"document": view, "elsewhere": 0 if view else svc.open_elsewhere(window)}
                except YomitoriError:
                    pass  # stored all the same; the page asks for the next document itself
            self.send_json(HTTPStatus.OK, out)
            if out.get("ok") and self.server.exit_when_done and not self.server.work_left():
                self.server.stop_soon()
            return None
        return self.deny(HTTPStatus.NOT_FOUND, "not found")

    def error(self, e: Exception) -> None:
        if isinstance(e, (BrokenPipeError, ConnectionResetError)):
            return super().error(e)
        if isinstance(e, YomitoriError):
            status = HTTPStatus.CONFLICT if isinstance(e, LeaseConflict) else getattr(e, "status", 400)
            body = {"error": e.code, "message": e.message, "action": e.action, **error_view(e.code)}
            from yomitori_agent.review.verification import ERRORS_JA

            if e.code in ERRORS_JA:
                body.update(zip(("message_ja", "action_ja", "next"), ERRORS_JA[e.code], strict=True))
            return self.send_json(status, body)
        print(f"review: internal error ({type(e).__name__})", file=sys.stderr)
        return self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal_error",
                                                             "message": "Internal error; see the log.",
                                                             **error_view("internal_error")})

    def deny(self, status: int, why: str) -> None:
        """No session or a used link: in Japanese with what to do - a page for the browser's
        own navigation, JSON for the page's requests (the English text stays in ``message``).
        Other refusals (cross-site, wrong host) stay plain."""
        if why not in (self.no_session, self.link_used):
            return super().deny(status, why)
        view = error_view("no_session")
        if self.command == "GET" and not self.path.startswith("/api/"):
            html = ("<!doctype html><html lang=\"ja\"><meta charset=\"utf-8\"><title>確認画面</title>"
                    f"<h1>確認画面を開けません</h1><p>{view['message_ja']}</p>"
                    "<p>このリンクは一度しか使えません。最初に開いた画面を使うか、確認コマンド"
                    "（yomitori review）をもう一度起動して、表示された新しいリンクを開いてください。</p>"
                    f"<p lang=\"en\">{why}</p></html>")
            return self.send(status, html.encode(), "text/html; charset=utf-8")
        return self.send_json(status, {"error": "no_session", "message": why, **view})
