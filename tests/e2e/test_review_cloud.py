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
from support.audit_trail import searchable
from support.policy_guard import AGENT_CLIENT_ID, Deployment, acting_as_agent, agent_tags, guard_agent

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
    from yomitori.access import NotAllowed, Principal, Role
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
        # Then the reviewer is the AWS principal: here the agent's shared IAM user (the local
        # cloud allows it), a reviewer who may not see My Numbers
        assert backend.principal.roles == {Role.REVIEWER} and "arn:" not in backend.reviewer
        # and the whole queue, as this office's page lists it, holds only its own batch
        everyone = cloud_backend(client_id=AGENT_CLIENT_ID)
        listed = ReviewService(everyone.results, everyone.reviews, everyone.releaser,
                               principal=everyone.principal).queue()["documents"]
        assert {d["batch_id"] for d in listed} == {batch}
        agent = ReviewService(backend.results, backend.reviews, backend.releaser, principal=backend.principal,
                              batch_id=batch)
        first = agent.open_next()
        with pytest.raises(NotAllowed):
            agent.reveal(batch, first["document_id"], "my_number", "number_match")
        agent.leave(batch, first["document_id"])
        # When a number viewer of that name works the queue (the role an assumed number-viewer
        # job role gives: tests/unit/test_principals.py)
        viewer = Principal(backend.reviewer, frozenset({Role.REVIEWER, Role.NUMBER_VIEWER}))
        svc = ReviewService(backend.results, backend.reviews, backend.releaser, principal=viewer,
                            batch_id=batch)
        outs = []
        while (doc := svc.open_next()) is not None:
            assert MY_NUMBER not in json.dumps(doc, ensure_ascii=False)
            jpeg, size = svc.page_image(batch, doc["document_id"])
            assert size == (2480, 3508) and Image.open(io.BytesIO(jpeg)).width <= 1200
            assert svc.reveal(batch, doc["document_id"], "my_number", "number_match")["value"] == MY_NUMBER
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
    assert [(r.role, r.purpose) for r in mine if r.action is AuditAction.REVEAL_MY_NUMBER] == [
        ("number_viewer", "number_match")] * 2
    refused = [(r.role, r.reasons) for r in mine if r.action is AuditAction.REFUSED]
    assert refused == [("reviewer", ["number_viewer_required"])]
    assert sum(r.action is AuditAction.LEASE for r in mine) == 3
    assert {r.action for r in mine} >= {AuditAction.CONFIRM, AuditAction.CORRECT, AuditAction.COMPLETE}
    dumped = searchable(trail)
    assert MY_NUMBER not in dumped and "9876" not in dumped
    # And every call went through the agent policy: documents, pages, the gate, the audit, the token
    actions = {c.action for c in agent_guard.checked("agent")}
    assert {"s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem", "dynamodb:PutItem",
            "states:SendTaskSuccess", "states:SendTaskHeartbeat", "sts:GetCallerIdentity"} <= actions


def test_a_person_in_the_number_viewer_job_role_reviews_with_only_that_role(
    cloud, agent_guard, stack_template
):
    """People are principals in the cloud: suzuki assumes the number-viewer job role with her
    own session name; the review page names her, lets her reveal (with a purpose), and every
    call it makes is allowed by that job's policy alone (infra/people.py), not the agent's."""
    from support.policy_guard import REGION, policy_statements, resolve
    from yomitori.access import Role
    from yomitori.steps import config
    from yomitori.steps.review import open_review_gate
    from yomitori.store import clients
    from yomitori.store.base import AuditAction
    from yomitori_agent.review import ReviewService, cloud_backend

    # Given a batch at the review gate, and suzuki's session of the number-viewer job role
    batch = "city-test-20260401-101500-7c1e2d"  # an office's batch: suzuki works for that office
    results, reviews = config.result_store(), config.review_store()
    buf = io.BytesIO()
    Image.new("L", (2480, 3508), 255).save(buf, "PNG")
    results.put_page(batch, "doc-0001.png", buf.getvalue())
    results.put_document(_doc("doc-0001", batch))
    open_review_gate(results, reviews, config.gate_releaser(), batch_id=batch, task_token="tok-people")
    creds = cloud.client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/yomitori-number-viewer", RoleSessionName="suzuki",
        SourceIdentity="suzuki", Tags=[{"Key": "yomitori-client", "Value": AGENT_CLIENT_ID}])["Credentials"]
    job = resolve(policy_statements(stack_template, "PeopleNumberViewerPolicy"),
                  deployment_of(cloud).binding(stack_template))
    agent_guard.guard(creds["AccessKeyId"], job, name="number-viewer",
                      arn="arn:aws:sts::123456789012:assumed-role/yomitori-number-viewer/suzuki",
                      tags=agent_tags(AGENT_CLIENT_ID))  # the session tag she assumed it with
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                                           "AWS_ENDPOINT_URL", "AWS_PROFILE")}
    for k in saved:
        os.environ.pop(k, None)
    os.environ.update({"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                       "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                       "AWS_SESSION_TOKEN": creds["SessionToken"], "AWS_DEFAULT_REGION": REGION,
                       "AWS_ENDPOINT_URL": agent_guard.url})
    clients.reset()
    config.reset()
    try:
        # When the review page's backend asks who is calling
        backend = cloud_backend(batch_id=batch, client_id=AGENT_CLIENT_ID, allow_agent_identity=False)
        # Then it is suzuki (not an ARN), a reviewer who may see My Numbers
        assert backend.reviewer == "suzuki"
        assert backend.principal.roles == {Role.REVIEWER, Role.NUMBER_VIEWER}
        # When she works the document: opens it, reveals the My Number for a purpose, submits
        svc = ReviewService(backend.results, backend.reviews, backend.releaser, principal=backend.principal,
                            batch_id=batch)
        doc = svc.open_next()
        svc.page_image(batch, doc["document_id"])
        assert svc.reveal(batch, doc["document_id"], "my_number", "identity_check")["value"] == MY_NUMBER
        out = svc.submit(batch, doc["document_id"], [{"field": "my_number", "action": "confirm"},
                                                     {"field": "phone", "action": "confirm"}])
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        clients.reset()
        config.reset()
    # Then the batch is released, and every call she made was allowed by her job's policy
    assert out["ok"] is True and out["released"] is True
    mine = agent_guard.checked("number-viewer")
    assert mine and all(c.allowed for c in mine)
    assert {"s3:GetObject", "s3:PutObject", "dynamodb:UpdateItem", "dynamodb:PutItem",
            "states:SendTaskSuccess"} <= {c.action for c in mine}
    # And the audit trail names her and the roles she acted in, with the purpose, never a value
    trail = reviews.audit_trail(batch)
    assert {r.reviewer for r in trail} == {"suzuki"}
    assert [(r.role, r.purpose) for r in trail if r.action is AuditAction.REVEAL_MY_NUMBER] == [
        ("number_viewer", "identity_check")]
    assert MY_NUMBER not in json.dumps([r.model_dump(mode="json") for r in trail], ensure_ascii=False)
