"""The audit table's side of :class:`yomitori.store.dynamo.DynamoReviewStore`: audit records
chained per batch (``event_id`` = ``audit#s#<seq, 12 digits>``; older unchained ones
``audit#<time>#<uuid>`` sort before them) and deletion records (``deletion#<time>#<uuid>``).
No TTL: they are the evidence, and hold no personal values. Runs in Lambda and the agent.

An append is a put conditional on its seq's key not existing; a writer that loses the race
reads the new head and tries the next seq. The head is read with a projection of the key and
``hash`` only (the agent's policy allows no more: it appends, it does not read the trail).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import time
import uuid
from typing import Any

from yomitori import settings
from yomitori.audit.chain import link
from yomitori.store.base import AuditRecord, DeletionRecord, StoreError, parse_audit

CHAIN_PREFIX = "audit#s#"
APPEND_ATTEMPTS = 25  # writers racing for the same seq: each loser retries with the new head


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


class DynamoAuditTrail:
    """Mixed into the DynamoDB review store, which provides ``ddb``, ``audit_table`` and
    ``_conditional_failed``."""

    ddb: Any
    audit_table: str

    def _put_audit(self, kind: str, batch_id: str, at: dt.datetime, body: str) -> None:
        event_id = f"{kind}#{_iso(at)}#{uuid.uuid4().hex}"
        self.ddb.put_item(
            TableName=self.audit_table,
            Item={
                settings.AUDIT.partition_key: {"S": batch_id},
                settings.AUDIT.sort_key: {"S": event_id},
                "record": {"S": body},
            },
        )

    def _query_audit(self, kind: str, batch_id: str) -> list[str]:
        pk, sk = settings.AUDIT.partition_key, settings.AUDIT.sort_key
        out = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.audit_table,
            KeyConditionExpression="#p = :p AND begins_with(#s, :k)",
            ExpressionAttributeNames={"#p": pk, "#s": sk},
            ExpressionAttributeValues={":p": {"S": batch_id}, ":k": {"S": kind + "#"}},
            ConsistentRead=True,
        ):
            out.extend(i["record"]["S"] for i in page.get("Items", []))
        return out

    def _audit_head(self, batch_id: str) -> tuple[int, str] | None:
        pk, sk = settings.AUDIT.partition_key, settings.AUDIT.sort_key
        items = self.ddb.query(
            TableName=self.audit_table,
            KeyConditionExpression="#p = :p AND begins_with(#s, :k)",
            ProjectionExpression="#p, #s, #h",
            Select="SPECIFIC_ATTRIBUTES",
            ExpressionAttributeNames={"#p": pk, "#s": sk, "#h": "hash"},
            ExpressionAttributeValues={":p": {"S": batch_id}, ":k": {"S": CHAIN_PREFIX}},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        ).get("Items", [])
        if not items:
            return None
        return int(items[0][sk]["S"][len(CHAIN_PREFIX):]), items[0]["hash"]["S"]

    def audit(self, record: AuditRecord) -> AuditRecord:
        pk, sk = settings.AUDIT.partition_key, settings.AUDIT.sort_key
        for attempt in range(APPEND_ATTEMPTS):
            linked = link(record, self._audit_head(record.batch_id))
            try:
                self.ddb.put_item(
                    TableName=self.audit_table,
                    Item={
                        pk: {"S": record.batch_id},
                        sk: {"S": f"{CHAIN_PREFIX}{linked.seq:012d}"},
                        "record": {"S": linked.model_dump_json(exclude_none=True)},
                        "hash": {"S": linked.hash},
                    },
                    ConditionExpression="attribute_not_exists(#s)",
                    ExpressionAttributeNames={"#s": sk},
                )
                return linked
            except Exception as e:
                if not self._conditional_failed(e):
                    raise
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # another writer took this seq
        raise StoreError(
            f"The audit record of batch '{record.batch_id}' could not be appended: "
            f"{APPEND_ATTEMPTS} other writers were faster.",
            code="audit_busy",
            action="Try the action again in a moment.",
        )

    def audit_trail(self, batch_id: str) -> list[AuditRecord]:
        # key order: older unchained records (audit#<time>#...) first, then the chain by seq
        return [parse_audit(r, batch_id, i) for i, r in enumerate(self._query_audit("audit", batch_id), 1)]

    def audit_head(self, batch_id: str) -> tuple[int, str] | None:
        return self._audit_head(batch_id)

    def audit_batches(self) -> list[str]:
        pk, sk = settings.AUDIT.partition_key, settings.AUDIT.sort_key
        found: set[str] = set()
        for page in self.ddb.get_paginator("scan").paginate(
            TableName=self.audit_table,
            ProjectionExpression="#p",
            FilterExpression="begins_with(#s, :k)",
            ExpressionAttributeNames={"#p": pk, "#s": sk},
            ExpressionAttributeValues={":k": {"S": "audit#"}},
        ):
            found.update(i[pk]["S"] for i in page.get("Items", []))
        return sorted(found)

    def record_deletion(self, record: DeletionRecord) -> None:
        self._put_audit("deletion", record.batch_id, record.at, record.model_dump_json())

    def deletions(self, batch_id: str) -> list[DeletionRecord]:
        return [DeletionRecord.model_validate(json.loads(r)) for r in self._query_audit("deletion", batch_id)]
