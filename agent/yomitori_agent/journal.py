"""Local records of the agent: an append-only audit log per machine and a journal per batch.

Records carry ids, counts, hashes and times only (never personal values). Each line is one
JSON object, flushed and fsynced before the action it confirms is treated as done, so a
power loss loses at most the record being written (a torn last line is ignored on read).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

AUDIT_NAME = "audit.jsonl"


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def append_record(path: Path, record: dict[str, Any], *, durable: bool = True) -> None:
    """Append one JSON line; ``durable`` also fsyncs it (and everything appended before)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"at": now_iso(), **record}, ensure_ascii=False, sort_keys=True) + "\n"
    with open(path, "a", encoding="utf-8", newline="\n") as fh:
        fh.write(line)
        fh.flush()
        if durable:
            os.fsync(fh.fileno())


def read_records(path: Path) -> list[dict[str, Any]]:
    """All complete records of ``path`` (a missing file is empty; a torn last line is skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    out = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def audit(state_dir: Path, event: str, **fields: Any) -> None:
    """One line in the machine's audit log (``STATE/audit.jsonl``)."""
    append_record(Path(state_dir) / AUDIT_NAME, {"event": event, **fields})


class BatchJournal:
    """What happened to one batch on this machine: ``STATE/batches/<batch_id>.jsonl``.

    Upload writes ``page_uploaded`` after S3 confirmed each page (with its SHA-256),
    ``manifest_uploaded`` last, then ``package_wiped``; download writes ``downloaded``
    and ``ack_sent``. Status reads it to tell "purged" from "unknown"."""

    def __init__(self, state_dir: Path, batch_id: str):
        self.batch_id = batch_id
        self.path = Path(state_dir) / "batches" / f"{batch_id}.jsonl"

    def record(self, event: str, *, durable: bool = True, **fields: Any) -> None:
        """Append a record. ``durable=False`` leaves the fsync to the next durable record or
        :meth:`sync` (page records: a lost one only costs a HEAD request on resume)."""
        append_record(self.path, {"event": event, "batch_id": self.batch_id, **fields}, durable=durable)

    def sync(self) -> None:
        if self.path.exists():
            with open(self.path, "rb+") as fh:
                os.fsync(fh.fileno())

    def records(self) -> list[dict[str, Any]]:
        return read_records(self.path)

    def has(self, event: str) -> bool:
        return any(r.get("event") == event for r in self.records())

    def uploaded_pages(self) -> dict[str, str]:
        """Page name -> SHA-256 of every page S3 confirmed."""
        return {r["page"]: r["sha256"] for r in self.records()
                if r.get("event") == "page_uploaded" and "page" in r and "sha256" in r}

    @staticmethod
    def known_batches(state_dir: Path) -> list[str]:
        folder = Path(state_dir) / "batches"
        return sorted(p.stem for p in folder.glob("*.jsonl")) if folder.is_dir() else []


def unfinished_wipe(state_dir: Path, package_name: str, *, done_event: str,
                    named_batch: str | None = None) -> str | None:
    """The batch whose package ``package_name`` this machine finished with (``done_event``:
    ``manifest_uploaded`` or ``imported``) and began to wipe without finishing, according to
    the journals; else None. A wipe cut short leaves the package's header partly zeros, so it
    no longer decrypts: the journal, not the package, says what it was. ``named_batch`` (the
    batch id in the package's name) also matches journals written before records named the
    package."""
    for batch_id in BatchJournal.known_batches(state_dir):
        records = BatchJournal(state_dir, batch_id).records()
        if not any(r.get("event") == done_event for r in records):
            continue
        about = [r.get("event") for r in records if r.get("package") == package_name]
        if about and about[-1] != "package_wiped":
            return batch_id
        if not about and batch_id == named_batch and not any(r.get("event") == "package_wiped"
                                                              for r in records):
            return batch_id
    return None
