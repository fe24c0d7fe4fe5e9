"""OCR step (one page of a batch). Minimal in issue 4; issue 5 reads the page.

Event (from the Distributed Map item selector; ids and keys only):
    {"batch_id": str, "form_id": str, "page": {"name": str, "size": int, "sha256": str}}
Returns: {"batch_id", "document_id", "form_id", "page_key", "ocr_key"}.
"""

from __future__ import annotations

import os

from yomitori import batch, settings
from yomitori.forms import load_form


def handler(event: dict, context: object) -> dict:
    engine = os.environ.get(settings.ENV_OCR_ENGINE, "tesseract")
    region = os.environ.get(settings.ENV_OCR_REGION, "")
    allowed = [r for r in os.environ.get(settings.ENV_ALLOWED_REGIONS, "").split(",") if r]
    # Refuse before any image leaves the function (a misconfigured deployment fails closed).
    settings.check_residency(engine, region, allowed)
    form_id = event["form_id"]
    if form_id != "auto":
        load_form(form_id)  # fails with a clear UnknownFormError for a form that is not shipped
    page = batch.PageEntry.model_validate(event["page"])
    document_id = batch.document_id_for(page.name)
    return {
        "batch_id": event["batch_id"],
        "document_id": document_id,
        "form_id": form_id,
        "page_key": batch.page_key(event["batch_id"], page.name),
        "ocr_key": batch.ocr_key(event["batch_id"], document_id),
    }
