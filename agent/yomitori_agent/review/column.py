"""Field-by-field review (項目単位): the same field across many documents of the queue, in a
column of crops with their values, for checking one kind of field fast (every phone number of
the batch, say).

It works over :class:`ReviewService` and the same ports: every document in a column is leased
to this reviewer (documents someone else holds, or another window of theirs has open, are left
out and counted), the crops come from the same full-resolution scan, and a decision is stored
through the same domain submission (:func:`yomitori.steps.review.submit_review`) when it settles
the document. A document with other fields still to decide keeps the decision as a draft on the
page and is given back to the queue. My Number fields are not offered: they stay masked and are
revealed, audited, one document at a time.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from yomitori.forms import load_form
from yomitori.forms.schema import FieldType, Sensitivity
from yomitori.results import DocumentResult
from yomitori.store.base import AuditAction, LeaseConflict

from yomitori_agent.review.reasons import explain, reason_text
from yomitori_agent.review.service import (
    NEEDS_PERSON,
    ReviewError,
    ReviewService,
    _date_view,
    _fixed_length,
)

COLUMN_SIZE = 20  # documents leased at once for one column


class ColumnMyNumber(ReviewError):
    code = "column_my_number"
    action = "Review My Numbers document by document (F8 reveals one, audited)."


def _free(svc: ReviewService, window: str | None) -> tuple[list[tuple[str, str]], int]:
    """Queue entries this window may open, and how many others hold (another reviewer, or
    another window of this one)."""
    items = svc.reviews.queue(svc.batch_id)
    with svc._lock:
        free = [(q.batch_id, q.document_id) for q in items if q.leased_by in (None, svc.reviewer)
                and not svc._held_elsewhere((q.batch_id, q.document_id), window)]
    return free, len(items) - len(free)


def _documents(svc: ReviewService, keys: list[tuple[str, str]]) -> list[DocumentResult]:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda k: svc.results.get_document(*k), keys))


def _in_chunks(svc: ReviewService, keys: list[tuple[str, str]], enough, size: int = 16):
    """The documents of ``keys`` read 16 at a time (in parallel), until ``enough()``: a column
    of 20 does not read a batch of hundreds."""
    for i in range(0, len(keys), size):
        if enough():
            return
        yield from _documents(svc, keys[i:i + size])


def column_fields(svc: ReviewService, window: str | None = None) -> dict:
    """The fields that can be reviewed by column, with how many free documents need a person
    on each (form order; My Number fields left out)."""
    free, busy = _free(svc, window)
    docs = _documents(svc, free)
    counts: dict[tuple[str, str], int] = {}
    forms = {}
    for doc in docs:
        forms.setdefault(doc.form_id, load_form(doc.form_id))
        for name, fr in doc.fields.items():
            if fr.status in NEEDS_PERSON:
                counts[(doc.form_id, name)] = counts.get((doc.form_id, name), 0) + 1
    fields = [
        {"form_id": form.id, "name": f.name, "label": f.label, "count": counts[(form.id, f.name)]}
        for form in forms.values() for f in form.fields
        if (form.id, f.name) in counts and f.sensitivity is not Sensitivity.MY_NUMBER
    ]
    return {"fields": fields, "busy": busy}


def column(svc: ReviewService, field_name: str, window: str | None = None, limit: int = COLUMN_SIZE,
           skip: frozenset[str] = frozenset()) -> dict:
    """Lease up to ``limit`` free documents whose ``field_name`` needs a person and return one
    row each: the value, its reasons and suggestion, and the other fields of that document still
    to decide (ids, names, statuses and values of this field only). ``skip`` names documents
    (``batch/document``) whose decision on this field the page keeps as a draft already."""
    free, busy = _free(svc, window)
    free = [k for k in free if f"{k[0]}/{k[1]}" not in skip]
    rows: list[dict] = []
    for doc in _in_chunks(svc, free, lambda: len(rows) >= limit):
        if len(rows) >= limit:
            break
        fr = doc.fields.get(field_name)
        if fr is None or fr.status not in NEEDS_PERSON:
            continue
        form = load_form(doc.form_id)
        f = form.field(field_name)
        if f.sensitivity is Sensitivity.MY_NUMBER:
            raise ColumnMyNumber(f"Field '{field_name}' is a My Number.")
        key = (doc.batch_id, doc.document_id)
        with svc._lock:
            if svc._held_elsewhere(key, window):
                continue
            svc._claim(key, window)
        try:
            svc._lease(*key)
        except LeaseConflict:  # someone took it in the meantime
            with svc._lock:
                svc._windows.pop(key, None)
            busy += 1
            continue
        with svc._lock:
            svc.session.leased.add(key)
            svc._docs[key] = doc
        svc._audit(doc.batch_id, doc.document_id, AuditAction.LEASE)
        others = [n for n, o in doc.fields.items() if n != field_name and o.status in NEEDS_PERSON]
        rows.append({
            "batch_id": doc.batch_id,
            "document_id": doc.document_id,
            "value": fr.value,
            "raw": fr.raw,
            "status": fr.status.value,
            "confidence": round(fr.confidence, 3),
            "reasons": explain(fr.reasons),
            "suggestion": ({"value": fr.suggestion.value, "code": fr.suggestion.reason,
                            "text": reason_text(fr.suggestion.reason)} if fr.suggestion else None),
            "has_box": fr.box is not None,
            "others": others,  # other fields of this document still to decide: the decision waits as a draft
            **(_date_view(fr) if f.type is FieldType.DATE else {}),
        })
    label, ftype, options, length = field_name, "text", [], None
    if rows:
        f = load_form(svc._docs[(rows[0]["batch_id"], rows[0]["document_id"])].form_id).field(field_name)
        label, ftype, length = f.label, f.type.value, _fixed_length(f)
        options = [{"value": o.value, "label": o.label} for o in f.options]
    return {"field": field_name, "label": label, "type": ftype, "options": options, "length": length,
            "rows": rows, "busy": busy}
