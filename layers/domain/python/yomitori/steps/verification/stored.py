"""Where an entry waits between the second entry and the decision: in the results area
beside the document (never in the review store, which holds no value). Runs in Lambda and
the agent."""

from __future__ import annotations

import json

from yomitori.store.base import ObjectMissing, ResultStore, VerifyTask


def entry_key(batch_id: str, document_id: str, field: str) -> str:
    """Where a second entry waits for the decision (under the document's prefix, not ``.json``,
    so it is never listed as a document, and purged with the batch)."""
    from yomitori.batch import document_key

    return document_key(batch_id, document_id)[: -len(".json")] + f".{field}.verify"


def put_entry(results: ResultStore, task: VerifyTask, entry: dict[str, str]) -> None:
    """Store ``{"second": ...}`` after a mismatch, or ``{"final": ...}`` after the decision
    (which replaces it: no second value is kept beyond that point)."""
    results.put_bytes(
        entry_key(task.batch_id, task.document_id, task.field), json.dumps(entry).encode(), "application/json"
    )


def read_entry(results: ResultStore, task: VerifyTask, which: str) -> str:
    """The stored ``which`` (``second`` or ``final``) of ``task``; "" when there is none."""
    try:
        return json.loads(results.get_bytes(entry_key(task.batch_id, task.document_id, task.field)))[which]
    except (ObjectMissing, KeyError):
        return ""
