"""Double entry (ベリファイ) of the fields a form marks ``verify``, on both review stores: SQLite
with a folder (one machine) and DynamoDB with S3 on a real moto server (cloud). The second
entry is blind and never by the person who made the first; a mismatch goes to a third person;
the gate is released only when every double entry is finished; audit records hold no values."""

from __future__ import annotations

import datetime as dt

import pytest
from support.audit_trail import searchable
from yomitori.access import NotAllowed, Principal, Role
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.steps import verification as ver
from yomitori.steps.review import Correction, ReviewRefused, open_review_gate, submit_review
from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore
from yomitori.store.base import AuditAction, VerifyState
from yomitori.validation.my_number import check_digit

TODAY = dt.date.today()


def my_number(first11: str) -> str:
    return first11 + str(check_digit(first11))


TRUE_NUMBER = my_number("12345678901")
OTHER_NUMBER = my_number("12345678911")  # a misread that is still a valid My Number
VALUES = {
    "address": "東京都千代田区千代田1-1",
    "name_kana": "ヤマダ タロウ",
    "name": "山田 太郎",
    "my_number": TRUE_NUMBER,
    "gender": "男",
    "birth_date": "1980-01-01",
    "phone": "03-1234-5678",
    "donation_date": (TODAY - dt.timedelta(days=30)).isoformat(),
    "donation_amount": "20000",
    "declaration_income": "true",
    "declaration_limit": "true",
}
ALICE = Principal("alice", frozenset({Role.REVIEWER, Role.VERIFIER}))
BOB = Principal("bob", frozenset({Role.VERIFIER}))
CAROL = Principal("carol", frozenset({Role.SUPERVISOR}))
READER_ONLY = Principal("dave", frozenset({Role.REVIEWER}))


def document(batch_id: str, doc_id: str, *, unsure: tuple[str, ...] = (), **values: str) -> DocumentResult:
    fields = {}
    for k, v in {**VALUES, **values}.items():
        status = FieldStatus.NEEDS_REVIEW if k in unsure else FieldStatus.ACCEPTED
        fields[k] = FieldResult(value=v, raw=v, confidence=0.5 if k in unsure else 1.0, status=status)
    return DocumentResult(
        batch_id=batch_id,
        document_id=doc_id,
        source=f"{doc_id}.png",
        form_id="furusato_onestop",
        fields=fields,
    )


@pytest.fixture(params=["sqlite", "dynamo"])
def stores(request, tmp_path, monkeypatch):
    released: list[dict] = []
    releaser = LocalGateReleaser(lambda token, out: released.append(out))
    if request.param == "dynamo":
        # the shared cloud fixture first: it saves the environment and puts it back when its
        # scope ends, so a setting made before it would outlive this test
        request.getfixturevalue("cloud")
    monkeypatch.setenv(ver.ENV_DOUBLE_ENTRY, "on")
    if request.param == "sqlite":
        return (
            LocalResultStore(tmp_path / "store"),
            SqliteReviewStore(tmp_path / "review.db"),
            releaser,
            released,
        )
    from yomitori.steps import config

    config.reset()
    return config.result_store(), config.review_store(), releaser, released


def test_double_entry_catches_valid_misreads_and_holds_the_gate(stores, batch_id="b-verify-1"):
    results, reviews, releaser, released = stores
    batch_id = f"{batch_id}-{id(reviews) % 100000}"
    # Given two documents: d1 read with a valid wrong My Number and amount (accepted: no person
    # would look), d2 with an unsure name (a reviewer looks first)
    results.put_document(document(batch_id, "d1", my_number=OTHER_NUMBER, donation_amount="20009"))
    results.put_document(document(batch_id, "d2", unsure=("name",)))
    # When the gate opens
    out = open_review_gate(results, reviews, releaser, batch_id=batch_id, task_token="tok")
    # Then d2 waits for review and every verify field has a task: d1's open (first entry: the
    # reader's), d2's waiting for the review; the gate is not released
    assert out == {"batch_id": batch_id, "needs_review": 1, "released": False}
    tasks = {(t.document_id, t.field): t for t in reviews.verifications(batch_id)}
    assert set(tasks) == {(d, f) for d in ("d1", "d2") for f in ("my_number", "donation_amount")}
    assert (
        tasks[("d1", "my_number")].state is VerifyState.OPEN
        and tasks[("d1", "my_number")].first_by == "reader"
    )
    assert tasks[("d2", "my_number")].state is VerifyState.WAITING

    # When alice reviews d2 and confirms the My Number (her first entry)
    reviews.lease(batch_id, "alice", document_id="d2")
    submit_review(
        results,
        reviews,
        releaser,
        batch_id=batch_id,
        document_id="d2",
        reviewer="alice",
        corrections=[
            Correction(field="name", action="confirm"),
            Correction(field="my_number", action="confirm"),
        ],
    )
    tasks = {(t.document_id, t.field): t for t in reviews.verifications(batch_id)}
    assert tasks[("d2", "my_number")].first_by == "alice"
    assert tasks[("d2", "donation_amount")].first_by == "reader"
    # Then no document waits for review, but the gate still waits for the double entry
    assert batch_id in reviews.verification_batches()
    assert reviews.remaining(batch_id) == [] and released == []

    # When alice tries to verify her own first entry, Then she is refused (and it is audited)
    with pytest.raises(ver.SamePerson):
        ver.second_entry(
            results,
            reviews,
            releaser,
            principal=ALICE,
            batch_id=batch_id,
            document_id="d2",
            field="my_number",
            typed=TRUE_NUMBER,
        )
    # and a person without the verifier role cannot type a second entry at all
    with pytest.raises(NotAllowed):
        ver.second_entry(
            results,
            reviews,
            releaser,
            principal=READER_ONLY,
            batch_id=batch_id,
            document_id="d1",
            field="my_number",
            typed=TRUE_NUMBER,
        )
    # When bob types the true values of every field, blind
    outcomes = {}
    for d, f in sorted(tasks):
        typed = {"my_number": TRUE_NUMBER, "donation_amount": "20,000"}[f]
        outcomes[(d, f)] = ver.second_entry(
            results, reviews, releaser, principal=BOB, batch_id=batch_id, document_id=d, field=f, typed=typed
        )["outcome"]
    # Then both misreads are caught (mismatch), the true readings verified; still not released
    assert outcomes == {
        ("d1", "donation_amount"): "mismatch",
        ("d1", "my_number"): "mismatch",
        ("d2", "donation_amount"): "match",
        ("d2", "my_number"): "match",
    }
    assert released == []
    # When bob tries to decide his own mismatch, Then he is refused
    with pytest.raises(ver.SamePerson):
        ver.decide(
            results,
            reviews,
            releaser,
            principal=BOB,
            batch_id=batch_id,
            document_id="d1",
            field="my_number",
            value=TRUE_NUMBER,
        )
    # When carol (supervisor) sees both entries and decides
    both = ver.both_entries(
        results, reviews, principal=CAROL, batch_id=batch_id, document_id="d1", field="donation_amount"
    )
    assert both == {"first": "20009", "second": "20000"}
    # an invalid decision is refused like a correction
    with pytest.raises(ReviewRefused):
        ver.decide(
            results,
            reviews,
            releaser,
            principal=CAROL,
            batch_id=batch_id,
            document_id="d1",
            field="my_number",
            value=TRUE_NUMBER[:11] + str((int(TRUE_NUMBER[11]) + 1) % 10),
        )
    first = ver.decide(
        results,
        reviews,
        releaser,
        principal=CAROL,
        batch_id=batch_id,
        document_id="d1",
        field="donation_amount",
        value="20000",
    )
    assert first == {"kept": "second", "released": False}
    last = ver.decide(
        results,
        reviews,
        releaser,
        principal=CAROL,
        batch_id=batch_id,
        document_id="d1",
        field="my_number",
        value=TRUE_NUMBER,
    )
    # Then the last decision releases the gate, once, and the results carry the true values
    # and who typed which entry
    assert last == {"kept": "second", "released": True} and len(released) == 1
    assert batch_id not in reviews.verification_batches()
    d1 = results.get_document(batch_id, "d1")
    assert d1.fields["my_number"].value == TRUE_NUMBER and d1.fields["donation_amount"].value == "20000"
    assert d1.fields["my_number"].status is FieldStatus.CORRECTED
    assert d1.fields["my_number"].verification.model_dump() == {
        "state": "decided",
        "first_by": "reader",
        "second_by": "bob",
        "decided_by": "carol",
    }
    d2 = results.get_document(batch_id, "d2")
    assert d2.fields["my_number"].verification.model_dump() == {
        "state": "verified",
        "first_by": "alice",
        "second_by": "bob",
        "decided_by": None,
    }
    # and the second entry is not kept beside the final value
    import json

    assert json.loads(results.get_bytes(ver.entry_key(batch_id, "d1", "my_number"))) == {"final": TRUE_NUMBER}

    # Then the audit trail has VERIFY and DECIDE records and the refusals, never a value
    trail = reviews.audit_trail(batch_id)
    verify = [r for r in trail if r.action is AuditAction.VERIFY]
    assert sorted(r.reasons[0] for r in verify) == ["match", "match", "mismatch", "mismatch"]
    assert {r.reviewer for r in verify} == {"bob"} and {r.role for r in verify} == {"verifier"}
    decide = [r for r in trail if r.action is AuditAction.DECIDE]
    assert [(r.field, r.reviewer, r.reasons) for r in decide] == [
        ("donation_amount", "carol", ["second"]),
        ("my_number", "carol", ["second"]),
    ]
    refused = [r for r in trail if r.action is AuditAction.REFUSED and r.reasons == ["same_person"]]
    assert [(r.reviewer, r.field) for r in refused] == [("alice", "my_number"), ("bob", "my_number")]
    dumped = searchable(trail)
    for value in (TRUE_NUMBER, OTHER_NUMBER, "20009", "20000"):
        assert value not in dumped


def test_a_verifier_queue_never_offers_their_own_first_entry(stores):
    results, reviews, releaser, _ = stores
    batch_id = f"b-verify-2-{id(reviews) % 100000}"
    results.put_document(document(batch_id, "d1", unsure=("my_number",)))
    open_review_gate(results, reviews, releaser, batch_id=batch_id, task_token="tok")
    reviews.lease(batch_id, "alice", document_id="d1")
    submit_review(
        results,
        reviews,
        releaser,
        batch_id=batch_id,
        document_id="d1",
        reviewer="alice",
        corrections=[Correction(field="my_number", action="confirm")],
    )
    # When alice asks for work, Then she gets the amount (the reader's first entry) only
    got = ver.lease_next(reviews, ALICE, batch_id)
    assert (got.document_id, got.field) == ("d1", "donation_amount")
    again = ver.lease_next(reviews, ALICE, batch_id, after=("d1", "donation_amount"))
    assert (again.document_id, again.field) == ("d1", "donation_amount")  # the only one, again
    q = ver.queue(reviews, ALICE, batch_id)
    assert (q["second"], q["blocked_same_person"], q["open"]) == (1, 1, 2)
    # and bob, leasing next, does not get the field alice holds
    got_b = ver.lease_next(reviews, BOB, batch_id)
    assert (got_b.document_id, got_b.field) == ("d1", "my_number")


def test_without_the_setting_nothing_waits_for_double_entry(stores, monkeypatch):
    results, reviews, releaser, released = stores
    monkeypatch.setenv(ver.ENV_DOUBLE_ENTRY, "off")
    batch_id = f"b-verify-3-{id(reviews) % 100000}"
    results.put_document(document(batch_id, "d1"))
    out = open_review_gate(results, reviews, releaser, batch_id=batch_id, task_token="tok")
    assert out["released"] is True and reviews.verifications(batch_id) == []
