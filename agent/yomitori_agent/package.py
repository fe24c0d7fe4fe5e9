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
import ctypes
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
from yomitori_agent.directio import ALIGN, DirectFile, aligned
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
    """The tar stream of the files and the manifest, produced file by file in pieces of at most
    1 MiB (constant memory); each file is hashed as it passes, and ``make_manifest`` turns the
    hashes into the last member."""

    def __init__(self, files: list[SourceFile], make_manifest: ManifestFn, progress: Progress):
        self._files = files
        self._make_manifest = make_manifest
        self._progress = progress
        self.digests: dict[str, str] = {}
        self.manifest_sha256 = ""
        self._buf = memoryview(bytearray(_BUF))

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The tar stream in pieces; a file's pieces share one buffer, so each piece must be
        used (written) before the next is asked for. (Reading into the same memory every time
        spares the page faults of a fresh 1 MiB per read.)"""
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

    def _file_chunks(self, f: SourceFile) -> Iterator[memoryview]:
        sha = hashlib.sha256()
        with open(f.path, "rb", buffering=0) as fh:
            self._check_unchanged(f, os.fstat(fh.fileno()))
            left = f.size
            while left:
                n = fh.readinto(self._buf[: min(_BUF, left)])
                if not n:
                    raise PackageRejected(f"{f.path.name} became shorter while it was packed.")
                chunk = self._buf[:n]
                sha.update(chunk)  # hashlib releases the GIL: runs beside the other threads
                left -= n
                self._progress(n)
                yield chunk
            self._check_unchanged(f, os.fstat(fh.fileno()))
        self.digests[f.name] = sha.hexdigest()

    @staticmethod
    def _check_unchanged(f: SourceFile, st: os.stat_result) -> None:
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            raise PackageRejected(f"{f.path.name} changed while the package was made.",
                                  action="Wait until scanning has finished, then run pack again.")


def _why(e: Exception) -> str:
    return (e.strerror if isinstance(e, OSError) else None) or type(e).__name__


class _ReadBackBuffer:
    """Where the read-back lands: a page-aligned stretch of a bytearray. Aligned because the
    medium reads into aligned memory only; a bytearray because it compares a range with
    ``memcmp`` (``startswith(data, at)``), where two memoryviews compare byte by byte."""

    def __init__(self, size: int):
        self._raw = bytearray(size + ALIGN)
        self._view = memoryview(self._raw)  # also pins the bytearray's memory in place
        self._base = -ctypes.addressof(ctypes.c_char.from_buffer(self._raw)) % ALIGN
        self._size = size

    def read(self, file: DirectFile, offset: int, length: int) -> int:
        """Read ``length`` bytes at ``offset`` from the medium; the count read."""
        return file.read_from_medium(self._view[self._base : self._base + self._size], offset, length)

    def holds(self, data: memoryview, at: int, count: int) -> bool:
        """Whether the bytes read, from ``at`` on, are ``data``."""
        return at + len(data) <= count and self._raw.startswith(data, self._base + at)


class _VerifyingWriter:
    """Takes the ciphertext in segments and checks it on the medium while the rest is still
    being encrypted ("verify behind"). One thread writes the segments; every ``SYNC_EVERY``
    bytes it syncs the file and hands those segments to a second thread, which reads the
    bytes back from the medium (past the OS cache, :mod:`yomitori_agent.directio`) and
    compares them, while the first writes on (a disk serves a read beside a write). The
    writes go past the cache too where the system allows, which costs a tenth of the CPU time
    of cached writes. Memory is bounded by the pool of segments."""

    SEGMENT = 4 << 20
    SYNC_EVERY = 16 << 20
    _QUEUED = 3

    def __init__(self, path: Path):
        self.path = path
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # never reuse a file
        self._out = DirectFile(path, write=True)
        self._back = DirectFile(path, write=False)  # its own descriptors: no sharing between threads
        self._offset = 0
        self.size = 0
        self.error: str | None = None
        self._aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=self._QUEUED)
        self._checks: queue.Queue = queue.Queue(maxsize=1)
        # Segments go round (a fresh 4 MiB buffer costs zeroing and page faults every time):
        # queued + being written + a stretch waiting for its check + one being checked + one
        # being filled.
        self._free: queue.Queue = queue.Queue()
        self._unmade = self._QUEUED + 3 * -(-self.SYNC_EVERY // self.SEGMENT) + 2
        self._threads = [threading.Thread(target=self._write_all, name="write", daemon=True),
                         threading.Thread(target=self._check_all, name="read-back", daemon=True)]
        for t in self._threads:
            t.start()

    def segment(self) -> mmap.mmap:
        """An empty, page-aligned segment (written from where it is, no copy) to fill and
        :meth:`add`: one the read-back is done with, else a new one while fewer than the
        pool's size exist, else wait for one."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._unmade:
                self._unmade -= 1
                return aligned(self.SEGMENT)
            return self._free.get()

    def add(self, seg: mmap.mmap, fill: int) -> None:
        """Queue the first ``fill`` bytes of a segment (kept, unchanged, until read back)."""
        if self.error:  # stop encrypting into a stick that already failed
            raise TargetNotWritable(f"{self.path.name}: {self.error}.",
                                    action="The stick may be failing: use another one and run again.")
        self._queue.put((self._offset, seg, fill))  # blocks while the writer is behind
        self._offset += fill
        self.size += fill

    def recycle(self, seg: mmap.mmap) -> None:
        """Give back a segment that was not added."""
        self._free.put(seg)

    def _stopped(self) -> bool:
        return bool(self.error) or self._aborted

    def _write_all(self) -> None:
        stretch: list[tuple[int, mmap.mmap, int]] = []  # (offset, segment, fill) written, unsynced
        try:
            while (item := self._queue.get()) is not None:
                offset, seg, fill = item
                stretch.append(item)
                if self._stopped():
                    continue
                try:
                    with memoryview(seg) as view:
                        self._out.pwrite(view[:fill], offset)
                except Exception as e:  # anything, or an unwritten package could pass as verified
                    self.error = f"writing failed ({_why(e)})"
                if sum(fill for _, _, fill in stretch) >= self.SYNC_EVERY:
                    self._hand_over(stretch)
                    stretch = []
            self._hand_over(stretch)
        finally:
            self._checks.put(None)

    def _hand_over(self, stretch: list[tuple[int, mmap.mmap, int]]) -> None:
        """Sync what was written and give it to the read-back thread (waits while that one is
        still checking the stretch before)."""
        if stretch and not self._stopped():
            try:
                self._out.sync()
            except Exception as e:
                self.error = f"writing failed ({_why(e)})"
        self._checks.put(stretch)

    def _check_all(self) -> None:
        back = _ReadBackBuffer(self.SYNC_EVERY + self.SEGMENT)  # a stretch can run a segment over
        while (stretch := self._checks.get()) is not None:
            try:
                if stretch and not self._stopped():
                    self._read_back(back, stretch)
            finally:
                for _, seg, _ in stretch:
                    self.recycle(seg)

    def _read_back(self, back: _ReadBackBuffer, stretch: list[tuple[int, mmap.mmap, int]]) -> None:
        try:
            start = stretch[0][0]
            got = back.read(self._back, start, sum(fill for _, _, fill in stretch))
            for offset, seg, fill in stretch:
                with memoryview(seg) as view:
                    if not back.holds(view[:fill], offset - start, got):
                        self.error = f"bytes from {offset} read back differ from those written"
                        break
        except Exception as e:  # anything, or an unchecked package could pass as verified
            self.error = f"read-back failed ({_why(e)})"

    def finish(self) -> None:
        """Wait for the writes and the read-back, close. TargetNotWritable if it differed."""
        try:
            self._join()
            os.fsync(self._out.fileno())
        finally:
            self._close()
        if self.error:
            raise TargetNotWritable(f"{self.path.name}: {self.error}.",
                                    action="The stick may be failing: use another one and run again.")

    def abort(self) -> None:
        self._aborted = True
        self._join()
        self._close()

    def _join(self) -> None:
        self._queue.put(None)
        for t in self._threads:
            t.join()

    def _close(self) -> None:
        self._out.close()
        self._back.close()


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
                writer.recycle(seg)
                break
            writer.add(seg, n)
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
