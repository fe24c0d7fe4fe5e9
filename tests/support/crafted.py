"""Crafted packages for the adversarial tests: tar streams built header by header (so they can
say anything), encrypted with real age (pyrage), and a runner that measures a command's peak
memory (maximum RSS of the process and of its age child) and wall time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

BLOCK = tarfile.BLOCKSIZE


def header(name: str, size: int, kind: bytes = tarfile.REGTYPE, *, linkname: str = "") -> bytes:
    """One ustar header block claiming ``size`` bytes (nothing checks that the data follows)."""
    ti = tarfile.TarInfo(name[:100])
    ti.size, ti.type, ti.mode, ti.linkname = size, kind, 0o644, linkname
    if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
        ti.devmajor, ti.devminor = 1, 3
    return ti.tobuf(format=tarfile.USTAR_FORMAT, encoding="utf-8", errors="surrogateescape")


def member(name: str, data: bytes, kind: bytes = tarfile.REGTYPE, **kw) -> bytes:
    return header(name, len(data), kind, **kw) + data + bytes(-len(data) % BLOCK)


def pax_member(name: str, data: bytes, records: dict[str, str]) -> bytes:
    """A member preceded by a PAX extended header holding ``records``."""
    body = b""
    for k, v in records.items():
        rec = f" {k}={v}\n".encode()
        n = len(rec) + 1
        while len(str(n)) + len(rec) != n:
            n = len(str(n)) + len(rec)
        body += str(n).encode() + rec
    return member("././@PaxHeader", body, tarfile.XHDTYPE) + member(name, data)


def end() -> bytes:
    return bytes(2 * BLOCK)


def results_manifest(batch_id: str, files: dict[str, bytes], **extra) -> bytes:
    return json.dumps(
        {
            "kind": "results",
            "batch_id": batch_id,
            "client_id": "city-test",
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "files": [
                {"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in files.items()
            ],
            **extra,
        }
    ).encode()


def results_tar(batch_id: str, files: dict[str, bytes]) -> bytes:
    """A well-formed results package's plaintext (manifest last, as the agent writes it)."""
    body = b"".join(member(n, d) for n, d in files.items())
    return body + member("manifest.json", results_manifest(batch_id, files)) + end()


def encrypt(plain: bytes, recipient: str, dest: Path, *, armor: bool = False) -> Path:
    import pyrage

    data = (
        pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)], armored=armor)
        if armor
        else pyrage.encrypt(plain, [pyrage.x25519.Recipient.from_str(recipient)])
    )
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data)
    return dest


@dataclass
class Measured:
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float  # the largest maximum RSS among the process and its waited-for children


def run_measured(cmd: list[str], env: dict[str, str], timeout: float = 60) -> Measured:
    """Run ``cmd`` and measure its wall time and peak memory (``wait4``'s ru_maxrss: the
    process's own, and the largest of its descendants it waited for, e.g. the age child)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    seconds = time.perf_counter() - started
    # communicate() reaped it; the children's rusage of this test process then holds it
    return Measured(
        proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), seconds, 0.0
    )


def peak_rss_mb_of(cmd: list[str], env: dict[str, str], timeout: float = 60) -> Measured:
    """Like :func:`run_measured`, through a small wrapper process that reports its children's
    maximum RSS (so earlier children of the test process do not count)."""
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True)\n"
        "sys.stderr.buffer.write(p.stderr)\n"
        "sys.stdout.write(json.dumps({'rc': p.returncode, 'out': p.stdout.decode('utf-8', 'replace'),"
        " 'kb': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))\n"
    )
    import sys

    m = run_measured([sys.executable, "-c", wrapper, *cmd], env, timeout)
    info = json.loads(m.stdout)
    return Measured(info["rc"], info["out"], m.stderr, m.seconds, info["kb"] / 1024)


def sparse_file(path: Path, size: int, head: bytes = b"") -> Path:
    """A file of ``size`` bytes that costs no disk (a hole after ``head``)."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)
    return path


__all__ = [
    "BLOCK",
    "Measured",
    "encrypt",
    "end",
    "header",
    "member",
    "os",
    "pax_member",
    "peak_rss_mb_of",
    "results_manifest",
    "results_tar",
    "sparse_file",
]
