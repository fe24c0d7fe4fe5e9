"""``upload`` (external PC): packages on the USB stick -> intake bucket, manifest last.

Resumable and never uploading a page twice:
- the batch journal (``STATE/batches/<id>.jsonl``) records each page only after S3 confirmed
  it (the put carried the SHA-256 as S3 checksum, so S3 verified the body); its first record
  is fsynced at once, page records together at the end (a page record lost to a power cut
  costs one HEAD on resume, never a second upload);
- when a journal already exists (an earlier run stopped), every page is first checked with a
  HEAD (size + SHA-256): a confirmed page whose object is missing or different (e.g. the server
  lost it) is uploaded again; a page that arrived but was not journaled (power loss between
  the put and the journal line) is skipped and journaled;
- the manifest is uploaded last, after a HEAD (its arrival starts the cloud flow), and once the
  journal says ``manifest_uploaded`` the batch is never uploaded again;
- the package is wiped from the stick only after that.

Two passes over the package, so that nothing is sent from a package that fails and no
decrypted page needs to touch the disk: the first authenticates it whole and checks every page
against the manifest, keeping nothing; the second decrypts again and PUTs each page from memory
as soon as it is complete and equal to its (now verified) manifest entry, while the rest is
still being decrypted (at most 16 MiB of pages in memory). Only pages larger than 8 MiB (or
than the multipart threshold) go through the private work folder, which is wiped afterwards.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from yomitori.batch import manifest_key, page_key

from yomitori_agent import s3io
from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import AgentError, BadInputError, PackageRejected
from yomitori_agent.fsutil import exclusive_lock, private_dir, wipe_file, wipe_tree
from yomitori_agent.journal import BatchJournal, audit
from yomitori_agent.keys import load_identities
from yomitori_agent.log import log
from yomitori_agent.manifests import FileEntry, PackageManifest
from yomitori_agent.package import list_packages
from yomitori_agent.progress import progress
from yomitori_agent.unpack import open_package, verify_package


@dataclass
class UploadResult:
    batch_id: str
    package: str
    pages: int
    uploaded: int
    skipped_present: int
    manifest: str  # "uploaded" | "present" | "done-before"
    package_wiped: bool
    seconds_decrypt: float = 0.0
    seconds_upload: float = 0.0


def _sweep_stale_work(work: Path) -> None:
    # A power loss can leave decrypted pages behind: wipe them at the next start.
    if work.is_dir():
        for d in work.iterdir():
            if d.name.startswith("upload-"):
                wipe_tree(d)


def upload(cfg: AgentConfig, usb_dir: Path, *, dry_run: bool = False,
           show_progress: bool | None = None, client=None) -> list[UploadResult]:
    """Upload every package in ``usb_dir``. Raises AgentError subclasses; re-running after any
    interruption continues where it stopped."""
    identities = load_identities(cfg.require("identity_file"))
    bucket = cfg.require("aws.intake_bucket")
    packages = list_packages(Path(usb_dir))
    if not packages:
        raise BadInputError(f"no packages (*.age) in {usb_dir}.")
    work = cfg.work_path
    client = client or s3io.s3_client(cfg)
    # One upload per machine at a time: the sweep must not wipe another run's pages.
    with exclusive_lock(cfg.state_dir / "locks" / "upload.lock"):
        _sweep_stale_work(work)
        work.mkdir(parents=True, exist_ok=True)
        return [_upload_package(cfg, client, bucket, pkg, identities, work, dry_run, show_progress)
                for pkg in packages]


def _upload_package(cfg, client, bucket, pkg: Path, identities, work: Path, dry_run: bool,
                    show_progress) -> UploadResult:
    # First pass: authenticate the whole package and check every page against the manifest,
    # keeping nothing. Nothing is sent from a package that fails.
    started = time.perf_counter()
    with progress(f"verify {pkg.name}", pkg.stat().st_size, enabled=show_progress) as advance:
        manifest = verify_package(pkg, identities, progress=advance)
    verified = time.perf_counter()
    if manifest.kind != "scans":
        raise PackageRejected(f"{pkg.name} holds results, not scans: it is for `import` "
                              "on the contract server.")
    with exclusive_lock(cfg.state_dir / "locks" / f"{manifest.batch_id}.lock"):
        result = _upload_batch(cfg, client, bucket, pkg, identities, manifest, work, dry_run, show_progress)
    result.seconds_decrypt = round(verified - started, 3)
    result.seconds_upload = round(time.perf_counter() - verified, 3)
    return result


def _upload_batch(cfg, client, bucket, pkg, identities, manifest: PackageManifest, work: Path, dry_run,
                  show_progress) -> UploadResult:
    batch_id = manifest.batch_id
    journal = BatchJournal(cfg.state_dir, batch_id)
    result = UploadResult(batch_id, str(pkg), len(manifest.entries), 0, 0, "", False)
    if journal.has("manifest_uploaded"):
        result.manifest = "done-before"
    else:
        todo = _pages_to_upload(client, bucket, manifest, journal, dry_run)
        result.skipped_present = len(manifest.entries) - len(todo)
        if dry_run:
            result.uploaded = len(todo)
            return result
        if todo:
            _send_pages(cfg, client, bucket, pkg, identities, todo, work, journal, show_progress)
        result.uploaded = len(todo)
        result.manifest = _upload_manifest(client, bucket, manifest, journal, cfg.aws.sse_args())
    if dry_run:
        return result
    wipe_file(pkg, cfg.package_wipe)
    journal.record("package_wiped", package=pkg.name)
    result.package_wiped = True
    audit(cfg.state_dir, "uploaded", batch_id=batch_id, pages=result.pages, uploaded=result.uploaded,
          skipped_present=result.skipped_present, manifest=result.manifest)
    log.info("upload batch=%s pages=%d uploaded=%d skipped=%d manifest=%s", batch_id, result.pages,
             result.uploaded, result.skipped_present, result.manifest)
    return result


_IN_MEMORY = 8 << 20  # pages up to this size go up from memory, never touching the disk
_BUDGET = 16 << 20  # bytes of pages decrypted but not yet confirmed by S3 (constant memory)


def _in_memory(cfg) -> int:
    # larger pages wait in the work folder and go up from there, in parts above the threshold
    return min(_IN_MEMORY, cfg.aws.multipart_threshold - 1)


def _send_pages(cfg, client, bucket, pkg: Path, identities, todo: list[FileEntry], work: Path,
                journal: BatchJournal, show_progress) -> None:
    """Second pass: decrypt again and PUT each page of ``todo`` as soon as it is complete and
    equals its verified manifest entry (the PUT carries that SHA-256, so S3 checks the body
    too), while the rest is still being decrypted. Pages too large to hold in memory go to
    the private work folder and up from there afterwards."""
    staging = private_dir(work, "upload-")
    try:
        batch_id = journal.batch_id
        with progress(f"upload {batch_id}", sum(e.size for e in todo), enabled=show_progress) as advance:
            sender = _PageSender(cfg, client, bucket, batch_id, journal, todo, _locked(advance))
            try:
                open_package(pkg, identities, staging, on_file=sender.send, in_memory=_in_memory(cfg))
            except BaseException:
                sender.stop()  # finish what is in flight, start nothing new
                raise
            sender.close()  # waits for every page; raises the first failure
        if len(sender.seen) != len(todo):  # the stick changed: the manifest must not go up
            raise PackageRejected(f"{pkg.name} changed on the stick since it was checked "
                                  f"({len(todo) - len(sender.seen)} page(s) missing).")
        big = [e for e in todo if e.size > _in_memory(cfg)]
        if big:
            _upload_pages(cfg, client, bucket, batch_id, big, staging, journal, show_progress)
    finally:
        wipe_tree(staging)


class _PageSender:
    """Sends pages from the decrypting thread to a pool of PUT threads. At most ``_BUDGET``
    bytes of pages wait or travel at once (the decryption waits for room), so memory stays
    constant; the first failure is raised at the next page, which stops the decryption."""

    def __init__(self, cfg, client, bucket: str, batch_id: str, journal: BatchJournal,
                 todo: list[FileEntry], advance):
        self._cfg, self._client, self._bucket, self._batch_id = cfg, client, bucket, batch_id
        self._journal, self._advance = journal, advance
        self._todo = {e.name: e for e in todo}
        self.seen: set[str] = set()  # pages of todo that this pass produced, equal to the check
        self._pool = ThreadPoolExecutor(max_workers=cfg.aws.upload_concurrency)
        self._room = threading.Condition()
        self._held = 0
        self._futures: list = []
        self._lock = threading.Lock()

    def send(self, name: str, size: int, sha256: str, body: bytes | Path) -> None:
        self._raise_failure()
        entry = self._todo.get(name)
        if entry is None:
            return  # S3 has it already
        if (size, sha256) != (entry.size, entry.sha256):
            raise PackageRejected(f"{name} changed on the stick since the package was checked.")
        self.seen.add(name)
        if not isinstance(body, bytes):
            return  # a large page: it goes up from the work folder after this pass
        with self._room:
            while self._held and self._held + size > _BUDGET:
                self._room.wait()
            self._held += size
        self._futures.append(self._pool.submit(self._put, entry, body))

    def _put(self, entry: FileEntry, body: bytes) -> None:
        try:
            s3io.put_bytes(self._client, self._bucket, page_key(self._batch_id, entry.name), body,
                           entry.sha256, None, self._cfg.aws.sse_args())
        except Exception as e:
            raise s3io.translate(e, f"uploading batch {self._batch_id}") from None
        finally:
            with self._room:
                self._held -= entry.size
                self._room.notify_all()
        with self._lock:
            self._journal.record("page_uploaded", page=entry.name, sha256=entry.sha256, durable=False)
        self._advance(entry.size)

    def _raise_failure(self) -> None:
        for f in self._futures:
            if f.done() and f.exception() is not None:
                raise f.exception()
        self._futures = [f for f in self._futures if not f.done()]

    def close(self) -> None:
        """Wait for every page (after a failure: only for those in flight), sync the journal,
        and raise the first failure."""
        try:
            wait(self._futures, return_when=FIRST_EXCEPTION)
            self._raise_failure()
        finally:
            self.stop()

    def stop(self) -> None:
        """Finish the PUTs in flight, cancel those not started, sync the journal."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._journal.sync()


def _pages_to_upload(client, bucket, manifest: PackageManifest, journal: BatchJournal,
                     dry_run: bool) -> list[FileEntry]:
    """The pages S3 does not hold yet. Only a resumed batch pays for HEAD requests."""
    if not journal.path.exists():
        if not dry_run:
            journal.record("started", pages=len(manifest.entries))
        return list(manifest.entries)
    confirmed = journal.uploaded_pages()

    def check(entry: FileEntry) -> tuple[FileEntry, bool]:
        try:
            remote = s3io.head(client, bucket, page_key(manifest.batch_id, entry.name))
        except Exception as e:
            raise s3io.translate(e, "checking uploaded pages") from None
        return entry, s3io.matches(remote, entry.size, entry.sha256)

    with ThreadPoolExecutor(max_workers=8) as pool:
        checked = list(pool.map(check, manifest.entries))
    todo = []
    for entry, present in checked:
        if not present:
            todo.append(entry)
        elif entry.name not in confirmed and not dry_run:
            journal.record("page_uploaded", page=entry.name, sha256=entry.sha256, via="head")
    lost = sum(1 for e in todo if e.name in confirmed)
    if lost:
        log.warning("batch=%s: %d page(s) confirmed earlier are missing or different in S3; uploading again",
                    manifest.batch_id, lost)
    return todo


def _upload_pages(cfg, client, bucket, batch_id, todo: list[FileEntry], staging: Path,
                  journal: BatchJournal, show_progress) -> None:
    """PUT pages from their ``.part`` files in ``staging`` (multipart above the threshold)."""
    lock = threading.Lock()
    threshold = cfg.aws.multipart_threshold
    sse = cfg.aws.sse_args()

    def one(entry: FileEntry, advance) -> None:
        try:
            s3io.put_file(client, bucket, page_key(batch_id, entry.name), staging / f"{entry.name}.part",
                          entry.size, entry.sha256, multipart_threshold=threshold, extra=sse,
                          callback=advance)
        except Exception as e:
            raise s3io.translate(e, f"uploading batch {batch_id}") from None
        with lock:
            journal.record("page_uploaded", page=entry.name, sha256=entry.sha256, durable=False)

    total = sum(e.size for e in todo)
    with progress(f"upload {batch_id}", total, enabled=show_progress) as advance:
        safe_advance = _locked(advance)
        pool = ThreadPoolExecutor(max_workers=cfg.aws.upload_concurrency)
        try:
            futures = [pool.submit(one, e, safe_advance) for e in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in futures:
                if f.done() and f.exception() is not None:
                    raise f.exception()
        finally:
            # On Ctrl-C or an error: finish (and journal) what is in flight, start nothing new.
            pool.shutdown(wait=True, cancel_futures=True)
            journal.sync()


def _locked(fn):
    lock = threading.Lock()

    def call(n: int) -> None:
        with lock:
            fn(n)
    return call


def _upload_manifest(client, bucket, manifest: PackageManifest, journal: BatchJournal, sse: dict) -> str:
    import hashlib

    key = manifest_key(manifest.batch_id)
    sha = hashlib.sha256(manifest.raw).hexdigest()
    try:
        if s3io.matches(s3io.head(client, bucket, key), len(manifest.raw), sha):
            journal.record("manifest_uploaded", sha256=sha, via="head")
            return "present"
        s3io.put_bytes(client, bucket, key, manifest.raw, sha, "application/json", sse)
    except AgentError:
        raise
    except Exception as e:
        raise s3io.translate(e, f"uploading the manifest of {manifest.batch_id}") from None
    journal.record("manifest_uploaded", sha256=sha)
    return "uploaded"


def as_dicts(results: list[UploadResult]) -> list[dict]:
    return [asdict(r) for r in results]
