"""Cloud settings (typed, parsed once from the environment variables named in
``yomitori.settings``) and the cached store factories the handlers use.

Runs in Lambda and in the local cloud runner (which sets the same variables). Nothing is
built at import time; :func:`reset` forgets everything (tests, the local runner).
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from yomitori import settings
from yomitori.errors import YomitoriError
from yomitori.store.base import GateReleaser, ResultStore, ReviewStore


class ConfigError(YomitoriError):
    code = "bad_configuration"
    action = "Check the function's environment variables (set by the CDK stack from cdk.json)."


class CloudSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    intake_bucket: str = Field(min_length=3)
    results_bucket: str = Field(min_length=3)
    kms_key_arn: str = Field(min_length=1)
    review_table: str = Field(min_length=3)
    audit_table: str = Field(min_length=3)
    batches_table: str | None = None
    idempotency_table: str | None = None  # unset: no idempotency layer (one-off local runs)
    ocr_engine: str = "ppocr"  # yomitori.ocr.engine.DEFAULT_ENGINE
    ocr_region: str = ""
    allowed_regions: tuple[str, ...] = settings.DEFAULT_ALLOWED_REGIONS
    residency_override: bool = False  # the stack's allow_region_outside_residency
    thresholds: dict[str, float] = Field(default_factory=dict)
    retention_days: int = Field(default=1, ge=1)
    trail_bucket: str | None = None  # unset: purge keeps no Object-Lock copy (one-off local runs)

    @field_validator("allowed_regions", mode="before")
    @classmethod
    def _split(cls, v: Any) -> Any:
        return tuple(r.strip() for r in v.split(",") if r.strip()) if isinstance(v, str) else v

    @field_validator("residency_override", mode="before")
    @classmethod
    def _override(cls, v: Any) -> Any:
        return settings.residency_override_from(v) if isinstance(v, str) else v

    @field_validator("thresholds", mode="before")
    @classmethod
    def _json(cls, v: Any) -> Any:
        return json.loads(v) if isinstance(v, str) else v


_ENV = {
    "intake_bucket": settings.ENV_INTAKE_BUCKET,
    "results_bucket": settings.ENV_RESULTS_BUCKET,
    "kms_key_arn": settings.ENV_KMS_KEY_ARN,
    "review_table": settings.ENV_REVIEW_TABLE,
    "audit_table": settings.ENV_AUDIT_TABLE,
    "batches_table": settings.ENV_BATCHES_TABLE,
    "idempotency_table": settings.ENV_IDEMPOTENCY_TABLE,
    "ocr_engine": settings.ENV_OCR_ENGINE,
    "ocr_region": settings.ENV_OCR_REGION,
    "allowed_regions": settings.ENV_ALLOWED_REGIONS,
    "residency_override": settings.ENV_RESIDENCY_OVERRIDE,
    "thresholds": settings.ENV_THRESHOLDS,
    "retention_days": settings.ENV_RETENTION_DAYS,
    "trail_bucket": settings.ENV_TRAIL_BUCKET,
}


def env_names() -> dict[str, str]:
    """Setting name -> environment variable (the local runner sets the same ones)."""
    return dict(_ENV)


@functools.cache
def get_settings() -> CloudSettings:
    """The settings of this process, parsed once. Raises :class:`ConfigError` naming the
    variables that are missing or wrong (never their values)."""
    raw = {k: os.environ[v] for k, v in _ENV.items() if os.environ.get(v)}
    try:
        return CloudSettings.model_validate(raw)
    except (ValidationError, json.JSONDecodeError) as e:
        bad = sorted(
            {_ENV.get(str(err["loc"][0]), str(err["loc"][0])) for err in getattr(e, "errors", list)()}
        )
        raise ConfigError(
            f"Environment variables missing or invalid: {', '.join(bad) or 'thresholds'}."
        ) from None


@functools.cache
def result_store() -> ResultStore:
    from yomitori.store.s3 import S3ResultStore

    s = get_settings()
    return S3ResultStore(s.intake_bucket, s.results_bucket, s.kms_key_arn)


@functools.cache
def review_store() -> ReviewStore:
    from yomitori.store.dynamo import DynamoReviewStore

    s = get_settings()
    return DynamoReviewStore(s.review_table, s.audit_table)


@functools.cache
def gate_releaser() -> GateReleaser:
    from yomitori.store.stepfunctions import StepFunctionsGateReleaser

    return StepFunctionsGateReleaser()


def trail_archive():
    """The trail bucket's archive (``yomitori.audit.archive.S3TrailArchive``), or None when
    the deployment names no trail bucket."""
    from yomitori.audit.archive import S3TrailArchive

    s = get_settings()
    return S3TrailArchive(s.trail_bucket, s.kms_key_arn) if s.trail_bucket else None


def reset() -> None:
    """Forget settings, stores and AWS clients (tests and the local runner switch them)."""
    from yomitori.steps import runtime
    from yomitori.store import clients

    runtime.reset()
    for f in (get_settings, result_store, review_store, gate_releaser):
        f.cache_clear()
    clients.reset()
