"""The whole office flow against a real moto server: status through the stages, download with
acknowledgement, import on the contract server, and registration (CSV for the robot and a
SQLite core database)."""

from __future__ import annotations

import json
import subprocess

import sqlalchemy as sa
from support.agent_site import AGE, make_scans
from yomitori.results import DocumentError, DocumentResult, FieldResult, FieldStatus
from yomitori_agent.errors import ExitCode

FIELDS = {
    "postal_code": "1000001",
    "address": "東京都千代田区千代田1-1",
    "name": "山田\u3000太郎",
    "name_kana": "ヤマダ\u3000タロウ",
    "phone": "03-1234-5678",
    "start_date": "2026-04-01",
    "household_size": "3",
    "bank_code": "0001",
    "branch_code": "001",
    "account_type": "普通",
    "account_number": "1234567",
    "account_holder": "ヤマダ\u3000タロウ",
    "application_date": "2026-03-20",
}


def _doc(
    batch_id: str, doc_id: str, *, status=FieldStatus.ACCEPTED, error=None, **override
) -> DocumentResult:
    values = {**FIELDS, **override}
    return DocumentResult(
        batch_id=batch_id,
        document_id=doc_id,
        source=f"{doc_id}.png",
        form_id="water_start",
        fields={k: FieldResult(value=v, raw=v, confidence=0.99, status=status) for k, v in values.items()},
        error=error,
    )


def _put(s3, bucket, key, obj) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(obj, ensure_ascii=False).encode())


def _stage(site, batch_id) -> dict:
    r = site.run("status", batch_id)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)[0]


def test_status_download_import_register(site, age_keys, contract_config):
    # Given an uploaded batch of four scans
    make_scans(site.scans, 4)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    r = site.run("upload", str(site.usb))
    assert r.returncode == 0, r.stderr
    b = json.loads(r.stdout)["batches"][0]["batch_id"]
    assert _stage(site, b)["stage"] == "uploaded"
    s3 = site.s3()

    # When the cloud has read the pages and one document waits for a person
    docs = [
        _doc(b, "water_start-0001"),
        _doc(b, "water_start-0002", address="東京都𠮷野町1-1"),  # 𠮷 has no CP932 code
        _doc(b, "water_start-0003", status=FieldStatus.NEEDS_REVIEW),
        _doc(b, "water_start-0004", error=DocumentError(code="blank_page", message="blank", action="rescan")),
    ]
    for d in docs:
        _put(s3, site.results, f"{b}/documents/{d.document_id}.json", d.model_dump(mode="json"))
    # Then status says it waits for review, with the count
    st = _stage(site, b)
    assert (st["stage"], st["documents"], st["needs_review"]) == ("waiting_for_review", 4, 1)

    # When the person finished (the third document corrected) and finalize wrote results
    docs[2] = _doc(b, "water_start-0003", status=FieldStatus.CORRECTED)
    _put(s3, site.results, f"{b}/documents/water_start-0003.json", docs[2].model_dump(mode="json"))
    from yomitori.cost import estimate

    payload = {
        "schema_version": 1,
        "batch_id": b,
        "form_id": "water_start",
        "documents": [d.model_dump(mode="json") for d in docs],
        "cost_estimate": estimate(4, engine="ppocr"),
    }
    _put(s3, site.results, f"{b}/results.json", payload)
    s3.put_object(Bucket=site.results, Key=f"{b}/results.csv", Body="受付番号\r\n".encode("cp932"))
    s3.put_object(Bucket=site.results, Key=f"{b}/ocr/water_start-0001.json", Body=b"{}")
    # Then status says ready, with finalize's cost estimate of the batch
    st = _stage(site, b)
    cost = {k: payload["cost_estimate"][k]
            for k in ("currency", "total_usd", "per_page_usd", "pages", "engine")}
    assert st["stage"] == "ready" and st["cost_estimate"] == cost

    # When the external PC downloads the results
    r = site.run("download", b, "--to", str(site.usb))
    # Then one package for the contract server is on the stick (results.json and results.csv; engine
    # output left out), verified, and the acknowledgement is in the results bucket
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["files"] == 2 and out["acknowledged"] is True
    pkg = site.usb / f"{b}-results.age"
    plain = subprocess.run(
        [AGE, "-d", "-i", str(age_keys["contract"][0]), str(pkg)], check=True, capture_output=True
    ).stdout
    assert b"ocr/" not in plain
    ack = json.loads(s3.get_object(Bucket=site.results, Key=f"{b}/ack.json")["Body"].read())
    assert ack["batch_id"] == b and ack["manifest_sha256"] == out["manifest_sha256"]
    assert _stage(site, b)["stage"] == "downloaded"
    # and once the cloud copy is purged, status still shows the cost (download kept it locally)
    for o in s3.list_objects_v2(Bucket=site.results, Prefix=f"{b}/").get("Contents", []):
        s3.delete_object(Bucket=site.results, Key=o["Key"])
    assert _stage(site, b)["cost_estimate"] == cost

    # When the contract server imports the package
    r = site.run("import", str(site.usb), "--to", str(site.inbox), config=contract_config)
    # Then the batch is in the inbox, the package is gone, and the audit record names the same
    # content (manifest SHA-256) as the download did: chain of custody across the machines
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["imported"][0]["manifest_sha256"] == out["manifest_sha256"]
    assert json.loads((site.inbox / b / "results.json").read_text(encoding="utf-8"))["batch_id"] == b
    assert not pkg.exists()

    # When it registers with a CSV for the robot and the core database
    db = site.root / "core.db"
    r = site.run("register", str(site.inbox), "--db", f"sqlite:///{db}", config=contract_config)
    # Then two documents are registered, two are rejected with reasons; exit code says "partial"
    assert r.returncode == ExitCode.PARTIAL, r.stderr
    rep = json.loads(r.stdout)
    assert (rep["registered"], rep["duplicates"], rep["rejected"]) == (2, 0, 2)
    reasons = {d["document_id"]: d.get("reason") for d in rep["documents"]}
    assert reasons["water_start-0002"] == "not_encodable:address"
    assert reasons["water_start-0004"] == "document_error:blank_page"
    # And the CSV is in the core system's layout: CP932, CRLF, headers and order of the export mapping
    from yomitori.forms import load_form

    mapping = load_form("water_start").export
    raw = (site.watch / f"water_start_{b}.csv").read_bytes()
    assert raw.count(b"\r\n") == 3 and b"\n" not in raw.replace(b"\r\n", b"")
    lines = raw.decode("cp932").split("\r\n")
    assert lines[0].split(",") == [c.header for c in mapping.columns]
    assert [line.split(",")[0] for line in lines[1:3]] == ["water_start-0001", "water_start-0003"]
    assert lines[1].split(",")[3] == FIELDS["name"]
    # And the database holds the same two rows
    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as c:
        ids = [
            row[0] for row in c.execute(sa.text("select document_id from yomitori_water_start order by 1"))
        ]
    assert ids == ["water_start-0001", "water_start-0003"]

    # When it registers again
    r = site.run("register", str(site.inbox), "--db", f"sqlite:///{db}", config=contract_config)
    # Then nothing is created twice: duplicates in the report, the same rows, no second CSV
    rep = json.loads(r.stdout)
    assert (rep["registered"], rep["duplicates"], rep["rejected"]) == (0, 2, 2)
    with engine.connect() as c:
        assert c.execute(sa.text("select count(*) from yomitori_water_start")).scalar() == 2
    engine.dispose()
    assert rep["csv_files"] == []
    recon = json.loads((site.inbox / b / "reconciliation.json").read_text(encoding="utf-8"))
    assert recon["counts"] == {"registered": 0, "duplicate": 2, "rejected": 2}
    assert "山田" not in json.dumps(recon, ensure_ascii=False)

    # When the cloud purges the batch
    for bucket in (site.intake, site.results):
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{b}/").get("Contents", []):
            s3.delete_object(Bucket=bucket, Key=o["Key"])
    # Then status says purged (the local record of the upload remains)
    assert _stage(site, b)["stage"] == "purged"
    # And no personal value reached the agent's log or audit files
    for f in (site.state / "agent.log", site.state / "audit.jsonl"):
        text = f.read_text(encoding="utf-8")
        assert "山田" not in text and "1234567" not in text


def test_download_of_a_batch_without_results_says_not_ready(site):
    # Given a batch id the cloud has no results for
    # When downloading it
    r = site.run("download", "city-test-20260101-000000-cccccc", "--to", str(site.usb))
    # Then the exit code says "not found" and the line says what to do
    assert r.returncode == ExitCode.NOT_FOUND
    assert "no results yet" in r.stderr and "status" in r.stderr
    assert list(site.usb.iterdir()) == []


def test_no_acknowledgement_when_the_package_cannot_be_written(site):
    # Given a batch with results, and a "stick" that is not a folder
    b = "city-test-20260101-000000-dddddd"
    s3 = site.s3()
    _put(s3, site.results, f"{b}/results.json", {"batch_id": b, "documents": []})
    not_a_folder = site.root / "usb-file"
    not_a_folder.write_bytes(b"")
    # When downloading to it
    r = site.run("download", b, "--to", str(not_a_folder))
    # Then it says the target is unusable, and the cloud was not told to purge
    assert r.returncode == ExitCode.TARGET_NOT_WRITABLE, r.stderr
    assert s3.list_objects_v2(Bucket=site.results, Prefix=f"{b}/ack.json").get("KeyCount", 0) == 0
    work = site.state / "work"
    assert not work.exists() or list(work.iterdir()) == []


def test_status_reads_the_batches_table_when_configured(site):
    # Given a batches table (moto DynamoDB on the same server) with the state machine's item
    b = "city-test-20260101-000000-eeeeee"
    ddb = site.server.client("dynamodb")
    table = site.batches_table
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "batch_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "batch_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(
        TableName=table,
        Item={"batch_id": {"S": b}, "status": {"S": "REVIEW"}, "needs_review_count": {"N": "2"}},
    )
    site.config.write_text(site.config.read_text().replace("[aws]", f'[aws]\nbatches_table = "{table}"'))
    # When asking for its status
    r = site.run("status", b)
    # Then the table's view is reported (the buckets hold nothing of it yet)
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)[0]
    assert st["table_status"] == "REVIEW" and st["needs_review_count"] == 2


def test_upload_dry_run_uploads_and_wipes_nothing(site):
    # Given a packed batch
    make_scans(site.scans, 3)
    assert site.run("pack", str(site.scans), "--to", str(site.usb)).returncode == 0
    # When upload runs with --dry-run
    r = site.run("upload", str(site.usb), "--dry-run")
    # Then it verified the package and says what it would do, but nothing was sent or wiped
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["batches"][0]["uploaded"] == 3
    assert site.s3().list_objects_v2(Bucket=site.intake).get("KeyCount", 0) == 0
    assert len(list(site.usb.glob("*.age"))) == 1


def test_a_second_download_only_completes_the_acknowledgement(site):
    # Given results downloaded once without the acknowledgement (as after a cut between the two)
    b = "city-test-20260101-000000-ffffff"
    s3 = site.s3()
    _put(s3, site.results, f"{b}/results.json", {"batch_id": b, "documents": []})
    first = site.run("download", b, "--to", str(site.usb), "--no-ack")
    assert first.returncode == 0, first.stderr
    assert s3.list_objects_v2(Bucket=site.results, Prefix=f"{b}/ack.json").get("KeyCount", 0) == 0
    # When download runs again
    r = site.run("download", b, "--to", str(site.usb))
    # Then no second package is made, and the ack names the content of the first
    assert r.returncode == 0, r.stderr
    assert len(list(site.usb.glob("*.age"))) == 1
    ack = json.loads(s3.get_object(Bucket=site.results, Key=f"{b}/ack.json")["Body"].read())
    assert ack["manifest_sha256"] == json.loads(first.stdout)["manifest_sha256"]
