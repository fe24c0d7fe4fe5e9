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

One pass for a new batch: the pages are PUT from memory as age releases them (every chunk
authenticated), each with the SHA-256 computed while it was decrypted, so S3 checks the body.
The batch id comes from the package's name (``<batch_id>.age``, as ``pack`` names it) and must
equal the manifest's, which comes last: if the package then fails (it is truncated, a page
does not match the manifest, the name was changed), the pages this pass sent are deleted
again, and because the batch manifest was never sent, no flow started. A package with another
name, a resumed batch and ``--dry-run`` take two passes instead: the first authenticates the
whole package and checks every page against the manifest, keeping nothing; the second
decrypts again and sends what S3 lacks. Either way at most 16 MiB of pages wait in memory and
no decrypted page up to 8 MiB touches the disk; larger pages (or above the multipart
threshold) go through the private work folder, which is wiped afterwards.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

from yomitori.batch import manifest_key, manifest_metadata, page_key

from yomitori_agent import s3io
from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import AgentError, BadInputError, PackageRejected
from yomitori_agent.fsutil import exclusive_lock, private_dir, wipe_file, wipe_tree
from yomitori_agent.journal import BatchJournal, audit
from yomitori_agent.keys import load_identities
from yomitori_agent.log import log
from yomitori_agent.manifests import FileEntry, PackageManifest
from yomitori_agent.pack import batch_id_from_name
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
    passes: int = 2  # 1: pages went up as they were decrypted (a new batch named by pack)
    seconds_verify: float = 0.0  # the checking pass of two
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
    named = batch_id_from_name(pkg)
    if named and not dry_run:
        with exclusive_lock(cfg.state_dir / "locks" / f"{named}.lock"):
            if _is_new_batch(cfg, client, bucket, named):
                return _upload_new_batch(cfg, client, bucket, pkg, identities, named, work, show_progress)
    # Two passes. First: authenticate the whole package and check every page against the
    # manifest, keeping nothing. Nothing is sent from a package that fails.
    started = time.perf_counter()
    with progress(f"verify {pkg.name}", pkg.stat().st_size, enabled=show_progress) as advance:
        manifest = verify_package(pkg, identities, progress=advance)
    verified = time.perf_counter()
    _check_kind(manifest, pkg)
    with exclusive_lock(cfg.state_dir / "locks" / f"{manifest.batch_id}.lock"):
        result = _upload_batch(cfg, client, bucket, pkg, identities, manifest, work, dry_run, show_progress)
    result.seconds_verify = round(verified - started, 3)
    result.seconds_upload = round(time.perf_counter() - verified, 3)
    return result


def _check_kind(manifest: PackageManifest, pkg: Path) -> None:
    if manifest.kind != "scans":
        raise PackageRejected(f"{pkg.name} holds results, not scans: it is for `import` "
                              "on the contract server.")


def _is_new_batch(cfg, client, bucket: str, batch_id: str) -> bool:
    """No journal here and no batch manifest in S3: nothing of it was sent before, so one pass
    is safe (its pages cannot overwrite another run's)."""
    if BatchJournal(cfg.state_dir, batch_id).path.exists():
        return False
    try:
        return s3io.head(client, bucket, manifest_key(batch_id)) is None
    except Exception as e:
        raise s3io.translate(e, "checking the batch in S3") from None


def _upload_new_batch(cfg, client, bucket, pkg: Path, identities, batch_id: str, work: Path,
                      show_progress) -> UploadResult:
    """One pass (see the module docstring): decrypt and PUT, then the manifest; on a rejected
    package the pages sent are deleted again."""
    journal = BatchJournal(cfg.state_dir, batch_id)
    journal.record("started", package=pkg.name, passes=1)
    started = time.perf_counter()
    staging = private_dir(work, "upload-")
    try:
        with progress(f"upload {batch_id}", pkg.stat().st_size, enabled=show_progress) as advance:
            sender = _PageSender(cfg, client, bucket, batch_id, journal, None, _locked(advance))
            try:
                manifest = open_package(pkg, identities, staging, on_file=sender.send,
                                        in_memory=_in_memory(cfg))
                _check_kind(manifest, pkg)
                if manifest.batch_id != batch_id:
                    raise PackageRejected(f"{pkg.name} holds batch {manifest.batch_id}: "
                                          "the package was renamed.", action="Give it back its name.")
            except BaseException:
                sender.stop()  # finish what is in flight, start nothing new
                raise
            sender.close()
        big = [e for e in manifest.entries if e.size > _in_memory(cfg)]
        if big:
            _upload_pages(cfg, client, bucket, batch_id, big, staging, journal, show_progress)
    except PackageRejected:
        _withdraw_pages(cfg, client, bucket, journal)
        raise
    finally:
        wipe_tree(staging)
    result = UploadResult(batch_id, str(pkg), len(manifest.entries), len(manifest.entries), 0, "", False)
    result.manifest = _upload_manifest(client, bucket, manifest, journal, cfg.aws.sse_args())
    _wipe_package(cfg, pkg, journal, result)
    result.passes = 1
    result.seconds_upload = round(time.perf_counter() - started, 3)
    return result


def _withdraw_pages(cfg, client, bucket: str, journal: BatchJournal) -> None:
    """Delete the pages of a rejected package that this pass sent. They were inert (no batch
    manifest, so no flow), and the intake bucket's lifecycle rule is the backstop if this fails."""
    keys = [page_key(journal.batch_id, name) for name in journal.uploaded_pages()]
    try:
        s3io.delete_keys(client, bucket, keys)
    except Exception as e:
        log.warning("batch=%s: deleting %d page(s) of a rejected package failed (%s); "
                    "the lifecycle rule removes them", journal.batch_id, len(keys), type(e).__name__)
        return
    journal.record("pages_withdrawn", pages=len(keys))
    audit(cfg.state_dir, "upload_rejected_pages_withdrawn", batch_id=journal.batch_id, pages=len(keys))


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
    if not dry_run:
        _wipe_package(cfg, pkg, journal, result)
    return result


def _wipe_package(cfg, pkg: Path, journal: BatchJournal, result: UploadResult) -> None:
    """The batch is in S3 whole: overwrite and delete the package, and record it all."""
    wipe_file(pkg, cfg.package_wipe)
    journal.record("package_wiped", package=pkg.name)
    result.package_wiped = True
    audit(cfg.state_dir, "uploaded", batch_id=result.batch_id, pages=result.pages, uploaded=result.uploaded,
          skipped_present=result.skipped_present, manifest=result.manifest)
    log.info("upload batch=%s pages=%d uploaded=%d skipped=%d manifest=%s", result.batch_id, result.pages,
             result.uploaded, result.skipped_present, result.manifest)


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
    constant; the first failure is raised at the next page, which stops the decryption.
    ``todo``: the pages to send, checked against their verified entries; None: every page,
    with the size and SHA-256 found while decrypting it (one pass)."""

    def __init__(self, cfg, client, bucket: str, batch_id: str, journal: BatchJournal,
                 todo: list[FileEntry] | None, advance):
        self._cfg, self._client, self._bucket, self._batch_id = cfg, client, bucket, batch_id
        self._journal, self._advance = journal, advance
        self._todo = None if todo is None else {e.name: e for e in todo}
        self.seen: set[str] = set()  # pages of todo that this pass produced, equal to the check
        self._pool = ThreadPoolExecutor(max_workers=cfg.aws.upload_concurrency)
        self._room = threading.Condition()
        self._held = 0
        self._futures: list = []
        self._lock = threading.Lock()

    def send(self, name: str, size: int, sha256: str, body: bytes | Path) -> None:
        self._raise_failure()
        if self._todo is None:
            entry = FileEntry(name=name, size=size, sha256=sha256)
        elif (entry := self._todo.get(name)) is None:
            return  # S3 has it already
        elif (size, sha256) != (entry.size, entry.sha256):
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
        meta = manifest_metadata(manifest.batch) if manifest.batch is not None else {}
        s3io.put_bytes(client, bucket, key, manifest.raw, sha, "application/json", sse, metadata=meta)
    except AgentError:
        raise
    except Exception as e:
        raise s3io.translate(e, f"uploading the manifest of {manifest.batch_id}") from None
    journal.record("manifest_uploaded", sha256=sha)
    return "uploaded"


def as_dicts(results: list[UploadResult]) -> list[dict]:
    return [asdict(r) for r in results]
