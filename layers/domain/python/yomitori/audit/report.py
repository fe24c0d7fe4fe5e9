"""Reading the audit trail: choose records (batch, since, who), verify a batch's chain
against its anchors, and write the records as a table, JSON Lines or CSV. Used by
``yomitori audit`` and the supervisor page; runs on the supervisor's PC (agent or one
machine). Records hold ids, field names, statuses and codes only: nothing here can print a
value read from a form, because no record has one.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import unicodedata
from collections.abc import Iterable

from yomitori.audit.chain import CHANGED, Anchor, Break, Verdict, verify
from yomitori.csvcell import neutralise_cell
from yomitori.errors import ExitCode, YomitoriError
from yomitori.store.base import AuditAction, AuditRecord, AuditUnreadable, ReviewStore

ACTION_JA: dict[str, str] = {
    AuditAction.LEASE: "割当て",
    AuditAction.CORRECT: "修正",
    AuditAction.CONFIRM: "確認",
    AuditAction.ILLEGIBLE: "判読不能",
    AuditAction.REFUSED: "修正拒否",
    AuditAction.REVEAL_MY_NUMBER: "マイナンバー表示",
    AuditAction.COMPLETE: "帳票完了",
    AuditAction.REOPEN: "再修正のため開き直し",
    AuditAction.RELEASE_GATE: "確認終了",
    AuditAction.LOGIN: "ログイン",
    AuditAction.VERIFY: "ベリファイ入力",
    AuditAction.DECIDE: "不一致の決定",
}
BREAK_JA = {"changed": "改変", "removed": "削除", "reordered": "順序入替え", "unchained": "ハッシュなし"}
COLUMNS = ("batch_id", "seq", "at", "reviewer", "role", "action", "document_id", "field",
           "old_status", "new_status", "reasons", "purpose", "prev", "hash")


class AuditBroken(YomitoriError):
    """`yomitori audit verify` found a break (exit code 1: the trail is not intact)."""

    code = "audit_broken"
    exit_code = ExitCode.SOME_DOCUMENTS_FAILED
    action = ("Keep the store as it is and compare it with the Object-Lock copy of the trail "
              "(docs/audit.md, 'When verify fails'); tell your information security officer.")


class BadSince(YomitoriError):
    code = "bad_since"
    exit_code = ExitCode.USAGE
    status = 400
    action = "Give a date as 2026-04-01 or a time as 2026-04-01T09:00+09:00."


def parse_since(text: str | None) -> dt.datetime | None:
    """``2026-04-01`` or an ISO time (UTC when no offset is given)."""
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise BadSince(f"--since '{text}' is not a date.") from None
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def select(
    reviews: ReviewStore,
    *,
    batch: str | None = None,
    since: dt.datetime | None = None,
    who: str | None = None,
) -> list[AuditRecord]:
    """Records of ``batch`` (or of every batch with a trail), each batch in stored order,
    kept when at or after ``since`` and when ``who`` is part of the person's name."""
    batches = [batch] if batch else reviews.audit_batches()
    out = []
    for b in batches:
        for r in reviews.audit_trail(b):
            if since is not None and r.at < since:
                continue
            if who and who.casefold() not in r.reviewer.casefold():
                continue
            out.append(r)
    return out


def anchors_of(reviews: ReviewStore, batch_id: str) -> list[Anchor]:
    """The heads recorded when the batch was purged (deletion records)."""
    return [
        Anchor(d.audit_seq, d.audit_hash, f"the deletion record of {d.at.isoformat(timespec='seconds')}")
        for d in reviews.deletions(batch_id)
        if d.audit_seq and d.audit_hash
    ]


def anchor_from_records(records: list[AuditRecord], source: str) -> Anchor | None:
    """The head of an exported or archived copy (its last chained record)."""
    chained = [r for r in records if r.seq and r.hash]
    return Anchor(chained[-1].seq, chained[-1].hash, source) if chained else None  # type: ignore[arg-type]


def verify_batches(
    reviews: ReviewStore, *, batch: str | None = None, extra: dict[str, list[Anchor]] | None = None
) -> list[Verdict]:
    """One verdict per batch: ``batch``, or every batch with a trail or an anchor in ``extra``
    (a batch whose whole trail is gone still has its anchor). A record that cannot be read
    at all is a ``changed`` break at its place."""
    extra = extra or {}
    batches = [batch] if batch else sorted(set(reviews.audit_batches()) | set(extra))
    out = []
    for b in batches:
        anchors = anchors_of(reviews, b) + extra.get(b, [])
        try:
            out.append(verify(b, reviews.audit_trail(b), anchors))
        except AuditUnreadable as e:
            out.append(Verdict(batch_id=b, anchors=anchors, breaks=[
                Break(e.position, CHANGED, f"the record stored at place {e.position} is not a record any "
                      "more (edited by hand)")]))
    return out


def verdict_lines(verdicts: list[Verdict]) -> list[str]:
    lines = []
    for v in verdicts:
        head = f"seq {v.head[0]}" if v.head else "no chained record"
        if v.ok:
            anchored = (f"matches {len(v.anchors)} anchor(s)" if v.anchors
                        else "no anchor yet: a removed last record cannot be seen until the batch is purged")
            lines.append(f"{v.batch_id}: intact / 改ざんなし ({v.records} records, head {head}; {anchored})")
        for b in v.breaks:
            lines.append(f"{v.batch_id}: BROKEN at seq {b.seq}: {b.kind} / {BREAK_JA[b.kind]} - {b.detail}")
        if v.unchained:
            lines.append(f"{v.batch_id}: {v.unchained} older record(s) carry no hash (written before the "
                         "chain began; they cannot be verified)")
    return lines


def _width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _pad(s: str, w: int) -> str:
    return s + " " * max(0, w - _width(s))


def _row(r: AuditRecord) -> dict[str, str]:
    d = r.model_dump(mode="json")
    d["reasons"] = ",".join(r.reasons)
    return {c: "" if d.get(c) is None else str(d[c]) for c in COLUMNS}


def table(records: Iterable[AuditRecord]) -> str:
    """A readable table: time (UTC), batch, seq, person, role, action (code and Japanese),
    document, field, status change, reason codes, purpose."""
    head = ["日時 (UTC)", "batch", "seq", "who", "role", "action / 操作", "document", "field",
            "status", "reasons", "purpose"]
    rows = []
    for r in records:
        status = f"{r.old_status or ''}->{r.new_status or ''}" if (r.old_status or r.new_status) else ""
        rows.append([
            r.at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"), r.batch_id, str(r.seq or "-"),
            r.reviewer, r.role or "", f"{r.action.value} {ACTION_JA.get(r.action, '')}", r.document_id,
            r.field or "", status, ",".join(r.reasons), r.purpose or "",
        ])
    widths = [max([_width(h)] + [_width(row[i]) for row in rows]) for i, h in enumerate(head)]
    out = ["  ".join(_pad(h, widths[i]) for i, h in enumerate(head)).rstrip()]
    out += ["  ".join(_pad(c, widths[i]) for i, c in enumerate(row)).rstrip() for row in rows]
    return "\n".join(out) + "\n"


def to_jsonl(records: Iterable[AuditRecord]) -> str:
    """One record per line as stored (seq, prev and hash included: the copy can be verified)."""
    return "".join(json.dumps(r.model_dump(mode="json", exclude_none=True), ensure_ascii=False) + "\n"
                   for r in records)


def to_csv(records: Iterable[AuditRecord]) -> str:
    """CSV with a header row; every cell neutralised against spreadsheet formulas
    (``yomitori.csvcell``: a person's name starting with '=' stays text)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in records:
        row = _row(r)
        w.writerow([neutralise_cell(row[c]) for c in COLUMNS])
    return buf.getvalue()
