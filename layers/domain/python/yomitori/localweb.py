"""The security of yomitori's local web pages (the template editor; the same rules as the
agent's review page), shared so that every local page gets them the same way:

* bound to 127.0.0.1; the ``Host`` header must name this very address and port (defeats DNS
  rebinding);
* the printed URL carries a one-time login token, swapped for an ``HttpOnly; SameSite=Strict``
  cookie holding a separate random secret;
* state-changing requests are JSON POSTs with a CSRF header only the page knows and no
  cross-site ``Origin`` / ``Sec-Fetch-Site``;
* a strict Content-Security-Policy (own scripts and styles only, no inline code, no framing),
  ``no-store`` caching, no third-party anything.

Subclass :class:`LocalServer` and :class:`LocalHandler` and implement ``get``/``post``.
Runs on one machine.
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
from urllib.parse import parse_qs, urlsplit

from yomitori.errors import YomitoriError

HOST = "127.0.0.1"
CSRF_HEADER = "X-Yomitori-CSRF"
MAX_BODY = 4 << 20
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


class LocalServer(ThreadingHTTPServer):
    """One local session: ``url`` is the one-time login address."""

    daemon_threads = True
    cookie_name = "yomitori"

    def __init__(self, handler: type[BaseHTTPRequestHandler], *, port: int = 0):
        super().__init__((HOST, port), handler)
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

    @property
    def cookie(self) -> str:
        return f"{self.cookie_name}_{self.port}"  # cookies ignore ports: two sessions must not collide

    def take_login(self, token: str) -> bool:
        """True once for the login token; it cannot be used again."""
        with self._login_lock:
            if self.login_token and hmac.compare_digest(token, self.login_token):
                self.login_token = None
                return True
            return False


class LocalHandler(BaseHTTPRequestHandler):
    """Checks every request, then calls ``get(path, query)`` or ``post(path, body)``."""

    server: LocalServer
    protocol_version = "HTTP/1.1"
    server_version = "yomitori-local"
    sys_version = ""
    log_name = "local"
    max_body = MAX_BODY
    no_session = "no session"
    link_used = ("This link was already used or is wrong. Use the window that opened, or start the command "
                 "again.")

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        # the path only: query strings carry the login token
        status = args[1] if len(args) > 1 else ""
        print(f"{self.log_name}: {self.command} {urlsplit(self.path).path} {status}", file=sys.stderr)

    def send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
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

    def send_json(self, status: int, payload: dict) -> None:
        self.send(status, json.dumps(payload, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def deny(self, status: int, why: str) -> None:
        self.send(status, why.encode(), "text/plain; charset=utf-8")

    def host_ok(self) -> bool:
        return self.headers.get("Host", "") in self.server.hosts

    def session_ok(self) -> bool:
        jar = SimpleCookie()
        try:
            jar.load(self.headers.get("Cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is simply no session
            return False
        got = jar.get(self.server.cookie)
        return got is not None and hmac.compare_digest(got.value, self.server.session_secret)

    def cross_site(self) -> bool:
        site = self.headers.get("Sec-Fetch-Site")
        origin = self.headers.get("Origin")
        return (site not in (None, "same-origin", "none")) or (
            origin is not None and origin not in self.server.origins)

    # -- requests -------------------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        if not self.host_ok():
            return self.deny(HTTPStatus.MISDIRECTED_REQUEST, "wrong host")
        url = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/" and "t" in q:
            if not self.server.take_login(q["t"]):
                return self.deny(HTTPStatus.FORBIDDEN, self.link_used)
            cookie = f"{self.server.cookie}={self.server.session_secret}; Path=/; HttpOnly; SameSite=Strict"
            return self.send(HTTPStatus.SEE_OTHER, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
        if not self.session_ok():
            return self.deny(HTTPStatus.FORBIDDEN, self.no_session)
        if self.cross_site():
            return self.deny(HTTPStatus.FORBIDDEN, "cross-site request")
        try:
            self.get(url.path, q)
        except Exception as e:  # noqa: BLE001 - one boundary for all requests
            self.error(e)

    def do_POST(self) -> None:  # noqa: N802
        if not self.host_ok():
            return self.deny(HTTPStatus.MISDIRECTED_REQUEST, "wrong host")
        if not self.session_ok():
            return self.deny(HTTPStatus.FORBIDDEN, self.no_session)
        if self.cross_site() or not hmac.compare_digest(self.headers.get(CSRF_HEADER, ""), self.server.csrf):
            return self.deny(HTTPStatus.FORBIDDEN, "cross-site request")
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            return self.deny(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "JSON only")
        raw_length = (self.headers.get("Content-Length") or "0").strip()
        if not raw_length.isascii() or not raw_length.isdigit():  # "-1", "abc": the body has no known end
            self.close_connection = True
            return self.deny(HTTPStatus.BAD_REQUEST, "bad Content-Length")
        length = int(raw_length)
        if length > self.max_body:
            return self.deny(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "too large")
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
            if not isinstance(body, dict):
                raise ValueError
        except ValueError:
            return self.send_json(HTTPStatus.BAD_REQUEST,
                                  {"error": "bad_json", "message": "Not a JSON object."})
        try:
            self.post(urlsplit(self.path).path, body)
        except Exception as e:  # noqa: BLE001 - one boundary for all requests
            self.error(e)

    def get(self, path: str, q: dict[str, str]) -> None:  # pragma: no cover - subclasses
        self.deny(HTTPStatus.NOT_FOUND, "not found")

    def post(self, path: str, body: dict) -> None:  # pragma: no cover - subclasses
        self.deny(HTTPStatus.NOT_FOUND, "not found")

    def error(self, e: Exception) -> None:
        if isinstance(e, (BrokenPipeError, ConnectionResetError)):
            self.close_connection = True
            return None
        if isinstance(e, YomitoriError):
            return self.send_json(getattr(e, "status", 400), {"error": e.code, "message": e.message,
                                                              "action": e.action})
        print(f"{self.log_name}: internal error ({type(e).__name__})", file=sys.stderr)
        return self.send_json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal_error",
                                                                 "message": "Internal error; see the log."})
