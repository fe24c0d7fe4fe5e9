"""The OCR step: one page of a batch -> the engine's raw output and the extracted fields,
stored next to the batch as ``<batch>/ocr/<document>.json``. Runs in Lambda (``ocr``) and in
the local cloud runner.

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


AUTO = "auto"
FORM_NOT_RECOGNISED = "form_not_recognised"


def extract_any(
    data: bytes, form_id: str, engine: OcrEngine, *, batch_id: str, document_id: str, source: str
) -> DocumentResult:
    """Extract with ``form_id``, or with ``auto`` (the agent's default): try each installed form
    until one's printed form code matches. Only ``wrong_form`` moves on to the next form; any
    other problem (not an image, blank, no registration marks) is the page's, whatever the form."""
    from yomitori.errors import DocumentError as PageError
    from yomitori.extract import extract_document
    from yomitori.forms import available_forms, load_form

    if form_id != AUTO:
        return extract_document(
            data, load_form(form_id), engine, batch_id=batch_id, document_id=document_id, source=source
        )
    for candidate in available_forms():
        try:
            return extract_document(
                data, load_form(candidate), engine, batch_id=batch_id, document_id=document_id, source=source
            )
        except PageError as e:
            if e.code != "wrong_form":
                raise
    raise PageError(
        f"Page '{source}' matches none of the installed forms.",
        code=FORM_NOT_RECOGNISED,
        action="Check the page is one of the forms in `yomitori forms list`, or name the form "
        "when packing the batch (`yomitori-agent pack --form FORM`).",
    )


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
    page_key: str
    ocr_key: str
    error: str | None
    engine: str
    ocr_ms: int

    def payload(self) -> dict:
        """What goes back to the state machine: ids, keys, an error code, a duration."""
        return dict(self.__dict__)


def _failure(code: str, message: str, action: str) -> DocumentError:
    return DocumentError(code=code, message=message, action=action)


def ocr_page(
    store: ResultStore, engine: OcrEngine, *, batch_id: str, form_id: str, page: PageEntry
) -> OcrOutcome:
    """Read one page and store ``{"engine", "words", "readings", "result"}`` at the OCR key.
    ``result`` is the extracted :class:`DocumentResult` (no statuses yet) or one with
    ``error`` set. Idempotent: a retry overwrites the same object with the same content."""
    document_id = document_id_for(page.name)
    doc = DocumentResult(
        batch_id=batch_id,
        document_id=document_id,
        source=page.name,
        form_id=form_id,
        page_keys=[page_key(batch_id, page.name)],
    )
    recorder = RecordingEngine(engine)
    started = time.perf_counter()
    try:
        from yomitori.extract.images import check_file_size

        check_file_size(page.size, page.name)  # a huge non-scan is never fetched into memory
        data = store.get_page(batch_id, page.name)
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
        doc = extract_any(
            data, form_id, recorder, batch_id=batch_id, document_id=document_id, source=page.name
        )
        doc.page_keys = [page_key(batch_id, page.name)]
    except ObjectMissing:
        doc.error = _failure(
            PAGE_MISSING, f"Page '{page.name}' is listed in the manifest but was not uploaded.", _REUPLOAD
        )
    except YomitoriError as e:  # DocumentError, EngineError (incl. throttling), unknown form ...
        doc.error = _failure(e.code, e.message, e.action)
    ms = int((time.perf_counter() - started) * 1000)
    key = store.put_json(
        ocr_key(batch_id, document_id),
        {
            "engine": engine.name,
            "words": [
                {"text": w.text, "box": list(w.box), "confidence": w.confidence} for w in recorder.words
            ],
            "readings": recorder.readings,
            "result": doc.model_dump(mode="json"),
        },
    )
    return OcrOutcome(
        batch_id=batch_id,
        document_id=document_id,
        form_id=doc.form_id or form_id,
        page_key=page_key(batch_id, page.name),
        ocr_key=key,
        error=doc.error.code if doc.error else None,
        engine=engine.name,
        ocr_ms=ms,
    )
