"""Glue between a parsed event and a step: the configured stores and engine, idempotency and
metrics. Each handler calls exactly one function here. Runs in Lambda and the local runner.
Metrics and return values carry ids, keys and counts only."""

from __future__ import annotations

from typing import Any

from yomitori import settings
from yomitori.observability import add_metric, logger
from yomitori.steps import config, events
from yomitori.steps.runtime import idempotent


@idempotent("[batch_id, ordinal]")
def _ocr(event: dict) -> dict:
    from yomitori.batch import cloud_document_id
    from yomitori.steps.ocr import engine_for, manifest_page, ocr_page

    req = events.OcrEvent.model_validate(event)
    s = config.get_settings()
    # refuse before any image leaves the function: a misconfigured deployment fails closed
    settings.check_residency(
        s.ocr_engine, s.ocr_region, s.allowed_regions, override=s.residency_override
    )
    store = config.result_store()
    engine = engine_for(s.ocr_engine, s.ocr_region)  # built once per container, model on first use
    outcome = ocr_page(
        store,
        engine,
        batch_id=req.batch_id,
        form_id=req.form_id,
        page=manifest_page(store, req.batch_id, req.ordinal),
        document_id=cloud_document_id(req.batch_id, req.ordinal),
    )
    add_metric("PagesProcessed", 1)
    add_metric("PagesFailed", 1 if outcome.error else 0)
    add_metric("OcrLatency", outcome.ocr_ms, "Milliseconds")
    load_seconds = engine.new_load_seconds()  # once per container: the cold model load
    if load_seconds is not None:
        load_ms = round(load_seconds * 1000)
        add_metric("ModelLoadTime", load_ms, "Milliseconds")
        logger().info("ocr model loaded", extra={"engine": outcome.engine, "load_ms": load_ms})
    logger().info(
        "page read", extra={"error": outcome.error, "engine": outcome.engine, "ocr_ms": outcome.ocr_ms}
    )
    return events.OcrResult(**outcome.payload()).out()


def ocr(req: events.OcrEvent, context: Any = None) -> dict:
    """OCR one page (idempotent on batch and page ordinal)."""
    return _ocr(req.model_dump(mode="json"), context)


@idempotent("[batch_id, document_id]")
def _validate(event: dict) -> dict:
    from yomitori.steps.validate import validate_document

    req = events.ValidateEvent.model_validate(event)
    out = validate_document(
        config.result_store(),
        batch_id=req.batch_id,
        document_id=req.document_id,
        thresholds=config.get_settings().thresholds,
    )
    add_metric("FieldsAccepted", out["accepted"])
    add_metric("FieldsNeedingReview", out["needs_review"])
    add_metric("FieldsInvalid", out["invalid"])
    add_metric("DocumentsFailed", 1 if out["error"] else 0)
    logger().info(
        "document routed", extra={k: out[k] for k in ("error", "accepted", "needs_review", "invalid")}
    )
    return events.ValidateResult(**out).out()


def validate(req: events.ValidateEvent, context: Any = None) -> dict:
    """Validate and route one document (idempotent on batch and document)."""
    return _validate(req.model_dump(mode="json"), context)


# The acknowledgement and the flow's wait for it can arrive in either order: each side
# records itself, then tries to take the flow's token (taken once: exactly one releases).
ACK_RECEIVED = "ack-received"


def _release_ack(reviews, releaser, batch_id: str, who: str) -> bool:
    token = reviews.take_task(batch_id, settings.TASK_KIND_ACK)
    if token is None:
        return False
    releaser.release(token, {"batch_id": batch_id, "acknowledged_by": who})
    return True


def review(req: Any, context: Any = None) -> dict:
    """One review action (see :mod:`yomitori.steps.events`). Not idempotent by key: the
    gate, leases and the once-only token release make each action safe to repeat."""
    from yomitori.steps import review as rv

    results, reviews, releaser = config.result_store(), config.review_store(), config.gate_releaser()
    add_metric("ReviewActions", 1)
    if isinstance(req, events.ReviewWait):
        if req.task_kind == settings.TASK_KIND_REVIEW:
            out = rv.open_review_gate(
                results, reviews, releaser, batch_id=req.batch_id, task_token=req.task_token
            )
            add_metric("DocumentsAwaitingReview", out["needs_review"])
            logger().info(
                "review gate opened", extra={"needs_review": out["needs_review"], "released": out["released"]}
            )
            return out
        reviews.remember_task(req.batch_id, req.task_kind, req.task_token)
        # the acknowledgement may have come first (the agent downloads as soon as results exist)
        who = reviews.take_task(req.batch_id, ACK_RECEIVED)
        released = who is not None and _release_ack(reviews, releaser, req.batch_id, who)
        return {"batch_id": req.batch_id, "task_kind": req.task_kind, "stored": True, "released": released}
    if isinstance(req, events.ReviewAckArrived):
        kind = settings.TASK_KIND_ACK
        reviews.remember_task(req.batch_id, ACK_RECEIVED, req.who)
        released = _release_ack(reviews, releaser, req.batch_id, req.who)
        if released:
            reviews.take_task(req.batch_id, ACK_RECEIVED)
        logger().info("download acknowledged", extra={"released": released})
        return {"batch_id": req.batch_id, "task_kind": kind, "completed": released, "recorded": True}
    if isinstance(req, events.ReviewQueue):
        return {"queue": [q.model_dump(mode="json") for q in reviews.queue(req.batch_id)]}
    if isinstance(req, events.ReviewLease):
        lease = rv.lease_document(
            reviews,
            releaser,
            batch_id=req.batch_id,
            reviewer=req.reviewer,
            document_id=req.document_id,
            seconds=req.seconds,
        )
        return {"lease": lease.model_dump(mode="json") if lease else None}
    if isinstance(req, events.ReviewReveal):
        rv.reveal_my_number(
            reviews,
            batch_id=req.batch_id,
            document_id=req.document_id,
            field_name=req.field,
            reviewer=req.reviewer,
        )
        return {"batch_id": req.batch_id, "document_id": req.document_id, "audited": True}
    out = rv.submit_review(
        results,
        reviews,
        releaser,
        batch_id=req.batch_id,
        document_id=req.document_id,
        reviewer=req.reviewer,
        corrections=req.corrections,
        thresholds=config.get_settings().thresholds,
    )
    add_metric("DocumentsReviewed", 1)
    add_metric("FieldsCorrected", out["corrected"])
    logger().info("review submitted", extra={k: out[k] for k in ("corrected", "remaining", "released")})
    return out


@idempotent("[batch_id, form_id, encoding]")
def _finalize(event: dict) -> dict:
    from yomitori.steps.finalize import finalize_batch

    req = events.FinalizeEvent.model_validate(event)
    import os

    from yomitori.cost import ENV_PRICE_TABLE, price_table

    out = finalize_batch(
        config.result_store(),
        batch_id=req.batch_id,
        form_id=req.form_id,
        encoding=req.encoding,
        engine=config.get_settings().ocr_engine,
        prices=price_table(os.environ.get(ENV_PRICE_TABLE)),
    )
    add_metric("DocumentsFinalized", out["documents"])
    logger().info("batch finalized", extra={k: out[k] for k in ("documents", "failed", "encoding")})
    return events.FinalizeResult(**out).out()


def finalize(req: events.FinalizeEvent, context: Any = None) -> dict:
    """Write results.json and results.csv (idempotent on batch, form and encoding)."""
    return _finalize(req.model_dump(mode="json"), context)


@idempotent("batch_id")
def _purge(event: dict) -> dict:
    from yomitori.steps.purge import purge_batch

    req = events.PurgeEvent.model_validate(event)
    out = purge_batch(
        config.result_store(), config.review_store(), batch_id=req.batch_id, triggered_by=req.who,
        archive=config.trail_archive(),
    )
    add_metric("ObjectsPurged", out["objects"])
    add_metric("BytesPurged", out["bytes"], "Bytes")
    logger().info(
        "batch purged", extra={k: out[k] for k in ("objects", "bytes", "table_items", "triggered_by")}
    )
    return events.PurgeResult(**out).out()


def purge(req: events.PurgeEvent, context: Any = None) -> dict:
    """Delete the batch everywhere and write the deletion record (idempotent on the batch:
    a retry returns the first run's record instead of writing a second one)."""
    return _purge(req.model_dump(mode="json"), context)
