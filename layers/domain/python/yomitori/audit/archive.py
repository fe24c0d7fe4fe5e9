"""The retention copy of a batch's audit trail: written by purge before the batch's items
go (Lambda, local cloud runner), and by the one-machine review when its batch is finished.

In the cloud it is one JSON Lines object per batch, ``trail/<batch_id>.jsonl``, in the trail
bucket: versioned, SSE-KMS with the stack's key, Object Lock in governance mode for the
configured retention (``audit_trail_retention_days``). The functions may only PutObject
there: a second purge adds a version, it cannot replace or shorten the first. The object's
last line is the trail's head (seq and hash): the anchor ``yomitori audit verify --anchor``
checks the stored trail against.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Any

from yomitori.store.base import AuditRecord

TRAIL_PREFIX = "trail/"


def trail_key(batch_id: str) -> str:
    return f"{TRAIL_PREFIX}{batch_id}.jsonl"


def trail_jsonl(records: list[AuditRecord]) -> bytes:
    """One record per line, exactly as stored (with seq, prev and hash)."""
    return b"".join(
        json.dumps(r.model_dump(mode="json", exclude_none=True), ensure_ascii=False).encode() + b"\n"
        for r in records
    )


def read_jsonl(data: bytes) -> list[AuditRecord]:
    return [AuditRecord.model_validate_json(line) for line in data.splitlines() if line.strip()]


class TrailArchive(ABC):
    @abstractmethod
    def put(self, batch_id: str, records: list[AuditRecord]) -> str:
        """Keep ``records`` (the batch's whole trail); returns where (a key or a path)."""


class FolderTrailArchive(TrailArchive):
    """One machine: ``<folder>/<batch_id>.jsonl``, written atomically (no Object Lock here:
    the file's head also goes into batch.json, and the folder is the operator's to protect)."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)

    def put(self, batch_id: str, records: list[AuditRecord]) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{batch_id}.jsonl"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(trail_jsonl(records))
        tmp.replace(target)
        return str(target)


class S3TrailArchive(TrailArchive):
    """The trail bucket (Object Lock, governance mode; its default retention applies)."""

    def __init__(self, bucket: str, kms_key_id: str, *, client_factory: Callable[[], Any] | None = None):
        self.bucket, self.kms_key_id, self._factory = bucket, kms_key_id, client_factory

    def _s3(self) -> Any:
        if self._factory is not None:
            return self._factory()
        from yomitori.store.clients import client

        return client("s3")

    def put(self, batch_id: str, records: list[AuditRecord]) -> str:
        key = trail_key(batch_id)
        self._s3().put_object(
            Bucket=self.bucket,
            Key=key,
            Body=trail_jsonl(records),
            ContentType="application/x-ndjson",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_id,
            ChecksumAlgorithm="SHA256",  # Object Lock buckets need an integrity checksum on PUT
        )
        return key

    def get(self, batch_id: str) -> list[AuditRecord]:
        """The latest version of the batch's copy (the supervisor's `verify --anchor`)."""
        body = self._s3().get_object(Bucket=self.bucket, Key=trail_key(batch_id))["Body"].read()
        return read_jsonl(body)
