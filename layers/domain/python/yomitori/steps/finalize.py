"""The finalize step: every document result of a batch -> ``results.json`` and
``results.csv`` next to the batch (SSE-KMS in the cloud). Runs in Lambda (``finalize``) and
in the local cloud runner; the CSV is written by the same ``yomitori.export`` as ``process``."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from yomitori.batch import cloud_document_id, page_key
from yomitori.cost import PriceTable, estimate
from yomitori.results import DocumentError, DocumentResult
from yomitori.store.base import ResultStore, StoreError

RESULTS_SCHEMA_VERSION = 1
PAGE_NOT_PROCESSED = "page_not_processed"


def csv_form_id(docs: list[DocumentResult], form_id: str) -> str:
    """The form whose columns the CSV gets. For ``auto`` batches: the form most documents were
    read as (a batch holds one form in practice; documents of another form keep their values in
    results.json, and their columns of this form stay empty in the CSV)."""
    if form_id != "auto":
        return form_id
    from collections import Counter

    from yomitori.forms import available_forms

    found = Counter(d.form_id for d in docs if d.form_id and d.form_id != "auto")
    return found.most_common(1)[0][0] if found else available_forms()[0]


def unprocessed_pages(
    store: ResultStore, batch_id: str, form_id: str, seen: set[str], sources: set[str] = frozenset()
) -> list[DocumentResult]:
    """A failure result for every manifest page that has no document result (its OCR step
    failed for good and the flow recorded it in the audit table only), so every page of the
    batch is in results.csv. Without read access to the manifest: none."""
    try:
        manifest = store.get_manifest(batch_id)
    except StoreError:
        return []
    return [
        DocumentResult(
            batch_id=batch_id,
            document_id=cloud_document_id(batch_id, i),
            source=p.name,
            form_id=form_id,
            page_keys=[page_key(batch_id, p.name)],
            error=DocumentError(
                code=PAGE_NOT_PROCESSED,
                message="This page could not be processed.",
                action="Rescan the page and add it to a new batch.",
            ),
        )
        for i, p in enumerate(manifest.pages, start=1)
        if cloud_document_id(batch_id, i) not in seen and p.name not in sources
    ]


def finalize_batch(
    store: ResultStore,
    *,
    batch_id: str,
    form_id: str,
    encoding: str = "utf-8-sig",
    engine: str = "ppocr",
    prices: PriceTable | None = None,
) -> dict:
    """Write the batch's results. ``encoding``: ``utf-8-sig`` (UTF-8 with BOM) or ``cp932``.
    results.json carries the batch's cost estimate (``yomitori.cost``; ``engine`` read the pages,
    ``prices`` is the configured price table). Returns ids, keys and counts (documents, failed,
    characters cp932 could not hold). Idempotent: the same stored documents give the same two
    objects."""
    from concurrent.futures import ThreadPoolExecutor

    from yomitori.export import write_results_csv
    from yomitori.forms import load_form

    with ThreadPoolExecutor(max_workers=8) as pool:  # hundreds of small objects: read them in parallel
        docs: list[DocumentResult] = list(
            pool.map(lambda d: store.get_document(batch_id, d), store.list_documents(batch_id))
        )
    docs += unprocessed_pages(store, batch_id, form_id, {d.document_id for d in docs},
                              {d.source for d in docs})
    docs.sort(key=lambda d: d.document_id)
    form = load_form(csv_form_id(docs, form_id))
    payload = {
        "schema_version": RESULTS_SCHEMA_VERSION,
        "batch_id": batch_id,
        "form_id": form_id,
        "documents": [d.model_dump(mode="json") for d in docs],
        "cost_estimate": estimate(len(docs), engine=engine, prices=prices),
    }
    with tempfile.TemporaryDirectory(prefix="yomitori-finalize-") as tmp:
        path = Path(tmp) / "results.csv"
        report = write_results_csv(docs, form, path, encoding=encoding)
        csv_bytes = path.read_bytes()
    json_key, csv_key = store.write_results(
        batch_id, json.dumps(payload, ensure_ascii=False).encode(), csv_bytes
    )
    return {
        "batch_id": batch_id,
        "results_json_key": json_key,
        "results_csv_key": csv_key,
        "documents": len(docs),
        "failed": sum(1 for d in docs if not d.ok),
        "held_fields": sum(len(d.held()) for d in docs),
        "held_documents": sum(1 for d in docs if d.held()),
        "encoding": encoding,
        "replaced_characters": report.replaced_total,
    }
