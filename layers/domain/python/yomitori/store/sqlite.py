"""The review store in a SQLite file (one-machine mode and the agent's review page).

Leases are taken inside ``BEGIN IMMEDIATE`` transactions, so two reviewers (threads or
processes) can never hold the same document at once.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from yomitori.audit.chain import link
from yomitori.store.base import (
    AuditRecord,
    DeletionRecord,
    GateMissing,
    Lease,
    LeaseConflict,
    QueueItem,
    ReviewGate,
    ReviewStore,
    VerifyState,
    VerifyTask,
    parse_audit,
    utcnow,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS gates (
    batch_id TEXT PRIMARY KEY, task_token TEXT NOT NULL, form_id TEXT,
    opened_at TEXT NOT NULL, released_at TEXT);
CREATE TABLE IF NOT EXISTS gate_documents (
    batch_id TEXT NOT NULL, document_id TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0,
    leased_by TEXT, lease_expires TEXT, PRIMARY KEY (batch_id, document_id));
CREATE TABLE IF NOT EXISTS tasks (
    batch_id TEXT NOT NULL, kind TEXT NOT NULL, task_token TEXT NOT NULL, at TEXT NOT NULL,
    PRIMARY KEY (batch_id, kind));
CREATE TABLE IF NOT EXISTS verifications (
    batch_id TEXT NOT NULL, document_id TEXT NOT NULL, field TEXT NOT NULL, state TEXT NOT NULL,
    first_by TEXT, second_by TEXT, decided_by TEXT, leased_by TEXT, lease_expires TEXT,
    PRIMARY KEY (batch_id, document_id, field));
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deletions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL, record TEXT NOT NULL);
"""
_CHAIN_INDEX = (
    "CREATE UNIQUE INDEX IF NOT EXISTS audit_chain ON audit (batch_id, json_extract(record, '$.seq'))"
)


def _iso(t: dt.datetime | None) -> str | None:
    return t.astimezone(dt.UTC).isoformat() if t else None


def _dt(s: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(s) if s else None



def _gate_document(db: sqlite3.Connection, batch_id: str, document_id: str) -> tuple:
    """(done, leased_by, lease_expires) of a document of the gate; LeaseConflict when the
    document is not part of the batch's review."""
    row = db.execute(
        "SELECT done, leased_by, lease_expires FROM gate_documents WHERE batch_id = ? AND document_id = ?",
        (batch_id, document_id),
    ).fetchone()
    if row is None:
        raise LeaseConflict(f"Document '{document_id}' is not part of the review of batch '{batch_id}'.")
    return row

class SqliteReviewStore(ReviewStore):
    def __init__(self, path: Path | str):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=30)
        try:  # executescript commits by itself, so it runs outside _tx
            db.execute("PRAGMA journal_mode=WAL")  # readers do not block the reviewer who writes
            db.executescript(_SCHEMA)
            # a second record with the same seq cannot be appended (one chain per batch); a tampered
            # file (duplicate seqs, mangled JSON) still opens: `yomitori audit verify` reports it
            with contextlib.suppress(sqlite3.IntegrityError, sqlite3.OperationalError):
                db.execute(_CHAIN_INDEX)
        finally:
            db.close()

    @contextmanager
    def _tx(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
        finally:
            db.close()

    def open_gate(self, batch_id, task_token, document_ids, *, form_id=None, now=None) -> ReviewGate:
        now = now or utcnow()
        with self._tx(immediate=True) as db:
            db.execute(
                "INSERT INTO gates (batch_id, task_token, form_id, opened_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (batch_id) DO UPDATE SET task_token = excluded.task_token",
                (batch_id, task_token, form_id, _iso(now)),
            )
            db.executemany(
                "INSERT OR IGNORE INTO gate_documents (batch_id, document_id) VALUES (?, ?)",
                [(batch_id, d) for d in document_ids],
            )
        gate = self.get_gate(batch_id)
        assert gate is not None
        return gate

    def get_gate(self, batch_id: str) -> ReviewGate | None:
        with self._tx() as db:
            row = db.execute(
                "SELECT task_token, form_id, opened_at, released_at FROM gates WHERE batch_id = ?",
                (batch_id,),
            ).fetchone()
            if row is None:
                return None
            docs = db.execute(
                "SELECT document_id, done FROM gate_documents WHERE batch_id = ? ORDER BY document_id",
                (batch_id,),
            ).fetchall()
        return ReviewGate(
            batch_id=batch_id,
            task_token=row[0],
            form_id=row[1],
            opened_at=_dt(row[2]),
            released_at=_dt(row[3]),
            pending=[d for d, done in docs if not done],
            done=[d for d, done in docs if done],
        )

    def queue(self, batch_id=None, *, now=None) -> list[QueueItem]:
        now = now or utcnow()
        sql = (
            "SELECT d.batch_id, d.document_id, d.leased_by, d.lease_expires FROM gate_documents d "
            "JOIN gates g ON g.batch_id = d.batch_id WHERE d.done = 0 AND g.released_at IS NULL"
        )
        args: tuple = ()
        if batch_id is not None:
            sql += " AND d.batch_id = ?"
            args = (batch_id,)
        with self._tx() as db:
            rows = db.execute(sql + " ORDER BY d.batch_id, d.document_id", args).fetchall()
        items = []
        for b, d, by, exp in rows:
            live = exp is not None and _dt(exp) > now
            items.append(
                QueueItem(
                    batch_id=b,
                    document_id=d,
                    leased_by=by if live else None,
                    lease_expires=_dt(exp) if live else None,
                )
            )
        return items

    def lease(self, batch_id, reviewer, *, document_id=None, seconds=900, now=None) -> Lease | None:
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=seconds)
        with self._tx(immediate=True) as db:
            if document_id is None:
                row = db.execute(
                    "SELECT document_id FROM gate_documents WHERE batch_id = ? AND done = 0 AND "
                    "(leased_by IS NULL OR leased_by = ? OR lease_expires <= ?) ORDER BY document_id LIMIT 1",
                    (batch_id, reviewer, _iso(now)),
                ).fetchone()
                if row is None:
                    return None
                document_id = row[0]
            else:
                row = db.execute(
                    "SELECT done, leased_by, lease_expires FROM gate_documents "
                    "WHERE batch_id = ? AND document_id = ?",
                    (batch_id, document_id),
                ).fetchone()
                if row is None or row[0]:
                    raise LeaseConflict(
                        f"Document '{document_id}' of batch '{batch_id}' is not waiting for review.",
                        action="Reload the queue.",
                    )
                if row[1] not in (None, reviewer) and _dt(row[2]) > now:
                    raise LeaseConflict(f"Document '{document_id}' is being reviewed by someone else.")
            db.execute(
                "UPDATE gate_documents SET leased_by = ?, lease_expires = ? "
                "WHERE batch_id = ? AND document_id = ?",
                (reviewer, _iso(expires), batch_id, document_id),
            )
        return Lease(batch_id=batch_id, document_id=document_id, reviewer=reviewer, expires_at=expires)

    def release_lease(self, batch_id, document_id, reviewer) -> None:
        with self._tx(immediate=True) as db:
            db.execute(
                "UPDATE gate_documents SET leased_by = NULL, lease_expires = NULL "
                "WHERE batch_id = ? AND document_id = ? AND leased_by = ?",
                (batch_id, document_id, reviewer),
            )

    def complete(self, batch_id, document_id, reviewer, *, now=None) -> list[str]:
        now = now or utcnow()
        with self._tx(immediate=True) as db:
            if db.execute("SELECT 1 FROM gates WHERE batch_id = ?", (batch_id,)).fetchone() is None:
                raise GateMissing(f"Batch '{batch_id}' has no review gate.")
            row = _gate_document(db, batch_id, document_id)
            if not row[0]:
                if row[1] != reviewer:
                    raise LeaseConflict(
                        f"Document '{document_id}' is not leased to you.",
                        action="Lease the document again before submitting.",
                    )
                db.execute(
                    "UPDATE gate_documents SET done = 1, leased_by = NULL, lease_expires = NULL "
                    "WHERE batch_id = ? AND document_id = ?",
                    (batch_id, document_id),
                )
            rows = db.execute(
                "SELECT document_id FROM gate_documents WHERE batch_id = ? AND done = 0 ORDER BY document_id",
                (batch_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def reopen(self, batch_id, document_id, reviewer, *, seconds=900, now=None) -> Lease:
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=seconds)
        with self._tx(immediate=True) as db:
            gate = db.execute("SELECT released_at FROM gates WHERE batch_id = ?", (batch_id,)).fetchone()
            if gate is None or gate[0] is not None:
                raise GateMissing(f"Batch '{batch_id}' is not waiting for review (released or unknown).")
            row = _gate_document(db, batch_id, document_id)
            if not row[0] and row[1] not in (None, reviewer) and _dt(row[2]) > now:
                raise LeaseConflict(f"Document '{document_id}' is being reviewed by someone else.")
            db.execute(
                "UPDATE gate_documents SET done = 0, leased_by = ?, lease_expires = ? "
                "WHERE batch_id = ? AND document_id = ?",
                (reviewer, _iso(expires), batch_id, document_id),
            )
        return Lease(batch_id=batch_id, document_id=document_id, reviewer=reviewer, expires_at=expires)

    def mark_released(self, batch_id, *, now=None) -> None:
        with self._tx(immediate=True) as db:
            db.execute(
                "UPDATE gates SET released_at = COALESCE(released_at, ?) WHERE batch_id = ?",
                (_iso(now or utcnow()), batch_id),
            )

    def audit(self, record: AuditRecord) -> AuditRecord:
        (linked,) = self._append([record])
        return linked

    def audit_many(self, records: list[AuditRecord]) -> None:
        self._append(records)  # one commit (one fsync) for the whole submission

    def _append(self, records: list[AuditRecord]) -> list[AuditRecord]:
        # BEGIN IMMEDIATE: reading the head and appending after it is one step for every writer
        # (threads and processes); the unique index refuses a second record with the same seq.
        out: list[AuditRecord] = []
        with self._tx(immediate=True) as db:
            heads: dict[str, tuple[int, str] | None] = {}
            for record in records:
                b = record.batch_id
                if b not in heads:
                    row = db.execute(
                        "SELECT json_extract(record, '$.seq'), json_extract(record, '$.hash') FROM audit "
                        "WHERE batch_id = ? AND json_extract(record, '$.hash') IS NOT NULL "
                        "ORDER BY json_extract(record, '$.seq') DESC LIMIT 1",
                        (b,),
                    ).fetchone()
                    heads[b] = (int(row[0]), str(row[1])) if row else None
                linked = link(record, heads[b])
                heads[b] = (linked.seq, linked.hash)  # type: ignore[assignment]
                db.execute(
                    "INSERT INTO audit (batch_id, record) VALUES (?, ?)",
                    (b, linked.model_dump_json(exclude_none=True)),
                )
                out.append(linked)
        return out

    def audit_trail(self, batch_id: str) -> list[AuditRecord]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT record FROM audit WHERE batch_id = ? ORDER BY seq", (batch_id,)
            ).fetchall()
        return [parse_audit(r[0], batch_id, i) for i, r in enumerate(rows, start=1)]

    def audit_batches(self) -> list[str]:
        with self._tx() as db:
            rows = db.execute("SELECT DISTINCT batch_id FROM audit ORDER BY batch_id").fetchall()
        return [r[0] for r in rows]

    def record_deletion(self, record: DeletionRecord) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO deletions (batch_id, record) VALUES (?, ?)",
                (record.batch_id, record.model_dump_json()),
            )

    def deletions(self, batch_id: str) -> list[DeletionRecord]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT record FROM deletions WHERE batch_id = ? ORDER BY seq", (batch_id,)
            ).fetchall()
        return [DeletionRecord.model_validate(json.loads(r[0])) for r in rows]

    def remember_task(self, batch_id, kind, task_token, *, now=None) -> None:
        with self._tx(immediate=True) as db:
            db.execute(
                "INSERT OR REPLACE INTO tasks (batch_id, kind, task_token, at) VALUES (?, ?, ?, ?)",
                (batch_id, kind, task_token, _iso(now or utcnow())),
            )

    def take_task(self, batch_id, kind) -> str | None:
        with self._tx(immediate=True) as db:
            row = db.execute(
                "SELECT task_token FROM tasks WHERE batch_id = ? AND kind = ?", (batch_id, kind)
            ).fetchone()
            db.execute("DELETE FROM tasks WHERE batch_id = ? AND kind = ?", (batch_id, kind))
        return row[0] if row else None

    _VERIFY_COLUMNS = ("document_id", "field", "state", "first_by", "second_by", "decided_by",
                       "leased_by", "lease_expires")

    def add_verifications(self, tasks, *, now=None) -> None:
        with self._tx(immediate=True) as db:
            db.executemany(
                "INSERT OR IGNORE INTO verifications (batch_id, document_id, field, state, first_by) "
                "VALUES (?, ?, ?, ?, ?)",
                [(t.batch_id, t.document_id, t.field, t.state.value, t.first_by) for t in tasks],
            )

    def verifications(self, batch_id: str) -> list[VerifyTask]:
        with self._tx() as db:
            rows = db.execute(
                f"SELECT {', '.join(self._VERIFY_COLUMNS)} FROM verifications WHERE batch_id = ? "
                "ORDER BY document_id, field",
                (batch_id,),
            ).fetchall()
        out = []
        for row in rows:
            v = dict(zip(self._VERIFY_COLUMNS, row, strict=True))
            v["lease_expires"] = _dt(v["lease_expires"])
            out.append(VerifyTask(batch_id=batch_id, **v))
        return out

    def verification_batches(self) -> list[str]:
        with self._tx() as db:
            rows = db.execute(
                "SELECT DISTINCT batch_id FROM verifications WHERE state IN (?, ?, ?) ORDER BY batch_id",
                tuple(s.value for s in (VerifyState.WAITING, VerifyState.OPEN, VerifyState.MISMATCH)),
            ).fetchall()
        return [r[0] for r in rows]

    def update_verification(self, batch_id, document_id, field, *, expect, state, people=None) -> bool:
        people = {k: v for k, v in (people or {}).items() if k in ("first_by", "second_by", "decided_by")}
        sets = ", ".join(["state = ?", "leased_by = NULL", "lease_expires = NULL",
                          *(f"{k} = ?" for k in people)])
        with self._tx(immediate=True) as db:
            n = db.execute(
                f"UPDATE verifications SET {sets} WHERE batch_id = ? AND document_id = ? AND field = ? "
                "AND state = ?",
                (state.value, *people.values(), batch_id, document_id, field, VerifyState(expect).value),
            ).rowcount
        return n == 1

    def lease_verification(self, batch_id, document_id, field, who, *, seconds=600, now=None) -> bool:
        now = now or utcnow()
        with self._tx(immediate=True) as db:
            n = db.execute(
                "UPDATE verifications SET leased_by = ?, lease_expires = ? "
                "WHERE batch_id = ? AND document_id = ? AND field = ? "
                "AND (leased_by IS NULL OR leased_by = ? OR lease_expires <= ?)",
                (who, _iso(now + dt.timedelta(seconds=seconds)), batch_id, document_id, field, who,
                 _iso(now)),
            ).rowcount
        return n == 1

    def delete_batch(self, batch_id: str) -> int:
        with self._tx(immediate=True) as db:
            n = db.execute("DELETE FROM tasks WHERE batch_id = ?", (batch_id,)).rowcount
            n += db.execute("DELETE FROM verifications WHERE batch_id = ?", (batch_id,)).rowcount
            n += db.execute("DELETE FROM gate_documents WHERE batch_id = ?", (batch_id,)).rowcount
            n += db.execute("DELETE FROM gates WHERE batch_id = ?", (batch_id,)).rowcount
        return n
