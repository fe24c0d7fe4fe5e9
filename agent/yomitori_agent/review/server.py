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
"""

from __future__ import annotations

import hmac
import json
import secrets
import sys
import threading
from http import HTTPStatus
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from yomitori.errors import YomitoriError
from yomitori.store.base import LeaseConflict

from yomitori_agent.review.service import ReviewError, ReviewService

HOST = "127.0.0.1"
COOKIE = "yomitori_review"  # + "_<port>": cookies ignore ports, two sessions must not collide
CSRF_HEADER = "X-Yomitori-CSRF"
MAX_BODY = 1 << 20
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC = {"review.js": "text/javascript; charset=utf-8", "review.css": "text/css; charset=utf-8"}


def _asset(name: str) -> bytes:
    return resources.files("yomitori_agent.review").joinpath("static", name).read_bytes()


class ReviewServer(ThreadingHTTPServer):
    """The HTTP server of one review session. ``url`` is the one-time login address."""

    daemon_threads = True

    def __init__(self, service: ReviewService, *, port: int = 0, exit_when_done: bool = False):
        super().__init__((HOST, port), _Handler)
        self.service = service
        self.exit_when_done = exit_when_done
        self.login_token: str | None = secrets.token_urlsafe(32)
        self.session_secret = secrets.token_urlsafe(32)
        self.csrf = secrets.token_urlsafe(32)
        self.port = self.server_address[1]
        self.hosts = {f"{HOST}:{self.port}", f"localhost:{self.port}"}
        self.origins = {f"http://{h}" for h in self.hosts}
        self._login_lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}/?t={self.login_token}"

    def take_login(self, token: str) -> bool:
        """True once for the login token; it cannot be used again."""
        with self._login_lock:
            if self.login_token and hmac.compare_digest(token, self.login_token):
                self.login_token = None
                return True
            return False

    def stop_soon(self) -> None:
        threading.Thread(target=self.shutdown, daemon=True).start()


class _Handler(BaseHTTPRequestHandler):
    server: ReviewServer
    protocol_version = "HTTP/1.1"
    server_version = "yomitori-review"
    sys_version = ""

    # -- plumbing ---------------------------------------------------------------------------
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        # the path only: query strings carry the login token and ids we keep out of logs
        print(f"review: {self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}",
              file=sys.stderr)

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: dict) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def _deny(self, status: int, why: str) -> None:
        self._send(status, why.encode(), "text/plain; charset=utf-8")

    def _host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.hosts

    def _session_ok(self) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is simply no session
            return False
        got = jar.get(f"{COOKIE}_{self.server.port}")
        return got is not None and hmac.compare_digest(got.value, self.server.session_secret)

    def _cross_site(self) -> bool:
        site = self.headers.get("Sec-Fetch-Site")
        origin = self.headers.get("Origin")
        return (site not in (None, "same-origin", "none")) or (
            origin is not None and origin not in self.server.origins
        )

    # -- GET ----------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if not self._host_ok():
            return self._deny(HTTPStatus.MISDIRECTED_REQUEST, "wrong host")
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/" and "t" in q:
            if not self.server.take_login(q["t"]):
                return self._deny(HTTPStatus.FORBIDDEN, "This review link was already used or is wrong. "
                                  "Use the window that opened, or start the review command again.")
            name = f"{COOKIE}_{self.server.port}"
            cookie = f"{name}={self.server.session_secret}; Path=/; HttpOnly; SameSite=Strict"
            headers = {"Location": "/", "Set-Cookie": cookie}
            return self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", headers)
        if not self._session_ok():
            return self._deny(HTTPStatus.FORBIDDEN, "no review session")
        if self._cross_site():
            return self._deny(HTTPStatus.FORBIDDEN, "cross-site request")
        try:
            self._get(url.path, q)
        except Exception as e:  # noqa: BLE001 - one boundary for all requests
            self._error(e)

    def _get(self, path: str, q: dict[str, str]) -> None:
        svc = self.server.service
        if path == "/":
            html = _asset("index.html").decode().replace("{{csrf}}", self.server.csrf)
            return self._send(HTTPStatus.OK, html.encode(), "text/html; charset=utf-8")
        if path.startswith("/static/") and path[8:] in _STATIC:
            return self._send(HTTPStatus.OK, _asset(path[8:]), _STATIC[path[8:]])
        if path == "/favicon.ico":
            return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
        if path == "/api/queue":
            return self._json(HTTPStatus.OK, svc.queue())
        if path == "/api/page":
            jpeg, (w, h) = svc.page_image(q.get("b", ""), q.get("d", ""))
            return self._send(HTTPStatus.OK, jpeg, "image/jpeg", {"X-Scan-Size": f"{w}x{h}"})
        if path == "/api/crop":
            return self._send(HTTPStatus.OK, svc.crop(q.get("b", ""), q.get("d", ""), q.get("f", "")),
                              "image/png")
        return self._deny(HTTPStatus.NOT_FOUND, "not found")

    # -- POST ---------------------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return self._deny(HTTPStatus.MISDIRECTED_REQUEST, "wrong host")
        if not self._session_ok():
            return self._deny(HTTPStatus.FORBIDDEN, "no review session")
        if self._cross_site() or not hmac.compare_digest(self.headers.get(CSRF_HEADER, ""), self.server.csrf):
            return self._deny(HTTPStatus.FORBIDDEN, "cross-site request")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self._deny(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "JSON only")
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isascii() or not raw_length.isdigit():  # "-1", "abc": the body has no known end
            self.close_connection = True
            return self._deny(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        length = int(raw_length)
        if length > MAX_BODY:
            return self._deny(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self._json(HTTPStatus.BAD_REQUEST, {"error": "bad_json", "message": "Not a JSON object."})
        try:
            self._post(urlsplit(self.path).path, body)
        except Exception as e:  # noqa: BLE001 - one boundary for all requests
            self._error(e)

    def _post(self, path: str, body: dict) -> None:
        svc = self.server.service
        b, d = str(body.get("batch_id", "")), str(body.get("document_id", ""))
        if path == "/api/next":
            after = (b, d) if b and d else None
            view = svc.open_next(after)
            return self._json(HTTPStatus.OK, {"document": view})
        if path == "/api/open":
            return self._json(HTTPStatus.OK, {"document": svc.open(b, d)})
        if path == "/api/reveal":
            return self._json(HTTPStatus.OK, svc.reveal(b, d, str(body.get("field", ""))))
        if path == "/api/renew":
            return self._json(HTTPStatus.OK, svc.renew(b, d))
        if path == "/api/leave":
            svc.leave(b, d)
            return self._json(HTTPStatus.OK, {"ok": True})
        if path == "/api/submit":
            corrections = body.get("corrections")
            if not isinstance(corrections, list):
                raise ReviewError("corrections must be a list.", code="bad_submission")
            out = svc.submit(b, d, corrections)
            self._json(HTTPStatus.OK, out)
            if out.get("ok") and self.server.exit_when_done and not svc.queue()["documents"]:
                self.server.stop_soon()
            return None
        return self._deny(HTTPStatus.NOT_FOUND, "not found")

    def _error(self, e: Exception) -> None:
        if isinstance(e, (BrokenPipeError, ConnectionResetError)):
            self.close_connection = True  # the page went away (moved on, or closed)
            return None
        if isinstance(e, YomitoriError):
            status = HTTPStatus.CONFLICT if isinstance(e, LeaseConflict) else getattr(e, "status", 400)
            return self._json(status, {"error": e.code, "message": e.message, "action": e.action})
        print(f"review: internal error ({type(e).__name__})", file=sys.stderr)
        return self._json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal_error",
                                                             "message": "Internal error; see the log."})
