"""Drive a folder of scans through the real handlers in the state machine's order, over the
local cloud: upload (pages, then the manifest) -> Map over pages (ocr, validate) -> review
gate -> finalize -> download + acknowledgement -> purge. One machine only.

OUT gets what ``yomitori process`` writes (``<document_id>.json``, ``results.csv``,
``batch.json``), so ``yomitori eval OUT`` scores either path the same way.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yomitori import settings
from yomitori.batch import SUMMARY_NAME, BatchManifest, PageEntry, ack_key, sha256_file
from yomitori.cloud_local.server import (
    FLOW,
    LocalCloud,
    LocalCloudError,
    batch_id_for,
    current,
    invoke,
    provision,
    start_server,
)
from yomitori.ocr.engine import DEFAULT_ENGINE

Reviewer = Callable[[str, list[str]], None]  # (batch_id, document ids waiting) -> None


@dataclass
class BatchRun:
    """What a local cloud run did (ids and counts only)."""

    batch_id: str
    form_id: str
    out_dir: Path
    state: str  # "done" or "waiting_for_review"
    documents: int = 0
    failed: int = 0
    needs_review: int = 0
    seconds: float = 0.0
    deletion: dict | None = None
    trace: list = field(default_factory=list)  # (function, event, result) of every invocation

    def describe(self) -> str:
        head = (
            f"batch {self.batch_id}: {self.documents} documents through the local cloud in "
            f"{self.seconds:.1f} s; {self.failed} failed, {self.needs_review} need a person."
        )
        if self.state == "waiting_for_review":
            return (
                f"{head}\nThe batch waits at the review gate; pre-review results are in {self.out_dir}.\n"
                "Review it in the local cloud:\n"
                '  eval "$(yomitori local up | grep ^export)"\n'
                f"  yomitori-agent review {self.batch_id}\n"
                f"then: yomitori local resume {self.batch_id} --out {self.out_dir}"
            )
        return (
            f"{head}\nresults: {self.out_dir}/results.csv; purged {self.deletion['objects']} objects "
            f"({self.deletion['bytes']} bytes), nothing left in the buckets."
        )


def _manifest(in_dir: Path, batch_id: str, form_id: str) -> tuple[BatchManifest, dict[str, Path]]:
    from yomitori.pipeline import list_inputs

    paths = list_inputs(Path(in_dir))
    if not paths:
        raise LocalCloudError(f"{in_dir} holds no files to read.", action="Pass a folder of scanned pages.")
    pages = [PageEntry(name=p.name, size=p.stat().st_size, sha256=sha256_file(p)) for p in paths]
    manifest = BatchManifest(
        batch_id=batch_id, client_id="local", created_at=dt.datetime.now(dt.UTC), form_id=form_id, pages=pages
    )
    return manifest, {p.name: p for p in paths}


def _download_documents(batch_id: str, out_dir: Path) -> list:
    from yomitori.steps import config

    store = config.result_store()
    docs = [store.get_document(batch_id, d) for d in store.list_documents(batch_id)]
    out_dir.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        # named by the scan, as `yomitori process` names them: OUT sits next to the scans, and
        # `yomitori eval` finds each result by its truth file's name
        name = Path(doc.source).stem if doc.source else doc.document_id
        (out_dir / f"{name}.json").write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    return docs


def _write_batch_json(run: BatchRun, scans_dir: Path | None, engine: str, encoding: str) -> None:
    info = {
        "batch_id": run.batch_id,
        "form_id": run.form_id,
        "documents": run.documents,
        "failed": run.failed,
        "seconds": run.seconds,
        "engine": engine,
        "path": "cloud-local",
        "state": run.state,
        "pages_per_minute": round(run.documents / run.seconds * 60, 1) if run.seconds else 0.0,
        "csv_encoding": encoding,
        "deletion": run.deletion,
    }
    old = run.out_dir / SUMMARY_NAME
    if scans_dir is None and old.exists():
        scans_dir = Path(json.loads(old.read_text(encoding="utf-8")).get("scans_dir", ""))
    info["scans_dir"] = str(Path(scans_dir).resolve()) if scans_dir else ""
    old.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def run_batch_dir(
    in_dir: Path,
    *,
    form_id: str,
    out_dir: Path,
    engine: str = DEFAULT_ENGINE,
    encoding: str = "utf-8-sig",
    cloud: LocalCloud | None = None,
    reviewer: Reviewer | None = None,
    batch_id: str | None = None,
) -> BatchRun:
    """Run the batch in ``in_dir`` through the local cloud. ``cloud``: a provisioned local
    cloud (default: the one ``yomitori local up`` started, else a private one for this run,
    stopped afterwards). At the gate: continue when nothing needs a person; else call
    ``reviewer`` and continue, or (no reviewer) write pre-review results and stop."""
    own = None
    if cloud is None:
        cloud = current()
        if cloud is None:
            own = cloud = start_server()
        provision(cloud)
    try:
        run = _run(Path(in_dir), form_id, Path(out_dir), engine, encoding, cloud, reviewer, batch_id)
        if own is not None and run.state == "waiting_for_review":
            print(
                f"batch {run.batch_id}: {run.needs_review} documents wait at the review gate; pre-review "
                f"results "
                f"are in {run.out_dir}. This run's private local cloud stops now; to review in the local "
                "cloud, start it with `yomitori local up` and use `yomitori local run`.",
                file=sys.stderr,
            )
        return run
    finally:
        if own is not None and own.pid:
            from yomitori.cloud_local.server import stop_process

            stop_process(own.pid)  # its memory (the unfinished batch) goes with it


def _run(in_dir, form_id, out_dir, engine, encoding, cloud, reviewer, batch_id) -> BatchRun:
    from yomitori.steps import config

    cloud.activate(engine)
    started = time.perf_counter()
    batch_id = batch_id or batch_id_for(in_dir)
    run = BatchRun(batch_id=batch_id, form_id=form_id, out_dir=out_dir, state="running")
    manifest, files = _manifest(in_dir, batch_id, form_id)
    store = config.result_store()
    for page in manifest.pages:  # what `yomitori-agent upload` does: pages first, manifest last
        store.put_page(batch_id, page.name, files[page.name].read_bytes())
    store.put_manifest(manifest)
    for ordinal in range(1, len(manifest.pages) + 1):  # the Map; each item as its item selector
        item = {"batch_id": batch_id, "form_id": form_id, "ordinal": ordinal}
        out = item
        for step in (s for s in FLOW if s.per_page):
            out = invoke(step.function, out, run.trace)
    gate = invoke(
        "review",
        {
            "action": "wait",
            "batch_id": batch_id,
            "task_kind": settings.TASK_KIND_REVIEW,
            "task_token": secrets.token_urlsafe(48),
        },
        run.trace,
    )
    docs = _download_documents(batch_id, out_dir)
    run.documents, run.failed = len(docs), sum(1 for d in docs if not d.ok)
    run.needs_review = gate["needs_review"]
    if not gate["released"]:
        if reviewer is None:
            run.state, run.seconds = "waiting_for_review", round(time.perf_counter() - started, 2)
            _write_pre_review_csv(docs, form_id, out_dir, encoding)
            _write_batch_json(run, in_dir, engine, encoding)
            return run
        reviewer(batch_id, config.review_store().remaining(batch_id))
    _write_batch_json(run, in_dir, engine, encoding)
    done = resume_batch(
        batch_id, out_dir=out_dir, cloud=cloud, encoding=encoding, engine=engine, _trace=run.trace
    )
    done.needs_review, done.seconds = run.needs_review, round(time.perf_counter() - started, 2)
    _write_batch_json(done, in_dir, engine, encoding)
    return done


def _write_pre_review_csv(docs, form_id: str, out_dir: Path, encoding: str) -> None:
    from yomitori.export import write_results_csv
    from yomitori.forms import load_form
    from yomitori.steps.finalize import csv_form_id

    write_results_csv(docs, load_form(csv_form_id(docs, form_id)), out_dir / "results.csv", encoding=encoding)


def resume_batch(
    batch_id: str,
    *,
    out_dir: Path,
    cloud: LocalCloud | None = None,
    encoding: str = "utf-8-sig",
    engine: str = DEFAULT_ENGINE,
    _trace: list | None = None,
) -> BatchRun:
    """Continue a batch past its review gate: finalize, download the results into
    ``out_dir``, acknowledge, purge. Raises :class:`LocalCloudError` while documents still
    wait for review."""
    from yomitori.steps import config

    cloud = cloud or current()
    if cloud is None:
        raise LocalCloudError("No local cloud is running, so there is no batch to resume.")
    cloud.activate(engine)
    trace = _trace if _trace is not None else []
    reviews, store = config.review_store(), config.result_store()
    gate = reviews.get_gate(batch_id)
    if gate is None or gate.released_at is None:
        left = len(gate.pending) if gate else "?"
        raise LocalCloudError(
            f"Batch '{batch_id}' still waits at the review gate ({left} documents left).",
            action="Finish the review first, then resume.",
        )
    form_id = store.get_manifest(batch_id).form_id
    done = BatchRun(batch_id=batch_id, form_id=form_id, out_dir=Path(out_dir), state="running", trace=trace)
    final = invoke("finalize", {"batch_id": batch_id, "form_id": form_id, "encoding": encoding}, trace)
    if final.get("ok") is False:
        raise LocalCloudError(f"Finalize refused the batch ({final['error']}).")
    invoke(
        "review",
        {
            "action": "wait",
            "batch_id": batch_id,
            "task_kind": settings.TASK_KIND_ACK,
            "task_token": secrets.token_urlsafe(48),
        },
        trace,
    )
    # the download (what `yomitori-agent download` does), then its acknowledgement, the one way
    # there is: ack.json lands in the results bucket, and its arrival reaches the review function
    # (what the stack's EventBridge rule delivers)
    docs = _download_documents(batch_id, done.out_dir)
    (done.out_dir / "results.csv").write_bytes(store.get_bytes(final["results_csv_key"]))
    (done.out_dir / "results.json").write_bytes(store.get_bytes(final["results_json_key"]))
    store.put_json(ack_key(batch_id), {"batch_id": batch_id, "client_id": "local-runner"})
    ack = invoke(
        "review",
        {"action": "ack_arrived", "key": ack_key(batch_id), "requester": "local-runner"},
        trace,
    )
    if not ack.get("completed"):
        raise LocalCloudError(f"The download of batch '{batch_id}' could not be acknowledged.")
    done.deletion = invoke("purge", {"batch_id": batch_id, "triggered_by": "local-runner"}, trace)
    if done.deletion.get("ok") is False:
        raise LocalCloudError(
            f"Purge failed ({done.deletion['error']}).", action="Run `yomitori local resume` again."
        )
    done.state, done.documents, done.failed = "done", len(docs), sum(1 for d in docs if not d.ok)
    _write_batch_json(done, None, engine, encoding)
    print(f"batch {batch_id}: finalized, downloaded, acknowledged and purged", file=sys.stderr)
    return done
