"""The age child process, the check-only pass and the in-memory second pass of ``upload``."""

from __future__ import annotations

import hashlib
import json
import os

import pyrage
import pytest
from yomitori_agent import upload
from yomitori_agent.config import load_config
from yomitori_agent.errors import PackageRejected
from yomitori_agent.journal import BatchJournal
from yomitori_agent.manifests import FileEntry
from yomitori_agent.package import SourceFile, write_package
from yomitori_agent.unpack import DecryptFailed, decrypt_into, open_package, verify_package


@pytest.fixture
def key():
    ident = pyrage.x25519.Identity.generate()
    return ident, ident.to_public()


def _package(tmp_path, key, sizes: dict[str, int]):
    src = tmp_path / "src"
    src.mkdir()
    files, pages = [], {}
    for name, n in sizes.items():
        p = src / name
        p.write_bytes(os.urandom(n))
        st = p.stat()
        files.append(SourceFile(name, p, st.st_size, st.st_mtime_ns))
        pages[name] = p.read_bytes()
    listed = [{"name": n, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for n, d in pages.items()]
    manifest = json.dumps({"batch_id": "city-20260101-000000-abcdef", "client_id": "city",
                           "created_at": "2026-01-01T00:00:00Z", "pages": listed}).encode()
    pkg = tmp_path / "usb" / "b.age"
    pkg.parent.mkdir()
    write_package(pkg, files, lambda _d: manifest, [key[1]])
    return pkg, pages


def test_the_child_reports_a_package_for_another_key(tmp_path, key):
    # Given a package for one key
    pkg, _ = _package(tmp_path, key, {"a.png": 1000})
    got = bytearray()

    class Sink:
        def write(self, b):
            got.extend(b)
            return len(b)

    # When another key opens it
    with pytest.raises(DecryptFailed, match="(?i)no matching"):
        decrypt_into(pkg, [pyrage.x25519.Identity.generate()], Sink())
    # Then the age child said why, and released nothing
    assert got == b""


def test_check_only_returns_the_manifest_and_keeps_nothing(tmp_path, key):
    # Given a package of two pages
    pkg, pages = _package(tmp_path, key, {"a.png": 70_000, "b.png": 10})
    before = set(tmp_path.rglob("*"))
    # When it is only checked
    manifest = verify_package(pkg, [key[0]])
    # Then the manifest lists both pages and no file appeared anywhere under the test folder
    assert {e.name: e.size for e in manifest.entries} == {n: len(d) for n, d in pages.items()}
    assert set(tmp_path.rglob("*")) == before


def test_small_pages_come_in_memory_and_large_ones_as_parts(tmp_path, key):
    # Given a package with a small and a large page
    pkg, pages = _package(tmp_path, key, {"small.png": 3000, "large.png": 300_000})
    staging = tmp_path / "staging"
    staging.mkdir()
    seen = {}
    # When opened with a callback and a 100 kB in-memory limit
    open_package(pkg, [key[0]], staging, in_memory=100_000,
                 on_file=lambda name, size, sha, body: seen.__setitem__(name, (size, sha, body)))
    # Then the small page arrives as its bytes, the large one as its .part file, with their hashes
    size, sha, body = seen["small.png"]
    assert body == pages["small.png"] and sha == hashlib.sha256(body).hexdigest()
    size, sha, body = seen["large.png"]
    assert body == staging / "large.png.part" and body.read_bytes() == pages["large.png"]
    assert [p.name for p in staging.iterdir()] == ["large.png.part"]


def test_a_page_that_differs_from_the_verified_manifest_is_never_sent(tmp_path):
    # Given the second pass of an upload, with the manifest checked in the first pass
    cfg_path = tmp_path / "agent.toml"
    cfg_path.write_text('client_id = "city"\nstate_dir = "state"\n[aws]\nupload_concurrency = 2\n')
    cfg = load_config(cfg_path)
    entry = FileEntry(name="a.png", size=3, sha256=hashlib.sha256(b"abc").hexdigest())
    journal = BatchJournal(cfg.state_dir, "city-20260101-000000-abcdef")
    sender = upload._PageSender(cfg, None, "bucket", journal.batch_id, journal, [entry], lambda _n: None)
    # When the stick now yields other bytes for that page
    with pytest.raises(PackageRejected, match="changed on the stick"):
        sender.send("a.png", 3, hashlib.sha256(b"abd").hexdigest(), b"abd")
    sender.stop()
    # Then no PUT was started (the client is None: any PUT would have failed) and nothing journaled
    assert not journal.path.exists() or "page_uploaded" not in journal.path.read_text()


def test_a_second_pass_that_lacks_a_checked_page_stops_before_the_manifest(tmp_path, key, monkeypatch):
    # Given a batch checked in the first pass with pages a and b, and a stick that now holds
    # a consistent package of page a only
    cfg_path = tmp_path / "agent.toml"
    cfg_path.write_text('client_id = "city"\nstate_dir = "state"\n[aws]\nupload_concurrency = 2\n')
    cfg = load_config(cfg_path)
    pkg, pages = _package(tmp_path, key, {"a.png": 100})
    checked = [FileEntry(name="a.png", size=100, sha256=hashlib.sha256(pages["a.png"]).hexdigest()),
               FileEntry(name="b.png", size=5, sha256=hashlib.sha256(b"bbbbb").hexdigest())]
    journal = BatchJournal(cfg.state_dir, "city-20260101-000000-abcdef")
    sent = []
    monkeypatch.setattr(upload.s3io, "put_bytes", lambda _c, _b, key, *_a: sent.append(key))
    # When the second pass runs
    with pytest.raises(PackageRejected, match="1 page"):
        upload._send_pages(cfg, None, "bucket", pkg, [key[0]], checked, tmp_path / "work", journal, False)
    # Then page a went up (it equals the check) and the missing page b stopped the upload
    assert sent == ["city-20260101-000000-abcdef/pages/a.png"]
