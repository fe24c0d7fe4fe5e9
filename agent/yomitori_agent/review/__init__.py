"""The review page (step ⑤): a local web server on 127.0.0.1 where a person checks and
corrects the fields that were not accepted automatically.

Used by ``yomitori-agent review`` (cloud setup) and ``yomitori review OUT`` (one machine).
See docs/review.md.
"""

from __future__ import annotations

import sys
import webbrowser

from yomitori_agent.review.backends import Backend, cloud_backend, local_backend
from yomitori_agent.review.server import ReviewServer
from yomitori_agent.review.service import ReviewService

__all__ = ["Backend", "ReviewServer", "ReviewService", "cloud_backend", "local_backend", "serve"]


def make_server(backend: Backend, *, port: int = 0, exit_when_done: bool = False,
                principal=None) -> ReviewServer:
    """A review server over ``backend`` (not yet serving). Its ``url`` is the login link.
    The reference data (Japan Post, banks, readings) is loaded first, so the clerk's first
    submission is as quick as the others. ``principal`` (a :class:`yomitori.access.Principal`)
    is the person at the page; without one the reviewer has the reviewer role only (the
    verifier's view at /verify then refuses)."""
    from yomitori.access import Principal, Role
    from yomitori.validation.warm import load_reference_data

    from yomitori_agent.review.verification import VerificationService

    load_reference_data()
    service = ReviewService(backend.results, backend.reviews, backend.releaser,
                            reviewer=backend.reviewer, batch_id=backend.batch_id)
    service.prepare()
    # the audit page (/audit) needs the principal to be a supervisor; None: it refuses
    server = ReviewServer(service, port=port, exit_when_done=exit_when_done, principal=principal)
    who = principal or Principal(backend.reviewer, frozenset({Role.REVIEWER}))
    server.verification = VerificationService(backend.results, backend.reviews, backend.releaser,
                                              principal=lambda: who, batch_id=backend.batch_id)
    return server


def serve(backend: Backend, *, port: int = 0, open_browser: bool = True, exit_when_done: bool = True) -> dict:
    """Serve the review page until the queue is empty (``exit_when_done``) or Ctrl-C.
    Prints the one-time login URL on stdout; returns ids and counts."""
    server = make_server(backend, port=port, exit_when_done=exit_when_done)
    waiting = len(server.service.queue()["documents"])
    verifying = server.verification.my_work() if server.verification is not None else 0
    print(f"review: {backend.describe}; {waiting} document(s) waiting; reviewer {backend.reviewer}",
          file=sys.stderr)
    print(server.url, flush=True)
    if open_browser:
        webbrowser.open(server.url)
    try:
        if waiting or verifying or not exit_when_done:
            server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        print("review: stopped; documents left open go back to the queue.", file=sys.stderr)
    finally:
        svc = server.service
        for batch_id, document_id in list(svc.session.leased):
            svc.leave(batch_id, document_id)
        server.server_close()
    left = len(server.service.queue()["documents"])
    return {"reviewer": backend.reviewer, "batch_id": backend.batch_id, "waiting_before": waiting,
            "waiting_now": left}
