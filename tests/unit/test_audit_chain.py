"""The audit trail's hash chain on one machine (real SQLite review store, real review steps):
`verify` finds every single-record change, removal and reorder of a stored trail, says at
which seq and how, and no record or export holds a personal value."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading

import pytest
from support.audit_trail import T0, make_trail, personal_values, tamperings
from yomitori.audit.archive import FolderTrailArchive, read_jsonl
from yomitori.audit.chain import CHANGED, GENESIS, REMOVED, REORDERED, UNCHAINED, record_hash, verify
from yomitori.audit.report import anchors_of, select, table, to_csv, to_jsonl, verify_batches
from yomitori.steps.purge import purge_batch
from yomitori.store import AuditAction, AuditRecord, LocalGateReleaser, LocalResultStore, SqliteReviewStore

BATCH = "b-audit-1"


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A batch reviewed through the real steps, then purged (its deletion record is the anchor)."""
    d = tmp_path_factory.mktemp("trail")
    results, reviews = LocalResultStore(d / "store"), SqliteReviewStore(d / "review.sqlite3")
    make_trail(results, reviews, LocalGateReleaser(lambda token, out: None), BATCH)
    out = purge_batch(results, reviews, batch_id=BATCH, triggered_by="test",
                      archive=FolderTrailArchive(d / "trail"))
    db = sqlite3.connect(d / "review.sqlite3")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return d, reviews, out


def kind_of(label: str) -> str:
    return {"change": CHANGED, "remove": REMOVED, "swap": REORDERED}[label.split()[0]]


def test_the_review_steps_write_one_unbroken_chain_anchored_by_the_purge(reviewed):
    # Given a batch reviewed by two people and purged
    d, reviews, purged = reviewed
    trail = reviews.audit_trail(BATCH)
    # Then its records are numbered 1..n, each linked to the one before, and the purge's
    # deletion record and the archived copy name the same head
    assert [r.seq for r in trail] == list(range(1, len(trail) + 1))
    assert trail[0].prev == GENESIS and all(b.prev == a.hash for a, b in zip(trail, trail[1:], strict=False))
    assert all(record_hash(r) == r.hash for r in trail)
    assert {r.action for r in trail} >= {AuditAction.LOGIN, AuditAction.REFUSED, AuditAction.CORRECT,
                                         AuditAction.CONFIRM, AuditAction.ILLEGIBLE, AuditAction.COMPLETE,
                                         AuditAction.REVEAL_MY_NUMBER, AuditAction.RELEASE_GATE}
    assert (purged["audit_seq"], purged["audit_hash"]) == (trail[-1].seq, trail[-1].hash)
    assert read_jsonl((d / "trail" / f"{BATCH}.jsonl").read_bytes()) == trail
    [verdict] = verify_batches(reviews, batch=BATCH)
    assert verdict.ok and len(verdict.anchors) == 1 and verdict.head == (trail[-1].seq, trail[-1].hash)


def test_verify_finds_every_single_record_change_removal_and_reorder(reviewed, tmp_path):
    # Given the stored trail (the rows as the SQLite file holds them) and a pristine copy
    d, reviews, _ = reviewed
    with sqlite3.connect(d / "review.sqlite3") as db:
        rows = db.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall()
    rowids, stored = [r[0] for r in rows], [json.loads(r[1]) for r in rows]
    caught, cases = 0, 0
    for label, seq, tampered in tamperings(stored):
        # When someone with the file edits, deletes or swaps one record (dropping the index first)
        work = tmp_path / f"work{cases}.sqlite3"
        shutil.copy(d / "review.sqlite3", work)
        db = sqlite3.connect(work)
        db.execute("DROP INDEX IF EXISTS audit_chain")
        for rowid, rec in zip(rowids, tampered, strict=True):
            if rec is None:
                db.execute("DELETE FROM audit WHERE seq = ?", (rowid,))
            else:
                db.execute("UPDATE audit SET record = ? WHERE seq = ?", (json.dumps(rec), rowid))
        db.commit()
        db.close()
        store = SqliteReviewStore(work)
        # Then verify reports a break at that seq, of that kind
        verdict = verify(BATCH, store.audit_trail(BATCH), anchors_of(store, BATCH))
        cases += 1
        first = verdict.breaks[0] if verdict.breaks else None
        if first is not None and (first.seq, first.kind) == (seq, kind_of(label)):
            caught += 1
        else:
            pytest.fail(f"{label}: {verdict.breaks}")
    n = len(stored)
    print(f"\naudit verify, SQLite: {caught}/{cases} single-record tamperings found ({n} records)")
    assert cases == n * len(AuditRecord.model_fields) + n + (n - 1)
    assert caught == cases


def test_older_records_without_a_hash_are_counted_and_a_stripped_hash_is_a_break(tmp_path):
    # Given a trail whose first two records were written before the chain existed
    store = SqliteReviewStore(tmp_path / "r.sqlite3")
    old = AuditRecord(at=T0, reviewer="old", batch_id="b", document_id="d", action=AuditAction.LEASE)
    old = old.model_dump_json()
    with sqlite3.connect(tmp_path / "r.sqlite3") as db:
        db.executemany("INSERT INTO audit (batch_id, record) VALUES ('b', ?)", [(old,)] * 2)
    for _ in range(3):
        store.audit(AuditRecord(at=T0, reviewer="new", batch_id="b", document_id="d",
                                action=AuditAction.CONFIRM))
    trail = store.audit_trail("b")
    # Then verify counts them as unchained and the chain after them verifies
    v = verify("b", trail)
    assert v.ok and v.unchained == 2 and v.head[0] == 3
    # When the hash of a chained record is stripped, it is a break
    stripped = [*trail[:3], trail[3].model_copy(update={"hash": None}), trail[4]]
    assert [b.kind for b in verify("b", stripped).breaks][0] == UNCHAINED


def test_two_writers_appending_at_once_never_share_a_seq(tmp_path):
    # Given two threads appending 40 records each to one batch's trail, each through its own store
    path = tmp_path / "r.sqlite3"
    SqliteReviewStore(path)

    def write(who: str) -> None:
        s = SqliteReviewStore(path)
        for _ in range(40):
            s.audit(AuditRecord(at=T0, reviewer=who, batch_id="b", document_id="d", action=AuditAction.LEASE))

    threads = [threading.Thread(target=write, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # Then the chain is 1..80 and intact
    trail = SqliteReviewStore(path).audit_trail("b")
    assert [r.seq for r in trail] == list(range(1, 81)) and verify("b", trail).ok


def test_no_personal_value_in_records_exports_or_the_table(reviewed):
    # Given the seeded personal values of the reviewed documents (and the phone typed in review)
    d, reviews, _ = reviewed
    records = select(reviews, batch=BATCH)
    texts = {
        "sqlite": (d / "review.sqlite3").read_bytes().decode("utf-8", "replace"),
        "jsonl": to_jsonl(records), "csv": to_csv(records), "table": table(records),
        "archive": (d / "trail" / f"{BATCH}.jsonl").read_text(encoding="utf-8"),
    }
    # Then none of them appears anywhere
    found = [(name, v) for name, text in texts.items() for v in personal_values() if v in text]
    assert found == []
    assert len(records) > 10 and "修正" in texts["table"] and "マイナンバー表示" in texts["table"]
