"""The review gate's heartbeat: while a person leases documents the paused flow hears from us
(SendTaskHeartbeat), so only an abandoned review runs into ``review_heartbeat_hours``; when
the flow no longer waits, the reviewer gets a clear GateMissing instead of a stack trace."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from yomitori.steps.review import Correction, keep_gate_alive, open_review_gate, submit_review
from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore
from yomitori.store.base import GateMissing
from yomitori.store.stepfunctions import StepFunctionsGateReleaser

from tests.support.people import number_viewer
from tests.unit.test_steps_review import document

TOKEN = "AAAAKgAAAAIAAAAAAAAAAf-token"


class RecordingReleaser(LocalGateReleaser):
    def __init__(self):
        super().__init__()
        self.heartbeats: list[str] = []

    def heartbeat(self, task_token: str) -> None:
        self.heartbeats.append(task_token)


def sfn_client():
    return boto3.client(
        "stepfunctions", region_name="ap-northeast-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_the_step_functions_releaser_sends_the_heartbeat_for_the_token():
    client = sfn_client()
    with Stubber(client) as stub:
        stub.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
        StepFunctionsGateReleaser(client=client).heartbeat(TOKEN)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"])
def test_a_flow_that_no_longer_waits_is_a_clear_gate_missing_without_the_token(code):
    client = sfn_client()
    with Stubber(client) as stub:
        stub.add_client_error("send_task_heartbeat", service_error_code=code, http_status_code=400)
        with pytest.raises(GateMissing) as caught:
            StepFunctionsGateReleaser(client=client).heartbeat(TOKEN)
    assert "review time ran out" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_other_failures_are_not_mistaken_for_an_ended_flow():
    client = sfn_client()
    with Stubber(client) as stub:
        stub.add_client_error("send_task_heartbeat", service_error_code="ThrottlingException")
        with pytest.raises(Exception) as caught:
            StepFunctionsGateReleaser(client=client).heartbeat(TOKEN)
    assert not isinstance(caught.value, GateMissing)


def test_leasing_keeps_the_gate_alive_until_it_is_released(tmp_path):
    # Given a batch at the gate with one document needing a person
    results, reviews = LocalResultStore(tmp_path / "store"), SqliteReviewStore(tmp_path / "review.db")
    releaser = RecordingReleaser()
    results.put_document(document("b-001", "d1", ("phone",)))
    open_review_gate(results, reviews, releaser, batch_id="b-001", task_token="tok")
    # When the reviewer works on it, the flow hears a heartbeat with the gate's token
    keep_gate_alive(reviews, releaser, batch_id="b-001")
    assert releaser.heartbeats == ["tok"]
    reviews.lease("b-001", "alice", document_id="d1")
    submit_review(
        results,
        reviews,
        releaser,
        batch_id="b-001",
        document_id="d1",
        reviewer="alice",
        corrections=[Correction(field="phone", action="confirm")],
    )
    # Then, once released, there is nothing to keep alive and no heartbeat is sent
    with pytest.raises(GateMissing):
        keep_gate_alive(reviews, releaser, batch_id="b-001")
    with pytest.raises(GateMissing):
        keep_gate_alive(reviews, releaser, batch_id="never-seen")
    assert releaser.heartbeats == ["tok"]


def test_the_review_page_sends_a_heartbeat_on_open_and_on_every_lease_renewal(tmp_path):
    import io

    from PIL import Image
    from yomitori_agent.review import ReviewService

    from tests.unit.test_review_server import SCAN_SIZE, _doc

    # Given a batch at the gate whose page the reviewer opens
    results, reviews = LocalResultStore(tmp_path / "store"), SqliteReviewStore(tmp_path / "review.db")
    releaser = RecordingReleaser()
    buf = io.BytesIO()
    Image.new("L", SCAN_SIZE, 255).save(buf, "PNG")
    results.put_page("b-1", "doc-1.png", buf.getvalue())
    results.put_document(_doc("doc-1", "b-1"))
    open_review_gate(results, reviews, releaser, batch_id="b-1", task_token="tok-1")
    page = ReviewService(results, reviews, releaser, principal=number_viewer("os:alice"), batch_id="b-1")
    # When it opens the document and later renews the lease twice
    page.open_next()
    page.renew("b-1", "doc-1")
    page.renew("b-1", "doc-1")
    # Then the flow heard three heartbeats
    assert releaser.heartbeats == ["tok-1"] * 3
