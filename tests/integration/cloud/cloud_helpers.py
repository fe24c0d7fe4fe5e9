"""Helpers for the cloud tests: stored events (tests/events), uploads, truth values."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from yomitori.batch import PageEntry, sha256_file

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
