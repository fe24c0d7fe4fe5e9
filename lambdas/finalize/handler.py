"""Finalize step: results (JSON + CSV) into the results bucket. Minimal in issue 4; issue 5
writes them with yomitori.export.

Event: {"batch_id": str, "form_id": str}
Returns: {"batch_id", "results_json_key", "results_csv_key"}.
"""

from __future__ import annotations

from yomitori import batch
from yomitori.forms import load_form


def handler(event: dict, context: object) -> dict:
    batch_id = event["batch_id"]
    if event.get("form_id", "auto") != "auto":
        load_form(event["form_id"])  # the export mapping comes from the form definition
    return {
        "batch_id": batch_id,
        "results_json_key": batch.results_json_key(batch_id),
        "results_csv_key": batch.results_csv_key(batch_id),
    }
