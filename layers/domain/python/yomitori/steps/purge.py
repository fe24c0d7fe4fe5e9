"""The purge step: after the acknowledged download, delete every object and version of the
batch in both buckets and its transient review items, then write a deletion record (counts,
time, who asked; no content). Runs in Lambda (``purge``) and in the local cloud runner.

Purge proves itself: it lists the batch prefix afterwards and fails if anything is left.
It is idempotent: a second run deletes nothing and records a deletion of 0 objects.
"""

from __future__ import annotations

import datetime as dt
import re

from yomitori.audit.archive import TrailArchive
from yomitori.batch import BATCH_ID_PATTERN
from yomitori.store.base import DeletionRecord, ResultStore, ReviewStore, StoreError, utcnow


class PurgeIncomplete(StoreError):
    code = "purge_incomplete"
    action = (
        "Run the purge again; if objects remain, check the bucket policy allows the purge role to delete."
    )


def purge_batch(
    results: ResultStore,
    reviews: ReviewStore,
    *,
    batch_id: str,
    triggered_by: str,
    now: dt.datetime | None = None,
    archive: TrailArchive | None = None,
) -> dict:
    """Delete the batch everywhere and record it. Returns the deletion record's fields.
    With ``archive`` (the trail bucket), the batch's chained audit trail is copied there first:
    if that fails, nothing is deleted. The deletion record carries the trail's head (seq and
    hash), the anchor that shows a removed last record."""
    if not re.match(BATCH_ID_PATTERN, batch_id):  # never purge a malformed (e.g. empty) prefix
        raise StoreError(
            "The batch id is not valid; nothing was deleted.",
            code="bad_batch_id",
            action="Pass the batch id exactly as the manifest has it.",
        )
    trail = reviews.audit_trail(batch_id)
    archived = archive.put(batch_id, trail) if archive is not None and trail else None
    head = reviews.audit_head(batch_id) if trail else None
    count = results.delete_batch(batch_id)
    items = reviews.delete_batch(batch_id)
    left = results.batch_keys(batch_id)
    if left:
        raise PurgeIncomplete(f"{len(left)} objects of batch '{batch_id}' are still listed after the purge.")
    record = DeletionRecord(
        batch_id=batch_id,
        objects=count.objects,
        bytes=count.bytes,
        table_items=items,
        at=now or utcnow(),
        triggered_by=triggered_by,
        audit_seq=head[0] if head else None,
        audit_hash=head[1] if head else None,
    )
    reviews.record_deletion(record)
    return {**record.model_dump(mode="json"), "remaining": 0, "audit_archived": archived}
