"""``status``: where each batch is, derived from what exists (runs on the external PC).

Evidence comes from the bucket layout of :mod:`yomitori.batch`, the local batch journal and,
when ``aws.batches_table`` is set, the batch's item in that table. :func:`derive` is a small
pure function over that evidence, so a new stage is one more rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from yomitori.batch import ack_key, batch_prefix, manifest_key, results_json_key

from yomitori_agent import s3io
from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import NotFoundError
from yomitori_agent.journal import BatchJournal

STAGES = ("unknown", "uploading", "uploaded", "processing", "waiting_for_review", "ready", "downloaded",
          "purged")


@dataclass
class Evidence:
    batch_id: str
    intake_keys: list[str] = field(default_factory=list)
    results_keys: list[str] = field(default_factory=list)
    journal_events: set[str] = field(default_factory=set)
    review_counts: dict[str, int] | None = None  # documents, needs_review (when counted)
    table_item: dict | None = None
    unavailable: list[str] = field(default_factory=list)  # sources we were not allowed to read
    cost: dict | None = None  # the batch's cost estimate (finalize's, yomitori.cost), summarised


def derive(ev: Evidence) -> dict:
    """Stage and counts of one batch from its evidence (later rules win)."""
    b = ev.batch_id
    results = set(ev.results_keys)
    documents = [k for k in ev.results_keys if k.startswith(f"{b}/documents/")]
    pages = [k for k in ev.intake_keys if k.startswith(f"{b}/pages/")]
    stage = "unknown"
    if pages or "started" in ev.journal_events:
        stage = "uploading"
    if manifest_key(b) in ev.intake_keys or "manifest_uploaded" in ev.journal_events:
        stage = "uploaded"
    if documents:
        stage = "processing"
        if ev.review_counts and ev.review_counts.get("needs_review"):
            stage = "waiting_for_review"
    if results_json_key(b) in results:
        stage = "ready"
    if ack_key(b) in results or "ack_sent" in ev.journal_events:
        stage = "downloaded"
    if not ev.intake_keys and not ev.results_keys and "manifest_uploaded" in ev.journal_events:
        stage = "purged"  # we uploaded it, and the cloud holds nothing of it any more
    out = {"batch_id": b, "stage": stage, "pages_in_cloud": len(pages), "documents": len(documents),
           "local": sorted(ev.journal_events)}
    if ev.review_counts:
        out.update(ev.review_counts)
    if ev.unavailable:
        out["unavailable"] = ev.unavailable
    if ev.cost:
        out["cost_estimate"] = ev.cost
    if ev.table_item:
        # The state machine's own record is the better source when it exists.
        out["table_status"] = ev.table_item.get("status")
        out.update({k: v for k, v in ev.table_item.items() if k.endswith("_count") or k in ("documents",)})
    return out


COST_FIELDS = ("currency", "total_usd", "per_page_usd", "pages", "engine")


def cost_summary(results: dict) -> dict | None:
    """The cost estimate of a batch's results.json, summarised (numbers and the engine only)."""
    est = results.get("cost_estimate")
    if not isinstance(est, dict):
        return None
    return {k: est[k] for k in COST_FIELDS if k in est}


def _cost_in_cloud(s3, bucket: str, batch_id: str) -> dict | None:
    """The cost estimate from the batch's results.json in the results bucket (None if the
    object is gone or this machine may not read it). Only the estimate is kept."""
    try:
        body = s3.get_object(Bucket=bucket, Key=results_json_key(batch_id))["Body"].read()
    except Exception as e:
        code = getattr(e, "response", {}).get("Error", {}).get("Code")
        if _denied(e) or code in ("NoSuchKey", "404"):
            return None
        raise
    return cost_summary(json.loads(body))


def _plain(item: dict) -> dict:
    """A DynamoDB item in wire format -> plain values (strings and numbers only)."""
    out = {}
    for k, v in item.items():
        if "S" in v:
            out[k] = v["S"]
        elif "N" in v:
            out[k] = int(float(v["N"]))
    return out


def _review_counts(client, bucket: str, keys: list[str]) -> dict[str, int]:
    from yomitori.results import DocumentResult

    needs = 0
    for key in keys:
        body = client.get_object(Bucket=bucket, Key=key)["Body"].read()
        if DocumentResult.model_validate(json.loads(body)).needs_person:
            needs += 1
    return {"needs_review": needs}


def _exists(s3, bucket: str, key: str) -> bool:
    try:
        return s3io.head(s3, bucket, key) is not None
    except Exception as e:
        if _denied(e):
            return False
        raise


def _denied(e: Exception) -> bool:
    return getattr(e, "response", {}).get("Error", {}).get("Code") in ("AccessDenied", "403")


def gather(cfg: AgentConfig, batch_id: str, s3, ddb=None) -> Evidence:
    """Collect the evidence. A source this machine may not read (AccessDenied) is left out
    and named in ``Evidence.unavailable``; status then rests on the others."""
    records = BatchJournal(cfg.state_dir, batch_id).records()
    ev = Evidence(batch_id, journal_events={r.get("event", "") for r in records})
    # download records the estimate it found in results.json (the cloud copy may be purged)
    ev.cost = next((r["cost_estimate"] for r in reversed(records)
                    if r.get("event") == "downloaded" and r.get("cost_estimate")), None)
    prefix = batch_prefix(batch_id)
    for attr, bucket in (("intake_keys", cfg.aws.intake_bucket), ("results_keys", cfg.aws.results_bucket)):
        if not bucket:
            continue
        try:
            setattr(ev, attr, [o["Key"] for o in s3io.list_keys(s3, bucket, prefix)])
        except Exception as e:
            if not _denied(e):
                raise
            ev.unavailable.append(f"list:{attr.split('_')[0]}")
            if attr == "results_keys":  # results.json may still be read by its known key
                ev.results_keys = [k for k in (results_json_key(batch_id),) if _exists(s3, bucket, k)]
    if cfg.aws.results_bucket and ev.cost is None and results_json_key(batch_id) in ev.results_keys:
        ev.cost = _cost_in_cloud(s3, cfg.aws.results_bucket, batch_id)
    if cfg.aws.results_bucket:
        docs = [k for k in ev.results_keys if k.startswith(f"{prefix}documents/")]
        if docs and results_json_key(batch_id) not in ev.results_keys:
            ev.review_counts = _review_counts(s3, cfg.aws.results_bucket, docs)
    if ddb is not None and cfg.aws.batches_table:
        from yomitori.settings import BATCHES

        item = ddb.get_item(TableName=cfg.aws.batches_table,
                            Key={BATCHES.partition_key: {"S": batch_id}}).get("Item")
        ev.table_item = _plain(item) if item else None
    return ev


def known_batches(cfg: AgentConfig, s3) -> list[str]:
    ids = set(BatchJournal.known_batches(cfg.state_dir))
    for bucket in (cfg.aws.intake_bucket, cfg.aws.results_bucket):
        if not bucket:
            continue
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"):
                ids.update(p["Prefix"].rstrip("/") for p in page.get("CommonPrefixes", []))
        except Exception as e:
            if not _denied(e):
                raise  # not allowed to list: the batches this machine handled are still known
    return sorted(ids)


def status(cfg: AgentConfig, batch_id: str | None = None, *, s3=None, ddb=None) -> list[dict]:
    """Status of ``batch_id`` (NotFoundError if nothing is known of it), or of every batch."""
    s3 = s3 or s3io.s3_client(cfg)
    if ddb is None and cfg.aws.batches_table:
        ddb = s3io.dynamodb_client(cfg)
    try:
        ids = [batch_id] if batch_id else known_batches(cfg, s3)
        out = [derive(gather(cfg, b, s3, ddb)) for b in ids]
    except Exception as e:
        raise s3io.translate(e, "reading batch status") from None
    if batch_id and out[0]["stage"] == "unknown" and not out[0].get("table_status"):
        raise NotFoundError(f"nothing is known of batch {batch_id} here or in the cloud.")
    return out

