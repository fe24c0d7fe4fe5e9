"""The package: an age file (X25519 recipients) whose plaintext is a tar stream of the files
and ``manifest.json`` (names, sizes, SHA-256). Interoperable by design:
``age -d -i KEY pkg.age | tar t`` lists it, and ``tar c | age -r R`` makes one.

The agent writes the manifest as the *last* member: each file is then read once, hashed as it
is encrypted (no separate hashing pass, and the hash is of exactly the bytes packed). Readers
accept the manifest first or last (a package made by hand with ``tar c manifest.json ...``
has it first).

Runs on all agent machines. Both directions stream in constant memory: writing pulls tar
bytes from the source files on demand (:class:`_TarSource`) into ``pyrage.encrypt_io``;
reading runs ``pyrage.decrypt_io`` in a thread that feeds a pipe, and ``tarfile`` reads the
other end. A package is accepted only whole: every member is hashed while it is written
under a temporary name, and nothing is renamed into place before the manifest matched every
member and the age STREAM authenticated the last chunk (which also proves the file is not
truncated).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import queue
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage

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


class _TarSource(io.RawIOBase):
    """A readable stream of tar bytes produced on demand, file by file (constant memory); each
    file is hashed as it passes, and ``make_manifest`` turns the hashes into the last member."""

    def __init__(self, files: list[SourceFile], make_manifest: ManifestFn, progress: Progress):
        self._make_manifest = make_manifest
        self.digests: dict[str, str] = {}
        self.manifest_sha256 = ""
        self._sha = hashlib.sha256()
        self._segments = self._generate(files)
        self._buf = memoryview(b"")
        self._chunk = memoryview(bytearray(_BUF))
        self._fh: io.FileIO | None = None
        self._left = 0
        self._current: SourceFile | None = None
        self._progress = progress
        self.failure: PackageRejected | None = None  # pyrage turns reader errors into OSError

    def readable(self) -> bool:
        return True

    def _generate(self, files: list[SourceFile]) -> Iterator[bytes | SourceFile]:
        total = 0
        for f in files:
            header = _tarinfo(f.name, f.size, f.mtime_ns // 1_000_000_000)
            yield header
            yield f
            pad = -f.size % _BLOCK
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

    def _open(self, f: SourceFile) -> None:
        fh = open(f.path, "rb", buffering=0)  # noqa: SIM115 - closed in _finish_file
        st = os.fstat(fh.fileno())
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            fh.close()
            raise PackageRejected(f"{f.path.name} changed while the package was made.",
                                  action="Wait until scanning has finished, then run pack again.")
        self._fh, self._left, self._current = fh, f.size, f
        self._sha = hashlib.sha256()

    def _finish_file(self) -> None:
        assert self._fh is not None and self._current is not None
        st = os.fstat(self._fh.fileno())
        self._fh.close()
        self._fh = None
        self.digests[self._current.name] = self._sha.hexdigest()
        if (st.st_size, st.st_mtime_ns) != (self._current.size, self._current.mtime_ns):
            raise PackageRejected(f"{self._current.path.name} changed while the package was made.",
                                  action="Wait until scanning has finished, then run pack again.")

    def readinto(self, b) -> int:
        try:
            return self._readinto(b)
        except PackageRejected as e:
            self.failure = e
            raise

    def _readinto(self, b) -> int:
        out = memoryview(b)
        while True:
            if self._buf:
                n = min(len(out), len(self._buf))
                out[:n] = self._buf[:n]
                self._buf = self._buf[n:]
                return n
            if self._fh is not None:
                # pyrage asks for 8 KiB at a time: read and hash 1 MiB at once, serve from it
                n = self._fh.readinto(self._chunk[: min(_BUF, self._left)])
                if not n:
                    raise PackageRejected(f"{self._current.path.name} became shorter while it was packed.")
                self._buf = self._chunk[:n]
                self._sha.update(self._buf)
                self._left -= n
                self._progress(n)
                if self._left == 0:
                    self._finish_file()
                continue
            seg = next(self._segments, None)
            if seg is None:
                return 0
            if isinstance(seg, SourceFile):
                self._open(seg)
                if seg.size == 0:
                    self._finish_file()
            else:
                self._buf = memoryview(seg)

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        super().close()


class _VerifyingWriter(io.RawIOBase):
    """Hands the ciphertext in segments to a second thread that writes them and checks them on
    the medium while the rest is still being encrypted ("verify behind"): every
    ``SYNC_EVERY`` bytes it syncs the file, drops those pages from the OS cache, reads them
    back from the medium and compares them with the segments it kept. Memory is bounded by
    the queue and ``SYNC_EVERY``."""

    SEGMENT = 4 << 20
    SYNC_EVERY = 16 << 20

    def __init__(self, path: Path):
        self._path = path
        self._fh = open(path, "xb", buffering=0)  # noqa: SIM115 - closed in finish()
        self._buf = bytearray()
        self._offset = 0
        self.size = 0
        self.error: str | None = None
        self._aborted = False
        self._queue: queue.Queue = queue.Queue(maxsize=3)
        self._thread = threading.Thread(target=self._verify, name="read-back", daemon=True)
        self._thread.start()

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        if self._aborted:
            return len(b)
        if not self._buf and len(b) >= self.SEGMENT:
            self._segment(bytes(b))  # the usual case: one copy, kept for the read-back
            return len(b)
        self._buf += b
        if len(self._buf) >= self.SEGMENT:
            self._segment(bytes(self._buf))
            self._buf = bytearray()
        return len(b)

    def _segment(self, seg: bytes) -> None:
        if self.error:  # stop encrypting into a stick that already failed
            raise OSError(self.error)
        self._queue.put((self._offset, seg))  # blocks while the writer is behind
        self._offset += len(seg)
        self.size += len(seg)

    def _verify(self) -> None:
        # The write system calls happen here too, so they overlap with encryption (they
        # release the GIL); writes stay in order because only this thread writes.
        pending: list[tuple[int, bytes]] = []  # (offset, segment) written, not yet checked
        with open(self._path, "rb", buffering=0) as back:
            while (item := self._queue.get()) is not None:
                if self.error or self._aborted:
                    continue
                try:
                    with memoryview(item[1]) as view:
                        done = 0
                        while done < len(view):
                            done += self._fh.write(view[done:])
                except OSError as e:
                    self.error = f"writing failed ({e.strerror})"
                    continue
                pending.append(item)
                if sum(len(seg) for _, seg in pending) >= self.SYNC_EVERY:
                    self._check(back, pending)
            self._check(back, pending)

    def _check(self, back, pending: list[tuple[int, bytes]]) -> None:
        if self.error or self._aborted or not pending:
            pending.clear()
            return
        try:
            getattr(os, "fdatasync", os.fsync)(self._fh.fileno())
            for offset, seg in pending:
                if hasattr(os, "posix_fadvise"):  # make the read come from the medium
                    os.posix_fadvise(back.fileno(), offset, len(seg), os.POSIX_FADV_DONTNEED)
                back.seek(offset)
                if back.read(len(seg)) != seg:
                    self.error = f"bytes from {offset} read back differ from those written"
                    break
        except OSError as e:
            self.error = f"read-back failed ({e.strerror})"
        pending.clear()

    def finish(self) -> None:
        """Write the rest, wait for the read-back, close. TargetNotWritable if it differed."""
        try:
            if self._buf:
                self._segment(bytes(self._buf))
                self._buf = bytearray()
        finally:
            self._queue.put(None)
            self._thread.join()
            os.fsync(self._fh.fileno())
            self._fh.close()
        if self.error:
            raise TargetNotWritable(f"{self._path.name}: {self.error}.",
                                    action="The stick may be failing: use another one and run again.")

    def abort(self) -> None:
        self._aborted = True
        self._queue.put(None)
        self._thread.join()
        self._fh.close()


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
        # pyrage reads and writes 8 KiB at a time: C-level buffers in between turn ~250
        # Python calls per 2 MiB into two.
        reader = io.BufferedReader(source, buffer_size=_BUF)
        out = io.BufferedWriter(writer, buffer_size=_VerifyingWriter.SEGMENT)
        try:
            pyrage.encrypt_io(reader, out, recipients)
            out.flush()
        except BaseException as e:  # pyrage reports reader and writer failures as OSError
            writer.abort()
            if source.failure is not None:
                raise source.failure from None
            if isinstance(e, OSError):
                raise TargetNotWritable(f"writing {tmp.name} failed ({e}).") from None
            raise
        finally:
            source.close()
        writer.finish()
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return PackageInfo(dest, writer.size, source.manifest_sha256)


def list_packages(folder: Path) -> list[Path]:
    """Packages in ``folder`` (``*.age``, regular files only, temporary names skipped), sorted."""
    return sorted(p for p in Path(folder).glob(f"*{PACKAGE_SUFFIX}")
                  if not p.name.startswith(".") and not p.is_symlink() and p.is_file())
