"""S3 (and DynamoDB) access for the agent: client factories and checksum-aware object helpers.

Clients are built on demand, never at import time, from the configuration: the endpoint is
the S3 interface endpoint of the private line (or a local test server). Retries use
botocore's standard mode (exponential backoff with jitter). Every object carries its SHA-256
twice: as the S3 checksum (S3 verifies the body on arrival) and as ``x-amz-meta-sha256``
(survives multipart uploads, whose S3 checksum is a checksum of part checksums).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import ConfigError, NetworkError

META_SHA = "sha256"
# Answers that running again will not fix: names, rights or credentials are wrong.
_CONFIG_CODES = ("NoSuchBucket", "AccessDenied", "403", "Forbidden", "InvalidAccessKeyId",
                 "SignatureDoesNotMatch", "ResourceNotFoundException", "AllAccessDisabled")


def _session(cfg: AgentConfig):
    import boto3

    return boto3.session.Session(profile_name=cfg.aws.profile, region_name=cfg.aws.region)


def _botocore_config(cfg: AgentConfig):
    from botocore.config import Config

    return Config(
        retries={"max_attempts": cfg.aws.max_attempts, "mode": "standard"},
        connect_timeout=cfg.aws.connect_timeout, read_timeout=cfg.aws.read_timeout,
        max_pool_connections=cfg.aws.upload_concurrency + 4,
        request_checksum_calculation="when_required", response_checksum_validation="when_required",
    )


def s3_client(cfg: AgentConfig):
    """An S3 client for the configured endpoint and region (built when called)."""
    return _session(cfg).client("s3", endpoint_url=cfg.aws.endpoint_url, config=_botocore_config(cfg))


def dynamodb_client(cfg: AgentConfig):
    return _session(cfg).client("dynamodb", endpoint_url=cfg.aws.endpoint_url, config=_botocore_config(cfg))


def b64_sha256(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def translate(e: Exception, what: str) -> Exception:
    """Map a botocore error to an agent error with an action (one place)."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError

    if isinstance(e, NoCredentialsError):
        return ConfigError(f"{what}: no AWS credentials.",
                           action="Set up the agent's credentials (aws.profile, or the environment).")
    if isinstance(e, ClientError):
        code = e.response.get("Error", {}).get("Code", "?")
        if code in _CONFIG_CODES:
            return ConfigError(f"{what}: the cloud answered {code}.",
                               action="Check bucket/table names, region and credentials in the config.")
        return NetworkError(f"{what}: the cloud answered {code}.")
    if isinstance(e, EndpointConnectionError | BotoCoreError | OSError):
        return NetworkError(f"{what}: could not reach the endpoint ({type(e).__name__}).")
    return e


@dataclass(frozen=True)
class RemoteObject:
    size: int
    sha256: str | None  # hex, from our metadata or a full-object S3 checksum


def head(client, bucket: str, key: str) -> RemoteObject | None:
    """The object's size and SHA-256, or None if it does not exist."""
    from botocore.exceptions import ClientError

    try:
        r = client.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    sha = (r.get("Metadata") or {}).get(META_SHA)
    s3_sum = r.get("ChecksumSHA256")
    if s3_sum and "-" not in s3_sum:  # a full-object checksum (not multipart's checksum of parts)
        s3_hex = base64.b64decode(s3_sum).hex()
        if sha and sha != s3_hex:
            return RemoteObject(r["ContentLength"], None)  # inconsistent: treat as unknown
        sha = s3_hex
    return RemoteObject(r["ContentLength"], sha)


def matches(remote: RemoteObject | None, size: int, sha256: str) -> bool:
    return remote is not None and remote.size == size and remote.sha256 == sha256


def put_file(client, bucket: str, key: str, path: Path, size: int, sha256: str, *,
             multipart_threshold: int, extra: dict | None = None, callback=None) -> None:
    """Upload one file with its SHA-256 checked by S3; multipart above the threshold.
    ``extra``: further PutObject arguments (the SSE-KMS headers the bucket policy wants)."""
    extra = extra or {}
    if size < multipart_threshold:
        with open(path, "rb") as fh:
            client.put_object(Bucket=bucket, Key=key, Body=fh, ContentLength=size, ChecksumAlgorithm="SHA256",
                              ChecksumSHA256=b64_sha256(sha256), Metadata={META_SHA: sha256}, **extra)
        if callback:
            callback(size)
        return
    from boto3.s3.transfer import TransferConfig

    client.upload_file(
        str(path), bucket, key,
        ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {META_SHA: sha256}, **extra},
        Config=TransferConfig(multipart_threshold=multipart_threshold,
                              multipart_chunksize=multipart_threshold, max_concurrency=4),
        Callback=callback,
    )


def put_bytes(client, bucket: str, key: str, data: bytes, sha256: str, content_type: str | None,
              extra: dict | None = None, *, metadata: dict[str, str] | None = None) -> None:
    """One PUT of ``data`` with its SHA-256 checked by S3 (``content_type`` None: S3's default);
    ``metadata``: user metadata besides the SHA-256."""
    extra = {**(extra or {}), **({"ContentType": content_type} if content_type else {})}
    client.put_object(Bucket=bucket, Key=key, Body=data, ContentLength=len(data), ChecksumAlgorithm="SHA256",
                      ChecksumSHA256=b64_sha256(sha256), Metadata={**(metadata or {}), META_SHA: sha256},
                      **extra)


def delete_keys(client, bucket: str, keys: list[str]) -> None:
    """Delete ``keys`` (DeleteObjects, 1,000 per request); raise if any was not deleted."""
    for i in range(0, len(keys), 1000):
        delete = {"Objects": [{"Key": k} for k in keys[i : i + 1000]], "Quiet": True}
        errors = client.delete_objects(Bucket=bucket, Delete=delete).get("Errors")
        if errors:
            raise RuntimeError(f"{len(errors)} object(s) not deleted ({errors[0].get('Code')})")


def list_keys(client, bucket: str, prefix: str) -> list[dict]:
    """Every object under ``prefix`` (Key, Size), following pagination."""
    out: list[dict] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        out.extend(page.get("Contents", []))
    return out
