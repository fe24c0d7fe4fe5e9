"""Helpers for the cloud tests: stored events (tests/events), uploads, truth values."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path

from yomitori.batch import BatchManifest, PageEntry, sha256_file
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult

EVENTS = Path(__file__).resolve().parents[2] / "events"


def truth(scans: Path, document_id: str) -> dict:
    return json.loads((scans / "truth" / f"{document_id}.json").read_text(encoding="utf-8"))["fields"]


_manifests: dict[str, list[PageEntry]] = {}


def _ordinal(batch_id: str, page: Path) -> int:
    """The page's ordinal in the batch's manifest, adding it (and storing the manifest, as the
    agent uploads it) the first time: the flow sends ordinals, the ocr step reads the manifest."""
    from yomitori.steps import config

    pages = _manifests.setdefault(batch_id, [])
    entry = PageEntry(name=page.name, size=page.stat().st_size if page.exists() else 0,
                      sha256=sha256_file(page) if page.exists() else "0" * 64)
    names = [p.name for p in pages]
    if page.name in names:
        return names.index(page.name) + 1
    pages.append(entry)
    config.result_store().put_manifest(
        BatchManifest(batch_id=batch_id, client_id="test", created_at=dt.datetime.now(dt.UTC),
                      form_id="water_stop", pages=pages)
    )
    return len(pages)


def event(name: str, **replace) -> dict:
    """A stored event (tests/events/<name>.json) with fields replaced; ``page=<Path>`` (ocr)
    puts the page into the batch's manifest and sends its ordinal."""
    ev = copy.deepcopy(json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8")))
    page = replace.pop("page", None)
    for k, v in replace.items():
        ev[k] = v
    if isinstance(page, Path):
        ev["ordinal"] = _ordinal(ev["batch_id"], page)
    return ev


def document_id(batch_id: str, page: Path) -> str:
    """The cloud document id of a page put in by :func:`event`."""
    from yomitori.batch import cloud_document_id

    return cloud_document_id(batch_id, _ordinal(batch_id, page))


def upload(batch_id: str, *pages: Path) -> None:
    from yomitori.steps import config

    for p in pages:
        config.result_store().put_page(batch_id, p.name, p.read_bytes())


def store_documents(scans, batch_id: str, unsure: dict[str, tuple[str, ...]]) -> dict[str, dict]:
    """Document results from the synthetic truth, routed; fields in ``unsure`` (keyed by scan
    name) read at 0.4. Returns the truth values by document id."""
    unsure = dict(unsure)
    from yomitori.steps import config
    from yomitori.validation import route_document

    form = load_form("water_stop")
    values = {}
    from yomitori.batch import cloud_document_id

    for n, image in enumerate(sorted(scans.glob("*.jpg")), start=1):
        doc_id = cloud_document_id(batch_id, n)  # as the ocr step names the n-th page
        values[doc_id] = truth(scans, image.stem)
        unsure[doc_id] = unsure.get(image.stem, unsure.get(doc_id, ()))  # by scan name or id
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


def tamper_checksum(batch_id: str, page: Path) -> None:
    """Store the batch's manifest again with another SHA-256 for ``page``."""
    from yomitori.steps import config

    pages = _manifests[batch_id]
    i = [p.name for p in pages].index(page.name)
    pages[i] = PageEntry(name=page.name, size=pages[i].size, sha256="f" * 64)
    config.result_store().put_manifest(
        BatchManifest(batch_id=batch_id, client_id="test", created_at=dt.datetime.now(dt.UTC),
                      form_id="water_stop", pages=pages)
    )


def act(request: dict) -> dict:
    """A person's review action (lease or submit) over the cloud stores, as the agent's review
    page does it: the domain functions with the stack's stores, the person already
    authenticated (the review function takes no such actions: nobody may name a reviewer in an
    event). Refusals come back as ``{"ok": False, "error", "refused"?}`` like the page's."""
    from yomitori.errors import YomitoriError
    from yomitori.steps import config
    from yomitori.steps import review as rv

    stores = (config.result_store(), config.review_store(), config.gate_releaser())
    try:
        if request["action"] == "lease":
            lease = rv.lease_document(stores[1], stores[2], batch_id=request["batch_id"],
                                      reviewer=request["reviewer"], document_id=request.get("document_id"))
            return {"lease": lease.model_dump(mode="json") if lease else None}
        corrections = [rv.Correction.model_validate(c) for c in request["corrections"]]
        return rv.submit_review(*stores, batch_id=request["batch_id"], document_id=request["document_id"],
                                reviewer=request["reviewer"], corrections=corrections, role="reviewer")
    except rv.ReviewRefused as e:
        return {"ok": False, "error": e.code, "refused": e.refused}
    except YomitoriError as e:
        return {"ok": False, "error": e.code}
