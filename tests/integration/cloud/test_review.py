"""The review handler over a real moto server: the gate's token and documents stored in the
review-task table, leases that never give one document to two reviewers, corrections
validated again (an invalid one refused with reason codes), audited without values, and
SendTaskSuccess sent exactly once, only when every document is done. moto accepts
SendTaskSuccess without checking the token, so the calls are recorded on the real client."""

from __future__ import annotations

import json

import pytest
from cloud_helpers import event, store_documents
from yomitori import settings
from yomitori.cloud_local import invoke
from yomitori.results import FieldStatus
from yomitori.steps import config

UNSURE = ("name", "phone")  # read with low confidence in the documents made below


@pytest.fixture
def sent(cloud):
    """SendTaskSuccess calls made through the real Step Functions client (to moto)."""
    from yomitori.store.clients import client

    calls: list[dict] = []

    def record(params, model, **_):
        if model.name == "SendTaskSuccess":
            calls.append(params)

    sfn = client("stepfunctions")
    sfn.meta.events.register("before-parameter-build", record)
    yield calls
    sfn.meta.events.unregister("before-parameter-build", record)


def test_review_round_trip(cloud, scans, batch_id, sent):
    # Given three documents, two with unsure fields, stored by the validate step
    stems = sorted(p.stem for p in scans.glob("*.jpg"))
    values = store_documents(scans, batch_id, {stems[0]: UNSURE, stems[1]: UNSURE})
    ids = sorted(values)
    token = f"token-{batch_id}"
    # When the batch reaches the gate
    gate = invoke("review", event("review_wait", batch_id=batch_id, task_token=token))
    # Then the token and the two documents needing review are in the review-task table
    assert gate == {"batch_id": batch_id, "needs_review": 2, "released": False}
    item = cloud.client("dynamodb").get_item(
        TableName=cloud.table(settings.REVIEW_TASKS),
        Key={"batch_id": {"S": batch_id}, "task_kind": {"S": settings.TASK_KIND_REVIEW}},
    )["Item"]
    assert item["task_token"]["S"] == token and sorted(item["docs"]["M"]) == ids[:2]
    assert sent == []

    # When two reviewers lease, Then they get different documents, and cannot take each other's
    a = invoke("review", event("review_lease", batch_id=batch_id, reviewer="reviewer-a", document_id=None))
    b = invoke("review", event("review_lease", batch_id=batch_id, reviewer="reviewer-b", document_id=None))
    assert {a["lease"]["document_id"], b["lease"]["document_id"]} == set(ids[:2])
    stolen = invoke(
        "review",
        event(
            "review_lease", batch_id=batch_id, reviewer="reviewer-b", document_id=a["lease"]["document_id"]
        ),
    )
    assert stolen["ok"] is False and stolen["error"] == "lease_conflict"

    # When reviewer A submits an impossible phone number, Then it is refused with reason codes
    doc_a = a["lease"]["document_id"]
    bad = invoke(
        "review",
        event(
            "review_submit",
            batch_id=batch_id,
            document_id=doc_a,
            reviewer="reviewer-a",
            corrections=[{"field": "phone", "value": "12"}, {"field": "name", "action": "confirm"}],
        ),
    )
    assert bad["ok"] is False and bad["error"] == "correction_refused" and bad["refused"]["phone"]
    assert (
        config.result_store().get_document(batch_id, doc_a).fields["phone"].status is FieldStatus.NEEDS_REVIEW
    )

    # When both submit valid corrections
    def submit(reviewer, doc_id):
        corrections = [
            {"field": "phone", "value": values[doc_id]["phone"]},
            {"field": "name", "action": "confirm"},
        ]
        return invoke(
            "review",
            event(
                "review_submit",
                batch_id=batch_id,
                document_id=doc_id,
                reviewer=reviewer,
                corrections=corrections,
            ),
        )

    first = submit("reviewer-a", doc_a)
    # Then the gate stays closed until the last one
    assert first["remaining"] == 1 and first["released"] is False and sent == []
    last = submit("reviewer-b", b["lease"]["document_id"])
    assert last["remaining"] == 0 and last["released"] is True
    assert [c["taskToken"] for c in sent] == [token]
    assert json.loads(sent[0]["output"]) == {"batch_id": batch_id, "reviewed": 2}
    # and the stored documents are corrected
    doc = config.result_store().get_document(batch_id, doc_a)
    assert (
        doc.fields["phone"].status is FieldStatus.CORRECTED
        and doc.fields["phone"].value == values[doc_a]["phone"]
    )
    assert not doc.needs_person

    # When the last submission is retried, Then it is refused and no second SendTaskSuccess goes out
    again = submit("reviewer-b", b["lease"]["document_id"])
    assert again["ok"] is False and len(sent) == 1

    # And the audit trail says who did what to which field, never a value
    trail = config.review_store().audit_trail(batch_id)
    corrected = [
        (r.reviewer, r.document_id, r.field, r.old_status, r.new_status, r.action)
        for r in trail
        if r.action in ("correct", "confirm")
    ]
    assert ("reviewer-a", doc_a, "phone", "needs_review", "corrected", "correct") in corrected
    assert any(r.action == "refused" and r.field == "phone" and r.reasons for r in trail)
    assert [r.action for r in trail].count("release_gate") == 1
    dumped = json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
    for doc_values in values.values():
        for name in ("name", "phone", "address"):
            assert doc_values[name] not in dumped


def test_a_gate_with_nothing_to_review_releases_at_once_and_only_once(cloud, scans, batch_id, sent):
    # Given a batch whose documents were all accepted
    store_documents(scans, batch_id, {})
    ev = event("review_wait", batch_id=batch_id, task_token=f"token-{batch_id}")
    # When the gate is reached, and the step is retried
    first = invoke("review", ev)
    second = invoke("review", ev)
    # Then the flow continues at once, and SendTaskSuccess went out once
    assert first["released"] is True and second["released"] is False
    assert [c["taskToken"] for c in sent] == [f"token-{batch_id}"]


def test_the_download_acknowledgement_resumes_the_flow_once(cloud, batch_id, sent):
    # Given the flow waits for the download to be acknowledged
    invoke("review", event("review_ack_wait", batch_id=batch_id, task_token=f"ack-{batch_id}"))
    # When the acknowledgement's arrival is delivered twice (EventBridge delivers at least once)
    arrived = event("review_ack_arrived", key=f"{batch_id}/ack.json")
    first = invoke("review", arrived)
    second = invoke("review", arrived)
    # Then the token was used once
    assert first["completed"] is True and second["completed"] is False
    assert [c["taskToken"] for c in sent] == [f"ack-{batch_id}"]


def test_revealing_a_my_number_is_audited_without_the_number(cloud, batch_id):
    # When a reviewer unmasks a My Number field
    out = invoke("review", event("review_reveal", batch_id=batch_id, document_id="furusato_onestop-0001"))
    # Then an audit record names who, which document and field, and the action
    assert out["audited"] is True
    [record] = config.review_store().audit_trail(batch_id)
    assert (record.reviewer, record.field, record.action) == ("reviewer-a", "my_number", "reveal_my_number")


def test_dynamo_leases_expire_and_the_queue_spans_open_batches(cloud, batch_id):
    # Given two batches waiting at the gate in the DynamoDB review store
    import datetime as dt

    from yomitori.store import LeaseConflict

    reviews = config.review_store()
    other = f"{batch_id}-b"
    reviews.open_gate(batch_id, "t1", ["d1", "d2"])
    reviews.open_gate(other, "t2", ["d9"])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    # When alice leases d1 for a minute
    reviews.lease(batch_id, "alice", document_id="d1", seconds=60, now=t0)
    # Then bob cannot take it within the minute, but can after it ran out
    with pytest.raises(LeaseConflict):
        reviews.lease(batch_id, "bob", document_id="d1", now=t0 + dt.timedelta(seconds=59))
    assert (
        reviews.lease(batch_id, "bob", document_id="d1", now=t0 + dt.timedelta(seconds=61)).reviewer == "bob"
    )
    # and the queue over all batches lists both, with the live lease shown
    queue = {
        (q.batch_id, q.document_id): q.leased_by for q in reviews.queue(now=t0 + dt.timedelta(seconds=62))
    }
    assert {k: v for k, v in queue.items() if k[0] in (batch_id, other)} == {
        (batch_id, "d1"): "bob",
        (batch_id, "d2"): None,
        (other, "d9"): None,
    }
    # and re-opening the gate (a retried wait) keeps what is done and takes the new token
    reviews.complete(batch_id, "d1", "bob", now=t0 + dt.timedelta(seconds=63))
    gate = reviews.open_gate(batch_id, "t1-retry", ["d1", "d2"])
    assert (gate.task_token, gate.pending, gate.done) == ("t1-retry", ["d2"], ["d1"])


def test_dynamo_reopens_a_done_document_until_the_batch_is_released(cloud, batch_id):
    import datetime as dt

    from yomitori.store import LeaseConflict
    from yomitori.store.base import GateMissing

    reviews = config.review_store()
    reviews.open_gate(batch_id, "t1", ["d1", "d2"])
    t0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    reviews.lease(batch_id, "alice", document_id="d1", now=t0)
    reviews.complete(batch_id, "d1", "alice", now=t0)
    # When bob reopens the done d1, Then it waits again, leased to him
    assert reviews.reopen(batch_id, "d1", "bob", seconds=60, now=t0).reviewer == "bob"
    assert reviews.get_gate(batch_id).pending == ["d1", "d2"]
    # and alice cannot take it while his lease runs; an unknown document is refused
    with pytest.raises(LeaseConflict):
        reviews.reopen(batch_id, "d1", "alice", now=t0 + dt.timedelta(seconds=30))
    with pytest.raises(LeaseConflict):
        reviews.reopen(batch_id, "nope", "alice", now=t0)
    # When the batch is released, Then nothing can be reopened
    reviews.mark_released(batch_id)
    with pytest.raises(GateMissing):
        reviews.reopen(batch_id, "d1", "bob", now=t0)
