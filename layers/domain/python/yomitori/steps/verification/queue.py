"""What is left of a batch's double entry and who works on which field: leases keep two
people off the same field. Runs in Lambda and the agent."""

from __future__ import annotations

import datetime as dt

from yomitori.access import Principal
from yomitori.steps.verification.rights import check_may, task_of, work_for
from yomitori.store.base import LeaseConflict, ReviewStore, VerifyState, VerifyTask, utcnow


def _leased_by_other(task: VerifyTask, who: str, now: dt.datetime) -> bool:
    return task.leased_by not in (None, who) and task.lease_expires is not None and task.lease_expires > now


def _doable(principal: Principal, tasks: list[VerifyTask], now: dt.datetime) -> list[VerifyTask]:
    # what the person may do and nobody else holds now
    return [t for t in tasks if work_for(principal, t) and not _leased_by_other(t, principal.name, now)]


def queue(
    reviews: ReviewStore, principal: Principal, batch_id: str, *, now: dt.datetime | None = None
) -> dict:
    """What is left of the batch's double entry, and what ``principal`` can do of it (ids,
    field names and counts only)."""
    tasks = reviews.verifications(batch_id)
    mine = _doable(principal, tasks, now or utcnow())
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
    tasks = _doable(principal, reviews.verifications(batch_id), now)
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


def held_task(
    reviews: ReviewStore,
    principal: Principal,
    batch_id: str,
    document_id: str,
    field: str,
    want: str,
    now: dt.datetime,
) -> VerifyTask:
    """The task ``principal`` is about to work on: they may (see :func:`check_may`) and nobody
    else holds its lease (LeaseConflict)."""
    task = task_of(reviews, batch_id, document_id, field)
    check_may(reviews, principal, task, want, now=now)
    if _leased_by_other(task, principal.name, now):
        raise LeaseConflict(f"Field '{field}' of document '{document_id}' is being verified by someone else.")
    return task
