"""OCR step (one page of a batch; inside the state machine's Map).

Event: {"batch_id", "form_id", "ordinal"}   (ids only: the page is the manifest's ordinal-th)
Returns: {"batch_id", "document_id", "form_id", "ocr_key", "error", "engine", "ocr_ms"};
a page that cannot be read comes back with "error" set (a code) and the Map goes on.
"""

from __future__ import annotations

from yomitori.batch import cloud_document_id
from yomitori.observability import bind, lambda_entry
from yomitori.steps import events, service
from yomitori.steps.runtime import boundary


@lambda_entry
@boundary()
def lambda_handler(event: dict, context: object) -> dict:
    req = events.parse(event, events.OcrEvent)
    bind(batch_id=req.batch_id, document_id=cloud_document_id(req.batch_id, req.ordinal))
    return service.ocr(req, context)


handler = lambda_handler  # the name the first stack used
