"""The OCR step: one page object of a batch -> the engine's raw output and the extracted
fields, stored next to the batch as ``<batch>/ocr/<document>.json``. Runs in Lambda (``ocr``)
and in the local cloud runner.

A page object that is a multi-page TIFF or PDF gives one document per page (or per N pages of
a ``pages: N`` form), stored as ``<batch>/ocr/<file>-p01.json`` ...; the object's own OCR key
then holds only their ids (``{"documents": [...]}``) and the validate step routes each. The
state machine still sees one item per uploaded object, with ids only.

A page that cannot be read (missing, not an image, wrong checksum, engine failure) is
recorded as a result with an error code and the batch carries on: the step returns normally,
so a poison page never stops the Map over the other pages. Transient storage errors are
raised, so Step Functions retries them.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from dataclasses import dataclass
from typing import Any

from yomitori.batch import PageEntry, document_id_for, ocr_key, page_key
from yomitori.errors import EngineError, YomitoriError
from yomitori.extract.classify import AUTO, FORM_NOT_RECOGNISED  # noqa: F401 - re-exported
from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, Word
from yomitori.results import DocumentError, DocumentResult
from yomitori.store.base import ObjectMissing, ResultStore

PAGE_MISSING = "page_missing"
CHECKSUM_MISMATCH = "checksum_mismatch"
SIZE_MISMATCH = "size_mismatch"
ENGINE_FAILED = "engine_failed"
UNKNOWN_FORM = "unknown_form"

_RESCAN = "Rescan the page and add it to a new batch."
_REUPLOAD = "Upload the batch again with `yomitori-agent upload` (the page did not arrive intact)."


class RecordingEngine(OcrEngine):
    """Passes reads to the real engine and keeps what it returned (the raw engine output we
    store). Any crash inside the engine becomes an :class:`EngineError` (``engine_failed``)."""

    def __init__(self, inner: OcrEngine):
        self.inner = inner
        self.name = inner.name
        self.reads_pages = inner.reads_pages
        self.reads_cells = inner.reads_cells
        self.reads_digit_votes = inner.reads_digit_votes
        self.words: list[Word] = []
        self.readings: list[dict] = []

    @contextlib.contextmanager
    def _engine_call(self):
        try:
            yield
        except YomitoriError:
            raise
        except Exception as e:  # an engine bug must cost one page, not the batch
            raise EngineError(
                f"The {self.name} engine failed ({type(e).__name__}).", code=ENGINE_FAILED, action=_RESCAN
            ) from None

    def read_field(self, crop: Any, hint: FieldHint) -> Reading:
        with self._engine_call():
            r = self.inner.read_field(crop, hint)
        self.readings.append({"field": hint.name, "text": r.text, "confidence": r.confidence})
        return r

    def digit_readings(self, crop: Any, hint: FieldHint, *, spare: bool = False) -> list[Reading]:
        with self._engine_call():
            out = self.inner.digit_readings(crop, hint, spare=spare)
        for r in out:
            self.readings.append({"field": hint.name, "via": "digit_readings", "text": r.text,
                                  "confidence": r.confidence})
        return out

    def read_page(self, page: Any) -> list[Word]:
        with self._engine_call():
            words = self.inner.read_page(page)
        self.words.extend(words)
        return words


def extract_any(
    data: bytes, form_id: str, engine: OcrEngine, *, batch_id: str, document_id: str, source: str
) -> DocumentResult:
    """Extract a one-page file with ``form_id``, or with ``auto`` (the agent's default): the
    page's form is found by :func:`yomitori.extract.classify.classify_page` (the same
    classifier `yomitori process --form auto` uses)."""
    from yomitori.extract.images import open_scan
    from yomitori.extract.intake import PageGroup, read_group

    scan = open_scan(data, name=source)
    return read_group(scan, PageGroup(document_id, tuple(range(scan.count))), form_id, engine,
                      batch_id=batch_id, source=source)


@functools.cache
def engine_for(name: str, region: str = "") -> OcrEngine:
    """One engine per process (engines hold models and clients)."""
    from yomitori.ocr.engine import get_engine

    return get_engine(name, region=region) if name == "textract" else get_engine(name)


@dataclass
class OcrOutcome:
    batch_id: str
    document_id: str
    form_id: str
    ocr_key: str
    error: str | None
    engine: str
    ocr_ms: int

    def payload(self) -> dict:
        """What goes back to the state machine: ids, keys, an error code, a duration."""
        return dict(self.__dict__)


_manifests: dict[str, list[PageEntry]] = {}


def manifest_page(store: ResultStore, batch_id: str, ordinal: int) -> PageEntry:
    """The ``ordinal``-th page (from 1) of the batch's manifest (read once per batch and
    process: a manifest never changes). Raises YomitoriError when there is no such page."""
    if ordinal > len(_manifests.get(batch_id, ())):  # not read yet (or a retry after a re-upload)
        if len(_manifests) > 64:
            _manifests.clear()
        _manifests[batch_id] = list(store.get_manifest(batch_id).pages)
    pages = _manifests[batch_id]
    if not 1 <= ordinal <= len(pages):
        raise YomitoriError(
            f"Page {ordinal} of the batch is not in its manifest ({len(pages)} pages).",
            code=PAGE_MISSING,
            action=_REUPLOAD,
        )
    return pages[ordinal - 1]


def _failure(code: str, message: str, action: str) -> DocumentError:
    return DocumentError(code=code, message=message, action=action)


def _check_intact(data: bytes, page: PageEntry) -> None:
    if len(data) != page.size:
        raise YomitoriError(
            f"Page '{page.name}' has a different size than the manifest says.",
            code=SIZE_MISMATCH,
            action=_REUPLOAD,
        )
    if hashlib.sha256(data).hexdigest() != page.sha256:
        raise YomitoriError(
            f"Page '{page.name}' does not match its SHA-256 in the manifest.",
            code=CHECKSUM_MISMATCH,
            action=_REUPLOAD,
        )


def _read_one(scan: Any, group: Any, form_id: str, engine: OcrEngine, *, batch_id: str,
              page: PageEntry) -> tuple[DocumentResult, RecordingEngine]:
    from yomitori.extract.intake import read_group

    recorder = RecordingEngine(engine)
    doc = DocumentResult(batch_id=batch_id, document_id=group.document_id, source=page.name,
                         form_id=form_id, source_page=group.source_pages[0])
    try:
        doc = read_group(scan, group, form_id, recorder, batch_id=batch_id, source=page.name)
    except YomitoriError as e:  # DocumentError, EngineError (incl. throttling), unknown form ...
        doc.error = _failure(e.code, e.message, e.action)
    doc.page_keys = [page_key(batch_id, page.name)]
    return doc, recorder


def _store(store: ResultStore, engine: OcrEngine, doc: DocumentResult, recorder: RecordingEngine) -> str:
    return store.put_json(
        ocr_key(doc.batch_id, doc.document_id),
        {
            "engine": engine.name,
            "words": [
                {"text": w.text, "box": list(w.box), "confidence": w.confidence} for w in recorder.words
            ],
            "readings": recorder.readings,
            "result": doc.model_dump(mode="json"),
        },
    )


def ocr_page(
    store: ResultStore,
    engine: OcrEngine,
    *,
    batch_id: str,
    form_id: str,
    page: PageEntry,
    document_id: str | None = None,
) -> OcrOutcome:
    """Read one page object and store ``{"engine", "words", "readings", "result"}`` at the OCR
    key. ``result`` is the extracted :class:`DocumentResult` (no statuses yet) or one with
    ``error`` set. A multi-page object stores one such object per document and an index
    ``{"engine", "documents": [ids]}`` at its own key; the outcome's ``error`` is then set only
    when no document of it could be read. Idempotent: a retry writes the same objects."""
    from yomitori.extract.images import open_scan
    from yomitori.extract.intake import pages_per_document, plan_documents

    document_id = document_id or document_id_for(page.name)
    doc = DocumentResult(
        batch_id=batch_id,
        document_id=document_id,
        source=page.name,
        form_id=form_id,
        page_keys=[page_key(batch_id, page.name)],
    )
    recorder = RecordingEngine(engine)
    started = time.perf_counter()
    groups: list = []
    try:
        data = store.get_page(batch_id, page.name)
        _check_intact(data, page)
        scan = open_scan(data, name=page.name)
        groups = plan_documents(scan.count, document_id, pages_per_document(form_id))
    except ObjectMissing:
        doc.error = _failure(
            PAGE_MISSING, f"Page '{page.name}' is listed in the manifest but was not uploaded.", _REUPLOAD
        )
    except YomitoriError as e:  # DocumentError (not an image ...), unknown form, size, checksum
        doc.error = _failure(e.code, e.message, e.action)
    if len(groups) == 1 and groups[0].document_id == document_id:
        doc, recorder = _read_one(scan, groups[0], form_id, engine, batch_id=batch_id, page=page)
        groups = []
    if groups:
        docs = []
        for group in groups:
            sub, rec = _read_one(scan, group, form_id, engine, batch_id=batch_id, page=page)
            _store(store, engine, sub, rec)
            docs.append(sub)
        key = store.put_json(ocr_key(batch_id, document_id),
                             {"engine": engine.name, "documents": [d.document_id for d in docs]})
        readable = [d for d in docs if d.ok]
        error = None if readable else docs[0].error.code
        found = {d.form_id for d in readable if d.form_id}
        out_form = found.pop() if len(found) == 1 else form_id
    else:
        key = _store(store, engine, doc, recorder)
        error = doc.error.code if doc.error else None
        out_form = doc.form_id or form_id
    ms = int((time.perf_counter() - started) * 1000)
    return OcrOutcome(
        batch_id=batch_id,
        document_id=document_id,
        form_id=out_form,
        ocr_key=key,
        error=error,
        engine=engine.name,
        ocr_ms=ms,
    )
