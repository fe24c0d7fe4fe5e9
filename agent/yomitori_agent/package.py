"""The package: an age file (X25519 recipients) whose plaintext is a tar stream of the files
and ``manifest.json`` (names, sizes, SHA-256). Interoperable by design:
``age -d -i KEY pkg.age | tar t`` lists it, and ``tar c | age -r R`` makes one.

The agent writes the manifest as the *last* member: each file is then read once, hashed as it
is encrypted (no separate hashing pass, and the hash is of exactly the bytes packed). Readers
accept the manifest first or last (a package made by hand with ``tar c manifest.json ...``
has it first).

Runs on all agent machines. Both directions stream in constant memory, and age runs in a
child process (:mod:`yomitori_agent.agefilter`, like ``tar c | age``): writing feeds it tar
bytes made from the source files on demand (:class:`_TarSource`); reading (see
:mod:`yomitori_agent.unpack`) parses the plaintext it releases. A package is accepted only
whole: every member is hashed while it is written under a temporary name, and nothing is
renamed into place before the manifest matched every member and the age STREAM
authenticated the last chunk (which also proves the file is not truncated).
"""

from __future__ import annotations

import contextlib
import hashlib
import mmap
import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from yomitori_agent import agefilter
from yomitori_agent.directio import DirectFile, aligned
from yomitori_agent.errors import PackageRejected, TargetNotWritable
from yomitori_agent.fsutil import check_writable_dir, fsync_dir, temp_name
from yomitori_agent.manifests import MANIFEST_MEMBER

PACKAGE_SUFFIX = ".age"
_MAX_MANIFEST = 64 << 20
_BUF = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE

Progress = Callable[[int], None]
ManifestFn = Callable[[dict[str, str]], bytes]  # member name -> SHA-256 hex  =>  manifest.json


def _noop(_n: int) -> None:
    return None


@dataclass(frozen=True)
class SourceFile:
    """A file to put into a package: member name, path on disk, and the size/mtime seen
    when it was hashed (the file must not change between hashing and packing)."""

    name: str
    path: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class PackageInfo:
    path: Path
    size: int
    manifest_sha256: str  # identifies the content; the same on every machine (the ciphertext is not)


def _tarinfo(name: str, size: int, mtime: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, mtime, 0o644
    ti.uname = ti.gname = ""
    return ti.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


class _TarSource:
    """The tar stream of the files and the manifest, produced file by file in chunks of at most
    1 MiB (constant memory); each file is hashed as it passes, and ``make_manifest`` turns the
    hashes into the last member."""

    def __init__(self, files: list[SourceFile], make_manifest: ManifestFn, progress: Progress):
        self._files = files
        self._make_manifest = make_manifest
        self._progress = progress
        self.digests: dict[str, str] = {}
        self.manifest_sha256 = ""

    def chunks(self) -> Iterator[bytes]:
        total = 0
        for f in self._files:
            header = _tarinfo(f.name, f.size, f.mtime_ns // 1_000_000_000)
            pad = -f.size % _BLOCK
            yield header
            yield from self._file_chunks(f)
            if pad:
                yield bytes(pad)
            total += len(header) + f.size + pad
        manifest = self._make_manifest(dict(self.digests))
        self.manifest_sha256 = hashlib.sha256(manifest).hexdigest()
        header = _tarinfo(MANIFEST_MEMBER, len(manifest), 0)
        yield header
        yield manifest + bytes(-len(manifest) % _BLOCK)
        total += len(header) + len(manifest) + (-len(manifest) % _BLOCK) + 2 * _BLOCK
        yield bytes(2 * _BLOCK + (-total % _RECORD))

    def _file_chunks(self, f: SourceFile) -> Iterator[bytes]:
        sha = hashlib.sha256()
        with open(f.path, "rb", buffering=0) as fh:
            self._check_unchanged(f, os.fstat(fh.fileno()))
            left = f.size
            while left:
                chunk = fh.read(min(_BUF, left))
                if not chunk:
                    raise PackageRejected(f"{f.path.name} became shorter while it was packed.")
                sha.update(chunk)  # hashlib releases the GIL: runs beside the other threads
                left -= len(chunk)
                self._progress(len(chunk))
                yield chunk
            self._check_unchanged(f, os.fstat(fh.fileno()))
        self.digests[f.name] = sha.hexdigest()

    @staticmethod
    def _check_unchanged(f: SourceFile, st: os.stat_result) -> None:
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            raise PackageRejected(f"{f.path.name} changed while the package was made.",
                                  action="Wait until scanning has finished, then run pack again.")


class _VerifyingWriter:
    """Takes the ciphertext in segments and hands them to a second thread that writes them and
    checks them on the medium while the rest is still being encrypted ("verify behind"):
    every ``SYNC_EVERY`` bytes it syncs the file and reads those bytes back from the medium
    (past the OS cache, :mod:`yomitori_agent.directio`), comparing them with the segments it
    kept. The writes go past the cache too where the system allows, which costs a tenth of
    the CPU time of cached writes. Memory is bounded by the queue and ``SYNC_EVERY``."""

    SEGMENT = 4 << 20
    SYNC_EVERY = 16 << 20
    _QUEUED = 3

    def __init__(self, path: Path):
        self.path = path
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # never reuse a file
        self._file = DirectFile(path, write=True)
        self._offset = 0
        self.size = 0
        self.error: str | None = None
        self._aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=self._QUEUED)
        # Segments go round (a fresh 4 MiB buffer costs zeroing and page faults every time):
        # queued + waiting for the read-back + one being written + one being filled.
        self._free: queue.Queue = queue.Queue()
        self._unmade = self._QUEUED + -(-self.SYNC_EVERY // self.SEGMENT) + 2
        self._thread = threading.Thread(target=self._verify, name="read-back", daemon=True)
        self._thread.start()

    def segment(self) -> bytearray:
        """An empty segment to fill and :meth:`add`: one the read-back is done with, else a new
        one while fewer than the pool's size exist, else wait for one."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._unmade:
                self._unmade -= 1
                return bytearray(self.SEGMENT)
            return self._free.get()

    def add(self, seg: bytearray) -> None:
        """Queue one segment (kept, unchanged, until it was read back)."""
        if self.error:  # stop encrypting into a stick that already failed
            raise TargetNotWritable(f"{self.path.name}: {self.error}.",
                                    action="The stick may be failing: use another one and run again.")
        self._queue.put((self._offset, seg))  # blocks while the writer is behind
        self._offset += len(seg)
        self.size += len(seg)

    def _verify(self) -> None:
        # The write system calls happen here too, so they overlap with encryption (they
        # release the GIL); only this thread touches the file.
        pending: list[tuple[int, bytearray]] = []  # (offset, segment) written, not yet checked
        staging = aligned(self.SEGMENT)  # O_DIRECT writes from page-aligned memory
        back = aligned(self.SYNC_EVERY)
        while (item := self._queue.get()) is not None:
            if self.error or self._aborted:
                self._recycle(item[1])
                continue
            offset, seg = item
            staging[: len(seg)] = seg
            try:
                self._file.pwrite(memoryview(staging)[: len(seg)], offset)
            except OSError as e:
                self.error = f"writing failed ({e.strerror})"
                self._recycle(seg)
                continue
            pending.append(item)
            if sum(len(s) for _, s in pending) >= self.SYNC_EVERY:
                self._check(back, pending)
        self._check(back, pending)

    def _check(self, back: mmap.mmap, pending: list[tuple[int, bytearray]]) -> None:
        try:
            if not (self.error or self._aborted or not pending):
                self._read_back(back, pending)
        finally:
            for _, seg in pending:
                self._recycle(seg)
            pending.clear()

    def _recycle(self, seg: bytearray) -> None:
        if len(seg) == self.SEGMENT:  # the short last one is not worth keeping
            self._free.put(seg)

    def _read_back(self, back: mmap.mmap, pending: list[tuple[int, bytearray]]) -> None:
        try:
            self._file.sync()
            start = pending[0][0]
            length = sum(len(seg) for _, seg in pending)
            with memoryview(back) as got:
                got = got[: self._file.read_from_medium(back, start, length)]
                for offset, seg in pending:
                    if seg != got[offset - start : offset - start + len(seg)]:  # bytearray ==: memcmp
                        self.error = f"bytes from {offset} read back differ from those written"
                        break
        except OSError as e:
            self.error = f"read-back failed ({e.strerror})"

    def finish(self) -> None:
        """Wait for the writes and the read-back, close. TargetNotWritable if it differed."""
        try:
            self._queue.put(None)
            self._thread.join()
            os.fsync(self._file.fileno())
        finally:
            self._file.close()
        if self.error:
            raise TargetNotWritable(f"{self.path.name}: {self.error}.",
                                    action="The stick may be failing: use another one and run again.")

    def abort(self) -> None:
        self._aborted = True
        self._queue.put(None)
        self._thread.join()
        self._file.close()


def write_package(dest: Path, files: list[SourceFile], make_manifest: ManifestFn,
                  recipients: list, *, progress: Progress = _noop) -> PackageInfo:
    """Encrypt ``files`` + the manifest that ``make_manifest(digests)`` returns (last member) as
    one package at ``dest``: written under a temporary name in the same folder (only ciphertext
    ever reaches it), each segment synced, read back from the medium and compared, then renamed.
    Raises TargetNotWritable or PackageRejected (a file changed while it was packed)."""
    need = sum(f.size + 2 * _BLOCK for f in files) * 1.001 + (4 << 20)
    check_writable_dir(dest.parent, need_bytes=int(need))
    tmp = temp_name(dest)
    try:
        writer = _VerifyingWriter(tmp)
        source = _TarSource(files, make_manifest, progress)
        try:
            _encrypt(source, writer, recipients)
        except BaseException:
            writer.abort()
            raise
        writer.finish()
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return PackageInfo(dest, writer.size, source.manifest_sha256)


def _encrypt(source: _TarSource, writer: _VerifyingWriter, recipients: list) -> None:
    """Three stages on two cores, like ``tar c | age``: a feeder thread reads and hashes the
    files into the age child process (:mod:`yomitori_agent.agefilter`), this thread takes the
    ciphertext from it in segments, and the writer's thread writes and reads them back."""
    proc = agefilter.spawn("encrypt", *(str(r) for r in recipients))
    failure: list[BaseException] = []

    def feed() -> None:
        try:
            for chunk in source.chunks():
                proc.stdin.write(chunk)
            proc.stdin.close()
        except BaseException as e:  # a scan changed, or the child is gone (writer failed)
            failure.append(e)
            proc.kill()  # no complete package from an incomplete stream

    feeder = threading.Thread(target=feed, name="tar-hash", daemon=True)
    feeder.start()
    try:
        while True:
            seg = writer.segment()
            n = proc.stdout.readinto(seg)  # fills the segment unless the stream ends
            if not n:
                break
            writer.add(seg if n == len(seg) else seg[:n])
    except BaseException:
        proc.kill()
        raise
    finally:
        feeder.join()
        problem = agefilter.finish(proc)
    if failure and isinstance(failure[0], PackageRejected):
        raise failure[0]
    if failure or problem:
        why = problem or type(failure[0]).__name__
        raise TargetNotWritable(f"encrypting {writer.path.name} failed ({why}).")


def list_packages(folder: Path) -> list[Path]:
    """Packages in ``folder`` (``*.age``, regular files only, temporary names skipped), sorted."""
    return sorted(p for p in Path(folder).glob(f"*{PACKAGE_SUFFIX}")
                  if not p.name.startswith(".") and not p.is_symlink() and p.is_file())
