"""Review gates' task tokens on the wire: a real moto server behind the policy guard with the
synthesized agent policy. An office's PC lists every client's open gates (ids and leases) but
reads a task token — the bearer credential that releases a gate — only of its own client's
batch; a Scan that would return tokens never reaches the table."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from support.policy_guard import AGENT_ACCESS_KEY, AGENT_CLIENT_ID, Deployment, guard_agent
from yomitori import settings
from yomitori.batch import new_batch_id
from yomitori.store.dynamo import DynamoReviewStore


@pytest.fixture
def guard(moto_server, guard_for, stack_template):
    g = guard_for(moto_server)
    yield g
    g.reset()  # this module makes forbidden calls on purpose; they must not leak into others


def _as_agent(guard):
    return boto3.client("dynamodb", endpoint_url=guard.url, region_name="ap-northeast-1",
                        aws_access_key_id=AGENT_ACCESS_KEY, aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


def _denied(call) -> None:
    with pytest.raises(ClientError) as e:
        call()
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"


def test_an_office_lists_every_gate_but_reads_only_its_own_clients_task_token(site, guard, stack_template):
    # Given the review table with an open gate of this PC's client and one of another client
    admin = site.server.client("dynamodb")
    table = f"review-tasks-{site.intake[-8:]}"
    pk, sk = settings.REVIEW_TASKS.partition_key, settings.REVIEW_TASKS.sort_key
    admin.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": pk, "KeyType": "HASH"}, {"AttributeName": sk, "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": pk, "AttributeType": "S"},
                              {"AttributeName": sk, "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    mine, theirs = new_batch_id(AGENT_CLIENT_ID), new_batch_id("city-other")
    setup = DynamoReviewStore(table, "unused", client=admin)
    setup.open_gate(mine, "tok-mine", ["d-1"])
    setup.open_gate(theirs, "tok-theirs", ["d-9"])
    guard_agent(guard, stack_template, Deployment(site.intake, site.results, tables={"review_tasks": table}))
    guard.reset()
    ddb = _as_agent(guard)
    store = DynamoReviewStore(table, "unused", client=ddb)

    # When the review page lists the queue (a Scan of every gate)
    queue = store.queue()
    # Then it sees both gates' documents, and the Scan's answer carried no token
    assert {(q.batch_id, q.document_id) for q in queue} == {(mine, "d-1"), (theirs, "d-9")}
    assert [c.allowed for c in guard.checked("agent")] == [True]
    raw = ddb.scan(TableName=table, ProjectionExpression="#p, docs", Select="SPECIFIC_ATTRIBUTES",
                   ExpressionAttributeNames={"#p": pk})
    assert raw["Items"] and all("task_token" not in i for i in raw["Items"])

    # When the PC scans for whole items, or projects the token / Then the guard refuses both
    _denied(lambda: ddb.scan(TableName=table))
    _denied(lambda: ddb.scan(TableName=table, ProjectionExpression="#p, task_token",
                             ExpressionAttributeNames={"#p": pk}))

    # When it reads its own batch's gate (to release it or send its heartbeat) / Then the
    # token is there; and another client's gate, by GetItem or Query, is refused
    def batch_items(batch):
        return ddb.query(TableName=table, KeyConditionExpression="#p = :p",
                         ExpressionAttributeNames={"#p": pk},
                         ExpressionAttributeValues={":p": {"S": batch}})["Items"]

    assert store.get_gate(mine).task_token == "tok-mine"
    assert [i["task_token"]["S"] for i in batch_items(mine)] == ["tok-mine"]
    _denied(lambda: store.get_gate(theirs))
    _denied(lambda: batch_items(theirs))
    assert store.verifications(mine) == []
    _denied(lambda: store.verifications(theirs))
    # And the refused calls never reached the table: the other client's gate is as it was
    assert setup.get_gate(theirs).task_token == "tok-theirs"
    assert [(c.action, c.allowed) for c in guard.violations] == [
        ("dynamodb:Scan", False), ("dynamodb:Scan", False), ("dynamodb:GetItem", False),
        ("dynamodb:Query", False), ("dynamodb:Query", False),
    ]
