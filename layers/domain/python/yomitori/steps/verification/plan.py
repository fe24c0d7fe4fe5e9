"""Which fields of a document need a second entry, and when their tasks open (after the
document's review, or at once when no person must review it). Runs in Lambda and the agent."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable

from yomitori import settings
from yomitori.forms.schema import FormDefinition
from yomitori.results import DocumentResult, FieldStatus
from yomitori.store.base import ReviewStore, VerifyState, VerifyTask

ENV_DOUBLE_ENTRY = settings.ENV_DOUBLE_ENTRY
READER = "reader"  # the first entry is the reader's value, accepted as it was read


def enabled() -> bool:
    """Whether double entry is switched on (``YOMITORI_DOUBLE_ENTRY``); off by default."""
    return os.environ.get(ENV_DOUBLE_ENTRY, "off").strip().lower() in ("on", "1", "true", "yes")


def fields_to_verify(form: FormDefinition, doc: DocumentResult) -> list[str]:
    """The fields of ``doc`` to type a second time: ``verify: double``, or ``verify: below T``
    read with a confidence below T (the reader's confidence, before any review)."""
    out = []
    for f in form.fields:
        fr = doc.fields.get(f.name)
        if f.verify is None or fr is None or fr.status is FieldStatus.ILLEGIBLE:
            continue
        if f.verify.applies(fr.confidence):
            out.append(f.name)
    return out


def plan(reviews: ReviewStore, docs: Iterable[DocumentResult], *, now: dt.datetime | None = None) -> int:
    """Record the double-entry tasks of a batch when its gate opens: open at once for a
    document no person must review (the first entry is the reader's), waiting for the review
    otherwise. Returns how many. Idempotent."""
    from yomitori.forms import load_form

    tasks = []
    for doc in docs:
        if not doc.ok or not doc.form_id:
            continue
        waiting = doc.needs_person
        for name in fields_to_verify(load_form(doc.form_id), doc):
            tasks.append(
                VerifyTask(
                    batch_id=doc.batch_id,
                    document_id=doc.document_id,
                    field=name,
                    state=VerifyState.WAITING if waiting else VerifyState.OPEN,
                    first_by=None if waiting else READER,
                )
            )
    if tasks:
        reviews.add_verifications(tasks, now=now)
    return len(tasks)


def after_review(reviews: ReviewStore, doc: DocumentResult, changed: Iterable[str], reviewer: str) -> None:
    """The document's review was stored: its waiting tasks open, the first entry being the
    reviewer's for the fields they confirmed or corrected and the reader's for the others; a
    field the reviewer held (判読不能 ...) has nothing to verify."""
    changed = set(changed)
    for t in reviews.verifications(doc.batch_id):
        if t.document_id != doc.document_id or t.state is not VerifyState.WAITING:
            continue
        fr = doc.fields.get(t.field)
        if fr is None or fr.status is FieldStatus.ILLEGIBLE:
            state, first_by = VerifyState.SKIPPED, reviewer
        else:
            state, first_by = VerifyState.OPEN, reviewer if t.field in changed else READER
        reviews.update_verification(
            doc.batch_id,
            doc.document_id,
            t.field,
            expect=VerifyState.WAITING,
            state=state,
            people={"first_by": first_by},
        )
