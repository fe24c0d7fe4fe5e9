"""Review gate, reviewer actions and the download acknowledgement (one function).

Events ("action" picks one; shapes in yomitori.steps.events, documented in docs/cloud.md):
  wait      {"batch_id", "task_kind": "review"|"ack", "task_token"}   from the state machine
  complete  {"batch_id", "task_kind", "who"}                          the agent acknowledges
No reviewer actions: people review through the agent's review page as themselves (an event
naming a reviewer is refused as a bad event). Refusals come back as
{"ok": false, "error": code, ...} with reason codes, never values.
"""

from __future__ import annotations

from yomitori.observability import bind, lambda_entry
from yomitori.steps import events, service
from yomitori.steps.review import ReviewRefused
from yomitori.steps.runtime import boundary
from yomitori.store.base import GateMissing, LeaseConflict


@lambda_entry
@boundary(ReviewRefused, LeaseConflict, GateMissing)
def lambda_handler(event: dict, context: object) -> dict:
    req = events.parse(event, events.ReviewEvent)
    bind(batch_id=getattr(req, "batch_id", None), document_id=getattr(req, "document_id", None))
    return service.review(req, context)


handler = lambda_handler
