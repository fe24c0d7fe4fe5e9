"""The package: an age file (X25519 recipients) whose plaintext is a tar stream with
``manifest.json`` first, then the files it lists. Interoperable by design:
``age -d -i KEY pkg.age | tar t`` lists it, and ``tar c | age -r R`` makes one.

Runs on all agent machines. Both directions stream in constant memory: writing pulls tar
bytes from the source files on demand (:class:`_TarSource`) into ``pyrage.encrypt_io``;
reading runs ``pyrage.decrypt_io`` in a thread that feeds a pipe, and ``tarfile`` reads the
other end. A package is accepted only whole: every member is hashed while it is written
under a temporary name, and nothing is renamed into place before the age STREAM has
authenticated the last chunk (which also proves the file is not truncated).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import tarfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyrage

from yomitori_agent.errors import PackageRejected, TargetNotWritable
from yomitori_agent.fsutil import check_writable_dir, drop_cache, fsync_dir, temp_name
from yomitori_agent.manifests import FileEntry, PackageManifest, parse_manifest

MANIFEST_MEMBER = "manifest.json"
PACKAGE_SUFFIX = ".age"
_MAX_MANIFEST = 64 << 20
_BUF = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE

Progress = Callable[[int], None]


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
    sha256: str  # of the ciphertext, as verified by reading it back


def _tarinfo(name: str, size: int, mtime: int) -> bytes:
    ti = tarfile.TarInfo(name)
    ti.size, ti.mtime, ti.mode = size, mtime, 0o644
    ti.uname = ti.gname = ""
    return ti.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


class _TarSource(io.RawIOBase):
    """A readable stream of tar bytes produced on demand, file by file (constant memory)."""

    def __init__(self, manifest: bytes, files: list[SourceFile], progress: Progress):
        self._segments = self._generate(manifest, files)
        self._buf = memoryview(b"")
        self._fh: io.BufferedReader | None = None
        self._left = 0
        self._current: SourceFile | None = None
        self._progress = progress
        self.failure: PackageRejected | None = None  # pyrage turns reader errors into OSError

    def readable(self) -> bool:
        return True

    def _generate(self, manifest: bytes, files: list[SourceFile]) -> Iterator[bytes | SourceFile]:
        yield _tarinfo(MANIFEST_MEMBER, len(manifest), 0)
        yield manifest + bytes(-len(manifest) % _BLOCK)
        total = _BLOCK + len(manifest) + (-len(manifest) % _BLOCK)
        for f in files:
            header = _tarinfo(f.name, f.size, f.mtime_ns // 1_000_000_000)
            yield header
            yield f
            pad = -f.size % _BLOCK
            if pad:
                yield bytes(pad)
            total += len(header) + f.size + pad
        total += 2 * _BLOCK
        yield bytes(2 * _BLOCK + (-total % _RECORD))

    def _open(self, f: SourceFile) -> None:
        fh = open(f.path, "rb", buffering=_BUF)  # noqa: SIM115 - closed in _finish_file
        st = os.fstat(fh.fileno())
        if (st.st_size, st.st_mtime_ns) != (f.size, f.mtime_ns):
            fh.close()
            raise PackageRejected(f"{f.path.name} changed while the package was made.",
                                  action="Wait until scanning has finished, then run pack again.")
        self._fh, self._left, self._current = fh, f.size, f

    def _finish_file(self) -> None:
        assert self._fh is not None and self._current is not None
        st = os.fstat(self._fh.fileno())
        self._fh.close()
        self._fh = None
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
                n = self._fh.readinto(out[: min(len(out), self._left)])
                if not n:
                    raise PackageRejected(f"{self._current.path.name} became shorter while it was packed.")
                self._left -= n
                self._progress(n)
                if self._left == 0:
                    self._finish_file()
                return n
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


class _HashingWriter(io.RawIOBase):
    def __init__(self, fh):
        self._fh = fh
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self.sha.update(b)
        self._fh.write(b)
        self.size += len(b)
        return len(b)


def write_package(dest: Path, manifest: bytes, files: list[SourceFile],
                  recipients: list, *, progress: Progress = _noop) -> PackageInfo:
    """Encrypt ``manifest`` + ``files`` as one package at ``dest``: written under a temporary
    name in the same folder (only ciphertext ever reaches it), synced, read back from the
    medium and compared by SHA-256, then renamed. Raises TargetNotWritable or PackageRejected."""
    need = sum(f.size + 2 * _BLOCK for f in files) * 1.001 + len(manifest) + (1 << 20)
    check_writable_dir(dest.parent, need_bytes=int(need))
    tmp = temp_name(dest)
    try:
        with open(tmp, "xb", buffering=_BUF) as fh:
            writer = _HashingWriter(fh)
            source = _TarSource(manifest, files, progress)
            try:
                pyrage.encrypt_io(source, writer, recipients)
            except Exception as e:  # pyrage reports reader and writer failures as OSError
                if source.failure is not None:
                    raise source.failure from None
                raise TargetNotWritable(f"writing {tmp.name} failed ({e}).") from None
            finally:
                source.close()
            fh.flush()
            os.fsync(fh.fileno())
        sha = _read_back(tmp)
        if sha != writer.sha.hexdigest():
            raise TargetNotWritable(f"{dest.name}: what was read back differs from what was written.",
                                    action="The stick may be failing: use another one and run again.")
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return PackageInfo(dest, writer.size, sha)


def _read_back(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        drop_cache(fh)
        buf = bytearray(_BUF)
        view = memoryview(buf)
        while n := fh.readinto(buf):
            h.update(view[:n])
    return h.hexdigest()


def sha256_of(path: Path) -> str:
    return _read_back(path)


# ---------------------------------------------------------------- reading


def start_decrypt(package: Path, identities: list) -> tuple[io.BufferedReader, threading.Thread, dict]:
    """The agent's one decryption path: ``pyrage.decrypt_io`` in a thread writing into a pipe.
    Returns (reader of the plaintext, the thread, outcome). After reading to EOF and joining
    the thread, ``outcome.get("error")`` is None only if age authenticated the whole file."""
    r, w = os.pipe()
    reader = os.fdopen(r, "rb", buffering=_BUF)
    writer = os.fdopen(w, "wb", buffering=1 << 16)
    outcome: dict = {}

    def run() -> None:
        try:
            with open(package, "rb", buffering=_BUF) as src:
                pyrage.decrypt_io(src, writer, identities)
            writer.flush()
        except BaseException as e:  # reported by the reading side
            outcome["error"] = e
        finally:
            with contextlib.suppress(OSError):
                writer.close()

    t = threading.Thread(target=run, name="age-decrypt", daemon=True)
    t.start()
    return reader, t, outcome


def _member_name(ti: tarfile.TarInfo) -> str:
    name = ti.name
    while name.startswith("./"):
        name = name[2:]
    return name


def _copy_member(src, dest: Path, entry: FileEntry, progress: Progress) -> None:
    h = hashlib.sha256()
    size = 0
    with open(dest, "xb", buffering=_BUF) as out:
        while block := src.read(_BUF):
            h.update(block)
            out.write(block)
            size += len(block)
            progress(len(block))
    if size != entry.size or h.hexdigest() != entry.sha256:
        raise PackageRejected(f"{entry.name} does not match the size or SHA-256 in the manifest.")


def _extract(tf: tarfile.TarFile, staging: Path, progress: Progress) -> PackageManifest:
    members = iter(tf)
    first = next(members, None)
    if first is None or _member_name(first) != MANIFEST_MEMBER or not first.isfile() \
            or first.size > _MAX_MANIFEST:
        raise PackageRejected("the package does not start with manifest.json.")
    manifest = parse_manifest(tf.extractfile(first).read())
    expected = {e.name: e for e in manifest.entries}
    seen: set[str] = set()
    for ti in members:
        name = _member_name(ti).rstrip("/")
        if ti.isdir() and any(n.startswith(name + "/") for n in expected):
            continue  # `tar c documents/` adds the folder itself
        if not ti.isfile() or name not in expected or name in seen:
            raise PackageRejected(f"the package holds an unexpected or repeated member ({name[:80]}).")
        seen.add(name)
        part = staging / f"{name}.part"
        part.parent.mkdir(parents=True, exist_ok=True)
        _copy_member(tf.extractfile(ti), part, expected[name], progress)
    missing = set(expected) - seen
    if missing:
        raise PackageRejected(f"{len(missing)} file(s) listed in the manifest are missing from the package.")
    return manifest


def open_package(package: Path, identities: list, staging: Path, *,
                 progress: Progress = _noop) -> PackageManifest:
    """Decrypt ``package`` into the existing folder ``staging``: each file is written as
    ``NAME.part``, hashed against the manifest, and renamed to ``NAME`` only after the whole
    package authenticated. Raises PackageRejected (staging may then hold parts: the caller
    wipes it). Returns the manifest."""
    reader, thread, outcome = start_decrypt(package, identities)
    failure: BaseException | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r|", bufsize=1 << 16) as tf:
            manifest = _extract(tf, staging, progress)
        while reader.read(_BUF):  # drain: the last STREAM chunk must be authenticated too
            pass
    except (PackageRejected, tarfile.TarError, OSError, EOFError, ValueError) as e:
        failure = e
    finally:
        reader.close()  # unblocks the decrypt thread if we stopped early
        thread.join()
    error = outcome.get("error")
    if error is not None:
        raise PackageRejected(f"{package.name}: {_describe_decrypt_error(error)}") from None
    if failure is not None:
        if isinstance(failure, PackageRejected):
            failure.message = f"{package.name}: {failure.message}"
            raise failure
        raise PackageRejected(f"{package.name}: the content is not a valid package ({failure}).") from None
    for entry in manifest.entries:
        os.replace(staging / f"{entry.name}.part", staging / entry.name)
    return manifest


def _describe_decrypt_error(e: BaseException) -> str:
    text = str(e).lower()
    if "no matching" in text or "no identity" in text:
        return "it was not encrypted to this machine's key."
    if "header" in text or "mac" in text or "version" in text:
        return "its header is damaged or was altered."
    return "it failed authentication (damaged, altered or truncated)."


def list_packages(folder: Path) -> list[Path]:
    """Packages in ``folder`` (``*.age``, regular files only, temporary names skipped), sorted."""
    return sorted(p for p in Path(folder).glob(f"*{PACKAGE_SUFFIX}")
                  if not p.name.startswith(".") and not p.is_symlink() and p.is_file())
