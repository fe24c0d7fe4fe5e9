"""Careful file handling for the agent (STYLE item 7), portable to Windows.

Regular files only (no symlinks), wait until a scan stops growing, check targets are
writable before working, write under a temporary name and rename atomically, overwrite
before deleting anything that held a package or plaintext.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from yomitori_agent.directio import DirectFile, aligned
from yomitori_agent.errors import BadInputError, BusyError, TargetNotWritable

_WIPE_CHUNK = 1 << 20
_WIPE_CHUNK_LARGE = 8 << 20  # a package: fewer, larger writes straight to the medium


def is_regular_file(path: Path) -> bool:
    """True for a regular file that is not a symlink (lstat: a link is never followed)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def wait_until_settled(paths: list[Path], settle_seconds: float, *, sleep=time.sleep) -> None:
    """Return once every file has kept its size and mtime for ``settle_seconds`` (a scanner may
    still be writing). Files older than that return at once, so no wait for old scans."""
    if settle_seconds <= 0:
        return
    while True:
        now = time.time()
        young = [p for p in paths if now - os.stat(p).st_mtime < settle_seconds]
        if not young:
            return
        before = {p: (os.stat(p).st_size, os.stat(p).st_mtime_ns) for p in young}
        sleep(settle_seconds)
        if all((os.stat(p).st_size, os.stat(p).st_mtime_ns) == before[p] for p in young):
            return


def check_writable_dir(path: Path, *, need_bytes: int = 0) -> None:
    """Raise TargetNotWritable unless ``path`` is a directory we can create files in with
    ``need_bytes`` free (probing with a real temporary file, which also catches read-only mounts)."""
    path = Path(path)
    if not path.is_dir():
        raise TargetNotWritable(f"{path} is not a folder (is the USB stick mounted?).")
    try:
        fd, probe = tempfile.mkstemp(prefix=".yomitori-probe-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise TargetNotWritable(f"cannot write to {path} ({e.strerror}).") from None
    free = shutil.disk_usage(path).free
    if need_bytes and free < need_bytes:
        raise TargetNotWritable(f"{path} has {free // 2**20} MB free; {need_bytes // 2**20} MB are needed.")


def fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX); Windows has no directory handles to sync."""
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}.{secrets.token_hex(4)}.partial")


def atomic_write_bytes(final: Path, data: bytes) -> None:
    """Write ``data`` to ``final`` via a temporary name in the same folder, fsync, rename."""
    tmp = temp_name(final)
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(final.parent)


def make_durable(files: list[Path]) -> None:
    """Push written files to the medium before something they replace is destroyed: one
    ``sync()`` on POSIX (thousands of per-file fsyncs cost seconds), per-file fsync elsewhere."""
    if hasattr(os, "sync"):
        os.sync()
        return
    for f in files:
        with open(f, "rb+") as fh:
            os.fsync(fh.fileno())


def _overwrite(path: Path, size: int, *, chunk: int = _WIPE_CHUNK, sync: bool = True) -> None:
    """Zeros over the first ``size`` bytes, past the OS cache where the system allows
    (nothing overwritten is read again; see :mod:`yomitori_agent.directio`)."""
    zeros = aligned(chunk)  # an anonymous mapping starts zeroed
    with DirectFile(path, write=True) as fh, memoryview(zeros) as view:
        for offset in range(0, size, chunk):
            fh.pwrite(view[: min(chunk, size - offset)], offset)
        if sync:
            fh.sync()


def wipe_file(path: Path, mode: str = "full") -> None:
    """Overwrite a file with zeros, sync, then delete it. ``mode="key"`` overwrites only the
    first MiB: for an age package that is the header holding the wrapped file key, without
    which the rest is undecryptable even with the identity (crypto-erase). On flash media
    (wear levelling) and copy-on-write file systems any overwrite is best effort."""
    path = Path(path)
    if not is_regular_file(path):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    size = os.lstat(path).st_size
    if mode == "key":
        _overwrite(path, min(size, _WIPE_CHUNK))
    else:
        _overwrite(path, size, chunk=_WIPE_CHUNK_LARGE)
    os.unlink(path)


def wipe_tree(path: Path) -> None:
    """Overwrite every file under ``path`` with zeros, sync once (see :func:`make_durable`:
    thousands of per-file fsyncs cost seconds), then delete files and folders. A missing
    path is nothing to do."""
    path = Path(path)
    if not path.exists():
        return
    files: list[Path] = []
    for root, _dirs, names in os.walk(path):
        for name in names:
            p = Path(root) / name
            if is_regular_file(p):
                _overwrite(p, os.lstat(p).st_size, sync=False)
                files.append(p)
    if files:
        make_durable(files)
    for root, dirs, names in os.walk(path, topdown=False):
        for name in names:
            os.unlink(Path(root) / name)
        for name in dirs:
            p = Path(root) / name
            if p.is_symlink():
                os.unlink(p)
            else:
                os.rmdir(p)
    os.rmdir(path)


def private_dir(parent: Path, prefix: str) -> Path:
    """A new folder only the current user can read (mode 0700 on POSIX; on Windows a folder
    under the user's profile inherits the profile's owner-only ACL)."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=parent))


@contextlib.contextmanager
def exclusive_lock(lock_path: Path) -> Iterator[None]:
    """Hold an exclusive, non-blocking lock on ``lock_path`` (flock on POSIX, msvcrt on Windows);
    BusyError if another process holds it. The OS releases it if the process dies."""
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock_path, "a+b")  # noqa: SIM115 - held for the block's lifetime
    try:
        try:
            if sys.platform == "win32":
                import msvcrt

                fh.seek(0)
                msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BusyError(f"{lock_path.name} is locked by another process.") from None
        yield
    finally:
        fh.close()


def require_file(path: Path, what: str) -> Path:
    path = Path(path)
    if not is_regular_file(path):
        raise BadInputError(f"{what} {path} is not a regular file.")
    return path
