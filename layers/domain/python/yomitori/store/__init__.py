"""Storage ports and their implementations (see :mod:`yomitori.store.base`).

Importing this package is cheap and never imports boto3: the cloud implementations
(``S3ResultStore``, ``DynamoReviewStore``, ``StepFunctionsGateReleaser``) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from yomitori.store.base import (
    AuditAction,
    AuditRecord,
    DeletionRecord,
    GateMissing,
    GateReleaser,
    Lease,
    LeaseConflict,
    ObjectMissing,
    PurgeCount,
    QueueItem,
    ResultStore,
    ReviewGate,
    ReviewStore,
    StoreError,
)
from yomitori.store.local import LocalGateReleaser, LocalResultStore
from yomitori.store.sqlite import SqliteReviewStore

if TYPE_CHECKING:
    from yomitori.store.dynamo import DynamoReviewStore
    from yomitori.store.s3 import S3ResultStore
    from yomitori.store.stepfunctions import StepFunctionsGateReleaser

_LAZY = {
    "S3ResultStore": "yomitori.store.s3",
    "DynamoReviewStore": "yomitori.store.dynamo",
    "StepFunctionsGateReleaser": "yomitori.store.stepfunctions",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(name)


__all__ = [
    "AuditAction",
    "AuditRecord",
    "DeletionRecord",
    "DynamoReviewStore",
    "GateMissing",
    "GateReleaser",
    "Lease",
    "LeaseConflict",
    "LocalGateReleaser",
    "LocalResultStore",
    "ObjectMissing",
    "PurgeCount",
    "QueueItem",
    "ResultStore",
    "ReviewGate",
    "ReviewStore",
    "S3ResultStore",
    "SqliteReviewStore",
    "StepFunctionsGateReleaser",
    "StoreError",
]
