"""``import`` (contract server): results packages on the USB stick -> the inbox.

Each package is decrypted and extracted into a hidden staging folder inside the inbox (same
file system, so the final step is one atomic rename). Every file is hashed against the
manifest; only when the whole package authenticated does ``INBOX/.<id>.partial`` become
``INBOX/<batch_id>``. A rejected package leaves nothing in the inbox (the staging folder is
overwritten and removed) and stays on the stick for inspection. After the rename the package
is overwritten and deleted, which destroys the wrapped file key with it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import BadInputError, PackageRejected
from yomitori_agent.fsutil import (
    check_writable_dir,
    exclusive_lock,
    fsync_dir,
    make_durable,
    wipe_file,
    wipe_tree,
)
from yomitori_agent.journal import BatchJournal, audit, unfinished_wipe
from yomitori_agent.keys import load_identities
from yomitori_agent.log import log
from yomitori_agent.package import list_packages
from yomitori_agent.progress import progress
from yomitori_agent.unpack import open_package

ALREADY = "already_imported"
_STAGING_GLOB = ".incoming-*.partial"


def sweep_stale_staging(inbox: Path) -> int:
    """Overwrite and delete staging folders a crashed import left (decrypted ``.part`` files).
    Called under the import lock, so no running import owns them. Returns how many."""
    stale = [p for p in inbox.glob(_STAGING_GLOB) if p.is_dir() and not p.is_symlink()]
    for p in stale:
        wipe_tree(p)
    if stale:
        log.warning("import: wiped %d staging folder(s) a crashed import left", len(stale))
    return len(stale)


def _finish_interrupted_wipe(cfg: AgentConfig, package: Path, inbox: Path) -> dict | None:
    """A package this machine already imported whose wipe was cut short (its header is then
    partly zeros, so it no longer decrypts): the journal says so. Finish the wipe and return
    the summary; None when the journal knows nothing of this package."""
    batch_id = unfinished_wipe(cfg.state_dir, package.name, done_event="imported")
    if batch_id is None or not (inbox / batch_id).is_dir():
        return None
    journal = BatchJournal(cfg.state_dir, batch_id)
    wipe_file(package, cfg.package_wipe)
    journal.record("package_wiped", package=package.name, resumed=True)
    audit(cfg.state_dir, "import_wipe_finished", batch_id=batch_id, package=package.name)
    log.info("import batch=%s: already imported; finished wiping the package", batch_id)
    return {"batch_id": batch_id, "package": package.name, "result": ALREADY,
            "inbox": str(inbox / batch_id), "package_wiped": True,
            "message": "already imported: the earlier run was interrupted while wiping "
                       "the package; the wipe is finished now."}


def import_package(cfg: AgentConfig, package: Path, inbox: Path, identities: list, *,
                   dry_run: bool = False, show_progress: bool | None = None) -> dict:
    """Import one package into ``inbox``; returns a summary (ids, counts, hashes).
    Raises PackageRejected with nothing written to the inbox."""
    opened: dict = {}
    staging = inbox / f".incoming-{secrets.token_hex(6)}.partial"
    staging.mkdir(mode=0o700)
    try:
        with progress(f"import {package.name}", package.stat().st_size, enabled=show_progress) as advance:
            manifest = open_package(package, identities, staging, progress=advance, info=opened)
        manifest_sha = opened["manifest_sha256"]
        if manifest.kind != "results":
            raise PackageRejected(f"{package.name} holds scans, not results: "
                                  "it is for `upload` on the external PC.")
        (staging / "manifest.json").write_bytes(manifest.raw)
        final = inbox / manifest.batch_id
        summary = {"batch_id": manifest.batch_id, "package": package.name, "files": len(manifest.entries),
                   "bytes": sum(e.size for e in manifest.entries), "manifest_sha256": manifest_sha,
                   "inbox": str(final)}
        if dry_run:
            summary["result"] = "verified (dry run)"
            return summary
        if final.exists():
            summary["result"] = ALREADY  # e.g. the stick came back after a crash before the wipe
            summary["message"] = "already imported earlier: the inbox is unchanged; the package is wiped now."
        else:
            make_durable([staging / e.name for e in manifest.entries])  # on disk before the package goes
            os.replace(staging, final)  # atomic: the batch appears whole or not at all
            fsync_dir(inbox)
            summary["result"] = "imported"
    finally:
        wipe_tree(staging)  # after a successful rename there is nothing left to wipe
    journal = BatchJournal(cfg.state_dir, summary["batch_id"])
    # durable before the wipe starts: a run cut short during the wipe is finished by the next
    journal.record("imported", package=package.name, manifest_sha256=manifest_sha, result=summary["result"])
    wipe_file(package, cfg.package_wipe)
    journal.record("package_wiped", package=package.name)
    summary["package_wiped"] = True
    audit(cfg.state_dir, "imported", batch_id=summary["batch_id"], files=summary["files"],
          bytes=summary["bytes"], manifest_sha256=manifest_sha, result=summary["result"], package_wiped=True)
    log.info("import batch=%s files=%d result=%s", summary["batch_id"], summary["files"], summary["result"])
    return summary


def import_packages(cfg: AgentConfig, usb_dir: Path, inbox: Path, *, dry_run: bool = False,
                    show_progress: bool | None = None) -> list[dict]:
    """Import every package in ``usb_dir``. A rejected package stops the run (exit code 6)
    after the packages before it were imported; it is recorded in the audit log."""
    identities = load_identities(cfg.require("identity_file"))
    packages = list_packages(usb_dir)
    if not packages:
        raise BadInputError(f"no packages (*.age) in {usb_dir}.")
    inbox = Path(inbox)
    inbox.mkdir(parents=True, exist_ok=True)
    check_writable_dir(inbox)
    out = []
    with exclusive_lock(cfg.state_dir / "locks" / "import.lock"):
        sweep_stale_staging(inbox)
        for pkg in packages:
            try:
                out.append(import_package(cfg, pkg, inbox, identities, dry_run=dry_run,
                                          show_progress=show_progress))
            except PackageRejected as e:
                finished = None if dry_run else _finish_interrupted_wipe(cfg, pkg, inbox)
                if finished is not None:
                    out.append(finished)
                    continue
                audit(cfg.state_dir, "import_rejected", package=pkg.name, reason=type(e).__name__)
                log.warning("import rejected package=%s", pkg.name)
                raise
    return out
