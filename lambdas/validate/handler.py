"""Validate step (one document): validators and routing, the document result stored.

Event: {"batch_id", "document_id", ...}   (the OCR step's output passes through)
Returns: the document summary (ids, counts, error code) + "needs_person" + "document_key".
"""

from __future__ import annotations

from yomitori.observability import bind, lambda_entry
from yomitori.steps import events, service
from yomitori.steps.runtime import boundary


@lambda_entry
@boundary()
def lambda_handler(event: dict, context: object) -> dict:
    req = events.parse(event, events.ValidateEvent)
    bind(batch_id=req.batch_id, document_id=req.document_id)
    return service.validate(req, context)


handler = lambda_handler
