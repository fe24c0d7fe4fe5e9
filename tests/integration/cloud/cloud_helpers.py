"""Helpers for the cloud tests: stored events (tests/events), uploads, truth values."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from yomitori.batch import PageEntry, sha256_file
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult

EVENTS = Path(__file__).resolve().parents[2] / "events"


def truth(scans: Path, document_id: str) -> dict:
    return json.loads((scans / "truth" / f"{document_id}.json").read_text(encoding="utf-8"))["fields"]


def event(name: str, **replace) -> dict:
    """A stored event (tests/events/<name>.json) with fields replaced (``page`` may be a Path)."""
    ev = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8")))
    for k, v in replace.items():
        if isinstance(v, Path):
            v = PageEntry(name=v.name, size=v.stat().st_size, sha256=sha256_file(v)).model_dump()
        ev[k] = v
    return ev


def upload(batch_id: str, *pages: Path) -> None:
    from yomitori.steps import config

    for p in pages:
        config.result_store().put_page(batch_id, p.name, p.read_bytes())


def store_documents(scans, batch_id: str, unsure: dict[str, tuple[str, ...]]) -> dict[str, dict]:
    """Document results from the synthetic truth, routed; fields in ``unsure`` read at 0.4."""
    from yomitori.steps import config
    from yomitori.validation import route_document

    form = load_form("water_stop")
    values = {}
    for image in sorted(scans.glob("*.jpg")):
        doc_id = image.stem
        values[doc_id] = truth(scans, doc_id)
        doc = DocumentResult(
            batch_id=batch_id,
            document_id=doc_id,
            source=image.name,
            form_id="water_stop",
            fields={
                # 1.0: water_stop sends every name to a person below that (no フリガナ to check it)
                k: FieldResult(value=v, raw=v, confidence=0.4 if k in unsure.get(doc_id, ()) else 1.0)
                for k, v in values[doc_id].items()
            },
        )
        route_document(form, doc)
        config.result_store().put_document(doc)
    return values
