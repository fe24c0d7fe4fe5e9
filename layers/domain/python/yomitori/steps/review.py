"""The review gate and corrections, shared by the ``review`` Lambda and the agent's local
review page (one machine, SQLite store). Runs in both.

* :func:`open_review_gate` records the gate (task token + documents needing a person).
* :func:`apply_corrections` applies what a reviewer typed to a document and validates again
  (the same routing as the pipeline); an invalid correction is refused with reason codes.
* :func:`submit_review` stores accepted corrections, audits them (who, when, field, status,
  never values), completes the document, and releases the gate when nothing is left.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from yomitori.errors import YomitoriError
from yomitori.forms.schema import FieldType, FormDefinition
from yomitori.results import DocumentResult, FieldStatus
from yomitori.steps import verification  # imports this module lazily only, so no cycle
from yomitori.store.base import (
    AuditAction,
    AuditRecord,
    GateMissing,
    GateReleaser,
    Lease,
    ResultStore,
    ReviewStore,
    utcnow,
)

UNKNOWN_FIELD = "unknown_field"
NOT_SETTLED = "not_settled"  # a field that needs a person was left out of the submission
ILLEGIBLE = "illegible"
DATE_NOT_NORMALISED = "date_not_normalised"
SUGGESTION_SOURCE_CHANGED = "suggestion_source_changed"  # a field the suggestion came from was changed


class ReviewRefused(YomitoriError):
    """A submission was not stored; ``refused`` maps field names to reason codes."""

    code = "correction_refused"
    action = "Fix the fields listed and submit again."

    def __init__(self, refused: Mapping[str, list[str]]):
        super().__init__(f"Corrections refused for fields: {', '.join(sorted(refused))}.")
        self.refused = dict(refused)


class Correction(BaseModel):
    """One field settled by a reviewer. ``value`` is what they typed (normalised here)."""

    model_config = ConfigDict(extra="forbid")

    field: str
    action: Literal["correct", "confirm", "illegible"] = "correct"
    value: str | None = None
    reason: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,40}$")  # code, for illegible
    suggestion: bool = False  # the value is the suggestion the page showed (F2)
    era: str | None = Field(default=None, max_length=4)  # for a date typed without its era (8/9/8)


@dataclass
class Applied:
    document: DocumentResult
    changed: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # field -> (old, new, action)
    refused: dict[str, list[str]] = field(default_factory=dict)


def _normalised(form: FormDefinition, name: str, value: str, era: str | None = None) -> str:
    from yomitori.normalise import normalise_value

    f = form.field(name)
    if f.type is FieldType.DATE:
        # 令和8年9月8日, R8.9.8, 8/9/8 (with the era chosen), 2026年9月8日 -> ISO; an era year
        # outside its era (平成32年) stays as typed and is refused below
        from yomitori.validation.dates import read_typed_date

        parsed = read_typed_date(value, era)
        if parsed is not None and not parsed.era_problem:
            return parsed.date.isoformat()
        return value.strip()
    if f.type is FieldType.CHECKBOX:
        return "true" if value.strip().lower() in ("true", "1", "yes", "on", "✓") else "false"
    return normalise_value(f.type, value, f.charset)


def apply_corrections(
    form: FormDefinition,
    doc: DocumentResult,
    corrections: list[Correction],
    *,
    thresholds: Mapping[str, float] | None = None,
    today: dt.date | None = None,
) -> Applied:
    """A copy of ``doc`` with ``corrections`` applied and routed again. Corrected and confirmed
    fields become ``corrected`` unless a validator finds them invalid (then they are refused);
    ``illegible`` fields keep a reason code. Fields that still need a person and were not in
    the submission are refused as ``not_settled``. ``doc`` itself is not changed."""
    from yomitori.validation import route_document

    new = doc.model_copy(deep=True)
    out = Applied(document=new)
    names = {f.name for f in form.fields}
    for c in corrections:
        fr = new.fields.get(c.field)
        if c.field not in names or fr is None:
            out.refused[c.field] = [UNKNOWN_FIELD]
            continue
        old = fr.status.value
        if c.action == "illegible":
            fr.value, fr.status, fr.reasons, fr.suggestion = (
                "",
                FieldStatus.ILLEGIBLE,
                [c.reason or ILLEGIBLE],
                None,
            )
            out.changed[c.field] = (old, FieldStatus.ILLEGIBLE.value, AuditAction.ILLEGIBLE.value)
            continue
        if c.action == "correct":
            fr.value = _normalised(form, c.field, c.value or "", c.era)
        fr.confidence, fr.status = 1.0, FieldStatus.NEEDS_REVIEW  # a person read it: route on validators only
        out.changed[c.field] = (old, "", AuditAction.CORRECT.value if c.action == "correct" else "confirm")
    for c in corrections:
        if c.suggestion and c.field not in out.refused and not _suggestion_still_holds(doc, new, c.field):
            out.refused[c.field] = [SUGGESTION_SOURCE_CHANGED]
    route_document(form, new, thresholds=thresholds, today=today)
    for name, (old, _, action) in list(out.changed.items()):
        if name in out.refused:
            continue
        fr = new.fields[name]
        if fr.status is FieldStatus.ILLEGIBLE:
            continue
        if fr.status is FieldStatus.INVALID:
            out.refused[name] = list(fr.reasons)
            continue
        if DATE_NOT_NORMALISED in fr.reasons:  # a typed date that is none of the accepted forms
            out.refused[name] = [r for r in fr.reasons if r != "low_confidence"]
            continue
        fr.status = FieldStatus.CORRECTED
        out.changed[name] = (old, FieldStatus.CORRECTED.value, action)
    for name, fr in new.fields.items():
        if name not in out.changed and fr.status in (FieldStatus.NEEDS_REVIEW, FieldStatus.INVALID):
            out.refused.setdefault(name, [NOT_SETTLED])
    return out


def _suggestion_still_holds(before: DocumentResult, after: DocumentResult, name: str) -> bool:
    """The stored suggestion of ``name`` is the value submitted, and every field it was derived
    from still has the value it had when the suggestion was made."""
    sug = before.fields[name].suggestion
    if sug is None or after.fields[name].value != sug.value:
        return False
    return all(
        src in before.fields and src in after.fields and before.fields[src].value == after.fields[src].value
        for src in sug.sources
    )


def open_review_gate(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    task_token: str,
    now: dt.datetime | None = None,
) -> dict:
    """Record the gate of ``batch_id``: its task token and the documents that need a person.
    When none does, release the gate at once. Returns ids and counts only. Idempotent."""
    from concurrent.futures import ThreadPoolExecutor

    # a batch holds hundreds of documents: read them in parallel (store clients are thread-safe)
    with ThreadPoolExecutor(max_workers=8) as pool:
        docs = list(pool.map(lambda d: results.get_document(batch_id, d), results.list_documents(batch_id)))
    form_id = next((d.form_id for d in docs if d.form_id), None)
    needing = [d.document_id for d in docs if d.ok and d.needs_person]
    if verification.enabled():  # double entry (ベリファイ): recorded before the gate can release
        verification.plan(reviews, docs, now=now)
    gate = reviews.open_gate(batch_id, task_token, needing, form_id=form_id, now=now)
    released = False
    if not gate.pending:
        released = _release(reviews, releaser, batch_id, "system", now=now, results=results)
    return {"batch_id": batch_id, "needs_review": len(gate.pending), "released": released}


def _release(
    reviews: ReviewStore,
    releaser: GateReleaser,
    batch_id: str,
    who: str,
    *,
    now: dt.datetime | None = None,
    results: ResultStore | None = None,
    role: str | None = None,
) -> bool:
    gate = reviews.get_gate(batch_id)
    if gate is None:
        raise GateMissing(f"Batch '{batch_id}' has no review gate.")
    if gate.released_at is not None:
        return False  # already released (a retry): SendTaskSuccess only once
    if not verification.settle(results, reviews, batch_id):
        return False  # a double entry is still open: the gate waits for it
    releaser.release(gate.task_token, {"batch_id": batch_id, "reviewed": len(gate.done)})
    reviews.mark_released(batch_id, now=now)
    reviews.audit(
        AuditRecord(
            at=now or utcnow(),
            reviewer=who,
            batch_id=batch_id,
            document_id="-",
            action=AuditAction.RELEASE_GATE,
            role=role,
        )
    )
    return True


def submit_review(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    document_id: str,
    reviewer: str,
    corrections: list[Correction],
    thresholds: Mapping[str, float] | None = None,
    now: dt.datetime | None = None,
    role: str | None = None,
) -> dict:
    """Store a reviewer's corrections for one leased document. Raises :class:`ReviewRefused`
    (nothing stored; the refusal is audited with reason codes) when a correction is invalid
    or a field is left unsettled, :class:`~yomitori.store.LeaseConflict` when the reviewer does
    not hold the document. Releases the gate when it was the last document.
    Returns ids and counts: ``{"batch_id", "document_id", "corrected", "held", "remaining",
    "released"}`` (``held``: field name -> reason code of the fields held for follow-up).
    ``role`` is the role the reviewer acted in (audited with each record)."""
    from yomitori.forms import load_form

    now = now or utcnow()
    gate = reviews.get_gate(batch_id)
    if gate is None or gate.released_at is not None:
        raise GateMissing(f"Batch '{batch_id}' is not waiting for review.")
    if document_id not in gate.pending:
        raise ReviewRefused({"-": ["document_not_pending"]})
    # the lease check happens in complete(); refuse early too, before anything is written
    lease_holder = next(
        (q.leased_by for q in reviews.queue(batch_id, now=now) if q.document_id == document_id), None
    )
    if lease_holder != reviewer:
        from yomitori.store.base import LeaseConflict

        raise LeaseConflict(
            f"Document '{document_id}' is not leased to you.",
            action="Lease the document again before submitting.",
        )
    doc = results.get_document(batch_id, document_id)
    applied = apply_corrections(
        load_form(doc.form_id), doc, corrections, thresholds=thresholds, today=now.date()
    )
    if applied.refused:
        reviews.audit_many([
            AuditRecord(
                at=now,
                reviewer=reviewer,
                batch_id=batch_id,
                document_id=document_id,
                field=name,
                action=AuditAction.REFUSED,
                reasons=reasons,
                role=role,
            )
            for name, reasons in sorted(applied.refused.items())
        ])
        raise ReviewRefused(applied.refused)
    results.put_document(applied.document)
    reviews.audit_many([
        AuditRecord(
            at=now,
            reviewer=reviewer,
            batch_id=batch_id,
            document_id=document_id,
            field=name,
            old_status=old,
            new_status=new,
            action=AuditAction(action),
            role=role,
        )
        for name, (old, new, action) in sorted(applied.changed.items())
    ])
    verification.after_review(reviews, applied.document, applied.changed, reviewer)  # first entries
    remaining = reviews.complete(batch_id, document_id, reviewer, now=now)
    reviews.audit(
        AuditRecord(
            at=now, reviewer=reviewer, batch_id=batch_id, document_id=document_id,
            action=AuditAction.COMPLETE, role=role,
        )
    )
    released = (
        _release(reviews, releaser, batch_id, reviewer, now=now, results=results, role=role)
        if not remaining
        else False
    )
    return {
        "batch_id": batch_id,
        "document_id": document_id,
        "corrected": len(applied.changed),
        "held": applied.document.held(),  # field -> reason code (no values): to follow up
        "remaining": len(remaining),
        "released": released,
    }


def reveal_my_number(
    reviews: ReviewStore,
    *,
    batch_id: str,
    document_id: str,
    field_name: str,
    reviewer: str,
    now: dt.datetime | None = None,
    role: str | None = None,
    purpose: str | None = None,
) -> None:
    """Audit that ``reviewer`` unmasked a My Number field (the review page calls this before
    showing it), in ``role`` and for ``purpose`` (a code from the configured list). The
    record names the field, never the number."""
    reviews.audit(
        AuditRecord(
            at=now or utcnow(),
            reviewer=reviewer,
            batch_id=batch_id,
            document_id=document_id,
            field=field_name,
            action=AuditAction.REVEAL_MY_NUMBER,
            role=role,
            purpose=purpose,
        )
    )


def keep_gate_alive(reviews: ReviewStore, releaser: GateReleaser, *, batch_id: str) -> None:
    """Send the gate's heartbeat while a person works on ``batch_id`` (called whenever a
    document is leased or a lease renewed), so only an abandoned review runs into
    ``review_heartbeat_hours``. GateMissing when the batch no longer waits for review."""
    gate = reviews.get_gate(batch_id)
    if gate is None or gate.released_at is not None:
        raise GateMissing(f"Batch '{batch_id}' is not waiting for review.")
    releaser.heartbeat(gate.task_token)


def lease_document(
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    reviewer: str,
    document_id: str | None = None,
    seconds: int = 900,
) -> Lease | None:
    """Lease ``document_id`` (or the next free one) to ``reviewer`` (see
    :meth:`ReviewStore.lease`), or renew the lease; each time, the gate hears a heartbeat
    (:func:`keep_gate_alive`), because a person is at work on the batch."""
    keep_gate_alive(reviews, releaser, batch_id=batch_id)
    return reviews.lease(batch_id, reviewer, document_id=document_id, seconds=seconds)


def reopen_document(
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    document_id: str,
    reviewer: str,
    seconds: int = 900,
    now: dt.datetime | None = None,
) -> Lease:
    """Open a submitted document again, leased to ``reviewer``, while its batch is not released
    (:meth:`ReviewStore.reopen`); audited as ``reopen``. The stored result stays as submitted
    until the document is submitted again (the gate waits for it again meanwhile)."""
    keep_gate_alive(reviews, releaser, batch_id=batch_id)
    lease = reviews.reopen(batch_id, document_id, reviewer, seconds=seconds, now=now)
    reviews.audit(
        AuditRecord(
            at=now or utcnow(), reviewer=reviewer, batch_id=batch_id, document_id=document_id,
            action=AuditAction.REOPEN,
        )
    )
    return lease


def release_if_done(
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    batch_id: str,
    who: str,
    now: dt.datetime | None = None,
    results: ResultStore | None = None,
) -> bool:
    """Release the gate if no document is left and no double entry is open (the review
    page's "batch done" button)."""
    if reviews.remaining(batch_id):
        return False
    return _release(reviews, releaser, batch_id, who, now=now, results=results)
