"""The review page's service over the cloud stores (S3 with SSE-KMS, DynamoDB, Step Functions)
on a real moto server: the reviewer is the AWS principal, the audit trail lands in the audit
table, and the last document sends SendTaskSuccess once with the gate's token. The review page
runs as the agent through the policy guard: every call it makes must be allowed by the
synthesized agent policy (tests/support/policy_guard.py)."""

from __future__ import annotations

import io
import json
import os

import pytest
from PIL import Image
from support.policy_guard import AGENT_CLIENT_ID, Deployment, acting_as_agent, guard_agent

from tests.unit.test_review_server import MY_NUMBER, _doc


@pytest.fixture(scope="module")
def cloud(moto_server):
    from yomitori.cloud_local import LocalCloud, provision
    from yomitori.steps import config

    saved = dict(os.environ)
    try:
        c = provision(LocalCloud(endpoint=moto_server.url))
        c.activate("tesseract")
        c.server = moto_server
        yield c
    finally:
        os.environ.clear()
        os.environ.update(saved)
        config.reset()


def deployment_of(cloud) -> Deployment:
    from yomitori import settings

    return Deployment(
        intake=cloud.bucket(settings.BUCKET_INTAKE),
        results=cloud.bucket(settings.BUCKET_RESULTS),
        tables={t.role: cloud.table(t) for t in settings.TABLES},
        key_arn=cloud.environment()[settings.ENV_KMS_KEY_ARN],
    )


@pytest.fixture
def agent_guard(cloud, guard_for, stack_template):
    guard = guard_agent(guard_for(cloud.server), stack_template, deployment_of(cloud))
    guard.reset()
    yield guard
    guard.check()


def test_review_over_the_cloud_stores(cloud, agent_guard):
    from yomitori.steps import config
    from yomitori.steps.review import open_review_gate
    from yomitori.store.base import AuditAction
    from yomitori.store.clients import client
    from yomitori_agent.review import ReviewService, cloud_backend

    # Given a batch at the review gate in S3 and DynamoDB
    batch = "city-test-20260401-091500-3fa2c1"  # the guarded agent's client's (policy_guard)
    results, reviews = config.result_store(), config.review_store()
    buf = io.BytesIO()
    Image.new("L", (2480, 3508), 255).save(buf, "PNG")
    for d in ("doc-0001", "doc-0002"):
        results.put_page(batch, f"{d}.png", buf.getvalue())
        results.put_document(_doc(d, batch))
    open_review_gate(results, reviews, config.gate_releaser(), batch_id=batch, task_token="tok-cloud")
    # and another office's batch waiting too
    theirs = "pc-2-20260401-091500-3fa2c1"
    results.put_document(_doc("doc-0001", theirs))
    open_review_gate(results, reviews, config.gate_releaser(), batch_id=theirs, task_token="tok-other")
    sent: list[dict] = []

    def record(params, model, **_):
        if model.name == "SendTaskSuccess":
            sent.append(params)

    # When the review page's service runs over the cloud backend, as the agent (its policy only)
    with acting_as_agent(agent_guard):
        sfn = client("stepfunctions")
        sfn.meta.events.register("before-parameter-build", record)
        backend = cloud_backend(batch_id=batch, client_id=AGENT_CLIENT_ID)
        svc = ReviewService(backend.results, backend.reviews, backend.releaser, reviewer=backend.reviewer,
                            batch_id=batch)
        # Then the reviewer is the AWS principal
        assert backend.reviewer.startswith("aws:arn:aws:")
        # and the whole queue, as this office's page lists it, holds only its own batch
        everyone = cloud_backend(client_id=AGENT_CLIENT_ID)
        listed = ReviewService(everyone.results, everyone.reviews, everyone.releaser,
                               reviewer=everyone.reviewer).queue()["documents"]
        assert {d["batch_id"] for d in listed} == {batch}
        outs = []
        while (doc := svc.open_next()) is not None:
            assert MY_NUMBER not in json.dumps(doc, ensure_ascii=False)
            jpeg, size = svc.page_image(batch, doc["document_id"])
            assert size == (2480, 3508) and Image.open(io.BytesIO(jpeg)).width <= 1200
            assert svc.reveal(batch, doc["document_id"], "my_number")["value"] == MY_NUMBER
            outs.append(svc.submit(batch, doc["document_id"], [
                {"field": "my_number", "action": "confirm"},
                {"field": "phone", "action": "correct", "value": "03-9876-5432"}]))
        sfn.meta.events.unregister("before-parameter-build", record)

    # Then both documents are stored corrected (in S3), and the gate released exactly once
    assert [o["ok"] for o in outs] == [True, True] and outs[-1]["released"] is True
    assert results.get_document(batch, "doc-0002").fields["phone"].value == "03-9876-5432"
    assert [s["taskToken"] for s in sent] == ["tok-cloud"]
    # And the audit table has the views, reveals and changes by that principal, without values
    trail = reviews.audit_trail(batch)
    mine = [r for r in trail if r.reviewer == backend.reviewer]
    assert sum(r.action is AuditAction.REVEAL_MY_NUMBER for r in mine) == 2
    assert sum(r.action is AuditAction.LEASE for r in mine) == 2
    assert {r.action for r in mine} >= {AuditAction.CONFIRM, AuditAction.CORRECT, AuditAction.COMPLETE}
    dumped = json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
    assert MY_NUMBER not in dumped and "9876" not in dumped
    # And every call went through the agent policy: documents, pages, the gate, the audit, the token
    actions = {c.action for c in agent_guard.checked("agent")}
    assert {"s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem", "dynamodb:PutItem",
            "states:SendTaskSuccess", "states:SendTaskHeartbeat", "sts:GetCallerIdentity"} <= actions
