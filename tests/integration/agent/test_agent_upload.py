"""Upload to a real moto server process: checksums, manifest last, resumption after Ctrl-C,
and the fault test (the server is killed mid-upload and comes back empty)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import signal
import time

import pytest
from support.agent_site import make_guarded_site, make_scans
from support.moto_server import MotoServer
from yomitori_agent.errors import ExitCode


def _journal(site, batch_id=None):
    files = sorted((site.state / "batches").glob("*.jsonl")) if (site.state / "batches").is_dir() else []
    if batch_id:
        files = [f for f in files if f.stem == batch_id]
    out = []
    for f in files:
        for line in f.read_text().splitlines():
            with contextlib.suppress(json.JSONDecodeError):
                out.append(json.loads(line))
    return out


def _wait_for_journal(site, pages: int, proc, timeout: float = 120):
    """Poll until the agent has journaled ``pages`` confirmed pages (or it ended)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for r in _journal(site) if r["event"] == "page_uploaded") >= pages:
            return
        if proc.poll() is not None:
            pytest.fail(f"upload ended before {pages} pages: {proc.stderr.read()}")
        time.sleep(0.01)
    pytest.fail("upload made no progress")


def _versions(s3, bucket):
    """key -> number of versions (a page uploaded twice has two)."""
    counts = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for v in page.get("Versions", []):
            counts[v["Key"]] = counts.get(v["Key"], 0) + 1
    return counts


def _assert_batch_complete(site, scans, batch_id):
    s3 = site.s3()
    versions = _versions(s3, site.intake)
    expected = {f"{batch_id}/pages/{p.name}" for p in scans} | {f"{batch_id}/manifest.json"}
    assert set(versions) == expected
    assert all(n == 1 for n in versions.values()), {k: n for k, n in versions.items() if n != 1}
    for p in scans:
        obj = s3.get_object(Bucket=site.intake, Key=f"{batch_id}/pages/{p.name}")
        body = obj["Body"].read()
        assert hashlib.sha256(body).hexdigest() == hashlib.sha256(p.read_bytes()).hexdigest()
        assert obj["Metadata"]["sha256"] == hashlib.sha256(body).hexdigest()


def _pack(site, n, size=20_000):
    scans = make_scans(site.scans, n, size=size)
    r = site.run("pack", str(site.scans), "--to", str(site.usb))
    assert r.returncode == 0, r.stderr
    return scans, json.loads(r.stdout)["packages"][0]["batch_id"]


def test_upload_puts_every_page_with_its_checksum_and_the_manifest_last(site):
    # Given a packed batch of 12 scans
    scans, batch_id = _pack(site, 12)
    # When the external PC uploads it
    r = site.run("upload", str(site.usb))
    # Then every page is in the intake bucket once, with its SHA-256 as S3 checksum and metadata
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["batches"][0]
    assert (res["uploaded"], res["manifest"], res["package_wiped"]) == (12, "uploaded", True)
    s3 = site.s3()
    for p in scans:
        head = s3.head_object(Bucket=site.intake, Key=f"{batch_id}/pages/{p.name}", ChecksumMode="ENABLED")
        digest = hashlib.sha256(p.read_bytes()).digest()
        import base64

        assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()
        assert head["ContentLength"] == p.stat().st_size
    # And the manifest is the batch manifest, journaled after the last page
    manifest = json.loads(s3.get_object(Bucket=site.intake, Key=f"{batch_id}/manifest.json")["Body"].read())
    assert manifest["batch_id"] == batch_id and len(manifest["pages"]) == 12
    events = [r["event"] for r in _journal(site, batch_id)]
    assert events.index("manifest_uploaded") > max(i for i, e in enumerate(events) if e == "page_uploaded")
    # And the package is gone from the stick, no decrypted page is left behind
    assert list(site.usb.iterdir()) == []
    assert list((site.state / "work").iterdir()) == []
    # And status says uploaded
    st = site.run("status", batch_id)
    assert st.returncode == 0, st.stderr
    assert json.loads(st.stdout)[0]["stage"] == "uploaded"


def test_a_large_scan_goes_up_in_parts(site):
    # Given a 6 MB scan and a multipart threshold of 5 MB
    text = site.config.read_text().replace(
        "upload_concurrency = 4", "upload_concurrency = 4\nmultipart_threshold_mb = 5"
    )
    site.config.write_text(text)
    scans, batch_id = _pack(site, 1, size=6 * 1024 * 1024)
    # When uploaded
    r = site.run("upload", str(site.usb))
    # Then the object is whole (multipart: its S3 checksum is of parts, our metadata of the file)
    assert r.returncode == 0, r.stderr
    head = site.s3().head_object(Bucket=site.intake, Key=f"{batch_id}/pages/{scans[0].name}", PartNumber=1)
    assert head.get("PartsCount", 1) == 2
    _assert_batch_complete(site, scans, batch_id)


@pytest.fixture
def own_server(tmp_path):
    """A moto server of the test's own: the test freezes or kills it, which must not touch
    the session's shared server (other tests' clients and guards hold connections to it)."""
    server = MotoServer(log_path=tmp_path / "moto-fault.log").start()
    yield server
    server.stop()


@pytest.fixture(params=["from-a-terminal", "sigint-ignored-and-blocked"])
def how_the_run_started(request):
    """How this test run itself was started: from a terminal, or as a script's background job
    (``bash -c 'make test &'`` ignores SIGINT; some launchers block it). Both are inherited
    through exec; the agent must still get the operator's Ctrl-C (Site.popen)."""
    if request.param == "from-a-terminal":
        yield request.param
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield request.param
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        signal.signal(signal.SIGINT, handler)


def test_upload_resumes_after_ctrl_c_without_uploading_anything_twice(
    tmp_path, own_server, age_keys, guard_for, stack_template, how_the_run_started
):
    # Given a site on its own moto server (the test freezes it), versioned buckets (a second
    # upload of a key would leave a second version), whichever way the test run was started
    guard = guard_for(own_server)
    site = make_guarded_site(tmp_path, own_server, guard, stack_template, age_keys)
    for b in (site.intake, site.results):
        site.s3().put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    # (enough pages that the upload cannot finish between seeing 5 journaled and the pause)
    pages = 240
    scans, batch_id = _pack(site, pages, size=60_000)
    # When the upload is interrupted with Ctrl-C while requests are in flight
    proc = site.popen("upload", str(site.usb))
    try:
        _wait_for_journal(site, 5, proc)
        site.server.pause()
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)  # let the agent handle the signal before requests can finish
    finally:
        site.server.resume()
    proc.wait(timeout=120)
    # Then it stopped early, said how to continue, and the package is still on the stick
    assert proc.returncode == ExitCode.INTERRUPTED, proc.stderr.read()
    first = sum(1 for r in _journal(site, batch_id) if r["event"] == "page_uploaded")
    assert 5 <= first < pages
    assert not any(r["event"] == "manifest_uploaded" for r in _journal(site, batch_id))
    assert len(list(site.usb.glob("*.age"))) == 1
    # When upload runs again
    r = site.run("upload", str(site.usb))
    # Then it only uploaded what was missing, and every object has exactly one version
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["batches"][0]
    assert res["skipped_present"] >= first and res["uploaded"] + res["skipped_present"] == pages
    _assert_batch_complete(site, scans, batch_id)
    guard.check()  # every call the agent made was one its policy allows


def test_upload_after_the_manifest_went_up_never_uploads_the_batch_again(site):
    # Given a batch that was uploaded completely, but whose package came back to the stick
    # (a crash between the manifest and the wipe)
    for b in (site.intake,):
        site.s3().put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    scans, batch_id = _pack(site, 5)
    pkg = next(site.usb.glob("*.age"))
    copy = site.root / "copy.age"
    shutil.copy(pkg, copy)
    assert site.run("upload", str(site.usb)).returncode == 0
    shutil.copy(copy, pkg)
    # When upload runs again
    r = site.run("upload", str(site.usb))
    # Then nothing is uploaded a second time (the manifest would start the flow twice)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["batches"][0]["manifest"] == "done-before"
    assert "already uploaded" in r.stderr  # said where the person looks
    _assert_batch_complete(site, scans, batch_id)
    assert not pkg.exists()


def test_fault_server_killed_mid_upload_then_restarted_empty(tmp_path, own_server, age_keys, guard_for,
                                                             stack_template):
    # Given a site on its own moto server (the agent as its policy), versioned buckets, and a
    # packed batch of 60 scans
    guard = guard_for(own_server)
    site = make_guarded_site(tmp_path, own_server, guard, stack_template, age_keys)
    for b in (site.intake, site.results):
        site.s3().put_bucket_versioning(Bucket=b, VersioningConfiguration={"Status": "Enabled"})
    scans, batch_id = _pack(site, 60)
    # When the server dies (SIGKILL) in the middle of the upload
    proc = site.popen("upload", str(site.usb))
    _wait_for_journal(site, 10, proc)
    own_server.pause()  # freeze it first, so the kill lands while requests are in flight
    own_server.kill()
    proc.wait(timeout=120)
    # Then the agent stops with the network exit code, keeps the package, and has not sent the manifest
    assert proc.returncode == ExitCode.NETWORK, proc.stderr.read()
    journaled = {r["page"] for r in _journal(site, batch_id) if r["event"] == "page_uploaded"}
    assert 10 <= len(journaled) < 60
    assert len(list(site.usb.glob("*.age"))) == 1
    # When the server comes back (empty: moto keeps state in memory) and upload runs again
    own_server.restart()
    site.create_buckets(versioned=True)
    r = site.run("upload", str(site.usb))
    # Then the journal was not trusted blindly: the lost pages were checked (HEAD) and uploaded again,
    # and every page is there exactly once with the right checksum, the manifest too
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)["batches"][0]
    assert (res["uploaded"], res["skipped_present"], res["manifest"]) == (60, 0, "uploaded")
    _assert_batch_complete(site, scans, batch_id)
    assert "missing or different" in (site.state / "agent.log").read_text()
    guard.check()


def test_with_the_deployment_key_every_put_asks_for_sse_kms_and_large_files_go_in_one_put(site):
    # Given the deployment's KMS key in the configuration (the bucket policy denies PUTs without it,
    # and UploadPart cannot carry the headers) and a 6 MB scan above the multipart threshold
    key_arn = site.server.client("kms").create_key()["KeyMetadata"]["Arn"]
    text = site.config.read_text().replace(
        "upload_concurrency = 4",
        f'upload_concurrency = 4\nmultipart_threshold_mb = 5\nkms_key_arn = "{key_arn}"',
    )
    site.config.write_text(text)
    scans, batch_id = _pack(site, 1, size=6 * 1024 * 1024)
    # When uploaded
    r = site.run("upload", str(site.usb))
    # Then the page and the manifest were stored with SSE-KMS under that key, the page in one PUT
    assert r.returncode == 0, r.stderr
    s3 = site.s3()
    for key in (f"{batch_id}/pages/{scans[0].name}", f"{batch_id}/manifest.json"):
        head = s3.head_object(Bucket=site.intake, Key=key)
        assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == key_arn
    head = s3.head_object(Bucket=site.intake, Key=f"{batch_id}/pages/{scans[0].name}", PartNumber=1)
    assert head.get("PartsCount", 1) == 1


def test_a_package_cut_short_takes_back_the_pages_it_already_sent(site):
    # Given a packed batch of 40 scans whose package lost its last bytes on the stick: age
    # releases (authenticated) pages before it reaches the cut, and they go up at once
    scans, batch_id = _pack(site, 40)
    pkg = next(site.usb.glob("*.age"))
    pkg.write_bytes(pkg.read_bytes()[:-100])
    # When the external PC uploads
    r = site.run("upload", str(site.usb))
    # Then the package is rejected, the pages it sent were deleted again, the batch manifest
    # never went up (so no flow started), and the package stays on the stick
    assert r.returncode == ExitCode.PACKAGE_REJECTED, r.stderr
    assert site.s3().list_objects_v2(Bucket=site.intake).get("KeyCount", 0) == 0
    events = {e["event"]: e for e in _journal(site, batch_id)}
    assert "manifest_uploaded" not in events
    assert events["pages_withdrawn"]["pages"] == sum(
        1 for e in _journal(site, batch_id) if e["event"] == "page_uploaded"
    )
    assert pkg.exists()


def test_a_renamed_package_is_refused_and_leaves_nothing_in_the_bucket(site):
    # Given a package renamed to another (well-formed) batch id
    _scans, batch_id = _pack(site, 6)
    pkg = next(site.usb.glob("*.age"))
    other = "city-test-20990101-000000-abcdef"  # the same client (the policy refuses another's)
    pkg.rename(site.usb / f"{other}.age")
    # When uploaded
    r = site.run("upload", str(site.usb))
    # Then it says the package was renamed, and nothing stays under either batch id
    assert r.returncode == ExitCode.PACKAGE_REJECTED
    assert "renamed" in r.stderr and batch_id in r.stderr
    assert site.s3().list_objects_v2(Bucket=site.intake).get("KeyCount", 0) == 0


def test_a_package_with_another_name_goes_up_in_two_passes(site):
    # Given a package whose name is not a batch id (copied by hand as "scans.age")
    scans, batch_id = _pack(site, 5)
    next(site.usb.glob("*.age")).rename(site.usb / "scans.age")
    # When uploaded
    r = site.run("upload", str(site.usb))
    # Then it was checked whole first (the journal knows the page count from the start) and
    # the batch is complete
    assert r.returncode == 0, r.stderr
    assert _journal(site, batch_id)[0] == {**_journal(site, batch_id)[0], "event": "started", "pages": 5}
    _assert_batch_complete(site, scans, batch_id)
