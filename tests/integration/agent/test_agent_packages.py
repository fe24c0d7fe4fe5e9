"""Packages against the reference `age` tool, and rejection of damaged packages (no moto needed
for most, but the same site fixture)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import subprocess
import tarfile

import pytest
from support.agent_site import AGE, make_scans
from yomitori_agent.errors import ExitCode
from yomitori_agent.manifests import FileEntry, ResultsManifest, dump
from yomitori_agent.package import SourceFile, write_package


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _age_decrypt(key, package) -> bytes:
    return subprocess.run([AGE, "-d", "-i", str(key), str(package)], check=True, capture_output=True).stdout


def _results_package(
    tmp_path, recipient, batch_id="city-test-20260101-000000-aaaaaa", *, dest_dir, csv_size: int = 0
):
    """A results package made by the agent's own writer (as `download` makes it)."""
    import pyrage

    src = tmp_path / f"src-{batch_id}"
    (src / "documents").mkdir(parents=True)
    files = {
        "results.json": json.dumps({"batch_id": batch_id, "documents": []}).encode(),
        "results.csv": "受付番号\r\n".encode("cp932") + os.urandom(csv_size),
        "documents/water_start-0001.json": b'{"x": 1}',
    }
    entries, sources = [], []
    for name, data in files.items():
        (src / name).write_bytes(data)
        st = (src / name).stat()
        entries.append(FileEntry(name=name, size=len(data), sha256=_sha(data)))
        sources.append(SourceFile(name, src / name, st.st_size, st.st_mtime_ns))
    manifest = ResultsManifest(
        batch_id=batch_id, client_id="city-test", created_at=dt.datetime.now(dt.UTC), files=entries
    )
    dest = dest_dir / f"{batch_id}-results.age"
    write_package(
        dest, sources, lambda _digests: dump(manifest), [pyrage.x25519.Recipient.from_str(recipient)]
    )
    return dest, files


def test_pack_makes_a_package_the_age_cli_opens(site, age_keys):
    # Given five scans
    scans = make_scans(site.scans, 5)
    # When the scanner PC packs them
    r = site.run("pack", str(site.scans), "--to", str(site.usb))
    # Then one package is on the stick and nothing else (no temporary names, no plaintext)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)["packages"]
    assert len(out) == 1
    assert sorted(p.name for p in site.usb.iterdir()) == [f"{out[0]['batch_id']}.age"]
    blob = (site.usb / f"{out[0]['batch_id']}.age").read_bytes()
    assert all(s.read_bytes()[100:164] not in blob for s in scans)
    # And `age -d -i KEY | tar` shows the pages, byte for byte, then manifest.json
    plain = _age_decrypt(age_keys["external"][0], site.usb / f"{out[0]['batch_id']}.age")
    with tarfile.open(fileobj=io.BytesIO(plain)) as tf:
        names = tf.getnames()
        assert names[-1] == "manifest.json"
        manifest = json.loads(tf.extractfile("manifest.json").read())
        for s in scans:
            assert tf.extractfile(s.name).read() == s.read_bytes()
    assert names[:-1] == [s.name for s in scans]
    assert manifest["batch_id"] == out[0]["batch_id"] and manifest["client_id"] == "city-test"
    assert {p["name"]: p["sha256"] for p in manifest["pages"]} == {
        s.name: _sha(s.read_bytes()) for s in scans
    }
    assert "created_at" in manifest and manifest["form_id"] == "auto"


def test_pack_dry_run_writes_nothing_and_move_done_moves_sources(site):
    # Given scans in two batches (loose files and a sub-folder)
    make_scans(site.scans, 3)
    make_scans(site.scans / "afternoon", 2, seed=2)
    # When packing with --dry-run
    r = site.run("pack", str(site.scans), "--to", str(site.usb), "--dry-run")
    # Then two batches are planned and the stick stays empty
    assert r.returncode == 0, r.stderr
    assert [p["pages"] for p in json.loads(r.stdout)["packages"]] == [3, 2]
    assert list(site.usb.iterdir()) == []
    # When packing for real with --move-done
    r = site.run("pack", str(site.scans), "--to", str(site.usb), "--move-done")
    # Then two packages exist and every source moved to done/<batch_id>/
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["packages"]
    assert len(list(site.usb.glob("*.age"))) == 2
    assert not list(site.scans.glob("*.png")) and not list((site.scans / "afternoon").glob("*.png"))
    for p in res:
        assert len(list((site.root / "done" / p["batch_id"]).iterdir())) == p["pages"]


def test_import_accepts_a_tar_encrypted_by_the_age_cli(site, age_keys, contract_config, tmp_path):
    # Given a results package made with the standard tools: tar | age -r CONTRACT
    batch = "city-test-20260102-101010-abcdef"
    src = tmp_path / "made-by-hand"
    (src / "documents").mkdir(parents=True)
    (src / "results.json").write_bytes(b'{"documents": []}')
    (src / "documents" / "water_start-0001.json").write_bytes(b'{"a": 1}')
    entries = [
        {"name": n, "size": (src / n).stat().st_size, "sha256": _sha((src / n).read_bytes())}
        for n in ("results.json", "documents/water_start-0001.json")
    ]
    (src / "manifest.json").write_text(
        json.dumps(
            {
                "kind": "results",
                "batch_id": batch,
                "client_id": "x",
                "created_at": "2026-01-02T10:10:10Z",
                "files": entries,
            }
        )
    )
    tar = subprocess.run(
        ["tar", "-C", str(src), "-cf", "-", "manifest.json", "results.json", "documents"],
        check=True,
        capture_output=True,
    ).stdout
    pkg = site.usb / "by-hand.age"
    subprocess.run([AGE, "-r", age_keys["contract"][1], "-o", str(pkg)], input=tar, check=True)
    # When the contract server imports it
    r = site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then the batch is in the inbox, byte for byte, and the package is gone from the stick
    assert r.returncode == 0, r.stderr
    assert (site.inbox / batch / "documents" / "water_start-0001.json").read_bytes() == b'{"a": 1}'
    assert (site.inbox / batch / "results.json").read_bytes() == b'{"documents": []}'
    assert not pkg.exists()
    audit = [json.loads(x) for x in (site.state / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["event"] == "imported" and audit[-1]["batch_id"] == batch and audit[-1]["package_wiped"]


def _header_len(blob: bytes) -> int:
    mac = blob.index(b"\n--- ")
    return blob.index(b"\n", mac + 1) + 1


def _tamper(kind: str, blob: bytes, other: bytes) -> bytes:
    h = _header_len(blob)
    if kind == "flip_header":
        return blob[:40] + bytes([blob[40] ^ 0x01]) + blob[41:]
    if kind == "flip_payload":
        i = h + (len(blob) - h) // 2
        return blob[:i] + bytes([blob[i] ^ 0x80]) + blob[i + 1 :]
    if kind == "flip_last_byte":
        return blob[:-1] + bytes([blob[-1] ^ 0x01])
    if kind == "truncate":
        return blob[: len(blob) - 700]
    if kind == "truncate_at_chunk":
        return blob[: h + 16 + 65536 + 16]  # exactly one full chunk: the final-chunk flag is missing
    if kind == "append":
        return blob + b"\x00" * 32
    if kind == "swap_headers":
        return other[: _header_len(other)] + blob[h:]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind",
    [
        "flip_header",
        "flip_payload",
        "flip_last_byte",
        "truncate",
        "truncate_at_chunk",
        "append",
        "swap_headers",
    ],
)
def test_import_rejects_a_damaged_package_whole(site, age_keys, contract_config, tmp_path, kind):
    # Given a valid results package (> 64 KiB so it spans several STREAM chunks) and another one
    good, _ = _results_package(tmp_path, age_keys["contract"][1], dest_dir=tmp_path, csv_size=200_000)
    other, _ = _results_package(
        tmp_path, age_keys["contract"][1], "city-test-20260101-000000-bbbbbb", dest_dir=tmp_path
    )
    # And it has been damaged
    bad = site.usb / "damaged.age"
    bad.write_bytes(_tamper(kind, good.read_bytes(), other.read_bytes()))
    # When the contract server imports it
    r = site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then it is rejected with the stable exit code, the inbox holds nothing (not even temporary
    # files), and the package stays on the stick for inspection
    assert r.returncode == ExitCode.PACKAGE_REJECTED, (r.returncode, r.stderr)
    assert "damaged.age" in r.stderr and "what to do" in r.stderr
    assert list(site.inbox.iterdir()) == []
    assert bad.exists()
    audit = [json.loads(x) for x in (site.state / "audit.jsonl").read_text().splitlines()]
    assert audit[-1]["event"] == "import_rejected"


def test_the_untampered_package_of_the_tamper_tests_imports(site, age_keys, contract_config, tmp_path):
    # Given the same kind of package, not damaged (the control for the test above)
    pkg, files = _results_package(tmp_path, age_keys["contract"][1], dest_dir=site.usb)
    # When imported
    r = site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then it is accepted
    assert r.returncode == 0, r.stderr
    batch = site.inbox / "city-test-20260101-000000-aaaaaa"
    assert {n: (batch / n).read_bytes() for n in files} == files


def test_a_package_for_another_key_is_rejected(site, age_keys, contract_config, tmp_path):
    # Given a results package encrypted to the external PC, not to the contract server
    _results_package(tmp_path, age_keys["external"][1], dest_dir=site.usb)
    # When the contract server imports it
    r = site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then it says so
    assert r.returncode == ExitCode.PACKAGE_REJECTED
    assert "not encrypted to this machine's key" in r.stderr
    assert list(site.inbox.iterdir()) == []


def test_a_scans_package_with_a_flipped_byte_uploads_nothing(site):
    # Given a scans package damaged on the stick
    make_scans(site.scans, 4, size=40_000)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    pkg = next(site.usb.glob("*.age"))
    blob = pkg.read_bytes()
    pkg.write_bytes(_tamper("flip_payload", blob, blob))
    # When the external PC uploads
    r = site.run("upload", str(site.usb))
    # Then nothing reaches the bucket and no decrypted page is left in the work folder
    assert r.returncode == ExitCode.PACKAGE_REJECTED, r.stderr
    assert site.s3().list_objects_v2(Bucket=site.intake).get("KeyCount", 0) == 0
    assert list((site.state / "work").iterdir()) == []


def test_packing_the_same_scans_twice_is_refused_unless_asked(site):
    # Given scans that were packed once (and left in place)
    make_scans(site.scans, 3)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    # When packing the same folder again
    r = site.run("pack", str(site.scans), "--to", str(site.usb))
    # Then it refuses (the forms would reach the cloud twice) and says what to do
    assert r.returncode == ExitCode.BAD_INPUT
    assert "packed before" in r.stderr and "--again" in r.stderr
    assert len(list(site.usb.glob("*.age"))) == 1
    # And --again packs them on purpose
    assert site.run("pack", str(site.scans), "--to", str(site.usb), "--again").returncode == 0
    assert len(list(site.usb.glob("*.age"))) == 2
