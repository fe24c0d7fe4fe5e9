"""The audit trail on the cloud stores over a real moto server: the chain in the DynamoDB
audit table (conditional puts on the next seq, retried when two writers race), every
single-record tampering of the stored items found by `verify`, and purge's copy of the trail
in the Object-Lock (governance) trail bucket, which no one without the bypass right deletes."""

from __future__ import annotations

import json
import threading

import pytest
from support.audit_trail import T0, make_trail, personal_values, tamperings
from yomitori import settings
from yomitori.audit.archive import read_jsonl, trail_key
from yomitori.audit.chain import CHANGED, REMOVED, REORDERED, verify
from yomitori.audit.report import anchors_of, to_csv, to_jsonl
from yomitori.steps import config
from yomitori.steps.purge import purge_batch
from yomitori.store import AuditAction, AuditRecord, DynamoReviewStore, LocalGateReleaser


@pytest.fixture
def purged(cloud, batch_id):
    """A batch reviewed through the real steps on S3 + DynamoDB, then purged."""
    results, reviews = config.result_store(), config.review_store()
    make_trail(results, reviews, LocalGateReleaser(lambda token, out: None), batch_id)
    out = purge_batch(results, reviews, batch_id=batch_id, triggered_by="test",
                      archive=config.trail_archive())
    return reviews, out


def _items(cloud, batch_id: str) -> list[dict]:
    ddb = cloud.client("dynamodb")
    items = ddb.query(
        TableName=cloud.table(settings.AUDIT), KeyConditionExpression="batch_id = :b",
        ExpressionAttributeValues={":b": {"S": batch_id}}, ConsistentRead=True,
    )["Items"]
    return [i for i in items if i["event_id"]["S"].startswith("audit#")]


def test_purge_copies_the_chained_trail_into_the_object_lock_bucket(cloud, batch_id, purged):
    # Given a reviewed and purged batch
    reviews, out = purged
    trail = reviews.audit_trail(batch_id)
    s3, bucket = cloud.client("s3"), cloud.bucket(settings.BUCKET_TRAIL)
    # Then the trail bucket holds its whole chain, SSE-KMS, under governance retention
    obj = s3.get_object(Bucket=bucket, Key=trail_key(batch_id))
    assert read_jsonl(obj["Body"].read()) == trail and out["audit_archived"] == trail_key(batch_id)
    assert obj["ServerSideEncryption"] == "aws:kms" and obj["ObjectLockMode"] == "GOVERNANCE"
    assert (out["audit_seq"], out["audit_hash"]) == (trail[-1].seq, trail[-1].hash)
    assert verify(batch_id, trail, anchors_of(reviews, batch_id)).ok
    # When someone deletes that version without the bypass right, Then S3 refuses
    with pytest.raises(Exception) as refused:
        s3.delete_object(Bucket=bucket, Key=trail_key(batch_id), VersionId=obj["VersionId"])
    assert "AccessDenied" in str(refused.value)
    # And no personal value is in the table's records or the copies
    copy = s3.get_object(Bucket=bucket, Key=trail_key(batch_id))["Body"].read().decode()
    texts = [str(_items(cloud, batch_id)), to_jsonl(trail), to_csv(trail), copy]
    assert [v for v in personal_values() for t in texts if v in t] == []


def test_verify_finds_every_single_record_change_removal_and_reorder_in_dynamodb(cloud, batch_id, purged):
    # Given the stored audit items of the purged batch (in key order: seq order)
    reviews, _ = purged
    ddb, table = cloud.client("dynamodb"), cloud.table(settings.AUDIT)
    items = _items(cloud, batch_id)
    stored = [json.loads(i["record"]["S"]) for i in items]
    cases = 0
    for label, seq, tampered in tamperings(stored):
        # When one item's record is edited, one item deleted, or two items' records swapped
        touched = [(i, rec) for i, (item, rec) in enumerate(zip(items, tampered, strict=True))
                   if rec is None or rec != stored[i]]
        for i, rec in touched:
            if rec is None:
                ddb.delete_item(TableName=table, Key={k: items[i][k] for k in ("batch_id", "event_id")})
            else:
                ddb.put_item(TableName=table, Item={**items[i], "record": {"S": json.dumps(rec)}})
        verdict = verify(batch_id, reviews.audit_trail(batch_id), anchors_of(reviews, batch_id))
        for i, _ in touched:  # put the original items back
            ddb.put_item(TableName=table, Item=items[i])
        # Then verify names that seq and how it broke
        kind = {"change": CHANGED, "remove": REMOVED, "swap": REORDERED}[label.split()[0]]
        assert verdict.breaks and (verdict.breaks[0].seq, verdict.breaks[0].kind) == (seq, kind), label
        cases += 1
    n = len(stored)
    print(f"\naudit verify, DynamoDB: {cases}/{cases} single-record tamperings found ({n} records)")
    assert cases == n * len(AuditRecord.model_fields) + n + (n - 1)
    assert verify(batch_id, reviews.audit_trail(batch_id), anchors_of(reviews, batch_id)).ok


def test_two_writers_racing_for_the_next_seq_both_land_in_one_chain(cloud, batch_id):
    # Given two writers, each with its own client, appending 25 records each to one batch at once
    s = config.get_settings()
    lost: list[str] = []

    def writer(who: str) -> None:
        store = DynamoReviewStore(s.review_table, s.audit_table, client=cloud.client("dynamodb"))
        store.ddb.meta.events.register(
            "after-call.dynamodb.PutItem",
            lambda parsed, **_: lost.append(who) if "Error" in parsed else None,
        )
        for _ in range(25):
            store.audit(AuditRecord(at=T0, reviewer=who, batch_id=batch_id, document_id="d",
                                    action=AuditAction.LEASE))

    threads = [threading.Thread(target=writer, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then every record has its own seq 1..50, the chain verifies, and the race did happen
    trail = config.review_store().audit_trail(batch_id)
    assert [r.seq for r in trail] == list(range(1, 51))
    assert sorted(r.reviewer for r in trail) == ["a"] * 25 + ["b"] * 25
    assert verify(batch_id, trail).ok
    assert lost, "the two writers never raced for a seq (the retry was not exercised)"


def test_the_command_reads_the_cloud_trail_and_its_object_lock_copy(cloud, batch_id, purged, capsys):
    # Given a purged batch in the cloud tables (the review backend's YOMITORI_* variables are set)
    from yomitori.cli import main

    # When a supervisor verifies and shows it from the cloud
    assert main(["audit", "verify", "--cloud", "--batch", batch_id]) == 0
    out = capsys.readouterr().out
    # Then it is intact against both anchors: the deletion record and the trail bucket's copy
    assert f"{batch_id}: intact" in out and "matches 2 anchor(s)" in out
    assert main(["audit", "show", "--cloud", "--batch", batch_id, "--who", "alice"]) == 0
    table = capsys.readouterr().out
    assert "ログイン" in table and "bob" not in table
    # When the last record is deleted from the table, Then verify exits 1 naming its seq
    reviews, _ = purged
    last = reviews.audit_trail(batch_id)[-1]
    cloud.client("dynamodb").delete_item(TableName=cloud.table(settings.AUDIT), Key={
        "batch_id": {"S": batch_id}, "event_id": {"S": f"audit#s#{last.seq:012d}"}})
    assert main(["audit", "verify", "--cloud", "--batch", batch_id]) == 1
    assert f"BROKEN at seq {last.seq}: removed" in capsys.readouterr().out
