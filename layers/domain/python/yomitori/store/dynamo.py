"""The review store on DynamoDB (tables and key names from ``yomitori.settings``).

* review-task table: one item per waiting gate (``task_kind`` = ``review``) holding the task
  token and a map ``docs`` of document id -> {done, leased_by, lease_expires}. Leases are
  conditional updates on that map entry, so two reviewers never hold the same document.
* review-task table, double entry: one item per field to verify (``task_kind`` =
  ``verify#<document>#<field>``) with its state and who typed which entry (never a value);
  moves between states are conditional on the state, so two people never both complete one.
* audit table: audit records, chained per batch (``event_id`` = ``audit#s#<seq, 12 digits>``;
  older unchained ones ``audit#<time>#<uuid>`` sort before them) and deletion records
  (``deletion#<time>#<uuid>``), in :mod:`yomitori.store.dynamo_audit`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from yomitori import settings
from yomitori.store.base import (
    GateMissing,
    Lease,
    LeaseConflict,
    QueueItem,
    ReviewGate,
    ReviewStore,
    VerifyState,
    VerifyTask,
    utcnow,
)
from yomitori.store.dynamo_audit import DynamoAuditTrail

GATE_TTL_DAYS = 14  # a gate nobody finishes disappears with the batch's other transient items
VERIFY_PREFIX = "verify#"  # task_kind of a double-entry task: verify#<document>#<field>
# A Scan reads every client's items: it projects onto settings.REVIEW_SCAN_ATTRIBUTES (the policy
# denies any other), so a gate's task token is read only by a GetItem of the client's own batch.


def _projection(*attributes: str, select: bool = True, names: dict | None = None) -> dict:
    """ProjectionExpression (with names: any may be a reserved word) for a read of
    ``attributes``, with the request's other ``names``, and for a Scan or Query ``Select``
    (sent explicitly: the policy requires it; GetItem has no Select)."""
    projected = {f"#a{i}": a for i, a in enumerate(attributes)}
    out = {"ProjectionExpression": ", ".join(projected),
           "ExpressionAttributeNames": {**(names or {}), **projected}}
    return {**out, "Select": "SPECIFIC_ATTRIBUTES"} if select else out


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat()


class DynamoReviewStore(DynamoAuditTrail, ReviewStore):
    def __init__(
        self,
        review_table: str,
        audit_table: str,
        *,
        client: Any | None = None,
        client_factory: Callable[[], Any] | None = None,
    ):
        self.review_table = review_table
        self.audit_table = audit_table
        self._client = client
        self._factory = client_factory
        self.pk = settings.REVIEW_TASKS.partition_key
        self.sk = settings.REVIEW_TASKS.sort_key
        self.ttl = settings.REVIEW_TASKS.ttl_attribute

    @property
    def ddb(self) -> Any:
        if self._client is None:
            if self._factory is not None:
                self._client = self._factory()
            else:
                from yomitori.store.clients import client

                self._client = client("dynamodb")
        return self._client

    def _key(self, batch_id: str) -> dict:
        return {self.pk: {"S": batch_id}, self.sk: {"S": settings.TASK_KIND_REVIEW}}

    @staticmethod
    def _conditional_failed(e: Exception) -> bool:
        return getattr(e, "response", {}).get("Error", {}).get("Code") == "ConditionalCheckFailedException"

    def _item(self, batch_id: str, *attributes: str) -> dict | None:
        """The batch's gate item (all of it, the task token included: the policy lets only
        the batch's own client read it), or only ``attributes`` of it."""
        read = _projection(*attributes, select=False) if attributes else {}
        return self.ddb.get_item(
            TableName=self.review_table, Key=self._key(batch_id), ConsistentRead=True, **read
        ).get("Item")

    def open_gate(self, batch_id, task_token, document_ids, *, form_id=None, now=None) -> ReviewGate:
        now = now or utcnow()
        item = self._item(batch_id)
        if item is None:
            new = {
                **self._key(batch_id),
                "task_token": {"S": task_token},
                "opened_at": {"S": _iso(now)},
                "docs": {"M": {d: {"M": {"done": {"BOOL": False}}} for d in document_ids}},
                self.ttl: {"N": str(int((now + dt.timedelta(days=GATE_TTL_DAYS)).timestamp()))},
            }
            if form_id:
                new["form_id"] = {"S": form_id}
            try:
                self.ddb.put_item(
                    TableName=self.review_table,
                    Item=new,
                    ConditionExpression="attribute_not_exists(#pk)",
                    ExpressionAttributeNames={"#pk": self.pk},
                )
            except Exception as e:  # a retry raced us: fall through to the update path
                if not self._conditional_failed(e):
                    raise
        # (re)record the token and add documents not yet known, keeping what is done
        names = {"#t": "task_token"}
        sets = ["#t = :t"]
        values: dict = {":t": {"S": task_token}}
        if document_ids:
            values[":new"] = {"M": {"done": {"BOOL": False}}}
        for i, d in enumerate(document_ids):
            names[f"#d{i}"] = d
            sets.append(f"docs.#d{i} = if_not_exists(docs.#d{i}, :new)")
        self.ddb.update_item(
            TableName=self.review_table,
            Key=self._key(batch_id),
            UpdateExpression="SET " + ", ".join(sets),
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        gate = self.get_gate(batch_id)
        assert gate is not None
        return gate

    def get_gate(self, batch_id: str) -> ReviewGate | None:
        item = self._item(batch_id)
        return None if item is None else self._gate(item)

    def _gate(self, item: dict) -> ReviewGate:
        docs = {d: v["M"] for d, v in item.get("docs", {}).get("M", {}).items()}
        return ReviewGate(
            batch_id=item[self.pk]["S"],
            task_token=item["task_token"]["S"],
            form_id=item.get("form_id", {}).get("S"),
            opened_at=dt.datetime.fromisoformat(item["opened_at"]["S"]),
            released_at=dt.datetime.fromisoformat(item["released_at"]["S"])
            if "released_at" in item
            else None,
            pending=sorted(d for d, v in docs.items() if not v["done"]["BOOL"]),
            done=sorted(d for d, v in docs.items() if v["done"]["BOOL"]),
        )

    def queue(self, batch_id=None, *, now=None) -> list[QueueItem]:
        now = now or utcnow()
        if batch_id is not None:  # the queue needs no token: read ids and leases only
            item = self._item(batch_id, self.pk, "docs", "released_at")
            items = [item] if item else []
        else:  # small table (one item per open batch): a filtered scan of ids and leases is fine
            items = []
            for page in self.ddb.get_paginator("scan").paginate(
                TableName=self.review_table,
                **_projection(self.pk, "docs", "released_at", names={"#k": self.sk}),
                FilterExpression="#k = :k",
                ExpressionAttributeValues={":k": {"S": settings.TASK_KIND_REVIEW}},
            ):
                items.extend(page.get("Items", []))
        out = []
        for item in items:
            if "released_at" in item:
                continue
            for d, v in sorted(item.get("docs", {}).get("M", {}).items()):
                v = v["M"]
                if v["done"]["BOOL"]:
                    continue
                exp = dt.datetime.fromisoformat(v["lease_expires"]["S"]) if "lease_expires" in v else None
                live = exp is not None and exp > now
                out.append(
                    QueueItem(
                        batch_id=item[self.pk]["S"],
                        document_id=d,
                        leased_by=v["leased_by"]["S"] if live else None,
                        lease_expires=exp if live else None,
                    )
                )
        return out

    def _try_lease(self, batch_id, document_id, reviewer, now, expires) -> bool:
        try:
            self.ddb.update_item(
                TableName=self.review_table,
                Key=self._key(batch_id),
                UpdateExpression="SET docs.#d.leased_by = :r, docs.#d.lease_expires = :e",
                ConditionExpression=(
                    "attribute_exists(docs.#d) AND docs.#d.done = :f AND attribute_not_exists(released_at) "
                    "AND (attribute_not_exists(docs.#d.leased_by) OR docs.#d.leased_by = :r "
                    "OR docs.#d.lease_expires <= :now)"
                ),
                ExpressionAttributeNames={"#d": document_id},
                ExpressionAttributeValues={
                    ":r": {"S": reviewer},
                    ":e": {"S": _iso(expires)},
                    ":now": {"S": _iso(now)},
                    ":f": {"BOOL": False},
                },
            )
            return True
        except Exception as e:
            if self._conditional_failed(e):
                return False
            raise

    def lease(self, batch_id, reviewer, *, document_id=None, seconds=900, now=None) -> Lease | None:
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=seconds)
        if document_id is not None:
            if not self._try_lease(batch_id, document_id, reviewer, now, expires):
                raise LeaseConflict(f"Document '{document_id}' is being reviewed by someone else or is done.")
            return Lease(batch_id=batch_id, document_id=document_id, reviewer=reviewer, expires_at=expires)
        candidates = [q.document_id for q in self.queue(batch_id, now=now) if q.leased_by in (None, reviewer)]
        for d in candidates:  # another reviewer may win a candidate between read and write
            if self._try_lease(batch_id, d, reviewer, now, expires):
                return Lease(batch_id=batch_id, document_id=d, reviewer=reviewer, expires_at=expires)
        return None

    def release_lease(self, batch_id, document_id, reviewer) -> None:
        try:
            self.ddb.update_item(
                TableName=self.review_table,
                Key=self._key(batch_id),
                UpdateExpression="REMOVE docs.#d.leased_by, docs.#d.lease_expires",
                ConditionExpression="docs.#d.leased_by = :r",
                ExpressionAttributeNames={"#d": document_id},
                ExpressionAttributeValues={":r": {"S": reviewer}},
            )
        except Exception as e:
            if not self._conditional_failed(e):
                raise

    def complete(self, batch_id, document_id, reviewer, *, now=None) -> list[str]:
        gate = self.get_gate(batch_id)
        if gate is None:
            raise GateMissing(f"Batch '{batch_id}' has no review gate.")
        if document_id not in gate.pending + gate.done:
            raise LeaseConflict(f"Document '{document_id}' is not part of the review of batch '{batch_id}'.")
        if document_id in gate.pending:
            try:
                self.ddb.update_item(
                    TableName=self.review_table,
                    Key=self._key(batch_id),
                    UpdateExpression="SET docs.#d.done = :t REMOVE docs.#d.leased_by, docs.#d.lease_expires",
                    ConditionExpression="docs.#d.leased_by = :r OR docs.#d.done = :t",
                    ExpressionAttributeNames={"#d": document_id},
                    ExpressionAttributeValues={":r": {"S": reviewer}, ":t": {"BOOL": True}},
                )
            except Exception as e:
                if self._conditional_failed(e):
                    raise LeaseConflict(
                        f"Document '{document_id}' is not leased to you.",
                        action="Lease the document again before submitting.",
                    ) from None
                raise
        return self.remaining(batch_id)

    def reopen(self, batch_id, document_id, reviewer, *, seconds=900, now=None) -> Lease:
        now = now or utcnow()
        expires = now + dt.timedelta(seconds=seconds)
        try:
            self.ddb.update_item(
                TableName=self.review_table,
                Key=self._key(batch_id),
                UpdateExpression="SET docs.#d.done = :f, docs.#d.leased_by = :r, docs.#d.lease_expires = :e",
                ConditionExpression=(
                    "attribute_exists(docs.#d) AND attribute_not_exists(released_at) AND (docs.#d.done = :t "
                    "OR attribute_not_exists(docs.#d.leased_by) OR docs.#d.leased_by = :r "
                    "OR docs.#d.lease_expires <= :now)"
                ),
                ExpressionAttributeNames={"#d": document_id},
                ExpressionAttributeValues={
                    ":r": {"S": reviewer}, ":e": {"S": _iso(expires)}, ":now": {"S": _iso(now)},
                    ":f": {"BOOL": False}, ":t": {"BOOL": True},
                },
            )
        except Exception as e:
            if not self._conditional_failed(e):
                raise
            gate = self.get_gate(batch_id)
            if gate is None or gate.released_at is not None:
                raise GateMissing(
                    f"Batch '{batch_id}' is not waiting for review (released or unknown)."
                ) from None
            raise LeaseConflict(f"Document '{document_id}' is being reviewed by someone else or is not "
                                "part of the review.") from None
        return Lease(batch_id=batch_id, document_id=document_id, reviewer=reviewer, expires_at=expires)

    def mark_released(self, batch_id, *, now=None) -> None:
        self.ddb.update_item(
            TableName=self.review_table,
            Key=self._key(batch_id),
            UpdateExpression="SET released_at = if_not_exists(released_at, :n)",
            ExpressionAttributeValues={":n": {"S": _iso(now or utcnow())}},
        )

    def remember_task(self, batch_id, kind, task_token, *, now=None) -> None:
        now = now or utcnow()
        self.ddb.put_item(
            TableName=self.review_table,
            Item={
                self.pk: {"S": batch_id},
                self.sk: {"S": kind},
                "task_token": {"S": task_token},
                "opened_at": {"S": _iso(now)},
                self.ttl: {"N": str(int((now + dt.timedelta(days=GATE_TTL_DAYS)).timestamp()))},
            },
        )

    def take_task(self, batch_id, kind) -> str | None:
        # delete-and-return in one call: two acknowledgements cannot both get the token
        old = self.ddb.delete_item(
            TableName=self.review_table,
            Key={self.pk: {"S": batch_id}, self.sk: {"S": kind}},
            ReturnValues="ALL_OLD",
        ).get("Attributes")
        return old["task_token"]["S"] if old else None

    # -- double entry ----------------------------------------------------------------------
    _PEOPLE = ("first_by", "second_by", "decided_by")

    def _verify_key(self, batch_id: str, document_id: str, field: str) -> dict:
        return {self.pk: {"S": batch_id}, self.sk: {"S": f"{VERIFY_PREFIX}{document_id}#{field}"}}

    def add_verifications(self, tasks, *, now=None) -> None:
        now = now or utcnow()
        expires = str(int((now + dt.timedelta(days=GATE_TTL_DAYS)).timestamp()))
        for t in tasks:
            item = {
                **self._verify_key(t.batch_id, t.document_id, t.field),
                "document_id": {"S": t.document_id},
                "field": {"S": t.field},
                "state": {"S": t.state.value},
                self.ttl: {"N": expires},
            }
            if t.first_by:
                item["first_by"] = {"S": t.first_by}
            try:
                self.ddb.put_item(TableName=self.review_table, Item=item,
                                  ConditionExpression="attribute_not_exists(#pk)",
                                  ExpressionAttributeNames={"#pk": self.pk})
            except Exception as e:  # already recorded (a retried gate): keep it
                if not self._conditional_failed(e):
                    raise

    def verifications(self, batch_id: str) -> list[VerifyTask]:
        out = []
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.review_table,
            KeyConditionExpression="#p = :p AND begins_with(#s, :v)",
            ExpressionAttributeNames={"#p": self.pk, "#s": self.sk},
            ExpressionAttributeValues={":p": {"S": batch_id}, ":v": {"S": VERIFY_PREFIX}},
            ConsistentRead=True,
        ):
            for i in page.get("Items", []):
                out.append(VerifyTask(
                    batch_id=batch_id, document_id=i["document_id"]["S"], field=i["field"]["S"],
                    state=VerifyState(i["state"]["S"]),
                    **{k: i[k]["S"] for k in (*self._PEOPLE, "leased_by") if k in i},
                    lease_expires=dt.datetime.fromisoformat(i["lease_expires"]["S"]) if "lease_expires" in i
                    else None,
                ))
        return sorted(out, key=lambda t: (t.document_id, t.field))

    def verification_batches(self) -> list[str]:
        out: set[str] = set()
        for page in self.ddb.get_paginator("scan").paginate(
            TableName=self.review_table,
            **_projection(self.pk, names={"#s": self.sk, "#st": "state"}),
            FilterExpression="begins_with(#s, :v) AND #st IN (:w, :o, :m)",
            ExpressionAttributeValues={
                ":v": {"S": VERIFY_PREFIX},
                ":w": {"S": VerifyState.WAITING.value},
                ":o": {"S": VerifyState.OPEN.value},
                ":m": {"S": VerifyState.MISMATCH.value},
            },
        ):
            out.update(i[self.pk]["S"] for i in page.get("Items", []))
        return sorted(out)

    def update_verification(self, batch_id, document_id, field, *, expect, state, people=None) -> bool:
        people = {k: v for k, v in (people or {}).items() if k in self._PEOPLE}
        names = {"#st": "state", **{f"#{k}": k for k in people}}
        values = {":s": {"S": state.value}, ":e": {"S": VerifyState(expect).value},
                  **{f":{k}": {"S": v} for k, v in people.items()}}
        sets = ["#st = :s", *(f"#{k} = :{k}" for k in people)]
        try:
            self.ddb.update_item(
                TableName=self.review_table,
                Key=self._verify_key(batch_id, document_id, field),
                UpdateExpression="SET " + ", ".join(sets) + " REMOVE leased_by, lease_expires",
                ConditionExpression="#st = :e",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return True
        except Exception as e:
            if self._conditional_failed(e):
                return False
            raise

    def lease_verification(self, batch_id, document_id, field, who, *, seconds=600, now=None) -> bool:
        now = now or utcnow()
        try:
            self.ddb.update_item(
                TableName=self.review_table,
                Key=self._verify_key(batch_id, document_id, field),
                UpdateExpression="SET leased_by = :w, lease_expires = :x",
                ConditionExpression=("attribute_exists(#st) AND (attribute_not_exists(leased_by) OR "
                                     "leased_by = :w OR lease_expires <= :now)"),
                ExpressionAttributeNames={"#st": "state"},
                ExpressionAttributeValues={":w": {"S": who}, ":now": {"S": _iso(now)},
                                           ":x": {"S": _iso(now + dt.timedelta(seconds=seconds))}},
            )
            return True
        except Exception as e:
            if self._conditional_failed(e):
                return False
            raise

    def delete_batch(self, batch_id: str) -> int:
        """Delete every review-task item of the batch (the review gate, the ack token and the
        double-entry tasks)."""
        n = 0
        for page in self.ddb.get_paginator("query").paginate(
            TableName=self.review_table,
            KeyConditionExpression="#p = :p",
            ExpressionAttributeNames={"#p": self.pk},
            ExpressionAttributeValues={":p": {"S": batch_id}},
            ConsistentRead=True,
        ):
            for item in page.get("Items", []):
                self.ddb.delete_item(
                    TableName=self.review_table, Key={self.pk: item[self.pk], self.sk: item[self.sk]}
                )
                n += 1
        return n
