"""finalize and purge over a real moto server: results.json/results.csv (UTF-8 with BOM or
cp932) next to the batch, and a purge that deletes every object and version of the batch and
its transient table items, writes a deletion record without content, proves nothing is left,
and can be repeated."""

from __future__ import annotations

import csv
import io
import json

from cloud_helpers import event, store_documents, upload
from yomitori import settings
from yomitori.batch import batch_prefix, cloud_document_id
from yomitori.cloud_local import LocalCloud, invoke, provision
from yomitori.steps import config


def test_finalize_writes_results_json_and_a_bom_csv(cloud, scans, batch_id):
    # Given three routed documents
    values = store_documents(scans, batch_id, {})
    # When the batch is finalized
    out = invoke("finalize", event("finalize", batch_id=batch_id))
    # Then results.json holds every document and results.csv is UTF-8 with a BOM, one row each
    store = config.result_store()
    results = json.loads(store.get_bytes(out["results_json_key"]))
    assert sorted(d["document_id"] for d in results["documents"]) == sorted(values)
    raw = store.get_bytes(out["results_csv_key"])
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert {r["document_id"]: r["name"] for r in rows} == {d: v["name"] for d, v in values.items()}
    assert out["documents"] == 3 and out["failed"] == 0


def test_finalize_in_cp932_for_older_core_systems(cloud, scans, batch_id):
    # Given routed documents, When finalized for cp932
    values = store_documents(scans, batch_id, {})
    out = invoke("finalize", event("finalize", batch_id=batch_id, encoding="cp932"))
    # Then the CSV decodes as cp932 with the same names
    raw = config.result_store().get_bytes(out["results_csv_key"])
    rows = list(csv.DictReader(io.StringIO(raw.decode("cp932"))))
    assert {r["document_id"]: r["name"] for r in rows} == {d: v["name"] for d, v in values.items()}


def _everything(cloud: LocalCloud, batch_id: str) -> list[str]:
    s3 = cloud.client("s3")
    left = []
    for role in settings.DATA_BUCKETS:
        resp = s3.list_object_versions(Bucket=cloud.bucket(role), Prefix=batch_prefix(batch_id))
        left += [v["Key"] for v in resp.get("Versions", []) + resp.get("DeleteMarkers", [])]
    return left


def test_purge_deletes_everything_and_records_it_once(cloud, scans, batch_id):
    # Given a batch with pages, OCR output, documents, results, a review gate and an ack token
    pages = sorted(scans.glob("*.jpg"))
    upload(batch_id, *pages)
    invoke("ocr", event("ocr", batch_id=batch_id, page=pages[0]))
    values = store_documents(scans, batch_id, {pages[1].stem: ("name",)})
    invoke("finalize", event("finalize", batch_id=batch_id))
    invoke("review", event("review_wait", batch_id=batch_id, task_token="t1"))
    invoke("review", event("review_ack_wait", batch_id=batch_id, task_token="t2"))
    before = _everything(cloud, batch_id)
    assert len(before) == 3 + 1 + 1 + 3 + 2  # pages, manifest, ocr output, documents, results
    # When the flow purges it (and Step Functions retries the purge)
    first = invoke("purge", event("purge", batch_id=batch_id))
    second = invoke("purge", event("purge", batch_id=batch_id))
    # Then nothing of the batch is left in either bucket or the review-task table
    assert _everything(cloud, batch_id) == [] and first["remaining"] == 0
    items = cloud.client("dynamodb").query(
        TableName=cloud.table(settings.REVIEW_TASKS),
        KeyConditionExpression="batch_id = :b",
        ExpressionAttributeValues={":b": {"S": batch_id}},
    )["Items"]
    assert items == []
    # and one deletion record says how much, when and who, with no content
    assert first["objects"] == len(before) and first["bytes"] > sum(p.stat().st_size for p in pages)
    assert first["table_items"] == 2 and first["triggered_by"] == "state-machine:acknowledged"
    assert second == first
    [record] = config.review_store().deletions(batch_id)
    assert record.objects == first["objects"]
    audit_items = cloud.client("dynamodb").query(
        TableName=cloud.table(settings.AUDIT),
        KeyConditionExpression="batch_id = :b",
        ExpressionAttributeValues={":b": {"S": batch_id}},
    )["Items"]
    dumped = json.dumps(audit_items, ensure_ascii=False)
    for v in values.values():
        assert v["name"] not in dumped and v["address"] not in dumped


def test_purge_removes_every_version_in_a_versioned_bucket(cloud_server, batch_id):
    # Given buckets with versioning on (someone turned it on), holding two versions and a delete marker
    from yomitori.store.s3 import S3ResultStore

    other = provision(LocalCloud(endpoint=cloud_server.url, prefix="yomitori-versioned"))
    s3 = other.client("s3")
    for role in settings.DATA_BUCKETS:
        s3.put_bucket_versioning(Bucket=other.bucket(role), VersioningConfiguration={"Status": "Enabled"})
    key_arn = other.client("kms").describe_key(KeyId=other.kms_alias)["KeyMetadata"]["Arn"]
    store = S3ResultStore(other.bucket("intake"), other.bucket("results"), key_arn, client=s3)
    store.put_page(batch_id, "p1.png", b"first")
    store.put_page(batch_id, "p1.png", b"second")
    store.put_json(f"{batch_id}/documents/p1.json", {"x": 1})
    s3.delete_object(Bucket=other.bucket("results"), Key=f"{batch_id}/documents/p1.json")  # a delete marker
    # When the batch is deleted
    count = store.delete_batch(batch_id)
    # Then no version and no marker is left, and the count includes them all
    assert _everything(other, batch_id) == []
    assert count.objects == 4 and count.bytes == len(b"first") + len(b"second") + len(json.dumps({"x": 1}))


def test_a_page_that_never_got_a_result_is_still_in_the_results(cloud, scans, batch_id):
    # Given a manifest of three pages, but one page's OCR failed for good (no document result:
    # the flow only wrote its audit record)
    import datetime as dt

    from yomitori.batch import BatchManifest, PageEntry, sha256_file

    pages = sorted(scans.glob("*.jpg"))
    manifest = BatchManifest(
        batch_id=batch_id,
        client_id="test",
        created_at=dt.datetime.now(dt.UTC),
        form_id="water_stop",
        pages=[PageEntry(name=p.name, size=p.stat().st_size, sha256=sha256_file(p)) for p in pages],
    )
    config.result_store().put_manifest(manifest)
    values = store_documents(scans, batch_id, {})
    cloud.client("s3").delete_object(
        Bucket=cloud.bucket(settings.BUCKET_RESULTS),
        Key=f"{batch_id}/documents/{cloud_document_id(batch_id, 2)}.json",
    )
    # When the batch is finalized
    out = invoke("finalize", event("finalize", batch_id=batch_id))
    # Then that page is in the results as a failure, the others as read
    rows = list(
        csv.DictReader(
            io.StringIO(config.result_store().get_bytes(out["results_csv_key"]).decode("utf-8-sig"))
        )
    )
    assert [(r["document_id"], r["error"]) for r in rows] == [
        (cloud_document_id(batch_id, n), "page_not_processed" if p == pages[1] else "")
        for n, p in enumerate(pages, start=1)
    ]
    assert out["documents"] == 3 and out["failed"] == 1 and len(values) == 3
