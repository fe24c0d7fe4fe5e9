"""A submitted document opened again until the batch is released (issue 18 part 4), over the
real one-machine stores."""

from __future__ import annotations

import datetime as dt

import pytest

from tests.support.review_service import review_service
from tests.unit.test_review_server import MY_NUMBER, stores  # noqa: F401


def _service(stores, reviewer="os:alice"):  # noqa: F811
    results, reviews, releaser, batch = stores
    return review_service(results, reviews, releaser, reviewer, batch), batch


def _settle(phone="0312345678"):
    return [{"field": "my_number", "action": "confirm"},
            {"field": "phone", "action": "correct", "value": phone}]


def test_a_submitted_document_can_be_opened_again_and_corrected_until_the_batch_is_released(stores):  # noqa: F811
    from yomitori.store.base import AuditAction

    results, reviews, releaser, batch = stores
    svc, _ = _service(stores)
    # Given doc-0001 submitted (doc-0002 still waits)
    svc.open(batch, "doc-0001")
    assert svc.submit(batch, "doc-0001", _settle())["ok"]
    assert svc.queue()["submitted"] == [{"batch_id": batch, "document_id": "doc-0001"}]
    # When the clerk opens it again
    view = svc.reopen(batch, "doc-0001")
    # Then it is theirs again, waiting, with the fields a person decided shown to check
    assert [q.document_id for q in reviews.queue(batch)] == ["doc-0001", "doc-0002"]
    assert {q.document_id: q.leased_by for q in reviews.queue(batch)}["doc-0001"] == "os:alice"
    shown = {f["name"]: f for f in view["fields"]}
    assert shown["phone"]["needs_person"] and shown["phone"]["reviewed"]
    assert shown["phone"]["value"] == "0312345678"
    assert shown["my_number"]["masked"] and MY_NUMBER not in str(view)
    assert not shown["name"]["needs_person"]
    # and another reviewer cannot take it meanwhile
    bob, _ = _service(stores, "os:bob")
    from yomitori.store import LeaseConflict

    with pytest.raises(LeaseConflict):
        bob.open(batch, "doc-0001")
    # When they correct the phone again and submit, Then the new value is stored, the gate waits on
    out = svc.submit(batch, "doc-0001", [{"field": "phone", "action": "correct", "value": "0312345679"}])
    assert out["ok"] and not out["released"]
    assert results.get_document(batch, "doc-0001").fields["phone"].value == "0312345679"
    assert results.get_document(batch, "doc-0001").fields["my_number"].status.value == "corrected"
    # and the trail says who reopened it, never a value
    trail = reviews.audit_trail(batch)
    reopened = [(r.reviewer, r.document_id) for r in trail if r.action is AuditAction.REOPEN]
    assert reopened == [("os:alice", "doc-0001")]
    assert "0312345679" not in str([r.model_dump() for r in trail])
    # When the last document is submitted, Then the batch is released and nothing can be reopened
    svc.open(batch, "doc-0002")
    assert svc.submit(batch, "doc-0002", _settle())["released"]
    assert svc.queue()["submitted"] == []
    from yomitori.store.base import GateMissing

    with pytest.raises(GateMissing):
        svc.reopen(batch, "doc-0001")


def test_the_store_reopens_only_done_or_free_documents_of_a_waiting_batch(tmp_path):
    from yomitori.store import LeaseConflict, SqliteReviewStore
    from yomitori.store.base import GateMissing

    reviews = SqliteReviewStore(tmp_path / "r.db")
    reviews.open_gate("b1", "t1", ["d1", "d2"])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    reviews.lease("b1", "alice", document_id="d1", now=t0)
    reviews.complete("b1", "d1", "alice", now=t0)
    # a done document comes back pending, leased to who reopened it
    lease = reviews.reopen("b1", "d1", "bob", seconds=60, now=t0)
    assert lease.reviewer == "bob" and reviews.get_gate("b1").pending == ["d1", "d2"]
    # a pending document someone else holds is not taken; an unknown one is refused
    with pytest.raises(LeaseConflict):
        reviews.reopen("b1", "d1", "alice", now=t0 + dt.timedelta(seconds=30))
    with pytest.raises(LeaseConflict):
        reviews.reopen("b1", "nope", "alice", now=t0)
    reviews.mark_released("b1")
    with pytest.raises(GateMissing):
        reviews.reopen("b1", "d1", "bob", now=t0)
