"""One-machine batches: ``yomitori process DIR --form FORM --out OUT``.

Every file directly in DIR (sorted; hidden files and sub-folders such as ``truth/`` excluded)
is opened and every page of it ends as ``OUT/<document_id>.json``: a read document, or one
whose ``error`` says what is wrong and what to do (see :mod:`yomitori.extract.intake` for how
multi-page TIFF and PDF files become documents). Then routing, the CSV and ``OUT/batch.json``.
With ``--form auto`` each page is sorted by its form (:mod:`yomitori.extract.classify`) and
the CSV is one per form, ``OUT/results-<form>.csv``, plus ``OUT/results-unrecognised.csv``
for pages no form was found on; with one form it is ``OUT/results.csv``. Pages are read in a
pool of worker processes, each holding one engine for its whole life (models load once).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from yomitori.batch import SUMMARY_NAME, document_id_for
from yomitori.errors import ExitCode, YomitoriError
from yomitori.export import CsvReport, write_results_csv
from yomitori.extract.classify import AUTO
from yomitori.extract.images import open_scan
from yomitori.extract.intake import PageGroup, failed, pages_per_document, plan_documents, read_group
from yomitori.forms.schema import FormDefinition, load_form
from yomitori.ocr.engine import DEFAULT_ENGINE, OcrEngine, get_engine
from yomitori.results import DocumentResult

DEFAULT_WORKERS = 2
WORKERS_ENV = "YOMITORI_WORKERS"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
UNRECOGNISED = "unrecognised"


class BatchInputError(YomitoriError):
    code = "bad_input"
    exit_code = ExitCode.BAD_INPUT
    action = "Pass a folder that holds the scanned pages (PNG, JPEG, TIFF or PDF files)."


@dataclass
class BatchReport:
    """What a batch produced: counts, timing and where the files are (no values)."""

    batch_id: str
    form_id: str
    out_dir: Path
    documents: int
    failed: int
    seconds: float
    engine: str
    errors: dict[str, int] = field(default_factory=dict)  # error code -> documents
    needs_review: int = 0
    csv: CsvReport | None = None
    files: int = 0
    csv_paths: list[Path] = field(default_factory=list)
    forms: dict[str, int] = field(default_factory=dict)  # form id -> documents (auto sorts)

    @property
    def pages_per_minute(self) -> float:
        return round(self.documents / self.seconds * 60, 1) if self.seconds > 0 else 0.0

    def describe(self) -> str:
        accepted = self.documents - self.failed - self.needs_review
        csvs = ", ".join(str(p) for p in self.csv_paths) or f"{self.out_dir}/results.csv"
        lines = [f"{self.documents} documents read from {self.files} file(s) in {self.seconds:.1f} s "
                 f"({self.pages_per_minute} pages/minute); {self.failed} failed, "
                 f"{self.needs_review} need a person, {accepted} accepted straight through.",
                 f"results: {csvs} and one JSON per document"]
        if self.form_id == AUTO:
            lines.append("  sorted: " + (", ".join(f"{f} {n}" for f, n in sorted(self.forms.items()))
                                         or "no page matched a form"))
        for code, n in sorted(self.errors.items()):
            lines.append(f"  {code}: {n} document(s) (see their JSON files for what to do)")
        if self.csv and self.csv.replaced_total:
            lines.append(f"  {self.csv.replaced_total} character(s) in "
                         f"{len(self.csv.replaced_documents)} document(s) could not be written in "
                         f"{self.csv.encoding} and were replaced with 〓 "
                         f"(fields: {', '.join(sorted(self.csv.replaced))})")
        return "\n".join(lines)


def list_inputs(in_dir: Path) -> list[Path]:
    """Every regular, non-hidden file directly in ``in_dir``, sorted by name."""
    if not in_dir.is_dir():
        raise BatchInputError(f"{in_dir} is not a folder.")
    return sorted(p for p in in_dir.iterdir() if not p.name.startswith(".") and p.is_file())


def document_ids(paths: list[Path]) -> list[str]:
    """One unique, file-name-safe id per input (the file name without its suffix)."""
    ids, seen = [], set()
    for p in paths:
        base = _UNSAFE.sub("_", document_id_for(p.name)).strip("_") or "document"
        doc_id, k = base, 1
        while doc_id in seen:
            k += 1
            doc_id = f"{base}-{p.suffix.lstrip('.').lower() or k}" if k == 2 else f"{base}-{k}"
        seen.add(doc_id)
        ids.append(doc_id)
    return ids


# -- worker side -----------------------------------------------------------------------
_engine: OcrEngine | None = None


def _init_worker(engine: str) -> None:
    global _engine
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    _engine = get_engine(engine)


def read_one(path: Path, form: FormDefinition, engine: OcrEngine, *, batch_id: str,
             document_id: str) -> DocumentResult:
    """Extract a one-page file; a bad input becomes a result with ``error`` set instead of
    raising. (Multi-page files: :func:`read_group`.)"""
    from yomitori.extract import extract_document

    try:
        return extract_document(path, form, engine, batch_id=batch_id, document_id=document_id,
                                source=path.name)
    except Exception as e:  # noqa: BLE001 - one broken page must not stop the batch
        return failed(document_id, e, batch_id=batch_id, source=path.name, form_id=form.id)


def read_group_of(path: Path, group: PageGroup, form_id: str, engine: OcrEngine, *,
                  batch_id: str) -> DocumentResult:
    """One document of the file at ``path`` (its pages in ``group``), or its error."""
    try:
        scan = open_scan(path, name=path.name)
        return read_group(scan, group, form_id, engine, batch_id=batch_id, source=path.name)
    except Exception as e:  # noqa: BLE001 - one broken page must not stop the batch
        return failed(group, e, batch_id=batch_id, source=path.name, form_id=form_id)


def _task(path: str, group: PageGroup, form_id: str, batch_id: str) -> DocumentResult:
    assert _engine is not None
    return read_group_of(Path(path), group, form_id, _engine, batch_id=batch_id)


# -- driver ----------------------------------------------------------------------------
class _Progress:
    """A one-line counter on stderr (redrawn on a terminal, every tenth otherwise)."""

    def __init__(self, total: int):
        self.total, self.done, self.tty = total, 0, sys.stderr.isatty()

    def step(self) -> None:
        self.done += 1
        if self.tty:
            print(f"\rread {self.done}/{self.total}", end="" if self.done < self.total else "\n",
                  file=sys.stderr, flush=True)
        elif self.done == self.total or self.done % max(1, self.total // 10) == 0:
            print(f"read {self.done}/{self.total}", file=sys.stderr, flush=True)


def _workers(requested: int | None, jobs: int) -> int:
    n = requested or int(os.environ.get(WORKERS_ENV, DEFAULT_WORKERS))
    return max(1, min(n, jobs))


def plan_batch(paths: list[Path], form_id: str, *,
               batch_id: str) -> tuple[list[tuple[Path, PageGroup]], list[DocumentResult]]:
    """The documents to read (file, page group) and the files that cannot even be opened
    (one error result each). Every page of every file is in exactly one of the two."""
    per_doc = pages_per_document(form_id)
    todo: list[tuple[Path, PageGroup]] = []
    broken: list[DocumentResult] = []
    seen: set[str] = set()
    for p, base in zip(paths, document_ids(paths), strict=True):
        try:
            count = open_scan(p, name=p.name).count
        except Exception as e:  # noqa: BLE001 - the file's problem, reported as its result
            broken.append(failed(base, e, batch_id=batch_id, source=p.name, form_id=form_id))
            seen.add(base)
            continue
        for group in plan_documents(count, base, per_doc):
            doc_id, k = group.document_id, 1
            while doc_id in seen:  # scan.pdf's pages and a scan-p01.png side by side
                k += 1
                doc_id = f"{group.document_id}-{k}"
            seen.add(doc_id)
            todo.append((p, PageGroup(doc_id, group.pages, group.short)))
    return todo, broken


def _write_csvs(ordered: list[DocumentResult], form_id: str, out_dir: Path,
                encoding: str) -> tuple[CsvReport, list[Path]]:
    """results.csv for one form; results-<form>.csv per form (and -unrecognised) for auto."""
    if form_id != AUTO:
        report = write_results_csv(ordered, load_form(form_id), out_dir / "results.csv", encoding=encoding)
        return report, [report.path]
    by_form: dict[str, list[DocumentResult]] = {}
    for doc in ordered:
        by_form.setdefault(doc.form_id or UNRECOGNISED, []).append(doc)
    total = CsvReport(path=out_dir, rows=0, encoding=encoding)
    paths = []
    for fid in sorted(by_form):
        form = None if fid == UNRECOGNISED else load_form(fid)
        r = write_results_csv(by_form[fid], form, out_dir / f"results-{fid}.csv", encoding=encoding)
        total.rows += r.rows
        total.replaced.update(r.replaced)
        total.replaced_documents += r.replaced_documents
        paths.append(r.path)
    return total, paths


def process_directory(in_dir: Path, *, form_id: str, out_dir: Path, engine: str = DEFAULT_ENGINE,
                      encoding: str = "utf-8-sig", workers: int | None = None) -> BatchReport:
    """Read every page of every file in ``in_dir`` as a ``form_id`` page (or sort them with
    ``auto``) into ``out_dir`` (one machine).

    Writes ``<document_id>.json`` per document (errors included), the CSV(s) and
    ``batch.json``. Raises BatchInputError for a missing or empty folder and EngineError when
    the engine is not installed; bad pages never raise (they are results with ``error``)."""
    from yomitori.forms import available_forms
    from yomitori.validation import route_document
    from yomitori.validation.registry import check_form_validators

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    for fid in (available_forms() if form_id == AUTO else [form_id]):
        check_form_validators(load_form(fid))  # a form naming an unknown validator fails before any work
    paths = list_inputs(in_dir)
    if not paths:
        raise BatchInputError(f"{in_dir} holds no files to read.")
    probe = get_engine(engine)
    probe.probe()  # fail before any work when the engine or its model is not installed
    probe.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    batch_id = "local-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    started = time.perf_counter()
    todo, broken = plan_batch(paths, form_id, batch_id=batch_id)
    results: dict[str, DocumentResult] = {d.document_id: d for d in broken}
    progress = _Progress(len(todo) + len(broken))
    for _ in broken:
        progress.step()
    n = _workers(workers, len(todo))
    if n == 1:
        _init_worker(engine)
        for p, group in todo:
            results[group.document_id] = _task(str(p), group, form_id, batch_id)
            progress.step()
    else:
        with ProcessPoolExecutor(max_workers=n, initializer=_init_worker, initargs=(engine,)) as pool:
            futures = {pool.submit(_task, str(p), g, form_id, batch_id): g.document_id for p, g in todo}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                progress.step()
    ordered = [results[d] for d in sorted(results, key=_natural)]
    for doc in ordered:
        if doc.ok and doc.form_id:
            route_document(load_form(doc.form_id), doc)
        (out_dir / f"{doc.document_id}.json").write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    csv_report, csv_paths = _write_csvs(ordered, form_id, out_dir, encoding)
    seconds = round(time.perf_counter() - started, 2)
    errors: dict[str, int] = {}
    for doc in ordered:
        if doc.error:
            errors[doc.error.code] = errors.get(doc.error.code, 0) + 1
    forms_found: dict[str, int] = {}
    for doc in ordered:
        if doc.form_id:
            forms_found[doc.form_id] = forms_found.get(doc.form_id, 0) + 1
    report = BatchReport(
        batch_id=batch_id, form_id=form_id, out_dir=out_dir, documents=len(ordered),
        failed=sum(errors.values()), seconds=seconds, engine=engine, errors=errors,
        needs_review=sum(1 for d in ordered if d.ok and d.needs_person), csv=csv_report,
        files=len(paths), csv_paths=csv_paths, forms=forms_found,
    )
    batch = {"batch_id": batch_id, "form_id": form_id, "scans_dir": str(in_dir.resolve()),
             "files": len(paths), "documents": report.documents, "failed": report.failed,
             "seconds": seconds, "pages_per_minute": report.pages_per_minute, "engine": engine,
             "workers": n, "errors": errors, "forms": forms_found,
             "csv": [p.name for p in csv_paths],
             "csv_encoding": encoding, "csv_replaced_characters": csv_report.replaced_total}
    text = json.dumps(batch, ensure_ascii=False, indent=2) + "\n"
    (out_dir / SUMMARY_NAME).write_text(text, encoding="utf-8")
    return report


def _natural(document_id: str) -> list:
    """scan-p2 before scan-p10 (page numbers are zero-padded, but be safe)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", document_id)]
