"""Double entry (ベリファイ) over the cloud stores on a real moto server, run as the agent
through the policy guard: every call of the review and the verifier's view must be allowed
by the synthesized agent policy, and the gate's SendTaskSuccess is sent once, only after the
last decision."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image
from support.policy_guard import AGENT_CLIENT_ID, acting_as_agent

from tests.e2e.test_review_cloud import agent_guard, cloud  # noqa: F401 - fixtures
from tests.unit.test_review_server import MY_NUMBER, _doc

OTHER = "123456789093"  # another valid My Number (check digit 3)


@pytest.fixture
def other_office(cloud, monkeypatch):  # noqa: F811
    """Another office's batch at its gate with a double entry open (read surely: its My Number
    waits for the second entry only); removed afterwards, the moto server is shared."""
    from yomitori.batch import new_batch_id
    from yomitori.results import FieldStatus
    from yomitori.steps import config
    from yomitori.steps.review import open_review_gate
    from yomitori.steps.verification import ENV_DOUBLE_ENTRY

    monkeypatch.setenv(ENV_DOUBLE_ENTRY, "on")
    results, reviews = config.result_store(), config.review_store()
    theirs = new_batch_id("pc-2")
    doc = _doc("doc-0001", theirs)
    for f in doc.fields.values():
        f.status, f.confidence, f.reasons = FieldStatus.ACCEPTED, 1.0, []
    results.put_document(doc)
    open_review_gate(results, reviews, config.gate_releaser(), batch_id=theirs, task_token="tok-other")
    yield theirs
    reviews.delete_batch(theirs)
    results.delete_batch(theirs)


def test_double_entry_over_the_cloud_stores_as_the_agent(cloud, agent_guard, other_office, monkeypatch):  # noqa: F811
    from yomitori.access import Principal, Role
    from yomitori.batch import new_batch_id
    from yomitori.steps import config
    from yomitori.steps.review import open_review_gate
    from yomitori.steps.verification import ENV_DOUBLE_ENTRY
    from yomitori.store.base import AuditAction, VerifyState
    from yomitori.store.clients import client
    from yomitori.validation.my_number import is_valid
    from yomitori_agent.review import ReviewService, cloud_backend
    from yomitori_agent.review.verification import VerificationService

    assert is_valid(OTHER) and OTHER != MY_NUMBER
    monkeypatch.setenv(ENV_DOUBLE_ENTRY, "on")
    # Given a batch at the review gate (opened by the review function) with its My Numbers to
    # verify: the guarded agent's client's (policy_guard), its own id (the moto server is shared)
    batch = new_batch_id(AGENT_CLIENT_ID)
    results, reviews = config.result_store(), config.review_store()
    buf = io.BytesIO()
    Image.new("L", (2480, 3508), 255).save(buf, "PNG")
    for d in ("doc-0001", "doc-0002"):
        results.put_page(batch, f"{d}.png", buf.getvalue())
        results.put_document(_doc(d, batch))
    open_review_gate(results, reviews, config.gate_releaser(), batch_id=batch, task_token="tok-verify")
    assert {t.state for t in reviews.verifications(batch)} == {VerifyState.WAITING}
    # and another office's batch whose double entries are open (its field is not this agent's)
    assert {t.state for t in reviews.verifications(other_office)} == {VerifyState.OPEN}
    sent: list[dict] = []

    beats: list[dict] = []

    def record(params, model, **_):
        if model.name == "SendTaskSuccess":
            sent.append(params)
        if model.name == "SendTaskHeartbeat":
            beats.append(params)

    with acting_as_agent(agent_guard):
        sfn = client("stepfunctions")
        sfn.meta.events.register("before-parameter-build", record)
        backend = cloud_backend(batch_id=batch, client_id=AGENT_CLIENT_ID)  # as the agent's config
        # When the reviewer, a number viewer, confirms both My Numbers (the first entries)
        viewer = Principal(backend.reviewer, frozenset({Role.REVIEWER, Role.NUMBER_VIEWER}))
        svc = ReviewService(backend.results, backend.reviews, backend.releaser, principal=viewer,
                            batch_id=batch)
        while (doc := svc.open_next()) is not None:
            out = svc.submit(
                batch,
                doc["document_id"],
                [{"field": "my_number", "action": "confirm"}, {"field": "phone", "action": "confirm"}],
            )
            # Then the gate does not release: the double entries are open
            assert out["ok"] and out["released"] is False
        assert sent == []
        beats.clear()

        # When another person (a verifier), over all of this office's batches, types them
        # blind: one as read, one differently
        bob = Principal("aws:arn:aws:sts::123456789012:assumed-role/Verifier/bob", frozenset({Role.VERIFIER}))
        ver_b = VerificationService(
            backend.results, backend.reviews, backend.releaser, principal=lambda: bob, batch_id=None
        )
        typed = {"doc-0001": MY_NUMBER, "doc-0002": OTHER}
        while (field := ver_b.next()) is not None:
            # (only this office's batch is offered, never the other office's field)
            assert field["batch_id"] == batch
            assert MY_NUMBER not in json.dumps(field) and field["kind"] == "second"
            assert Image.open(io.BytesIO(ver_b.crop(batch, field["document_id"], "my_number"))).width > 0
            assert ver_b.submit(batch, field["document_id"], "my_number", typed[field["document_id"]])["ok"]
        # and a supervisor decides the mismatch (the first entry was right)
        carol = Principal(
            "aws:arn:aws:sts::123456789012:assumed-role/Supervisor/carol", frozenset({Role.SUPERVISOR})
        )
        ver_c = VerificationService(
            backend.results, backend.reviews, backend.releaser, principal=lambda: carol, batch_id=batch
        )
        field = ver_c.next()
        # (each field taken sends the gate's heartbeat: a long double entry keeps the flow waiting)
        assert len(beats) >= 3 and {b["taskToken"] for b in beats} == {"tok-verify"}
        assert (field["document_id"], field["first"], field["second"]) == ("doc-0002", MY_NUMBER, OTHER)
        out = ver_c.submit(batch, "doc-0002", "my_number", field["first"])
        assert ver_c.next() is None
        sfn.meta.events.unregister("before-parameter-build", record)

    # Then the last decision released the gate, once, and the results say who typed what
    assert out == {"ok": True, "released": True} and [s["taskToken"] for s in sent] == ["tok-verify"]
    v1 = results.get_document(batch, "doc-0001").fields["my_number"].verification
    v2 = results.get_document(batch, "doc-0002").fields["my_number"]
    assert (v1.state, v1.first_by, v1.second_by) == ("verified", backend.reviewer, bob.name)
    assert v2.value == MY_NUMBER and (v2.verification.state, v2.verification.decided_by) == (
        "decided",
        carol.name,
    )
    trail = reviews.audit_trail(batch)
    assert [r.reasons for r in trail if r.action is AuditAction.VERIFY] == [["match"], ["mismatch"]]
    assert [r.reviewer for r in trail if r.action is AuditAction.DECIDE] == [carol.name]
    dumped = json.dumps([r.model_dump(mode="json", exclude={"at"}) for r in trail])
    assert MY_NUMBER not in dumped and OTHER not in dumped
    # And every call went through the agent policy, the task listing included
    actions = {c.action for c in agent_guard.checked("agent")}
    assert {
        "dynamodb:Query",
        "dynamodb:Scan",
        "dynamodb:UpdateItem",
        "s3:PutObject",
        "s3:GetObject",
    } <= actions
