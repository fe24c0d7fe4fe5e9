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
    """A review server over ``backend`` (not yet serving). Its ``url`` is the one-time link.
    With a users file the page asks for a login and the session's principal comes from it;
    otherwise ``principal`` (a :class:`yomitori.access.Principal`), or the backend's, is the
    person at the page. The verifier's view (/verify) acts as the same person. The reference
    data (Japan Post, banks, readings) is loaded first, so the clerk's first submission is as
    quick as the others."""
    from yomitori.access import Principal
    from yomitori.validation.warm import load_reference_data

    from yomitori_agent.review.verification import VerificationService

    load_reference_data()
    purposes = backend.users.purposes if backend.users is not None else None

    def service_for(person: Principal) -> ReviewService:
        svc = ReviewService(backend.results, backend.reviews, backend.releaser, principal=person,
                            batch_id=backend.batch_id, purposes=purposes)
        if backend.users is not None:
            svc.prepare(wait=False)  # at the login: the page is waiting for its answer
        return svc

    if backend.users is not None:
        server = ReviewServer(None, port=port, exit_when_done=exit_when_done, users=backend.users,
                              service_for=service_for, reviews=backend.reviews, batch_id=backend.batch_id)
    else:
        service = service_for(principal or backend.principal)
        service.prepare()
        server = ReviewServer(service, port=port, exit_when_done=exit_when_done)
    nobody = Principal("-", frozenset())  # before a login: no role, no work

    def who() -> Principal:
        svc = server.service
        return svc.principal if svc is not None else nobody

    server.verification = VerificationService(backend.results, backend.reviews, backend.releaser,
                                              principal=who, batch_id=backend.batch_id)
    return server


def serve(backend: Backend, *, port: int = 0, open_browser: bool = True, exit_when_done: bool = True) -> dict:
    """Serve the review page until the queue is empty (``exit_when_done``) or Ctrl-C.
    Prints the one-time login URL on stdout; returns ids and counts."""
    server = make_server(backend, port=port, exit_when_done=exit_when_done)
    waiting = len(backend.reviews.queue(backend.batch_id))
    if backend.users is not None:
        # who logs in is not known yet: serve while anything is open (their work or not)
        verifying = sum(1 for b in backend.reviews.verification_batches() if backend.batch_id in (None, b))
        who = f"log in with the users file {backend.users.path}"
    else:
        verifying = server.verification.my_work() if server.verification is not None else 0
        who = f"reviewer {backend.reviewer}"
    print(f"review: {backend.describe}; {waiting} document(s) waiting; {who}", file=sys.stderr)
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
        if svc is not None:
            for batch_id, document_id in list(svc.session.leased):
                svc.leave(batch_id, document_id)
        server.server_close()
    left = len(backend.reviews.queue(backend.batch_id))
    reviewer = server.service.reviewer if server.service is not None else None
    return {"reviewer": reviewer, "batch_id": backend.batch_id, "waiting_before": waiting,
            "waiting_now": left}
