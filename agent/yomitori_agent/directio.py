"""Writing to and reading from the medium itself, past the OS cache (``O_DIRECT`` on Linux).

Why: everything the agent writes to a stick is read back from the stick, and everything it
overwrites is never read again, so the cache is no use for either. Measured on the 2-core
machine: 1 GB through the cache costs about 2 s of system time, with ``O_DIRECT`` about 0.2 s.
``O_DIRECT`` wants buffer, offset and length in whole blocks; :func:`aligned` makes such
buffers and :class:`DirectFile` sends unaligned rests (a file's tail) through the cache.
Where there is no ``O_DIRECT`` (Windows, macOS) or the file system refuses it (tmpfs), every
call falls back to ordinary I/O, which is correct and only slower.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import queue
import threading
from pathlib import Path

ALIGN = 4096  # a multiple of every logical block size in use (512 and 4096)


def aligned(size: int) -> mmap.mmap:
    """A page-aligned buffer of ``size`` bytes rounded up to whole blocks (anonymous mmap)."""
    return mmap.mmap(-1, size + (-size % ALIGN) or ALIGN)


def open_direct(path: Path, flags: int) -> int:
    """A descriptor on ``path`` that bypasses the cache, or -1 where that is not possible."""
    if not hasattr(os, "O_DIRECT"):
        return -1
    try:
        return os.open(path, flags | os.O_DIRECT)
    except OSError:  # e.g. tmpfs, some FUSE and network file systems
        return -1


class DirectFile:
    """Positional writes and reads on one file: whole-block ranges from aligned buffers go past
    the cache, anything else (and everything where ``O_DIRECT`` is refused) through it. Only
    unaligned tails are cached, so :meth:`sync` has little left to write."""

    def __init__(self, path: Path, *, write: bool):
        mode = os.O_RDWR if write else os.O_RDONLY
        self._fd = os.open(path, mode | getattr(os, "O_BINARY", 0))
        self._direct = open_direct(path, mode)

    @property
    def direct(self) -> bool:
        return self._direct >= 0

    def pwrite(self, data, offset: int) -> None:
        """Write all of ``data`` at ``offset``: its whole blocks past the cache where ``data``
        is aligned, a partial last block (a file's tail) through it."""
        view = memoryview(data)
        whole = len(view) - len(view) % ALIGN
        if self._direct >= 0 and whole and self._whole_blocks(view[:whole], offset):
            try:
                self._all(self._direct, view[:whole], offset)
                view, offset = view[whole:], offset + whole
            except OSError:
                self._give_up_direct()  # refused after all: write through the cache below
        self._all(self._fd, view, offset)

    def read_from_medium(self, buf, offset: int, length: int) -> int:
        """Read up to ``length`` bytes at ``offset`` into the aligned ``buf`` from the medium,
        not from the cache; the count read (short only at the end of the file). Without
        ``O_DIRECT`` the range is first dropped from the cache where the system can (Linux
        ``posix_fadvise``); on Windows the read may come from the cache. Sync first."""
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fd, offset, length, os.POSIX_FADV_DONTNEED)
        view = memoryview(buf)
        if self._direct >= 0 and offset % ALIGN == 0:
            want = length + (-length % ALIGN)  # the medium returns whole blocks
            try:
                return min(os.preadv(self._direct, [view[:want]], offset), length)
            except OSError:
                self._give_up_direct()
        done = 0
        while done < length and (got := _pread_into(self._fd, view[done:length], offset + done)):
            done += got
        return done

    def fileno(self) -> int:
        return self._fd

    def sync(self) -> None:
        getattr(os, "fdatasync", os.fsync)(self._fd)

    def close(self) -> None:
        os.close(self._fd)
        if self._direct >= 0:
            os.close(self._direct)
            self._direct = -1

    def __enter__(self) -> DirectFile:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()

    @staticmethod
    def _whole_blocks(view: memoryview, offset: int) -> bool:
        if offset % ALIGN or len(view) % ALIGN:
            return False
        with contextlib.suppress(TypeError):  # not every buffer exposes its address cheaply
            import ctypes

            return ctypes.addressof(ctypes.c_char.from_buffer(view)) % ALIGN == 0
        return False

    @staticmethod
    def _all(fd: int, view: memoryview, offset: int) -> None:
        done = 0
        while done < len(view):
            done += _pwrite(fd, view[done:], offset + done)

    def _give_up_direct(self) -> None:
        os.close(self._direct)
        self._direct = -1


def _pwrite(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, view, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: no pwrite; one thread per file uses it
    return os.write(fd, view)


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)
    data = os.read(fd, len(view))
    view[: len(data)] = data
    return len(data)


class FileWriter:
    """Creates and writes new files on a thread of its own, past the cache where the system
    allows, so that creating files and waiting for the medium overlap with the caller's work
    (decrypting, hashing). The caller copies each file's bytes into aligned buffers from a
    small pool (:meth:`open` returns the file's handle); a full buffer, or the last one of a
    file, goes to the thread. Memory is bounded by the pool; an error on the thread comes back
    as the OSError from the caller's next call."""

    def __init__(self, *, buffers: int = 4, size: int = 1 << 20):
        self._free: queue.Queue = queue.Queue()
        for _ in range(buffers):
            self._free.put(aligned(size))
        self._jobs: queue.Queue = queue.Queue()
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._run, name="file-writer", daemon=True)
        self._thread.start()

    def open(self, path: Path) -> _NewFile:
        self.raise_error()
        return _NewFile(self, path)

    def finish(self) -> None:
        """Wait until every file is written and closed; the first error, if any."""
        self._stop()
        self.raise_error()

    def abort(self) -> None:
        self._stop()

    def raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _take(self) -> mmap.mmap:
        buf = self._free.get()  # waits while the thread is behind
        self.raise_error()
        return buf

    def _submit(self, path: Path, buf: mmap.mmap, fill: int, offset: int, done) -> None:
        self._jobs.put((path, buf, fill, offset, done))

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join()

    def _run(self) -> None:
        files: dict[Path, DirectFile] = {}
        try:
            while (job := self._jobs.get()) is not None:
                path, buf, fill, offset, done = job
                try:
                    if self._error is None:
                        self._write(files, path, buf, fill, offset, last=done is not None)
                except Exception as e:  # kept for the caller: a file must never pass as written
                    self._error = e
                finally:
                    self._free.put(buf)
                    if done is not None:
                        done.set()
        finally:
            for f in files.values():
                f.close()

    @staticmethod
    def _write(files: dict, path: Path, buf: mmap.mmap, fill: int, offset: int, *, last: bool) -> None:
        f = files.get(path)
        if f is None:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666))
            f = files[path] = DirectFile(path, write=True)
        with memoryview(buf) as view:
            f.pwrite(view[:fill], offset)
        if last:
            files.pop(path).close()


class _NewFile:
    """One file being written through a :class:`FileWriter` (see there)."""

    def __init__(self, writer: FileWriter, path: Path):
        self._writer = writer
        self._path = path
        self._buf: mmap.mmap | None = None
        self._fill = 0
        self._offset = 0

    def write(self, data) -> int:
        view = memoryview(data)
        while view:
            if self._buf is None:
                self._buf = self._writer._take()
            take = min(len(view), len(self._buf) - self._fill)
            self._buf[self._fill : self._fill + take] = view[:take]
            self._fill += take
            view = view[take:]
            if self._fill == len(self._buf):
                self._send(None)
        return len(data)

    def close(self, *, wait: bool = False) -> None:
        """Hand over the rest; with ``wait``, return only once the file is written and closed."""
        done = threading.Event()
        if self._buf is None:
            self._buf = self._writer._take()
        self._send(done)
        if wait:
            done.wait()
            self._writer.raise_error()

    def _send(self, done) -> None:
        self._writer._submit(self._path, self._buf, self._fill, self._offset, done)
        self._offset += self._fill
        self._buf, self._fill = None, 0
