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
        ocr = store.get_ocr(batch_id, document_id)
        if "documents" in ocr:  # a multi-page object: one document per page (or page group)
            return _validate_many(store, batch_id, document_id, ocr["documents"], thresholds)
        doc = DocumentResult.model_validate(ocr["result"])
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


def _validate_many(store: ResultStore, batch_id: str, document_id: str, ids: list[str],
                   thresholds: Mapping[str, float] | None) -> dict:
    """Route every document of a multi-page object; the counts are their sums, ``error`` is
    set only when none of them could be read, the key is the first document's."""
    outs = [validate_document(store, batch_id=batch_id, document_id=d, thresholds=thresholds) for d in ids]
    readable = [o for o in outs if not o["error"]]
    forms = {o["form_id"] for o in readable if o["form_id"]}
    total = {k: sum(o[k] for o in outs) for k in ("accepted", "needs_review", "invalid", "corrected")}
    return {
        "batch_id": batch_id,
        "document_id": document_id,
        "form_id": forms.pop() if len(forms) == 1 else None,
        "error": None if readable else outs[0]["error"],
        **total,
        "needs_person": any(o["needs_person"] for o in outs),
        "document_key": outs[0]["document_key"],
        "documents": len(outs),
    }
