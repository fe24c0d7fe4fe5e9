"""Releasing the review gate in the cloud: ``SendTaskSuccess`` for the task token the state
machine waits on (Lambda ``review``; the agent's review page in cloud mode)."""

from __future__ import annotations

import json
from typing import Any

from yomitori.store.base import GateMissing, GateReleaser

# The flow no longer waits on this token: the gate's heartbeat or timeout ran out (the batch
# was ended and purged), or it was released already.
_GONE = {"TaskTimedOut", "TaskDoesNotExist", "InvalidToken"}


class StepFunctionsGateReleaser(GateReleaser):
    """``SendTaskSuccess`` for the task token the review gate is waiting on."""

    def __init__(self, *, client: Any | None = None):
        self._client = client

    def _sfn(self) -> Any:
        if self._client is None:
            from yomitori.store.clients import client

            self._client = client("stepfunctions")
        return self._client

    def release(self, task_token: str, output: dict) -> None:
        self._sfn().send_task_success(taskToken=task_token, output=json.dumps(output))

    def heartbeat(self, task_token: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._sfn().send_task_heartbeat(taskToken=task_token)
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _GONE:
                raise GateMissing(
                    "The batch no longer waits for review: its review time ran out.",
                    action="Nothing can be stored for this batch any more; scan and send it again.",
                ) from None
            raise
