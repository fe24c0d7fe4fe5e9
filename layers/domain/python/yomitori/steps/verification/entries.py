"""The second entry (blind) and the third person's decision of a mismatch. Runs in Lambda
and the agent."""

from __future__ import annotations

import datetime as dt

from yomitori.access import Principal, Role
from yomitori.steps.verification.gate import release_when_done
from yomitori.steps.verification.queue import held_task
from yomitori.steps.verification.rights import DECIDE, SECOND, VerifyNotOpen, audit
from yomitori.steps.verification.stored import put_entry, read_entry
from yomitori.store.base import (
    AuditAction,
    GateReleaser,
    ResultStore,
    ReviewStore,
    VerifyState,
    VerifyTask,
    utcnow,
)


def _finish(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    principal: Principal,
    task: VerifyTask,
    *,
    expect: VerifyState,
    state: VerifyState,
    action: AuditAction,
    outcome: str,
    role: Role,
    now: dt.datetime,
) -> bool:
    """Move ``task`` from ``expect`` to ``state`` under ``principal``'s name, audit the outcome
    (never a value) and release the gate when this was the last thing it waited for.
    VerifyNotOpen when someone else got there first (the store lets one of them win)."""
    person, done = ("second_by", "verified") if expect is VerifyState.OPEN else ("decided_by", "decided")
    if not reviews.update_verification(
        task.batch_id,
        task.document_id,
        task.field,
        expect=expect,
        state=state,
        people={person: principal.name},
    ):
        raise VerifyNotOpen(
            f"Field '{task.field}' of document '{task.document_id}' was {done} by someone else."
        )
    audit(reviews, principal, task, action, reasons=[outcome], new_status=state.value, role=role, now=now)
    return release_when_done(results, reviews, releaser, batch_id=task.batch_id, who=principal.name, now=now)


def second_entry(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    principal: Principal,
    batch_id: str,
    document_id: str,
    field: str,
    typed: str,
    now: dt.datetime | None = None,
) -> dict:
    """Store the blind second entry of ``field``: equal to the first -> ``verified``, else
    ``mismatch`` (waits for a third person). Returns ``{"outcome": "match"|"mismatch",
    "released"}``: never a value."""
    from yomitori.forms import load_form
    from yomitori.steps.review import _normalised

    now = now or utcnow()
    task = held_task(reviews, principal, batch_id, document_id, field, SECOND, now)
    doc = results.get_document(batch_id, document_id)
    second = _normalised(load_form(doc.form_id), field, typed)
    if second == doc.fields[field].value:
        outcome, state = "match", VerifyState.VERIFIED
    else:
        outcome, state = "mismatch", VerifyState.MISMATCH
        put_entry(results, task, {"second": second})
    released = _finish(
        results,
        reviews,
        releaser,
        principal,
        task,
        expect=VerifyState.OPEN,
        state=state,
        action=AuditAction.VERIFY,
        outcome=outcome,
        role=Role.VERIFIER,
        now=now,
    )
    return {"outcome": outcome, "released": released}


def both_entries(
    results: ResultStore,
    reviews: ReviewStore,
    *,
    principal: Principal,
    batch_id: str,
    document_id: str,
    field: str,
    now: dt.datetime | None = None,
) -> dict:
    """For the third person only: the two entries of a mismatch (``{"first", "second"}``)."""
    task = held_task(reviews, principal, batch_id, document_id, field, DECIDE, now or utcnow())
    doc = results.get_document(batch_id, document_id)
    return {"first": doc.fields[field].value, "second": read_entry(results, task, "second")}


def decide(
    results: ResultStore,
    reviews: ReviewStore,
    releaser: GateReleaser,
    *,
    principal: Principal,
    batch_id: str,
    document_id: str,
    field: str,
    value: str,
    now: dt.datetime | None = None,
) -> dict:
    """A third person's value for a mismatch (one of the entries, or another one they read on
    the crop); validated like a correction (:class:`~yomitori.steps.review.ReviewRefused` when
    invalid). Returns ``{"kept": "first"|"second"|"other", "released"}``."""
    from yomitori.forms import load_form
    from yomitori.steps.review import Correction, ReviewRefused, apply_corrections

    now = now or utcnow()
    task = held_task(reviews, principal, batch_id, document_id, field, DECIDE, now)
    doc = results.get_document(batch_id, document_id)
    correction = Correction(field=field, action="correct", value=value)
    applied = apply_corrections(load_form(doc.form_id), doc, [correction], today=now.date())
    if field in applied.refused:
        raise ReviewRefused({field: applied.refused[field]})
    final = applied.document.fields[field].value
    second = read_entry(results, task, "second")
    kept = "first" if final == doc.fields[field].value else "second" if final == second else "other"
    put_entry(results, task, {"final": final})  # replaces the second entry
    released = _finish(
        results,
        reviews,
        releaser,
        principal,
        task,
        expect=VerifyState.MISMATCH,
        state=VerifyState.DECIDED,
        action=AuditAction.DECIDE,
        outcome=kept,
        role=Role.SUPERVISOR if principal.has(Role.SUPERVISOR) else Role.VERIFIER,
        now=now,
    )
    return {"kept": kept, "released": released}
