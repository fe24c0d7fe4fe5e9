"""A review gate's task token is a bearer credential for Step Functions (SendTaskSuccess /
SendTaskHeartbeat): the synthesized policies let an office read only its own client's tokens.
The review table's Scan (every client's items) is allowed only with a projection onto ids,
leases and states; the token is read by a GetItem of the client's own batch. The requests are
the ones the real store sends (recorded, then mapped to IAM context the policy guard's way,
tests/support/policy_guard.py) and judged with the project's evaluator."""

from __future__ import annotations

import pytest
from support.policy_guard import requests_of
from yomitori import settings
from yomitori.batch import CLIENT_TAG, new_batch_id
from yomitori.store.dynamo import DynamoReviewStore

from tests.infra.test_hardening import _agent, _allowed, _tagged
from tests.infra.test_people import _office, _statements

REVIEW = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/review_tasks"


class _Recorder:
    """A DynamoDB client that records each request (operation, parameters) and finds nothing."""

    def __init__(self):
        self.requests: list[tuple[str, dict]] = []

    def get_paginator(self, op: str):
        outer = self

        class _Pages:
            def paginate(self, **kw):
                outer.requests.append(({"scan": "Scan", "query": "Query"}[op], kw))
                return [{"Items": []}]

        return _Pages()

    def get_item(self, **kw):
        self.requests.append(("GetItem", kw))
        return {}


def _context(op: str, params: dict) -> dict:
    """The IAM context AWS supplies for the request (the guard's mapping of the wire request)."""
    import json

    ((action, _resource, ctx),) = requests_of(
        "dynamodb", "POST", "/", {"x-amz-target": f"DynamoDB_20120810.{op}"}, json.dumps(params).encode()
    )
    assert action == f"dynamodb:{op}"
    return ctx


def _store_requests(call) -> list[tuple[str, dict]]:
    rec = _Recorder()
    call(DynamoReviewStore("review_tasks", "audit", client=rec))
    assert rec.requests
    return rec.requests


def test_the_review_queue_scan_is_allowed_only_with_a_projection_that_leaves_out_the_token(synth):
    agent = _agent(synth)
    office = _tagged("dynamodb", "pc")
    # Given the Scans the review page makes: the queue and the batches with double-entry work
    scans = _store_requests(lambda s: s.queue()) + _store_requests(lambda s: s.verification_batches())
    for op, params in scans:
        ctx = _context(op, params)
        # Then each asks for ids, leases and states only, and the policy allows it
        assert op == "Scan" and "task_token" not in ctx["dynamodb:Attributes"], params
        assert _allowed(agent, "dynamodb:Scan", REVIEW, {**office, **ctx}), params
    # When the same PC scans without a projection (whole items, every client's tokens), or
    # projects the token, or asks for every attribute besides a harmless projection
    for params in (
        {"TableName": "review_tasks"},
        {"TableName": "review_tasks", "ProjectionExpression": "batch_id, task_token"},
        {"TableName": "review_tasks", "ProjectionExpression": "batch_id", "Select": "ALL_ATTRIBUTES"},
        {"TableName": "review_tasks", "Select": "COUNT"},
    ):
        # Then it is refused
        assert not _allowed(agent, "dynamodb:Scan", REVIEW, {**office, **_context("Scan", params)}), params


def test_a_gate_token_is_read_only_by_its_own_clients_getitem_never_anothers(synth):
    agent = _agent(synth)
    mine, theirs = new_batch_id("pc"), new_batch_id("pc-2")
    # Given the read that releases a gate or sends its heartbeat (get_gate: the whole item)
    for batch, owner, other in ((mine, "pc", "pc-2"), (theirs, "pc-2", "pc")):
        ((op, params),) = _store_requests(lambda s, b=batch: s._item(b))
        ctx = _context(op, params)
        assert op == "GetItem" and "dynamodb:Attributes" not in ctx  # the token comes with it
        # Then the batch's own client may make it, and another client may not
        assert _allowed(agent, "dynamodb:GetItem", REVIEW, {**_tagged("dynamodb", owner), **ctx})
        assert not _allowed(agent, "dynamodb:GetItem", REVIEW, {**_tagged("dynamodb", other), **ctx})
        # And nor may an identity without the client tag
        assert not _allowed(agent, "dynamodb:GetItem", REVIEW, {**_tagged("dynamodb", None), **ctx})


def test_the_double_entry_query_reads_only_the_clients_own_batches(synth):
    agent = _agent(synth)
    mine, theirs = new_batch_id("pc"), new_batch_id("pc-2")
    # Given the Query of a batch's double-entry tasks (the same key would return its gate and token)
    for batch, allowed in ((mine, True), (theirs, False)):
        ((op, params),) = _store_requests(lambda s, b=batch: s.verifications(b))
        ctx = _context(op, params)
        # Then client pc may query its batch and not pc-2's (the leading key is the batch id)
        assert op == "Query" and ctx["dynamodb:LeadingKeys"] == [batch]
        assert _allowed(agent, "dynamodb:Query", REVIEW, {**_tagged("dynamodb", "pc"), **ctx}) is allowed


@pytest.mark.parametrize("job", ["Reviewer", "NumberViewer", "Verifier", "Supervisor"])
def test_the_job_roles_scan_the_review_table_only_for_ids_and_leases(synth, job):
    statements = _statements(synth, f"People{job}Policy")
    ctx = {**_office("dynamodb"), f"aws:PrincipalTag/{CLIENT_TAG}": "pc"}
    # Given the queue's Scan as the store sends it / Then every job that lists gates may make it
    ((op, params),) = _store_requests(lambda s: s.queue())
    assert _allowed(statements, "dynamodb:Scan", REVIEW, {**ctx, **_context(op, params)})
    # When it asks for whole items / Then it is refused
    assert not _allowed(statements, "dynamodb:Scan", REVIEW,
                        {**ctx, **_context("Scan", {"TableName": "review_tasks"})})


def test_the_scan_attributes_are_ids_leases_and_states():
    # the set the policy allows a Scan to read: keys, the gate's document map, its release and
    # the double-entry state; never the token (settings is the one source of truth)
    assert set(settings.REVIEW_SCAN_ATTRIBUTES) == {
        settings.REVIEW_TASKS.partition_key, settings.REVIEW_TASKS.sort_key, "docs", "released_at", "state"
    }
    assert "task_token" not in settings.REVIEW_SCAN_ATTRIBUTES


def test_the_supervisor_reads_a_gate_only_projected_never_its_token(synth):
    supervisor = _statements(synth, "PeopleSupervisorPolicy")
    ctx = _office("dynamodb")
    # Given the read of one batch's gate the review server makes when it lists the queue
    ((op, params),) = _store_requests(lambda s: s.queue("b1"))
    projected = _context(op, params)
    # Then the supervisor may make it (ids and leases only)
    assert op == "GetItem" and "task_token" not in projected["dynamodb:Attributes"]
    assert _allowed(supervisor, "dynamodb:GetItem", REVIEW, {**ctx, **projected})
    # But not the whole item (get_gate: the token comes with it), nor a projection of the token
    ((op, params),) = _store_requests(lambda s: s._item("b1"))
    assert not _allowed(supervisor, "dynamodb:GetItem", REVIEW, {**ctx, **_context(op, params)})
    token = _context("GetItem", {"TableName": "review_tasks", "Key": {"batch_id": {"S": "b1"}},
                                 "ProjectionExpression": "batch_id, task_token"})
    assert not _allowed(supervisor, "dynamodb:GetItem", REVIEW, {**ctx, **token})
