"""Review gate and download acknowledgement: stores Step Functions task tokens and completes
them. Minimal in issue 4 (issue 5 moves storage behind a domain port).

Events (ids only):
    {"action": "wait", "batch_id": str, "task_kind": "review"|"ack", "task_token": str}
        from the state machine (waitForTaskToken): remember the token.
    {"action": "complete", "batch_id": str, "task_kind": "review"|"ack"}
        from the agent (over the Lambda interface endpoint): resume the execution.
"""

from __future__ import annotations

import os
import re
import time
from functools import cache

from yomitori import batch, settings


@cache
def _clients():
    import boto3  # built lazily: no AWS client at import time

    table = boto3.resource("dynamodb").Table(os.environ[settings.ENV_REVIEW_TABLE])
    return table, boto3.client("stepfunctions")


def handler(event: dict, context: object) -> dict:
    batch_id = event["batch_id"]
    kind = event["task_kind"]
    if not re.match(batch.BATCH_ID_PATTERN, batch_id) or kind not in (
        settings.TASK_KIND_REVIEW, settings.TASK_KIND_ACK):
        raise ValueError("batch_id or task_kind is not valid")
    table, sfn = _clients()
    key = {settings.REVIEW_TASKS.partition_key: batch_id, settings.REVIEW_TASKS.sort_key: kind}
    if event["action"] == "wait":
        days = int(os.environ.get(settings.ENV_RETENTION_DAYS, "1"))
        table.put_item(Item={**key, "task_token": event["task_token"],
                             settings.TTL_ATTRIBUTE: int(time.time()) + 86400 * (days + 1)})
        return {"batch_id": batch_id, "task_kind": kind, "stored": True}
    item = table.get_item(Key=key).get("Item")
    if item is None:
        return {"batch_id": batch_id, "task_kind": kind, "completed": False}
    sfn.send_task_success(taskToken=item["task_token"], output='{"ok": true}')
    table.delete_item(Key=key)
    return {"batch_id": batch_id, "task_kind": kind, "completed": True}
