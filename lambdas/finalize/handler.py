"""Finalize step: results.json and results.csv (UTF-8 with BOM, or cp932) for the batch.

Event: {"batch_id", "form_id", "encoding": "utf-8-sig"|"cp932" (optional)}
Returns: {"batch_id", "results_json_key", "results_csv_key", "documents", "failed", ...}.
"""

from __future__ import annotations

from yomitori.observability import bind, lambda_entry
from yomitori.steps import events, service
from yomitori.steps.runtime import boundary


@lambda_entry
@boundary()
def lambda_handler(event: dict, context: object) -> dict:
    req = events.parse(event, events.FinalizeEvent)
    bind(batch_id=req.batch_id)
    return service.finalize(req, context)


handler = lambda_handler
