"""``pack`` (scanner PC): scans -> one age package per batch on the USB stick.

The scans loose in SCANS_DIR form one batch; every sub-folder holding scans forms another.
Each page is read once: hashed while it streams through age to a temporary name on the stick
(the manifest with the hashes is the last member), read back, and the package renamed.
Sources move to the done folder only after their package verified.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from pydantic import ValidationError
from yomitori.batch import BATCH_ID_PATTERN, BatchManifest, PageEntry, has_batch_id_tail, new_batch_id

from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import BadInputError
from yomitori_agent.fsutil import check_writable_dir, is_regular_file, wait_until_settled
from yomitori_agent.journal import append_record, audit, read_records
from yomitori_agent.keys import parse_recipients
from yomitori_agent.log import log
from yomitori_agent.manifests import MAX_PAGES, dump
from yomitori_agent.package import PACKAGE_SUFFIX, SourceFile, write_package
from yomitori_agent.progress import progress


@dataclass
class PackResult:
    batch_id: str
    package: str
    pages: int
    bytes: int
    manifest_sha256: str
    source: str
    moved_to: str | None = None


def find_batches(scans_dir: Path, suffixes: list[str]) -> list[tuple[Path, list[Path]]]:
    """(folder, scans) per batch: loose scans first, then each sub-folder; symlinks ignored."""
    scans_dir = Path(scans_dir)
    if not scans_dir.is_dir():
        raise BadInputError(f"{scans_dir} is not a folder.")
    wanted = {s.lower() for s in suffixes}

    def scans_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir()
                      if p.suffix.lower() in wanted and not p.name.startswith(".") and is_regular_file(p))

    out = []
    loose = scans_in(scans_dir)
    if loose:
        out.append((scans_dir, loose))
    for sub in sorted(p for p in scans_dir.iterdir() if p.is_dir() and not p.is_symlink()):
        if not sub.name.startswith("."):
            pages = scans_in(sub)
            if pages:
                out.append((sub, pages))
    return out




def batch_id_from_name(package: Path) -> str | None:
    """The batch id in a package's name as ``pack`` writes it (``<batch_id>.age``), else None.
    Only a hint: the manifest inside is what counts."""
    if not package.name.endswith(PACKAGE_SUFFIX):
        return None
    stem = package.name.removesuffix(PACKAGE_SUFFIX)
    return stem if has_batch_id_tail(stem) and re.fullmatch(BATCH_ID_PATTERN, stem) else None


def plan_pages(pages: list[Path]) -> list[SourceFile]:
    """The pages as package members, with the size and mtime seen now (a page that changes
    before it has been packed is refused). BadInputError for names a batch cannot carry."""
    if len(pages) > MAX_PAGES:
        raise BadInputError(f"{len(pages)} scans in one folder: a batch holds at most {MAX_PAGES}.",
                            action=f"Move the scans into sub-folders of at most {MAX_PAGES} each "
                                   "(each becomes its own batch), then run again.")
    out = []
    for p in pages:
        try:
            PageEntry(name=p.name, size=0, sha256="0" * 64)
        except ValidationError:
            raise BadInputError(f"scan file name '{p.name}' cannot be used in a batch.",
                                action="Rename it to letters, digits, '.', '_' or '-' only.") from None
        st = os.stat(p)
        out.append(SourceFile(p.name, p, st.st_size, st.st_mtime_ns))
    return out


def manifest_maker(cfg: AgentConfig, batch_id: str, files: list[SourceFile], form_id: str):
    """The function that turns the hashes taken while packing into the batch manifest."""
    def make(digests: dict[str, str]) -> bytes:
        return dump(BatchManifest(
            batch_id=batch_id, client_id=cfg.client_id, created_at=dt.datetime.now(dt.UTC), form_id=form_id,
            pages=[PageEntry(name=f.name, size=f.size, sha256=digests[f.name]) for f in files],
        ))
    return make


def _move_done(done_root: Path, batch_id: str, files: list[SourceFile]) -> Path:
    target = done_root / batch_id
    target.mkdir(parents=True, exist_ok=False)
    for f in files:
        shutil.move(str(f.path), str(target / f.name))  # os.replace, or copy+delete across drives
    return target


PACKED_LEDGER = "packed.jsonl"


def _already_packed(cfg: AgentConfig, files: list[SourceFile]) -> tuple[int, str] | None:
    """(how many, earlier batch id) if scans with the same name, size and mtime were packed
    before: packing them again would send the same forms to the cloud twice."""
    earlier: dict[tuple, str] = {}
    for rec in read_records(cfg.state_dir / PACKED_LEDGER):
        for page in rec.get("pages", []):
            earlier[tuple(page)] = rec.get("batch_id", "?")
    hits = [earlier[k] for f in files if (k := (f.name, f.size, f.mtime_ns)) in earlier]
    return (len(hits), hits[0]) if hits else None


def pack(cfg: AgentConfig, scans_dir: Path, usb_dir: Path, *, form_id: str | None = None,
         move_done: bool = False, dry_run: bool = False, again: bool = False,
         show_progress: bool | None = None) -> list[PackResult]:
    """Make one verified package per batch found in ``scans_dir`` on ``usb_dir``.
    Raises BadInputError (no scans, bad names), TargetNotWritable, ConfigError."""
    recipients = parse_recipients(cfg.recipients.external_pc, "external_pc")
    batches = find_batches(scans_dir, cfg.pack.suffixes)
    if not batches:
        raise BadInputError(f"no scans ({', '.join(cfg.pack.suffixes)}) in {scans_dir}.")
    done_root = cfg.pack.done_dir if move_done else None
    if move_done and done_root is None:
        raise BadInputError("--move-done needs pack.done_dir in the configuration.")
    usb_dir = Path(usb_dir)
    results: list[PackResult] = []
    if not dry_run:
        check_writable_dir(usb_dir)
    for folder, pages in batches:
        wait_until_settled(pages, cfg.pack.settle_seconds)
        files = plan_pages(pages)
        seen = None if again else _already_packed(cfg, files)
        if seen:
            raise BadInputError(f"{seen[0]} scan(s) in {folder} were packed before, in batch {seen[1]}.",
                                action="Move them away (pack --move-done does that), or pass --again "
                                       "to pack them once more on purpose.")
        batch_id = new_batch_id(cfg.client_id)
        total = sum(f.size for f in files)
        dest = usb_dir / f"{batch_id}{PACKAGE_SUFFIX}"
        if dry_run:
            results.append(PackResult(batch_id, str(dest), len(files), total, "", str(folder)))
            continue
        make = manifest_maker(cfg, batch_id, files, form_id or cfg.pack.form_id)
        with progress(f"pack {batch_id}", total, enabled=show_progress) as advance:
            info = write_package(dest, files, make, recipients, progress=advance)
        result = PackResult(batch_id, str(info.path), len(files), total, info.manifest_sha256, str(folder))
        log.info("pack batch=%s pages=%d bytes=%d manifest_sha256=%s", batch_id, len(files), total,
                 info.manifest_sha256)
        append_record(cfg.state_dir / PACKED_LEDGER, {"batch_id": batch_id,
                      "pages": [[f.name, f.size, f.mtime_ns] for f in files]})
        audit(cfg.state_dir, "packed", batch_id=batch_id, pages=len(files), bytes=total,
              manifest_sha256=info.manifest_sha256)
        if done_root is not None:
            result.moved_to = str(_move_done(done_root, batch_id, files))
            audit(cfg.state_dir, "sources_moved", batch_id=batch_id, pages=len(files))
        results.append(result)
    return results


def as_dicts(results: list[PackResult]) -> list[dict]:
    return [asdict(r) for r in results]
