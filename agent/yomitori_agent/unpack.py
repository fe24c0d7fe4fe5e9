"""Opening a package (see :mod:`yomitori_agent.package` for the format): decrypt, extract,
verify, all in one streaming pass: age decrypts in a child process (its own core and GIL),
this process parses and checks.

:func:`decrypt_into` pushes the authenticated plaintext into :class:`_TarSink`, a small tar
reader that writes each member straight to ``NAME.part`` while hashing it. ustar, GNU long
names and PAX headers are understood (what `tar` and Python write); only regular files and the
``documents`` folder are accepted. The manifest may come first or last. Nothing gets its final
name before the manifest matched every member and age authenticated the final chunk.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Callable
from pathlib import Path

from yomitori_agent import agefilter
from yomitori_agent.directio import FileWriter
from yomitori_agent.errors import PackageRejected, TargetNotWritable
from yomitori_agent.manifests import (
    MANIFEST_MEMBER,
    MAX_MANIFEST_BYTES,
    MAX_MEMBERS,
    FileEntry,
    PackageManifest,
    parse_manifest,
)
from yomitori_agent.safetext import printable

_BUF = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
# Bounds checked from a header, before anything is buffered or parsed: a crafted package
# (a 60 MB manifest, a 64 MB PAX header, 100 000 empty members) is refused at once, in
# constant memory. Real ones are far below: PAX records hold a path of <= 200 characters and
# a few numbers; member names are <= 210 characters.
_MAX_PAX = 64 << 10
_MAX_LONG_NAME = 4 << 10
_REGULAR = (tarfile.REGTYPE, tarfile.AREGTYPE)
_META = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.GNUTYPE_LONGNAME)

Progress = Callable[[int], None]
OnFile = Callable[[str, int, str, "bytes | Path"], None]  # name, size, SHA-256 hex, body or .part


class DecryptFailed(Exception):
    """age refused the package; the message is the child's one-line reason."""


def decrypt_into(package: Path, identities: list, sink) -> None:
    """The agent's one decryption path: stream ``package`` through age in a child process
    (:mod:`yomitori_agent.agefilter`, so decryption runs on its own core and GIL) into ``sink``
    (anything with ``write``; it gets views of a reused buffer of up to 1 MiB, so it must copy
    what it keeps). Raises DecryptFailed or whatever the sink raises; only a normal return
    means age authenticated the whole file, final chunk included, and the sink got all of it.
    After a failure the sink has had the plaintext released before it (all authenticated)."""
    _check_binary_age(package)
    proc = agefilter.spawn("decrypt", str(package))
    try:
        # the secret keys go through the pipe, never the command line
        proc.stdin.write("".join(f"{i}\n" for i in identities).encode("ascii"))
        proc.stdin.close()
        with memoryview(bytearray(_BUF)) as buf:
            while n := proc.stdout.readinto(buf):  # a full 1 MiB unless the stream ends
                sink.write(buf[:n])
    except BaseException:
        proc.kill()
        raise
    finally:
        problem = agefilter.finish(proc)
    if problem:
        raise DecryptFailed(problem)


_AGE_MAGIC = b"age-encryption.org/v1\n"


def _check_binary_age(package: Path) -> None:
    """Packages are binary age files. rage would also take the ASCII-armored form
    (``age -a``, ``-----BEGIN AGE ENCRYPTED FILE-----``): refuse it, as documented, so that
    only one form of a package exists (and its first MiB is the wrapped key the wipe destroys)."""
    with open(package, "rb") as fh:
        head = fh.read(len(_AGE_MAGIC))
    if head != _AGE_MAGIC:
        what = "ASCII-armored (age -a)" if head.startswith(b"-----BEGIN") else "not an age file"
        raise DecryptFailed(f"the package is {what}")


def _pax_fields(data: bytes) -> dict[str, str]:
    """``"%d key=value\\n"`` records of a PAX extended header."""
    out, pos = {}, 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        if length <= 0:
            raise ValueError("bad PAX record")
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        out[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return out


def _clean_name(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


class _TarSink:
    """A push-driven tar reader: plaintext is written in, members come out as ``.part``."""

    def __init__(self, staging: Path | None, progress: Progress,
                 on_file: OnFile | None = None, in_memory: int = 0):
        self._staging = staging  # None: check only, keep nothing
        self._files = FileWriter() if staging is not None else None  # writes .part on its own thread
        self._on_file = on_file
        self._in_memory = in_memory if on_file else 0
        self._body: bytearray | None = None  # a small member kept in memory instead of a .part
        self._progress = progress
        self._state = "header"  # header | data | meta | pad | end
        self._hdr = bytearray()
        self._left = self._pad = 0
        self._kind = ""  # the member being read: "file", "manifest" or a tar meta type
        self._name = ""
        self._meta = bytearray()
        self._out = None
        self._sha = None
        self._written = 0
        self._long_name: str | None = None
        self._pax: dict[str, str] = {}
        self.manifest: PackageManifest | None = None
        self.expected: dict[str, FileEntry] = {}
        self.seen: dict[str, tuple[int, str]] = {}
        self.failure: PackageRejected | None = None

    def write(self, b) -> int:
        try:
            self._feed(memoryview(b))
        except OSError as e:  # the staging folder's disk, not the package
            raise self._not_writable(e) from None
        except PackageRejected as e:
            self.failure = e
            raise
        except (ValueError, UnicodeDecodeError, tarfile.TarError) as e:
            self.failure = PackageRejected(f"the content is not a valid package ({type(e).__name__}).")
            raise self.failure from None
        return len(b)

    def _feed(self, mv: memoryview) -> None:
        while mv:
            if self._state == "end":
                if bytes(mv).strip(b"\0"):
                    raise PackageRejected("the package holds data after the end of its archive.")
                return
            if self._state == "header":
                take = mv[: _BLOCK - len(self._hdr)]
                self._hdr += take
                mv = mv[len(take):]
                if len(self._hdr) == _BLOCK:
                    block = bytes(self._hdr)
                    self._hdr.clear()
                    if block == bytes(_BLOCK):
                        self._state = "end"  # end-of-archive marker (and record padding)
                    else:
                        self._begin(tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape"))
                continue
            if self._state == "pad":
                take = mv[: self._pad]
                self._pad -= len(take)
                mv = mv[len(take):]
                if self._pad == 0:
                    self._state = "header"
                continue
            take = mv[: self._left]
            mv = mv[len(take):]
            self._left -= len(take)
            if self._state == "data":
                self._sha.update(take)
                self._write_all(take)
                self._written += len(take)
                self._progress(len(take))
            else:
                self._meta += take
            if self._left == 0:
                self._end_member()

    def _begin(self, ti: tarfile.TarInfo) -> None:
        size = ti.size
        if ti.type in _META:
            if size > (_MAX_LONG_NAME if ti.type == tarfile.GNUTYPE_LONGNAME else _MAX_PAX):
                raise PackageRejected(f"the package holds an oversized tar header ({size} bytes).")
            self._kind, self._state = ti.type.decode(), "meta"
            return self._start(size)
        name = _clean_name(self._long_name or self._pax.get("path") or ti.name)
        if "size" in self._pax:
            size = int(self._pax["size"])
            if size < 0:
                raise PackageRejected("the package holds a member with a negative size.")
        self._long_name, self._pax = None, {}
        if ti.type == tarfile.DIRTYPE and name == "documents":
            self._kind, self._state = "dir", "data"
            return self._start(0)
        if len(self.seen) >= MAX_MEMBERS + 1:  # + the manifest
            raise PackageRejected(f"the package holds more than {MAX_MEMBERS} files.",
                                  action="Split the batch into packages of at most "
                                         f"{MAX_MEMBERS} files; keep this one for inspection.")
        if ti.type not in _REGULAR or name in self.seen:
            raise PackageRejected(
                f"the package holds an unexpected or repeated member ({printable(name, 80)}).")
        self._name = name
        if name == MANIFEST_MEMBER:
            if self.manifest is not None or size > MAX_MANIFEST_BYTES:
                raise PackageRejected("the package holds a second or oversized manifest.json "
                                      f"(at most {MAX_MANIFEST_BYTES >> 20} MiB).")
            self._kind, self._state = "manifest", "meta"
            return self._start(size)
        try:
            FileEntry(name=name, size=0, sha256="0" * 64)
        except ValueError:
            raise PackageRejected(
                f"the package holds an unexpected member ({printable(name, 80)}).") from None
        if self.manifest is not None and name not in self.expected:
            raise PackageRejected(
                f"the package holds a file the manifest does not list ({printable(name, 80)}).")
        if self._on_file and size <= self._in_memory:
            self._body = bytearray()
        elif self._staging is not None:
            part = self._staging / f"{name}.part"
            part.parent.mkdir(parents=True, exist_ok=True)
            self._out = self._files.open(part)  # closed in _end_member
        self._sha = hashlib.sha256()
        self._written = 0
        self._kind, self._state = "file", "data"
        self._start(size)

    def _start(self, size: int) -> None:
        self._left, self._pad = size, -size % _BLOCK
        self._meta.clear()
        if size == 0:
            self._end_member()

    def _end_member(self) -> None:
        data = bytes(self._meta)
        if self._kind == "file":
            if self._out is not None:  # on_file reads the .part: wait until it is complete
                self._out.close(wait=self._on_file is not None)
                self._out = None
            self.seen[self._name] = (self._written, self._sha.hexdigest())
            if self.manifest is not None:
                self._check(self._name)
            if self._on_file:
                body, self._body = self._body, None
                self._on_file(self._name, *self.seen[self._name],
                              bytes(body) if body is not None else self._staging / f"{self._name}.part")
        elif self._kind == "manifest":
            self.manifest = parse_manifest(data)
            self.expected = {e.name: e for e in self.manifest.entries}
            for name in self.seen:
                self._check(name)
            self.seen[MANIFEST_MEMBER] = (len(data), "")
        elif self._kind == tarfile.XHDTYPE.decode():
            self._pax = _pax_fields(data)
        elif self._kind == tarfile.GNUTYPE_LONGNAME.decode():
            self._long_name = data.rstrip(b"\0").decode("utf-8")
        self._state = "pad" if self._pad else "header"

    def _write_all(self, view: memoryview) -> None:
        if self._body is not None:
            self._body += view
            return
        if self._out is not None:  # else checking only
            self._out.write(view)

    def _check(self, name: str) -> None:
        entry = self.expected.get(name)
        if entry is None:
            raise PackageRejected(
                f"the package holds a file the manifest does not list ({printable(name, 80)}).")
        if self.seen[name] != (entry.size, entry.sha256):
            raise PackageRejected(
                f"{printable(name, 80)} does not match the size or SHA-256 in the manifest.")

    def finish(self) -> PackageManifest:
        if self._state not in ("end", "header") or self._hdr:
            raise PackageRejected("the archive inside the package ends in the middle of a file.")
        if self.manifest is None:
            raise PackageRejected("the package holds no manifest.json.")
        missing = set(self.expected) - set(self.seen)
        if missing:
            raise PackageRejected(f"{len(missing)} file(s) listed in the manifest are not in the package.")
        if self._files is not None:
            try:
                self._files.finish()  # every .part written and closed
            except OSError as e:
                raise self._not_writable(e) from None
        return self.manifest

    def abort(self) -> None:
        self._body = None
        self._out = None
        if self._files is not None:
            self._files.abort()

    def _not_writable(self, e: OSError) -> TargetNotWritable:
        return TargetNotWritable(f"writing to {self._staging.parent} failed ({e.strerror}).",
                                 action="Free space there (or fix its permissions), then run again.")


def open_package(package: Path, identities: list, staging: Path, *,
                 progress: Progress = lambda _n: None, info: dict | None = None,
                 on_file: OnFile | None = None,
                 in_memory: int = 0) -> PackageManifest:
    """Decrypt ``package`` into the existing folder ``staging``: each file is written as
    ``NAME.part``, hashed against the manifest, and renamed to ``NAME`` only after the whole
    package authenticated. Raises PackageRejected (staging may then hold parts: the caller
    wipes it). Returns the manifest; ``info["manifest_sha256"]`` receives its SHA-256 (the
    content's identity, recorded by every machine the batch passes). The files are written on
    a thread of their own, past the OS cache where the system allows
    (:class:`~yomitori_agent.directio.FileWriter`): straight to the medium, which the caller's
    sync before it commits would wait for anyway.

    ``on_file(name, size, sha256, body)``, if given, is called as each file is complete (before
    the manifest was seen when it comes last); files of at most ``in_memory`` bytes are then
    kept in memory and passed as bytes, larger ones as the path of their ``.part`` file, and
    nothing is renamed. An exception from it stops the decryption and is raised as it is."""
    manifest = _read(package, identities, _TarSink(staging, progress, on_file, in_memory))
    for entry in manifest.entries if on_file is None else []:
        os.replace(staging / f"{entry.name}.part", staging / entry.name)
    if info is not None:
        info["manifest_sha256"] = hashlib.sha256(manifest.raw).hexdigest()
    return manifest


def verify_package(package: Path, identities: list, *,
                   progress: Progress = lambda _n: None) -> PackageManifest:
    """Decrypt ``package`` and check every file against the manifest, keeping nothing (no
    plaintext reaches the disk). Returns the manifest; raises PackageRejected."""
    return _read(package, identities, _TarSink(None, progress))


def _read(package: Path, identities: list, sink: _TarSink) -> PackageManifest:
    try:
        decrypt_into(package, identities, sink)
        return sink.finish()
    except PackageRejected as e:
        e.message = f"{package.name}: {e.message}"
        raise
    except (DecryptFailed, OSError, ValueError) as e:  # age refused it, or a pipe broke
        if sink.failure is not None:
            sink.failure.message = f"{package.name}: {sink.failure.message}"
            raise sink.failure from None
        raise PackageRejected(f"{package.name}: {_describe_decrypt_error(e)}") from None
    finally:
        sink.abort()


def _describe_decrypt_error(e: BaseException) -> str:
    text = str(e).lower()
    if "ascii-armored" in text:
        return "it is ASCII-armored (age -a); packages are binary age files (age without -a)."
    if "not an age file" in text:
        return "it is not an age file (damaged header or not a package)."
    if "no matching" in text or "no identity" in text:
        return "it was not encrypted to this machine's key."
    if "header" in text or "mac" in text or "version" in text:
        return "its header is damaged or was altered."
    return "it failed authentication (damaged, altered or truncated)."
