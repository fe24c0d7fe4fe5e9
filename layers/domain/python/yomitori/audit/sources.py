"""Where the audit trail is read from, and the anchors kept next to it.

* one machine: the output folder of ``yomitori process`` (``OUT/.review/review.sqlite3``,
  written by ``yomitori review OUT``); its anchor is the head sealed into ``OUT/batch.json``
  (``audit_head``) and the copy ``OUT/.review/trail/<batch>.jsonl`` when a review ends;
* cloud: the audit table named by the same ``YOMITORI_*`` variables the review backend and
  the Lambdas read (``yomitori.steps.config``); its anchors are the deletion records and the
  Object-Lock copy in the trail bucket (``YOMITORI_TRAIL_BUCKET``), when readable.

Reading needs the supervisor's rights: on one machine the folder's, in the cloud the IAM role
that may Query the audit table (the reviewers' agent policy may not).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from yomitori.audit.archive import FolderTrailArchive, read_jsonl
from yomitori.audit.chain import Anchor
from yomitori.audit.report import anchor_from_records
from yomitori.errors import ExitCode, YomitoriError
from yomitori.store.base import ReviewStore

REVIEW_DIR = ".review"  # = yomitori_agent.review.backends.STATE_DIR (the domain cannot import the agent)
REVIEW_DB = "review.sqlite3"
SUMMARY = "batch.json"  # = yomitori.batch.SUMMARY_NAME
HEAD_KEY = "audit_head"


class AuditSourceError(YomitoriError):
    code = "audit_source"
    exit_code = ExitCode.BAD_INPUT
    action = ("Pass the output folder of `yomitori review` (--out OUT), or --cloud with the "
              "YOMITORI_* variables of the review backend set (docs/audit.md).")


@dataclass
class AuditSource:
    reviews: ReviewStore
    describe: str
    out_dir: Path | None = None
    trail_bucket: str | None = None
    kms_key: str | None = None
    notes: list[str] = field(default_factory=list)

    def anchors(self, batch_ids: list[str]) -> dict[str, list[Anchor]]:
        """Anchors kept outside the store, per batch (the store's own deletion records are
        read by :func:`yomitori.audit.report.verify_batches`)."""
        out: dict[str, list[Anchor]] = {}
        for b in batch_ids:
            found = []
            if self.out_dir is not None:
                found += _folder_anchors(self.out_dir, b)
            if self.trail_bucket:
                found += self._bucket_anchor(b)
            out[b] = found
        return out

    def _bucket_anchor(self, batch_id: str) -> list[Anchor]:
        from yomitori.audit.archive import S3TrailArchive, trail_key

        try:
            records = S3TrailArchive(self.trail_bucket, self.kms_key or "").get(batch_id)
        except Exception as e:  # noqa: BLE001 - no copy yet (not purged) or no right to read it
            code = getattr(e, "response", {}).get("Error", {}).get("Code", type(e).__name__)
            if code not in ("NoSuchKey", "404"):
                self.notes.append(f"{batch_id}: the trail bucket's copy could not be read ({code})")
            return []
        a = anchor_from_records(records, f"s3://{self.trail_bucket}/{trail_key(batch_id)}")
        return [a] if a else []


def _folder_anchors(out_dir: Path, batch_id: str) -> list[Anchor]:
    found = []
    try:
        info = json.loads((out_dir / SUMMARY).read_text(encoding="utf-8"))
        head = info.get(HEAD_KEY) if info.get("batch_id") == batch_id else None
        if head:
            found.append(Anchor(int(head["seq"]), str(head["hash"]), SUMMARY))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    copy = out_dir / REVIEW_DIR / "trail" / f"{batch_id}.jsonl"
    if copy.is_file():
        try:
            a = anchor_from_records(read_jsonl(copy.read_bytes()), str(copy))
        except ValueError:
            raise AuditSourceError(f"{copy} is not an audit trail copy.", action=(
                "Restore it from your backup; do not edit it (docs/audit.md).")) from None
        found += [a] if a else []
    return found


def folder_source(out_dir: Path | str) -> AuditSource:
    from yomitori.store.sqlite import SqliteReviewStore

    out_dir = Path(out_dir)
    db = out_dir / REVIEW_DIR / REVIEW_DB
    if not db.is_file():
        raise AuditSourceError(f"{out_dir} holds no review trail ({REVIEW_DIR}/{REVIEW_DB} is missing).")
    return AuditSource(SqliteReviewStore(db), f"the review trail in {out_dir}", out_dir=out_dir)


def cloud_source() -> AuditSource:
    from yomitori.steps import config

    try:
        s = config.get_settings()
    except YomitoriError as e:
        raise AuditSourceError(e.message) from None
    return AuditSource(config.review_store(), f"the audit table {s.audit_table}",
                       trail_bucket=s.trail_bucket, kms_key=s.kms_key_arn)


def seal_folder(out_dir: Path | str, reviews: ReviewStore, batch_id: str) -> tuple[int, str] | None:
    """One machine, when a review session ends: copy the batch's trail to
    ``OUT/.review/trail/<batch>.jsonl`` and write its head into ``OUT/batch.json``
    (``audit_head``), so a record removed from the end of the SQLite trail shows later."""
    out_dir = Path(out_dir)
    trail = reviews.audit_trail(batch_id)
    head = reviews.audit_head(batch_id)
    if not trail or head is None:
        return None
    FolderTrailArchive(out_dir / REVIEW_DIR / "trail").put(batch_id, trail)
    path = out_dir / SUMMARY
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return head
    info[HEAD_KEY] = {"seq": head[0], "hash": head[1]}
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return head
