"""Package streaming: constant memory, edge sizes, and files that change while packed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pyrage
import pytest
from yomitori_agent.errors import PackageRejected, TargetNotWritable
from yomitori_agent.manifests import parse_manifest
from yomitori_agent.package import SourceFile, write_package
from yomitori_agent.unpack import open_package


@pytest.fixture
def key():
    ident = pyrage.x25519.Identity.generate()
    return ident, ident.to_public()


def _source(path):
    st = path.stat()
    return SourceFile(path.name, path, st.st_size, st.st_mtime_ns)


def _manifest(files):
    import hashlib

    pages = [
        {"name": f.name, "size": f.size, "sha256": hashlib.sha256(f.path.read_bytes()).hexdigest()}
        for f in files
    ]
    return json.dumps(
        {
            "batch_id": "city-20260101-000000-abcdef",
            "client_id": "city",
            "created_at": "2026-01-01T00:00:00Z",
            "pages": pages,
        }
    ).encode()


@pytest.mark.parametrize("sizes", [[0], [1, 511, 512, 513], [65536, 65536 * 2 + 7], [3 * 1024 * 1024]])
def test_round_trip_at_block_and_chunk_boundaries(tmp_path, key, sizes):
    # Given pages at tar-block and age-chunk edges
    src = tmp_path / "src"
    src.mkdir()
    files = []
    for i, n in enumerate(sizes):
        p = src / f"page-{i}.png"
        p.write_bytes(os.urandom(n))
        files.append(_source(p))
    # When packed and opened again
    pkg = tmp_path / "out" / "b.age"
    pkg.parent.mkdir()
    info = write_package(pkg, files, lambda _d: _manifest(files), [key[1]])
    staging = tmp_path / "staging"
    staging.mkdir()
    manifest = open_package(pkg, [key[0]], staging)
    # Then every page comes back byte for byte, with no temporary names left
    assert info.size == pkg.stat().st_size
    assert sorted(p.name for p in staging.iterdir()) == sorted(f.name for f in files)
    for f in files:
        assert (staging / f.name).read_bytes() == f.path.read_bytes()
    assert manifest.batch_id == "city-20260101-000000-abcdef"


def test_a_page_that_changes_after_hashing_is_refused(tmp_path, key):
    # Given a page that was hashed, then rewritten by a scanner still at work
    p = tmp_path / "page.png"
    p.write_bytes(b"a" * 1000)
    stale = _source(p)
    manifest = _manifest([stale])
    p.write_bytes(b"b" * 2000)
    # When packing it
    out = tmp_path / "usb"
    out.mkdir()
    with pytest.raises(PackageRejected, match="changed while the package was made"):
        write_package(out / "b.age", [stale], lambda _d: manifest, [key[1]])
    # Then nothing is left on the stick
    assert list(out.iterdir()) == []


def test_a_missing_target_folder_is_reported_before_any_work(tmp_path, key):
    with pytest.raises(TargetNotWritable, match="not a folder"):
        write_package(tmp_path / "no-stick" / "b.age", [], lambda _d: b"{}", [key[1]])


def test_manifest_with_a_path_in_a_page_name_is_refused():
    bad = json.dumps(
        {
            "batch_id": "city-20260101-000000-abcdef",
            "client_id": "c",
            "created_at": "2026-01-01T00:00:00Z",
            "pages": [{"name": "../etc/passwd", "size": 1, "sha256": "0" * 64}],
        }
    ).encode()
    with pytest.raises(PackageRejected, match="not a valid manifest"):
        parse_manifest(bad)


def test_memory_stays_flat_while_packing_and_opening_96_mb(tmp_path):
    # Given 96 MB of scans (in a child process, so its peak memory is its own)
    script = textwrap.dedent(f"""
        import os, resource, pyrage, json, hashlib
        from pathlib import Path
        from yomitori_agent.package import SourceFile, write_package
        from yomitori_agent.unpack import open_package
        root = Path({str(tmp_path)!r})
        (root / "scans").mkdir(); (root / "usb").mkdir(); (root / "stage").mkdir()
        block = os.urandom(1 << 20)
        files = []
        for i in range(12):
            p = root / "scans" / f"p{{i}}.png"
            with open(p, "wb") as fh:
                for _ in range(8):
                    fh.write(block)
            st = p.stat()
            files.append(SourceFile(p.name, p, st.st_size, st.st_mtime_ns))
        digest = hashlib.sha256(block * 8).hexdigest()
        manifest = json.dumps({{"batch_id": "city-20260101-000000-abcdef", "client_id": "c",
            "created_at": "2026-01-01T00:00:00Z",
            "pages": [{{"name": f.name, "size": f.size, "sha256": digest}} for f in files]}}).encode()
        ident = pyrage.x25519.Identity.generate()
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        write_package(root / "usb" / "b.age", files, lambda d: manifest, [ident.to_public()])
        open_package(root / "usb" / "b.age", [ident], root / "stage")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({{"base_kb": base, "peak_kb": peak}}))
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    m = json.loads(r.stdout)
    # Then the peak grew by far less than the 96 MB that passed through (streaming, not buffering)
    assert (m["peak_kb"] - m["base_kb"]) < 64 * 1024, m


def _hand_made(tmp_path, key, members: list[tuple[str, bytes]]):
    """An age package around a tar made by hand (tarfile), in the given member order."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    pkg = tmp_path / "hand.age"
    pkg.write_bytes(pyrage.encrypt(buf.getvalue(), [key[1]]))
    return pkg


def _manifest_for(pages: dict[str, bytes]) -> bytes:
    import hashlib

    listed = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in pages.items()]
    return json.dumps(
        {
            "batch_id": "city-20260101-000000-abcdef",
            "client_id": "c",
            "created_at": "2026-01-01T00:00:00Z",
            "pages": listed,
        }
    ).encode()


@pytest.mark.parametrize("manifest_first", [True, False])
def test_manifest_may_come_first_or_last(tmp_path, key, manifest_first):
    # Given a hand-made package with the manifest first or last
    pages = {"a.png": b"A" * 700, "b.png": b"B" * 10}
    m = ("manifest.json", _manifest_for(pages))
    members = [m, *pages.items()] if manifest_first else [*pages.items(), m]
    pkg = _hand_made(tmp_path, key, members)
    staging = tmp_path / "st"
    staging.mkdir()
    # When opened
    open_package(pkg, [key[0]], staging)
    # Then both pages are there
    assert {p.name: p.read_bytes() for p in staging.iterdir()} == pages


@pytest.mark.parametrize(
    "case",
    [
        "unlisted_before_manifest",
        "unlisted_after_manifest",
        "wrong_hash",
        "missing",
        "no_manifest",
        "two_manifests",
    ],
)
def test_a_package_whose_members_do_not_match_the_manifest_is_rejected(tmp_path, key, case):
    # Given a package whose content disagrees with its manifest
    pages = {"a.png": b"A" * 700, "b.png": b"B" * 10}
    m = ("manifest.json", _manifest_for(pages))
    members = {
        "unlisted_before_manifest": [("x.png", b"x"), *pages.items(), m],
        "unlisted_after_manifest": [m, *pages.items(), ("x.png", b"x")],
        "wrong_hash": [("a.png", b"A" * 699 + b"Z"), ("b.png", pages["b.png"]), m],
        "missing": [("a.png", pages["a.png"]), m],
        "no_manifest": list(pages.items()),
        "two_manifests": [m, *pages.items(), m],
    }[case]
    pkg = _hand_made(tmp_path, key, members)
    staging = tmp_path / "st"
    staging.mkdir()
    # When opened
    with pytest.raises(PackageRejected):
        open_package(pkg, [key[0]], staging)
    # Then no page got its final name
    assert not [p for p in staging.rglob("*") if p.is_file() and not p.name.endswith(".part")]


@pytest.mark.parametrize("fmt", ["gnu", "pax"])
def test_long_member_names_from_gnu_and_pax_tars(tmp_path, key, fmt):
    # Given a page name longer than ustar's 100 characters, in a GNU (././@LongLink) or PAX tar
    import io
    import tarfile

    name = "water_start-" + "x" * 140 + ".png"
    pages = {name: b"long" * 100}
    buf = io.BytesIO()
    with tarfile.open(
        fileobj=buf, mode="w", format=tarfile.GNU_FORMAT if fmt == "gnu" else tarfile.PAX_FORMAT
    ) as tf:
        for n, data in [*pages.items(), ("manifest.json", _manifest_for(pages))]:
            ti = tarfile.TarInfo(n)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    pkg = tmp_path / "long.age"
    pkg.write_bytes(pyrage.encrypt(buf.getvalue(), [key[1]]))
    staging = tmp_path / "st"
    staging.mkdir()
    # When opened
    open_package(pkg, [key[0]], staging)
    # Then the page has its full name
    assert (staging / name).read_bytes() == pages[name]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="the read-back seam is posix_fadvise (Linux)")
@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "through-the-cache"])
def test_a_medium_that_returns_other_bytes_fails_the_read_back(tmp_path, key, monkeypatch, direct):
    # Given a stick that corrupts what it stores (injected where the agent drops its cache
    # before reading back), read back with O_DIRECT or, where that is refused, through the cache
    import yomitori_agent.package as package

    if not direct:
        monkeypatch.delattr(package.os, "O_DIRECT", raising=False)

    real = os.posix_fadvise

    def corrupting(fd, offset, length, advice):
        path = os.readlink(f"/proc/self/fd/{fd}")
        with open(path, "r+b") as fh:
            fh.seek(offset + length // 2)
            fh.write(b"\xff\x00\xff")
        return real(fd, offset, length, advice)

    monkeypatch.setattr(package.os, "posix_fadvise", corrupting)
    page = tmp_path / "p.png"
    page.write_bytes(os.urandom(300_000))
    out = tmp_path / "usb"
    out.mkdir()
    # When a package is written
    with pytest.raises(TargetNotWritable, match="read back differ"):
        write_package(out / "b.age", [_source(page)], lambda _d: _manifest([_source(page)]), [key[1]])
    # Then the package is not left on the stick
    assert list(out.iterdir()) == []


@pytest.mark.timeout(60)
def test_a_stick_that_stops_taking_writes_fails_the_package_and_leaves_nothing(tmp_path, key, monkeypatch):
    # Given a stick that refuses every write after the first few (small segments and
    # stretches, so the failure comes while later stretches are being read back)
    import errno

    import yomitori_agent.package as package

    monkeypatch.setattr(package._VerifyingWriter, "SEGMENT", 16 << 10)
    monkeypatch.setattr(package._VerifyingWriter, "SYNC_EVERY", 64 << 10)
    real, calls = package.DirectFile.pwrite, []

    def failing(self, data, offset):
        calls.append(offset)
        if len(calls) > 6:
            raise OSError(errno.EIO, "Input/output error")
        return real(self, data, offset)

    monkeypatch.setattr(package.DirectFile, "pwrite", failing)
    pages = []
    for i in range(4):
        p = tmp_path / f"p{i}.png"
        p.write_bytes(os.urandom(300_000))
        pages.append(_source(p))
    out = tmp_path / "usb"
    out.mkdir()
    # When a package is written, Then it fails with what went wrong (and does not hang)
    with pytest.raises(TargetNotWritable, match="writing failed"):
        write_package(out / "b.age", pages, lambda _d: _manifest(pages), [key[1]])
    # And nothing is left on the stick
    assert list(out.iterdir()) == []


@pytest.mark.timeout(60)
def test_a_read_back_that_breaks_unexpectedly_never_passes_for_verified(tmp_path, key, monkeypatch):
    # Given a read-back that fails with something other than an OS error (a bug, say)
    import yomitori_agent.package as package

    def broken(self, buf, offset, length):
        raise ValueError("unexpected")

    monkeypatch.setattr(package.DirectFile, "read_from_medium", broken)
    page = tmp_path / "p.png"
    page.write_bytes(os.urandom(300_000))
    out = tmp_path / "usb"
    out.mkdir()
    # When a package is written, Then it fails as unverified, and nothing is left
    with pytest.raises(TargetNotWritable, match=r"read-back failed \(ValueError\)"):
        write_package(out / "b.age", [_source(page)], lambda _d: _manifest([_source(page)]), [key[1]])
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("direct", [True, False], ids=["O_DIRECT", "through-the-cache"])
def test_a_package_of_many_segments_is_written_and_read_back_whole(tmp_path, key, monkeypatch, direct):
    # Given segments of 16 KiB read back every 64 KiB (so 1.2 MB of scans take ~75 segments,
    # each written past the cache where the system allows, the last one through it)
    import yomitori_agent.package as package

    monkeypatch.setattr(package._VerifyingWriter, "SEGMENT", 16 << 10)
    monkeypatch.setattr(package._VerifyingWriter, "SYNC_EVERY", 64 << 10)
    if not direct:
        monkeypatch.delattr(package.os, "O_DIRECT", raising=False)
    pages = []
    for i in range(4):
        p = tmp_path / f"p{i}.png"
        p.write_bytes(os.urandom(300_000 + i))
        pages.append(_source(p))
    out = tmp_path / "usb"
    out.mkdir()
    # When the package is written
    info = write_package(out / "b.age", pages, lambda _d: _manifest(pages), [key[1]])
    # Then it is whole: it opens, and every page comes out byte for byte
    assert info.size == (out / "b.age").stat().st_size > 1_200_000
    staging = tmp_path / "st"
    staging.mkdir()
    open_package(out / "b.age", [key[0]], staging)
    for f in pages:
        assert (staging / f.name).read_bytes() == f.path.read_bytes()


@pytest.mark.parametrize("portable", [False, True], ids=["*_file via /dev/std*", "*_io (Windows)"])
def test_both_ways_of_the_age_child_make_and_open_the_same_package(tmp_path, key, monkeypatch, portable):
    # Given the age child moving bytes through /dev/stdin and /dev/stdout (Linux, macOS) or
    # through Python file objects (where the standard streams have no names)
    if portable:
        monkeypatch.setenv("YOMITORI_AGEFILTER_PORTABLE", "1")
    page = tmp_path / "p.png"
    page.write_bytes(os.urandom(200_000))
    out = tmp_path / "usb"
    out.mkdir()
    # When a package is written and opened again, and then opened after losing its last bytes
    write_package(out / "b.age", [_source(page)], lambda _d: _manifest([_source(page)]), [key[1]])
    staging = tmp_path / "st"
    staging.mkdir()
    open_package(out / "b.age", [key[0]], staging)
    (out / "c.age").write_bytes((out / "b.age").read_bytes()[:-50])
    (tmp_path / "st2").mkdir()
    # Then the page comes out whole, and the cut package is refused
    assert (staging / "p.png").read_bytes() == page.read_bytes()
    with pytest.raises(PackageRejected, match="failed authentication"):
        open_package(out / "c.age", [key[0]], tmp_path / "st2")
