"""Cached AWS client factories. Nothing is built at import time: the first call builds the
client, so tests can start moto (and set ``AWS_ENDPOINT_URL``) first, and cold starts stay
short. boto3 is imported here, lazily, and nowhere on the one-machine path."""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=32)
def client(service: str, region: str | None = None) -> Any:
    """A boto3 client for ``service`` (shared per process; boto3 clients are thread-safe).
    Honours ``AWS_ENDPOINT_URL`` (boto3 reads it), which the local moto mode sets."""
    import boto3
    from botocore.config import Config

    # standard retry mode: exponential backoff with jitter on throttling and 5xx
    cfg = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=5, read_timeout=60)
    return boto3.session.Session().client(service, region_name=region, config=cfg)


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or credentials)."""
    client.cache_clear()
