"""Double entry (ベリファイ) of the fields a form marks ``verify``: My Numbers, account numbers,
money amounts. A validator cannot catch a confident misread that is still a valid value (an
amount read 20000 -> 20009); a second person typing the field again, blind, does.

* The **first entry** is the field's value after review: the reader's value when it was
  accepted (``first_by`` = ``reader``), or what the reviewer confirmed or typed (their name).
* The **second entry** is typed by a ``verifier`` who sees the crop only, never the read
  value nor the first entry, and who did not make the first entry.
* Equal entries: the field is ``verified``. Different: a **third person** (a supervisor, or a
  verifier who typed neither entry) sees the crop and both entries and decides the value.
* The batch's review gate is released only when every double entry is finished
  (:func:`settle`, called by :func:`yomitori.steps.review._release`), and then the outcome
  (who typed which entry, who decided) is written into the field's result.

The review store holds the tasks (states and names, never a value). A second entry that
differs waits for the decision in the results area beside the document
(:func:`entry_key`); the decision replaces it with the final value. Audit records (VERIFY:
match or mismatch, DECIDE: which entry was kept) carry no value either.

Double entry is switched on by ``YOMITORI_DOUBLE_ENTRY=on`` (it needs people with the
verifier role, see :mod:`yomitori.access`); a form's ``verify`` marks do nothing without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable

from yomitori import settings
from yomitori.access import NotAllowed, Principal, Role
from yomitori.errors import YomitoriError
from yomitori.forms.schema import FormDefinition, Sensitivity
from yomitori.results import DocumentResult, FieldStatus, FieldVerification
from yomitori.store.base import (
    AuditAction,
    AuditRecord,
    GateReleaser,
    LeaseConflict,
    ObjectMissing,
    ResultStore,
    ReviewStore,
    VerifyState,
    VerifyTask,
    utcnow,
)

ENV_DOUBLE_ENTRY = settings.ENV_DOUBLE_ENTRY
READER = "reader"  # the first entry is the reader's value, accepted as it was read
SECOND = "second"  # what a task waits for: a second entry ...
DECIDE = "decide"  # ... or a third person's decision
PURPOSE_VERIFY = "double_entry"  # audited purpose when a verifier or decider sees a My Number


class SamePerson(YomitoriError):
    """The person already typed an entry of this field (or would decide their own mismatch)."""

    code = "same_person"
    status = 403
    action = "Let another verifier do it: the same person can never type both entries."
    message_ja = "同じ人が1回目と2回目の入力（または自分の入力の食い違いの判定）をすることはできません。"


class VerifyNotOpen(YomitoriError):
    """The field is not waiting for what was sent (someone else finished it first)."""

    code = "verify_not_open"
    status = 409
    action = "Go on with the next field."


def enabled() -> bool:
    return os.environ.get(ENV_DOUBLE_ENTRY, "off").strip().lower() in ("on", "1", "true", "yes")


def entry_key(batch_id: str, document_id: str, field: str) -> str:
    """Where a second entry waits for the decision (under the document's prefix, not ``.json``,
    so it is never listed as a document, and purged with the batch)."""
    from yomitori.batch import document_key

    return document_key(batch_id, document_id)[: -len(".json")] + f".{field}.verify"


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
            reviews.update_verification(
                doc.batch_id,
                doc.document_id,
                t.field,
                expect=VerifyState.WAITING,
                state=VerifyState.SKIPPED,
                people={"first_by": reviewer},
            )
            continue
        reviews.update_verification(
            doc.batch_id,
            doc.document_id,
            t.field,
            expect=VerifyState.WAITING,
            state=VerifyState.OPEN,
            people={"first_by": reviewer if t.field in changed else READER},
        )


# -- who may do what ---------------------------------------------------------------------------


def work_for(principal: Principal, task: VerifyTask) -> str | None:
    """What ``principal`` may do on ``task``: ``second``, ``decide`` or None."""
    if task.state is VerifyState.OPEN and principal.has(Role.VERIFIER) and principal.name != task.first_by:
        return SECOND
    if (
        task.state is VerifyState.MISMATCH
        and (principal.has(Role.SUPERVISOR) or principal.has(Role.VERIFIER))
        and principal.name not in (task.first_by, task.second_by)
    ):
        return DECIDE
    return None


def _task(reviews: ReviewStore, batch_id: str, document_id: str, field: str) -> VerifyTask:
    for t in reviews.verifications(batch_id):
        if t.document_id == document_id and t.field == field:
            return t
    raise VerifyNotOpen(f"Field '{field}' of document '{document_id}' has no double entry.")


def _live_lease_of_other(task: VerifyTask, who: str, now: dt.datetime) -> bool:
    return task.leased_by not in (None, who) and task.lease_expires is not None and task.lease_expires > now


def _audit(
    reviews: ReviewStore,
    principal: Principal,
    task: VerifyTask,
    action: AuditAction,
    *,
    role: Role,
    reasons: list[str] | None = None,
    new_status: str | None = None,
    purpose: str | None = None,
    now: dt.datetime | None = None,
) -> None:
    reviews.audit(
        AuditRecord(
            at=now or utcnow(),
            reviewer=principal.name,
            batch_id=task.batch_id,
            document_id=task.document_id,
            field=task.field,
            action=action,
            reasons=reasons or [],
            new_status=new_status,
            role=role.value,
            purpose=purpose,
        )
    )


def check_may(
    reviews: ReviewStore, principal: Principal, task: VerifyTask, want: str, *, now: dt.datetime | None = None
) -> None:
    """Raise unless ``principal`` may do ``want`` (second entry or decision) on ``task`` now:
    NotAllowed without the role, SamePerson (audited as refused) for the person who typed an
    entry already, VerifyNotOpen when the task waits for something else."""
    if want == SECOND:
        principal.require(Role.VERIFIER)
    elif not (principal.has(Role.SUPERVISOR) or principal.has(Role.VERIFIER)):
        raise NotAllowed(f"'{principal.name}' has neither the supervisor nor the verifier role.")
    expected = VerifyState.OPEN if want == SECOND else VerifyState.MISMATCH
    if task.state is not expected:
        raise VerifyNotOpen(f"Field '{task.field}' of document '{task.document_id}' is {task.state.value}.")
    if principal.name in ((task.first_by,) if want == SECOND else (task.first_by, task.second_by)):
        _audit(
            reviews,
            principal,
            task,
            AuditAction.REFUSED,
            reasons=[SamePerson.code],
            role=Role.VERIFIER if want == SECOND else Role.SUPERVISOR,
            now=now,
        )
        raise SamePerson(f"'{principal.name}' typed an entry of field '{task.field}' already.")


# -- the queue -----------------------------------------------------------------------------------


def queue(
    reviews: ReviewStore, principal: Principal, batch_id: str, *, now: dt.datetime | None = None
) -> dict:
    """What is left of the batch's double entry, and what ``principal`` can do of it (ids,
    field names and counts only)."""
    now = now or utcnow()
    tasks = reviews.verifications(batch_id)
    mine = [t for t in tasks if work_for(principal, t) and not _live_lease_of_other(t, principal.name, now)]
    return {
        "open": sum(1 for t in tasks if t.is_open),
        "waiting_review": sum(1 for t in tasks if t.state is VerifyState.WAITING),
        "second": sum(1 for t in mine if t.state is VerifyState.OPEN),
        "decide": sum(1 for t in mine if t.state is VerifyState.MISMATCH),
        "blocked_same_person": sum(
            1 for t in tasks if t.state is VerifyState.OPEN and t.first_by == principal.name
        ),
    }


def lease_next(
    reviews: ReviewStore,
    principal: Principal,
    batch_id: str,
    *,
    seconds: int = 600,
    after: tuple[str, str] | None = None,
    now: dt.datetime | None = None,
) -> VerifyTask | None:
    """Lease the next task ``principal`` can do (decisions first: they hold a batch longest),
    after ``after`` (document, field) in order when given; None when none is left."""
    now = now or utcnow()
    tasks = [
        t
        for t in reviews.verifications(batch_id)
        if work_for(principal, t) and not _live_lease_of_other(t, principal.name, now)
    ]
    if after is not None:
        tasks = [t for t in tasks if (t.document_id, t.field) > after] + [
            t for t in tasks if (t.document_id, t.field) <= after
        ]
    tasks.sort(key=lambda t: t.state is not VerifyState.MISMATCH)  # stable: keeps the order above
    for t in tasks:
        if reviews.lease_verification(
            batch_id, t.document_id, t.field, principal.name, seconds=seconds, now=now
        ):
            return t.model_copy(update={"leased_by": principal.name})
    return None


def _held(
    reviews: ReviewStore,
    principal: Principal,
    batch_id: str,
    document_id: str,
    field: str,
    want: str,
    now: dt.datetime,
) -> VerifyTask:
    task = _task(reviews, batch_id, document_id, field)
    check_may(reviews, principal, task, want, now=now)
    if _live_lease_of_other(task, principal.name, now):
        raise LeaseConflict(f"Field '{field}' of document '{document_id}' is being verified by someone else.")
    return task


def audit_crop_view(
    reviews: ReviewStore,
    principal: Principal,
    form: FormDefinition,
    task: VerifyTask,
    want: str,
    *,
    now: dt.datetime | None = None,
) -> None:
    """A My Number's crop is shown to the verifier or the decider: audited with the purpose."""
    if form.field(task.field).sensitivity is Sensitivity.MY_NUMBER:
        _audit(
            reviews,
            principal,
            task,
            AuditAction.REVEAL_MY_NUMBER,
            purpose=PURPOSE_VERIFY,
            role=Role.VERIFIER if want == SECOND else Role.SUPERVISOR,
            now=now,
        )


# -- the entries ---------------------------------------------------------------------------------


def _typed(form: FormDefinition, field: str, typed: str) -> str:
    from yomitori.steps.review import _normalised

    return _normalised(form, field, typed)


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

    now = now or utcnow()
    task = _held(reviews, principal, batch_id, document_id, field, SECOND, now)
    doc = results.get_document(batch_id, document_id)
    second = _typed(load_form(doc.form_id), field, typed)
    if second == doc.fields[field].value:
        outcome, state = "match", VerifyState.VERIFIED
    else:
        outcome, state = "mismatch", VerifyState.MISMATCH
        results.put_bytes(
            entry_key(batch_id, document_id, field),
            json.dumps({"second": second}).encode(),
            "application/json",
        )
    if not reviews.update_verification(
        batch_id,
        document_id,
        field,
        expect=VerifyState.OPEN,
        state=state,
        people={"second_by": principal.name},
    ):
        raise VerifyNotOpen(f"Field '{field}' of document '{document_id}' was verified by someone else.")
    _audit(
        reviews,
        principal,
        task,
        AuditAction.VERIFY,
        reasons=[outcome],
        new_status=state.value,
        role=Role.VERIFIER,
        now=now,
    )
    return {
        "outcome": outcome,
        "released": release_when_done(
            results, reviews, releaser, batch_id=batch_id, who=principal.name, now=now
        ),
    }


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
    now = now or utcnow()
    _held(reviews, principal, batch_id, document_id, field, DECIDE, now)
    doc = results.get_document(batch_id, document_id)
    return {"first": doc.fields[field].value, "second": _second(results, batch_id, document_id, field)}


def _second(results: ResultStore, batch_id: str, document_id: str, field: str) -> str:
    try:
        return json.loads(results.get_bytes(entry_key(batch_id, document_id, field)))["second"]
    except (ObjectMissing, KeyError):
        return ""


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
    task = _held(reviews, principal, batch_id, document_id, field, DECIDE, now)
    doc = results.get_document(batch_id, document_id)
    form = load_form(doc.form_id)
    applied = apply_corrections(
        form, doc, [Correction(field=field, action="correct", value=value)], today=now.date()
    )
    if field in applied.refused:
        raise ReviewRefused({field: applied.refused[field]})
    final = applied.document.fields[field].value
    second = _second(results, batch_id, document_id, field)
    kept = "first" if final == doc.fields[field].value else "second" if final == second else "other"
    # the decision replaces the second entry: no second value is kept beyond this point
    results.put_bytes(
        entry_key(batch_id, document_id, field), json.dumps({"final": final}).encode(), "application/json"
    )
    if not reviews.update_verification(
        batch_id,
        document_id,
        field,
        expect=VerifyState.MISMATCH,
        state=VerifyState.DECIDED,
        people={"decided_by": principal.name},
    ):
        raise VerifyNotOpen(f"Field '{field}' of document '{document_id}' was decided by someone else.")
    _audit(
        reviews,
        principal,
        task,
        AuditAction.DECIDE,
        reasons=[kept],
        new_status=VerifyState.DECIDED.value,
        role=Role.SUPERVISOR if principal.has(Role.SUPERVISOR) else Role.VERIFIER,
        now=now,
    )
    return {
        "kept": kept,
        "released": release_when_done(
            results, reviews, releaser, batch_id=batch_id, who=principal.name, now=now
        ),
    }


# -- the gate --------------------------------------------------------------------------------------


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
                final = json.loads(results.get_bytes(entry_key(batch_id, document_id, t.field)))["final"]
                if fr.value != final:
                    fr.value, fr.status = final, FieldStatus.CORRECTED
            fr.verification = FieldVerification(
                state=t.state.value, first_by=t.first_by, second_by=t.second_by, decided_by=t.decided_by
            )
        results.put_document(doc)
    return True
