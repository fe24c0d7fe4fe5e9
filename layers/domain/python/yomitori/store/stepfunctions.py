"""Releasing the review gate in the cloud: ``SendTaskSuccess`` for the task token the state
machine waits on (Lambda ``review``; the agent's review page in cloud mode)."""

from __future__ import annotations

import json
from typing import Any

from yomitori.store.base import GateReleaser


class StepFunctionsGateReleaser(GateReleaser):
    """``SendTaskSuccess`` for the task token the review gate is waiting on."""

    def __init__(self, *, client: Any | None = None):
        self._client = client

    def release(self, task_token: str, output: dict) -> None:
        if self._client is None:
            from yomitori.store.clients import client

            self._client = client("stepfunctions")
        self._client.send_task_success(taskToken=task_token, output=json.dumps(output))
