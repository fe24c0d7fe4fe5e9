"""Who may do what in double entry: a verifier types a second entry of a field whose first
entry is not theirs; a supervisor or a verifier who typed neither entry decides a mismatch.
Refusals of the same person are audited. Runs in Lambda and the agent."""

from __future__ import annotations

import datetime as dt

from yomitori.access import NotAllowed, Principal, Role
from yomitori.errors import YomitoriError
from yomitori.forms.schema import FormDefinition, Sensitivity
from yomitori.store.base import AuditAction, AuditRecord, ReviewStore, VerifyState, VerifyTask, utcnow

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


def may_verify_or_decide(principal: Principal) -> bool:
    """Whether ``principal`` has a role that takes part in double entry at all."""
    return principal.has(Role.SUPERVISOR) or principal.has(Role.VERIFIER)


def work_for(principal: Principal, task: VerifyTask) -> str | None:
    """What ``principal`` may do on ``task``: ``second``, ``decide`` or None."""
    if task.state is VerifyState.OPEN and principal.has(Role.VERIFIER) and principal.name != task.first_by:
        return SECOND
    if (
        task.state is VerifyState.MISMATCH
        and may_verify_or_decide(principal)
        and principal.name not in (task.first_by, task.second_by)
    ):
        return DECIDE
    return None


def find_task(reviews: ReviewStore, batch_id: str, document_id: str, field: str) -> VerifyTask | None:
    """The double-entry task of one field, or None when the field has none."""
    return next(
        (t for t in reviews.verifications(batch_id) if t.document_id == document_id and t.field == field),
        None,
    )


def task_of(reviews: ReviewStore, batch_id: str, document_id: str, field: str) -> VerifyTask:
    """Like :func:`find_task`, raising VerifyNotOpen when the field has no double entry."""
    task = find_task(reviews, batch_id, document_id, field)
    if task is None:
        raise VerifyNotOpen(f"Field '{field}' of document '{document_id}' has no double entry.")
    return task


def audit(
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
    """One audit record of double entry on ``task`` (names and outcomes, never a value)."""
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


def _audited_role(want: str) -> Role:
    # the role a refusal or a crop view is audited under (a decision is a supervisor's job)
    return Role.VERIFIER if want == SECOND else Role.SUPERVISOR


def check_may(
    reviews: ReviewStore, principal: Principal, task: VerifyTask, want: str, *, now: dt.datetime | None = None
) -> None:
    """Raise unless ``principal`` may do ``want`` (second entry or decision) on ``task`` now:
    NotAllowed without the role, SamePerson (audited as refused) for the person who typed an
    entry already, VerifyNotOpen when the task waits for something else."""
    if want == SECOND:
        principal.require(Role.VERIFIER)
    elif not may_verify_or_decide(principal):
        raise NotAllowed(f"'{principal.name}' has neither the supervisor nor the verifier role.")
    expected = VerifyState.OPEN if want == SECOND else VerifyState.MISMATCH
    if task.state is not expected:
        raise VerifyNotOpen(f"Field '{task.field}' of document '{task.document_id}' is {task.state.value}.")
    if principal.name in ((task.first_by,) if want == SECOND else (task.first_by, task.second_by)):
        audit(
            reviews,
            principal,
            task,
            AuditAction.REFUSED,
            reasons=[SamePerson.code],
            role=_audited_role(want),
            now=now,
        )
        raise SamePerson(f"'{principal.name}' typed an entry of field '{task.field}' already.")


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
        audit(
            reviews,
            principal,
            task,
            AuditAction.REVEAL_MY_NUMBER,
            purpose=PURPOSE_VERIFY,
            role=_audited_role(want),
            now=now,
        )
