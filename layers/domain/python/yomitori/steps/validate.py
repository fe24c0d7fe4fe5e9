"""The validate step: the extracted fields of one document -> validators and routing ->
the document result at ``<batch>/documents/<document>.json``. Runs in Lambda (``validate``)
and in the local cloud runner; routing is the same code the one-machine ``process`` uses."""

from __future__ import annotations

from collections.abc import Mapping

from yomitori.results import DocumentError, DocumentResult
from yomitori.store.base import ObjectMissing, ResultStore

OCR_MISSING = "ocr_output_missing"


def validate_document(
    store: ResultStore, *, batch_id: str, document_id: str, thresholds: Mapping[str, float] | None = None
) -> dict:
    """Route the document and store its result. Returns ids, counts, reason codes, the key
    and ``needs_person`` (never a value). A page that failed OCR is stored with its error.
    Idempotent: the same input gives the same stored result."""
    from yomitori.forms import load_form
    from yomitori.validation import route_document

    try:
        doc = DocumentResult.model_validate(store.get_ocr(batch_id, document_id)["result"])
    except ObjectMissing:
        doc = DocumentResult(
            batch_id=batch_id,
            document_id=document_id,
            source=document_id,
            error=DocumentError(
                code=OCR_MISSING, message="The page was never read.", action="Run the batch again."
            ),
        )
    if doc.ok and doc.form_id:
        route_document(load_form(doc.form_id), doc, thresholds=thresholds)
    key = store.put_document(doc)
    return {**doc.summary(), "needs_person": doc.needs_person, "document_key": key}
