"""Double entry holds the batch's review gate: it is released only when no double entry is
open, and then each outcome is written into its field's result. Runs in Lambda and the agent."""

from __future__ import annotations

import datetime as dt
import json

from yomitori.errors import YomitoriError
from yomitori.results import FieldStatus, FieldVerification
from yomitori.steps.verification.stored import entry_key
from yomitori.store.base import GateReleaser, ResultStore, ReviewStore, VerifyState, VerifyTask


def release_when_done(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    who: str,
    now: dt.datetime | None = None,
) -> bool:
    """Release the gate when no document waits for review and no double entry is open."""
    from yomitori.steps.review import _release

    gate = reviews.get_gate(batch_id)
    if gate is None or gate.released_at is not None or gate.pending:
        return False
    return _release(reviews, releaser, batch_id, who, now=now, results=results)


def settle(results: ResultStore | None, reviews: ReviewStore, batch_id: str) -> bool:
    """Before the gate is released: False while a double entry is open (the gate waits);
    else write each outcome into its field's result (a decided value replaces the first
    entry) and return True. Idempotent: whoever releases writes the same results."""
    tasks = reviews.verifications(batch_id)
    if not tasks:
        return True
    if any(t.is_open for t in tasks):
        return False
    if results is None:
        raise YomitoriError("Double entry is finished but the results store was not given to settle it.")
    by_doc: dict[str, list[VerifyTask]] = {}
    for t in tasks:
        by_doc.setdefault(t.document_id, []).append(t)
    for document_id, ts in by_doc.items():
        doc = results.get_document(batch_id, document_id)
        for t in ts:
            fr = doc.fields.get(t.field)
            if fr is None:
                continue
            if t.state is VerifyState.DECIDED:
                # strict on purpose: a decided field without its final value must not settle
                final = json.loads(results.get_bytes(entry_key(batch_id, document_id, t.field)))["final"]
                if fr.value != final:
                    fr.value, fr.status = final, FieldStatus.CORRECTED
            fr.verification = FieldVerification(
                state=t.state.value, first_by=t.first_by, second_by=t.second_by, decided_by=t.decided_by
            )
        results.put_document(doc)
    return True
