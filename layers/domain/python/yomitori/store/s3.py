"""The result store on S3: intake and results buckets, every write SSE-KMS with our key.

Runs in Lambda (handlers) and in the local moto mode. The buckets are versioned, so purge
deletes every version and delete marker under the batch prefix, not just the current ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from yomitori.batch import BatchManifest, batch_prefix, manifest_key, manifest_metadata, page_key
from yomitori.store.base import ObjectMissing, PurgeCount, ResultStore, StoreError


class S3ResultStore(ResultStore):
    def __init__(
        self,
        intake_bucket: str,
        results_bucket: str,
        kms_key_id: str,
        *,
        client: Any | None = None,
        client_factory: Callable[[], Any] | None = None,
    ):
        self.buckets = {"intake": intake_bucket, "results": results_bucket}
        self.kms_key_id = kms_key_id
        self._client = client
        self._factory = client_factory

    @property
    def s3(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                from yomitori.store.clients import client

                self._client = client("s3")
        return self._client

    def _bucket(self, area: str) -> str:
        try:
            return self.buckets[area]
        except KeyError:
            raise StoreError(f"Unknown storage area '{area}'.", action="Use 'intake' or 'results'.") from None

    def _put(self, area: str, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> str:
        self.s3.put_object(
            Metadata=metadata or {},
            Bucket=self._bucket(area),
            Key=key,
            Body=data,
            ContentType=content_type,
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=self.kms_key_id,
        )
        return key

    def _get(self, area: str, key: str) -> bytes:
        from botocore.exceptions import ClientError

        try:
            return self.s3.get_object(Bucket=self._bucket(area), Key=key)["Body"].read()
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectMissing(f"Object '{key}' is missing from the {area} bucket.") from None
            if code in ("AccessDenied", "403"):
                raise StoreError(
                    f"Reading '{key}' from the {area} bucket is not allowed.",
                    code="access_denied",
                    action="Check the function's role grants this read (infra/stack.py).",
                ) from None
            raise

    def put_page(self, batch_id: str, page_name: str, data: bytes) -> str:
        return self._put("intake", page_key(batch_id, page_name), data, "application/octet-stream")

    def get_page(self, batch_id: str, page_name: str) -> bytes:
        return self._get("intake", page_key(batch_id, page_name))

    def put_manifest(self, manifest: BatchManifest) -> str:
        return self._put(
            "intake",
            manifest_key(manifest.batch_id),
            manifest.model_dump_json(indent=2).encode(),
            "application/json",
            manifest_metadata(manifest),
        )

    def get_manifest(self, batch_id: str) -> BatchManifest:
        return BatchManifest.model_validate_json(self._get("intake", manifest_key(batch_id)))

    def put_json(self, key: str, payload: dict | list) -> str:
        return self._put("results", key, json.dumps(payload, ensure_ascii=False).encode(), "application/json")

    def get_json(self, key: str) -> dict | list:
        return json.loads(self._get("results", key))

    def put_bytes(self, key: str, data: bytes, content_type: str) -> str:
        return self._put("results", key, data, content_type)

    def get_bytes(self, key: str) -> bytes:
        return self._get("results", key)

    def list_keys(self, prefix: str, *, area: str = "results") -> list[str]:
        keys: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket(area), Prefix=prefix
        ):
            keys.extend(o["Key"] for o in page.get("Contents", []))
        return sorted(keys)

    def delete_batch(self, batch_id: str) -> PurgeCount:
        count = PurgeCount()
        prefix = batch_prefix(batch_id)
        for area in ("intake", "results"):
            bucket = self._bucket(area)
            pages = self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix)
            for page in pages:
                batch = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", [])]
                count.bytes += sum(int(v.get("Size", 0)) for v in page.get("Versions", []))
                batch += [
                    {"Key": m["Key"], "VersionId": m["VersionId"]} for m in page.get("DeleteMarkers", [])
                ]
                for i in range(0, len(batch), 1000):  # DeleteObjects takes at most 1000 keys
                    chunk = batch[i : i + 1000]
                    resp = self.s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True})
                    if resp.get("Errors"):
                        codes = sorted({e.get("Code", "?") for e in resp["Errors"]})
                        raise StoreError(
                            f"Purge of batch '{batch_id}' failed for {len(resp['Errors'])} "
                            f"objects in the {area} bucket ({', '.join(codes)}).",
                            action="Run the purge again; it is safe to repeat.",
                        )
                    count.objects += len(chunk)
            # an unversioned bucket (or a version listing that lags) still lists current objects
            for key in self.list_keys(prefix, area=area):
                self.s3.delete_object(Bucket=bucket, Key=key)
                count.objects += 1
        return count
