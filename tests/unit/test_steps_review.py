"""The review step on one machine: real SQLite review store and a folder result store.
Corrections are normalised and validated again (invalid ones refused with reason codes),
leases are exclusive even across threads, and the gate is released once, by the last
submission, through the local GateReleaser callback."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.steps.review import (
    Correction,
    ReviewRefused,
    apply_corrections,
    open_review_gate,
    submit_review,
)
from yomitori.store import LeaseConflict, LocalGateReleaser, LocalResultStore, SqliteReviewStore
from yomitori.validation import route_document

VALUES = {
    "address": "東京都千代田区千代田1-1",
    "name": "山田 太郎",
    "phone": "03-1234-5678",
    "stop_date": "2026-04-01",
    "settlement": "口座振替",
    "new_postal_code": "",
    "new_address": "",
    "application_date": "2026-03-20",
}
TODAY = dt.date(2026, 3, 25)


def document(batch_id: str, doc_id: str, unsure: tuple[str, ...] = ()) -> DocumentResult:
    doc = DocumentResult(
        batch_id=batch_id,
        document_id=doc_id,
        source=f"{doc_id}.png",
        form_id="water_stop",
        fields={
            # 1.0: water_stop sends every name to a person below that (no フリガナ to check it)
            k: FieldResult(value=v, raw=v, confidence=0.3 if k in unsure else 1.0) for k, v in VALUES.items()
        },
    )
    return route_document(load_form("water_stop"), doc, today=TODAY)


@pytest.fixture
def stores(tmp_path):
    released: list[tuple[str, dict]] = []
    return (
        LocalResultStore(tmp_path / "store"),
        SqliteReviewStore(tmp_path / "review.db"),
        LocalGateReleaser(lambda token, out: released.append((token, out))),
        released,
    )


def test_a_typed_correction_is_normalised_and_marked_corrected():
    # Given a document whose phone was read unsure
    doc = document("b-001", "d1", unsure=("phone",))
    assert doc.fields["phone"].status is FieldStatus.NEEDS_REVIEW
    # When a reviewer types it with full-width digits and a long dash
    applied = apply_corrections(
        load_form("water_stop"),
        doc,
        [Correction(field="phone", value="０３ー９８７６ー５４３２")],
        today=TODAY,
    )
    # Then it is stored normalised, corrected, and nothing is refused; the input is untouched
    assert applied.refused == {}
    assert applied.document.fields["phone"].value == "03-9876-5432"
    assert applied.document.fields["phone"].status is FieldStatus.CORRECTED
    assert doc.fields["phone"].value == "03-1234-5678"


def test_an_invalid_correction_is_refused_with_the_validators_reason_codes():
    # Given a document with an unsure phone, When the reviewer types an impossible number
    doc = document("b-001", "d1", unsure=("phone",))
    applied = apply_corrections(
        load_form("water_stop"), doc, [Correction(field="phone", value="12")], today=TODAY
    )
    # Then it is refused with reason codes, never the value
    assert list(applied.refused) == ["phone"] and applied.refused["phone"]
    assert all("12" not in code for code in applied.refused["phone"])


def test_fields_left_unsettled_and_unknown_fields_are_refused():
    doc = document("b-001", "d1", unsure=("phone", "name"))
    applied = apply_corrections(
        load_form("water_stop"),
        doc,
        [Correction(field="phone", action="confirm"), Correction(field="nickname", value="x")],
        today=TODAY,
    )
    assert applied.refused == {"name": ["not_settled"], "nickname": ["unknown_field"]}


def test_illegible_keeps_a_reason_and_empties_the_value():
    doc = document("b-001", "d1", unsure=("name",))
    applied = apply_corrections(
        load_form("water_stop"),
        doc,
        [Correction(field="name", action="illegible", reason="smudged")],
        today=TODAY,
    )
    f = applied.document.fields["name"]
    assert (f.status, f.value, f.reasons) == (FieldStatus.ILLEGIBLE, "", ["smudged"])


def test_one_machine_round_trip_releases_the_gate_once_after_the_last_document(stores):
    # Given two documents needing review and one accepted, at the gate
    results, reviews, releaser, released = stores
    for doc in (
        document("b-001", "d1", ("phone",)),
        document("b-001", "d2", ("name",)),
        document("b-001", "d3"),
    ):
        results.put_document(doc)
    gate = open_review_gate(results, reviews, releaser, batch_id="b-001", task_token="tok")
    assert gate == {"batch_id": "b-001", "needs_review": 2, "released": False}
    # When each is leased and submitted
    assert reviews.lease("b-001", "alice", document_id="d1")
    with pytest.raises(ReviewRefused):  # an invalid value first: refused and audited, nothing stored
        submit_review(
            results,
            reviews,
            releaser,
            batch_id="b-001",
            document_id="d1",
            reviewer="alice",
            corrections=[Correction(field="phone", value="12")],
        )
    first = submit_review(
        results,
        reviews,
        releaser,
        batch_id="b-001",
        document_id="d1",
        reviewer="alice",
        corrections=[Correction(field="phone", action="confirm")],
    )
    with pytest.raises(LeaseConflict):  # d2 is not leased to alice
        submit_review(
            results,
            reviews,
            releaser,
            batch_id="b-001",
            document_id="d2",
            reviewer="alice",
            corrections=[Correction(field="name", action="confirm")],
        )
    reviews.lease("b-001", "bob", document_id="d2")
    last = submit_review(
        results,
        reviews,
        releaser,
        batch_id="b-001",
        document_id="d2",
        reviewer="bob",
        corrections=[Correction(field="name", action="confirm")],
    )
    # Then the gate opened exactly once, on the last document, with ids and counts only
    assert (first["released"], last["released"]) == (False, True)
    assert released == [("tok", {"batch_id": "b-001", "reviewed": 2})]
    actions = [r.action for r in reviews.audit_trail("b-001")]
    assert actions.count("refused") == 1 and actions.count("release_gate") == 1


def test_two_reviewers_racing_never_hold_the_same_document(tmp_path):
    # Given a gate with 20 documents and 8 reviewers leasing at the same time from threads
    reviews = SqliteReviewStore(tmp_path / "review.db")
    reviews.open_gate("b-002", "tok", [f"d{i:02d}" for i in range(20)])
    got: dict[str, list[str]] = {}
    barrier = threading.Barrier(8)

    def reviewer(name: str) -> None:
        barrier.wait()
        mine = got.setdefault(name, [])
        while (lease := reviews.lease("b-002", name, seconds=600)) is not None:
            if lease.document_id in mine:  # my own lease comes back first: finish it
                reviews.complete("b-002", lease.document_id, name)
                continue
            mine.append(lease.document_id)

    threads = [threading.Thread(target=reviewer, args=(f"r{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every document went to exactly one reviewer
    leased = [d for docs in got.values() for d in docs]
    assert sorted(leased) == [f"d{i:02d}" for i in range(20)]


def test_an_expired_lease_can_be_taken_over(tmp_path):
    reviews = SqliteReviewStore(tmp_path / "review.db")
    reviews.open_gate("b-003", "tok", ["d1"])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    reviews.lease("b-003", "alice", document_id="d1", seconds=60, now=t0)
    with pytest.raises(LeaseConflict):
        reviews.lease("b-003", "bob", document_id="d1", now=t0 + dt.timedelta(seconds=30))
    lease = reviews.lease("b-003", "bob", document_id="d1", now=t0 + dt.timedelta(seconds=61))
    assert lease.reviewer == "bob"
