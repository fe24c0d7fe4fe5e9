"""The policy guard itself: a call outside the synthesized agent policy is refused with AWS's
403 and fails the test; a call inside it reaches moto; conditions are evaluated."""

from __future__ import annotations

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from support.policy_guard import AGENT_ACCESS_KEY, Deployment, guard_agent

B1 = "city-test-20260401-091500-3fa2c1"  # a batch of the guarded agent's client (city-test)


def _as_agent(guard, service: str):
    env = guard.env()
    return boto3.client(service, endpoint_url=env["AWS_ENDPOINT_URL"], region_name="ap-northeast-1",
                        aws_access_key_id=AGENT_ACCESS_KEY, aws_secret_access_key="x",
                        config=Config(retries={"max_attempts": 1}))


@pytest.fixture
def guard(moto_server, guard_for, stack_template):
    g = guard_for(moto_server)
    yield g
    g.reset()  # this module makes forbidden calls on purpose; they must not leak into others


def test_a_call_outside_the_agent_policy_is_refused_and_fails_the_test(site, guard):
    # Given a guarded site with a results document
    admin = site.s3()
    admin.put_object(Bucket=site.results, Key=f"{B1}/documents/d-1.json", Body=b"{}")
    agent = _as_agent(guard, "s3")
    # When the agent reads the document (granted) and then deletes it (not granted)
    assert agent.get_object(Bucket=site.results, Key=f"{B1}/documents/d-1.json")["Body"].read() == b"{}"
    with pytest.raises(ClientError) as e:
        agent.delete_object(Bucket=site.results, Key=f"{B1}/documents/d-1.json")
    # Then the delete was answered 403 AccessDenied and never reached moto
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert admin.get_object(Bucket=site.results, Key=f"{B1}/documents/d-1.json")["Body"].read() == b"{}"
    # And the guard names it, and check() (what the fixtures run at the end of a test) fails
    assert [(c.action, c.resource) for c in guard.violations] == [
        ("s3:DeleteObject", f"arn:aws:s3:::{site.results}/{B1}/documents/d-1.json")
    ]
    with pytest.raises(AssertionError, match="outside the policy"):
        guard.check()
    guard.reset()


def test_conditions_count_a_review_call_from_outside_the_client_allow_list_is_refused(
    site, guard, stack_template
):
    # Given the review table bound to the agent policy (granted only from the client allow-list)
    ddb_admin = site.server.client("dynamodb")
    table = f"review-{site.intake[-8:]}"
    ddb_admin.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "batch_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "batch_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    guard_agent(guard, stack_template, Deployment(site.intake, site.results, tables={"review_tasks": table}))
    ddb = _as_agent(guard, "dynamodb")
    # When the agent reads the gate from an external PC, then from an address not on the list
    ddb.get_item(TableName=table, Key={"batch_id": {"S": B1}})
    guard.source_ip = "192.0.2.10"
    try:
        with pytest.raises(ClientError) as e:
            ddb.get_item(TableName=table, Key={"batch_id": {"S": B1}})
    finally:
        guard.source_ip = "10.0.10.15"
    # Then only the second was refused
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    assert [c.allowed for c in guard.checked("agent")] == [True, False]
    guard.reset()


def test_what_the_guard_cannot_map_is_refused_and_unguarded_keys_pass(site, guard):
    # Given the agent's key and the tests' own key
    agent = _as_agent(guard, "sqs")
    admin = boto3.client("sqs", endpoint_url=guard.url, region_name="ap-northeast-1",
                         aws_access_key_id="testing", aws_secret_access_key="testing")
    # When the agent calls a service the guard does not know
    with pytest.raises(ClientError):
        agent.list_queues()
    # Then it is refused as unmapped; the tests' own key is not judged at all
    assert [c.action.split(":")[0] for c in guard.violations] == ["sqs"]
    admin.list_queues()
    assert len(guard.checked()) == 1
    guard.reset()
