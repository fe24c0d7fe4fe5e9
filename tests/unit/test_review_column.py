"""Field-by-field review (項目単位, issue 18 part 10) over the real one-machine stores: the same
field of many documents, leased to this reviewer only, My Numbers never offered, decisions stored
through the same domain submission."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.review_service import review_service
from tests.unit.test_review_server import MY_NUMBER, SCAN_SIZE, _doc


@pytest.fixture()
def batch(tmp_path):
    from yomitori.results import FieldStatus
    from yomitori.steps.review import open_review_gate
    from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore

    results = LocalResultStore(tmp_path / "store")
    reviews = SqliteReviewStore(tmp_path / "review.sqlite3")
    releaser = LocalGateReleaser()
    b = "b-col-1"
    buf = io.BytesIO()
    Image.new("L", SCAN_SIZE, 255).save(buf, "PNG")
    for i, d in enumerate(("doc-0001", "doc-0002", "doc-0003", "doc-0004")):
        doc = _doc(d, b)
        if i >= 1:  # only the phone needs a person on these
            mn = doc.fields["my_number"]
            mn.status, mn.reasons, mn.confidence = FieldStatus.ACCEPTED, [], 0.99
        results.put_page(b, f"{d}.png", buf.getvalue())
        results.put_document(doc)
    open_review_gate(results, reviews, releaser, batch_id=b, task_token="token-1")
    return results, reviews, releaser, b


def _service(batch, reviewer="os:alice"):
    results, reviews, releaser, b = batch
    return review_service(results, reviews, releaser, reviewer, b)


def test_a_column_lists_one_field_of_the_documents_free_for_this_reviewer(batch):
    from yomitori_agent.review.column import column, column_fields

    results, reviews, _, b = batch
    alice, bob = _service(batch), _service(batch, "os:bob")
    # Given bob has doc-0004 open
    bob.open(b, "doc-0004")
    # When alice asks which fields she can check by column
    fields = column_fields(alice)
    # Then the phone is offered with the three documents free for her; the My Number never is
    assert [(f["name"], f["count"]) for f in fields["fields"]] == [("phone", 3)]
    assert fields["busy"] == 1
    # When she opens the phone column
    col = column(alice, "phone")
    # Then she gets those three, each leased to her, with the value and the other fields left
    assert [r["document_id"] for r in col["rows"]] == ["doc-0001", "doc-0002", "doc-0003"]
    assert col["label"] and col["type"] == "digits" and col["busy"] == 1
    assert {q.document_id: q.leased_by for q in reviews.queue(b)} == {
        "doc-0001": "os:alice", "doc-0002": "os:alice", "doc-0003": "os:alice", "doc-0004": "os:bob"}
    assert col["rows"][0]["others"] == ["my_number"] and col["rows"][1]["others"] == []
    assert MY_NUMBER not in str(col)
    # and the crop of each comes at full resolution (the document is leased to her)
    assert alice.crop(b, "doc-0002", "phone").startswith(b"\x89PNG")
    # and documents drafted already are left out of the next column
    assert [r["document_id"] for r in column(alice, "phone", skip=frozenset({f"{b}/doc-0001"}))["rows"]] == [
        "doc-0002", "doc-0003"]


def test_a_column_refuses_the_my_number_and_stores_through_the_same_submission(batch):
    from yomitori_agent.review.column import ColumnMyNumber, column

    results, reviews, _, b = batch
    alice = _service(batch)
    with pytest.raises(ColumnMyNumber):
        column(alice, "my_number")
    column(alice, "phone")
    # When she corrects one phone of the column (the document has nothing else to decide)
    out = alice.submit(b, "doc-0002", [{"field": "phone", "action": "correct", "value": "0312345679"}])
    # Then it is stored and the document done, like any submission
    assert out["ok"]
    assert results.get_document(b, "doc-0002").fields["phone"].value == "0312345679"
    assert "doc-0002" in reviews.get_gate(b).done
    # and a wrong value is refused with its reason, nothing stored
    out = alice.submit(b, "doc-0003", [{"field": "phone", "action": "correct", "value": "12"}])
    assert not out["ok"] and out["refused"]["phone"]
    assert results.get_document(b, "doc-0003").fields["phone"].status.value == "needs_review"


def test_a_column_leases_no_more_documents_than_it_shows(batch):
    from yomitori_agent.review.column import column

    _, reviews, _, b = batch
    col = column(_service(batch), "phone", limit=2)
    assert [r["document_id"] for r in col["rows"]] == ["doc-0001", "doc-0002"]
    assert {q.document_id for q in reviews.queue(b) if q.leased_by} == {"doc-0001", "doc-0002"}
