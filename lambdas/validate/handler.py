"""Validate step (one document). Minimal in issue 4; issue 5 reads the OCR object from S3.

Event: {"batch_id": str, "document_id": str, "form_id": str}
Returns the document summary (ids, counts, reason codes only) plus "needs_person".
"""

from __future__ import annotations

import json
import os

from yomitori import batch, settings
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult
from yomitori.validation import route_document


def handler(event: dict, context: object) -> dict:
    form = load_form(event["form_id"])
    thresholds = json.loads(os.environ.get(settings.ENV_THRESHOLDS, "{}"))
    doc = DocumentResult(
        batch_id=event["batch_id"],
        document_id=event["document_id"],
        source=event["document_id"],
        form_id=form.id,
        fields={f.name: FieldResult() for f in form.fields},
    )
    route_document(form, doc, thresholds=thresholds)
    return {
        **doc.summary(),
        "needs_person": doc.needs_person,
        "document_key": batch.document_key(doc.batch_id, doc.document_id),
    }
