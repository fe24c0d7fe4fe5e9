"""The verifier's view of the review page (ベリファイ): the fields to type a second time, one
at a time, blind (the crop only: never the read value nor the first entry), and, for a third
person, the mismatches to decide (the crop and both entries).

The rule is the domain's (:mod:`yomitori.steps.verification`), shared with the cloud; this
module only shapes what the page shows and serves the crops. The person is a
:class:`~yomitori.access.Principal` given by the server (its login); a person without the
verifier or supervisor role sees a refusal, never a field.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from http import HTTPStatus

from yomitori.access import NotAllowed, Principal
from yomitori.forms import load_form
from yomitori.forms.schema import FieldType, Sensitivity
from yomitori.results import DocumentResult
from yomitori.steps import verification as ver
from yomitori.steps.review import ReviewRefused
from yomitori.store.base import GateReleaser, ResultStore, ReviewStore, VerifyState

from yomitori_agent.review import images
from yomitori_agent.review.reasons import explain

# Japanese for the page (the domain's errors carry English messages and stable codes)
ERRORS_JA = {
    "same_person": (
        "同じ人が1回目と2回目の入力（または自分の入力の食い違いの判定）をすることはできません。",
        "この項目は他のベリファイ担当者に任せてください。「次へ」で別の項目に進めます。",
        "next",
    ),
    "verify_not_open": (
        "この項目は他の人が先に入力しました。",
        "「次へ」で次の項目に進んでください。",
        "next",
    ),
    "not_allowed": (
        "この操作の権限（役割）がありません。",
        "ベリファイには verifier、判定には supervisor か verifier の役割が必要です。"
        "管理者に依頼してください。",
        "reload",
    ),
}


class VerificationService:
    """One person's double-entry session over the review stores (thread-safe for one page)."""

    def __init__(
        self,
        results: ResultStore,
        reviews: ReviewStore,
        releaser: GateReleaser,
        *,
        principal: Callable[[], Principal],
        batch_id: str | None,
        lease_seconds: int = 600,
    ):
        self.results, self.reviews, self.releaser = results, reviews, releaser
        self.principal = principal
        self.batch_id = batch_id
        self.lease_seconds = lease_seconds
        self.images = images.ImageCache()
        self._lock = threading.Lock()
        self._held: dict[tuple[str, str, str], str] = {}  # leased task -> what it waits for
        self._seen: set[tuple[str, str, str]] = set()  # My Number crops shown (audited once)

    # -- what is left ----------------------------------------------------------------------------
    def _batches(self) -> list[str]:
        if self.batch_id:
            return [self.batch_id]
        return self.reviews.verification_batches()

    def my_work(self) -> int:
        """Second entries and decisions this person can do now (the server that ends by itself
        keeps serving while any is left; a reviewer without the verifier role has none)."""
        p = self.principal()
        return sum(
            q["second"] + q["decide"] for q in (ver.queue(self.reviews, p, b) for b in self._batches())
        )

    def state(self) -> dict:
        p = self.principal()
        counts = {"open": 0, "waiting_review": 0, "second": 0, "decide": 0, "blocked_same_person": 0}
        for b in self._batches():
            for k, v in ver.queue(self.reviews, p, b).items():
                counts[k] += v
        return {
            "who": p.name,
            "roles": sorted(r.value for r in p.roles),
            "allowed": ver.may_verify_or_decide(p),
            **counts,
        }

    # -- the next field --------------------------------------------------------------------------
    def next(self, after: tuple[str, str, str] | None = None) -> dict | None:
        """Lease and show the next field this person can type or decide; None when none is left."""
        p = self.principal()
        if not ver.may_verify_or_decide(p):
            raise NotAllowed(f"'{p.name}' has neither the verifier nor the supervisor role.")
        batches = self._batches()
        if after is not None and after[0] in batches:
            i = batches.index(after[0])
            batches = batches[i:] + batches[:i]
        for b in batches:
            pos = (after[1], after[2]) if after is not None and after[0] == b else None
            if not self._alive(b):
                continue
            task = ver.lease_next(self.reviews, p, b, seconds=self.lease_seconds, after=pos)
            if task is not None:
                kind = ver.work_for(p, task)
                with self._lock:
                    self._held[(task.batch_id, task.document_id, task.field)] = kind
                return self._view(p, task.batch_id, task.document_id, task.field, kind)
        return None

    def _alive(self, batch_id: str) -> bool:
        """Send the gate's heartbeat (a person is at work on the batch, as when a document is
        leased for review), so a long double entry does not run into the heartbeat limit;
        False when the batch no longer waits at its gate."""
        from yomitori.steps.review import keep_gate_alive
        from yomitori.store.base import GateMissing

        try:
            keep_gate_alive(self.reviews, self.releaser, batch_id=batch_id)
        except GateMissing:
            return False
        return True

    def _view(self, p: Principal, batch_id: str, document_id: str, field: str, kind: str) -> dict:
        doc = self.results.get_document(batch_id, document_id)
        f = load_form(doc.form_id).field(field)
        view = {
            "batch_id": batch_id,
            "document_id": document_id,
            "field": field,
            "label": f.label,
            "type": f.type.value,
            "cells": f.cells,
            "unit": f.unit,
            "kind": kind,
            "my_number": f.sensitivity is Sensitivity.MY_NUMBER,
            "hint": "和暦のまま（例 R8.9.8）でも入力できます" if f.type is FieldType.DATE else None,
        }
        if kind == ver.DECIDE:  # the third person only: both entries (a My Number's view is audited)
            view.update(
                ver.both_entries(
                    self.results,
                    self.reviews,
                    principal=p,
                    batch_id=batch_id,
                    document_id=document_id,
                    field=field,
                )
            )
            self._audit_view(p, doc, field, kind)
        return view  # a second entry's view has no value in it: blind

    def _audit_view(self, p: Principal, doc: DocumentResult, field: str, kind: str) -> None:
        key = (doc.batch_id, doc.document_id, field)
        with self._lock:
            if key in self._seen:
                return
            self._seen.add(key)
        task = ver.find_task(self.reviews, doc.batch_id, doc.document_id, field)
        ver.audit_crop_view(self.reviews, p, load_form(doc.form_id), task, kind)

    def _kind(self, batch_id: str, document_id: str, field: str) -> str:
        with self._lock:
            kind = self._held.get((batch_id, document_id, field))
        if kind is None:
            raise ver.VerifyNotOpen(
                f"Field '{field}' of document '{document_id}' is not open in this session."
            )
        return kind

    # -- the crop ------------------------------------------------------------------------------
    def crop(self, batch_id: str, document_id: str, field: str) -> bytes:
        """The field's crop at full resolution, for the person who holds it (a My Number's view
        is audited, with the purpose ``double_entry``)."""
        kind = self._kind(batch_id, document_id, field)
        doc = self.results.get_document(batch_id, document_id)
        fr = doc.fields.get(field)
        if fr is None or fr.box is None:
            raise ver.VerifyNotOpen(f"Field '{field}' has no box to show.")
        self._audit_view(self.principal(), doc, field, kind)

        def build() -> images.PageImages:
            page = doc.page_keys[0].rsplit("/", 1)[-1] if doc.page_keys else doc.source
            return images.render(
                self.results.get_page(batch_id, page), [], rotation=doc.page_rotation, page=doc.source_page
            )

        pages = self.images.get((batch_id, document_id), build)
        return images.crop_png(pages.scan, pages.upright(tuple(fr.box)))

    # -- entries -------------------------------------------------------------------------------
    def submit(self, batch_id: str, document_id: str, field: str, value: str) -> dict:
        """The second entry (blind: the answer says neither whether it matched nor the first
        entry) or the decision. ``{"ok": False, "refused": [...]}`` when a decision is invalid."""
        kind = self._kind(batch_id, document_id, field)
        p = self.principal()
        if kind == ver.SECOND:
            enter = functools.partial(ver.second_entry, typed=value)
        else:
            enter = functools.partial(ver.decide, value=value)
        try:
            out = enter(
                self.results,
                self.reviews,
                self.releaser,
                principal=p,
                batch_id=batch_id,
                document_id=document_id,
                field=field,
            )
        except ReviewRefused as e:
            return {"ok": False, "refused": explain(e.refused.get(field, []))}
        with self._lock:
            self._held.pop((batch_id, document_id, field), None)
            self._seen.discard((batch_id, document_id, field))
        if not any(k[:2] == (batch_id, document_id) for k in self._held):
            self.images.forget((batch_id, document_id))
        return {"ok": True, "released": out["released"]}

    def leave(self, batch_id: str, document_id: str, field: str) -> None:
        """Give the field back (Esc, or the page closing): its lease ends now."""
        with self._lock:
            held = self._held.pop((batch_id, document_id, field), None)
        if held is not None:
            self.reviews.lease_verification(batch_id, document_id, field, self.principal().name, seconds=0)

    def same_person_check(self, batch_id: str, document_id: str, field: str) -> None:
        """Ask for a given field (the page's "open this field"): refused with SamePerson when
        this person typed its first entry."""
        p = self.principal()
        task = ver.find_task(self.reviews, batch_id, document_id, field)
        if task is None:
            raise ver.VerifyNotOpen(f"Field '{field}' of document '{document_id}' has no double entry.")
        want = ver.DECIDE if task.state is VerifyState.MISMATCH else ver.SECOND
        ver.check_may(self.reviews, p, task, want)

    def open(self, batch_id: str, document_id: str, field: str) -> dict:
        """Open one given field (after the checks of :meth:`same_person_check`)."""
        self.same_person_check(batch_id, document_id, field)
        p = self.principal()
        self._alive(batch_id)
        if not self.reviews.lease_verification(
            batch_id, document_id, field, p.name, seconds=self.lease_seconds
        ):
            from yomitori.store.base import LeaseConflict

            raise LeaseConflict(
                f"Field '{field}' of document '{document_id}' is being verified by someone else."
            )
        task = ver.find_task(self.reviews, batch_id, document_id, field)
        kind = ver.work_for(p, task)
        with self._lock:
            self._held[(batch_id, document_id, field)] = kind
        return self._view(p, batch_id, document_id, field, kind)


# -- routes (the review server calls these for /verify and /api/verify/*) --------------------------


def handle_get(handler, svc: VerificationService, path: str, q: dict[str, str], page: bytes) -> None:
    if path == "/verify":
        return handler.send(HTTPStatus.OK, page, "text/html; charset=utf-8")
    if path == "/api/verify/state":
        return handler.send_json(HTTPStatus.OK, svc.state())
    if path == "/api/verify/crop":
        return handler.send(
            HTTPStatus.OK, svc.crop(q.get("b", ""), q.get("d", ""), q.get("f", "")), "image/png"
        )
    return handler.deny(HTTPStatus.NOT_FOUND, "not found")


def handle_post(handler, svc: VerificationService, path: str, body: dict) -> None:
    b, d, f = (str(body.get(k, ""))[:200] for k in ("batch_id", "document_id", "field"))
    if path == "/api/verify/next":
        field = svc.next((b, d, f) if b and d and f else None)
        return handler.send_json(HTTPStatus.OK, {"field": field, "state": svc.state()})
    if path == "/api/verify/open":
        return handler.send_json(HTTPStatus.OK, {"field": svc.open(b, d, f)})
    if path == "/api/verify/leave":
        svc.leave(b, d, f)
        return handler.send_json(HTTPStatus.OK, {"ok": True})
    if path == "/api/verify/submit":
        return handler.send_json(HTTPStatus.OK, svc.submit(b, d, f, str(body.get("value", ""))[:200]))
    return handler.deny(HTTPStatus.NOT_FOUND, "not found")
