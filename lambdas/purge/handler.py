"""Purge step: every object and version of the batch in both buckets and its transient table
items deleted, then a deletion record written (counts, time, who; no content).

Event: {"batch_id", "triggered_by" (optional, a login id or "state-machine")}
Returns: the deletion record + "remaining": 0 (it fails if anything is still listed).
"""

from __future__ import annotations

from yomitori.observability import bind, lambda_entry
from yomitori.steps import events, service
from yomitori.steps.runtime import boundary


@lambda_entry
@boundary()
def lambda_handler(event: dict, context: object) -> dict:
    req = events.parse(event, events.PurgeEvent)
    bind(batch_id=req.batch_id)
    return service.purge(req, context)


handler = lambda_handler
