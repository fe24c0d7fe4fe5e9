"""One-machine batches: ``yomitori process DIR --form FORM --out OUT``.

Every file directly in DIR (sorted; hidden files and sub-folders such as ``truth/`` excluded)
ends as ``OUT/<document_id>.json``: a read document, or one whose ``error`` says what is wrong
and what to do. Then routing, ``OUT/results.csv`` and ``OUT/batch.json``. Pages are read in a
pool of worker processes, each holding one engine for its whole life (models load once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from yomitori.batch import SUMMARY_NAME, document_id_for
from yomitori.errors import DocumentError, ExitCode, YomitoriError
from yomitori.export import CsvReport, write_results_csv
from yomitori.forms.schema import FormDefinition, load_form
from yomitori.ocr.engine import DEFAULT_ENGINE, OcrEngine, get_engine
from yomitori.results import DocumentError as ErrorInfo
from yomitori.results import DocumentResult

DEFAULT_WORKERS = 2
WORKERS_ENV = "YOMITORI_WORKERS"
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


class BatchInputError(YomitoriError):
    code = "bad_input"
    exit_code = ExitCode.BAD_INPUT
    action = "Pass a folder that holds the scanned pages (PNG or JPEG files)."


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

    @property
    def pages_per_minute(self) -> float:
        return round(self.documents / self.seconds * 60, 1) if self.seconds > 0 else 0.0

    def describe(self) -> str:
        accepted = self.documents - self.failed - self.needs_review
        lines = [f"{self.documents} documents read in {self.seconds:.1f} s "
                 f"({self.pages_per_minute} pages/minute); {self.failed} failed, "
                 f"{self.needs_review} need a person, {accepted} accepted straight through.",
                 f"results: {self.out_dir}/results.csv and one JSON per document"]
        for code, n in sorted(self.errors.items()):
            lines.append(f"  {code}: {n} document(s) (see their JSON files for what to do)")
        if self.csv and self.csv.replaced_total:
            lines.append(f"  {self.csv.replaced_total} character(s) in "
                         f"{len(self.csv.replaced_documents)} document(s) could not be written in "
                         f"{self.csv.encoding} and were replaced with 〓 "
                         f"(fields: {', '.join(sorted(self.csv.replaced))})")
        return "\n".join(lines)


def list_inputs(in_dir: Path) -> list[Path]:
    """Every regular, non-hidden file directly in ``in_dir``, sorted by name; also every link
    (a dangling or looping one becomes a result that says so, never silence)."""
    if not in_dir.is_dir():
        raise BatchInputError(f"{in_dir} is not a folder.")
    return sorted(p for p in in_dir.iterdir() if not p.name.startswith(".")
                  and (p.is_symlink() or p.is_file()))


def _ascii_stem(stem: str) -> str:
    """A file-name-safe form of ``stem``: Japanese in Hepburn romaji (pykakasi, stable), plus a
    short hash of the original when it was not plain ASCII, so ids stay distinct and readable."""
    if stem.isascii():
        return _UNSAFE.sub("_", stem).strip("_")
    import pykakasi  # only for non-ASCII names (its dictionary loads in ~0.3 s)

    roman = "".join(item["hepburn"] or item["orig"] for item in pykakasi.kakasi().convert(stem))
    tag = hashlib.sha256(stem.encode("utf-8")).hexdigest()[:6]
    return "-".join(x for x in (_UNSAFE.sub("_", roman).strip("_")[:60], tag) if x)


def document_ids(paths: list[Path]) -> list[str]:
    """One unique, file-name-safe id per input (the file name without its suffix)."""
    ids, seen = [], set()
    for p in paths:
        base = _ascii_stem(document_id_for(p.name)) or "document"
        doc_id, k = base, 1
        while doc_id in seen:
            k += 1
            doc_id = f"{base}-{p.suffix.lstrip('.').lower() or k}" if k == 2 else f"{base}-{k}"
        seen.add(doc_id)
        ids.append(doc_id)
    return ids


# -- worker side -----------------------------------------------------------------------
_engine: OcrEngine | None = None
_form: FormDefinition | None = None


def _init_worker(form: FormDefinition, engine: str) -> None:
    global _engine, _form
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    _form, _engine = form, get_engine(engine)


def read_one(path: Path, form: FormDefinition, engine: OcrEngine, *, batch_id: str,
             document_id: str) -> DocumentResult:
    """Extract one file; a bad input becomes a result with ``error`` set instead of raising."""
    from yomitori.extract import extract_document

    try:
        if path.is_symlink() and not path.is_file():  # is_file follows the link
            raise DocumentError(f"{path.name} is a link that leads to no file (dangling, looping, "
                                "or to a folder).",
                                code="unreadable_file",
                                action="Copy the scan itself into the folder, then run again.")
        return extract_document(path, form, engine, batch_id=batch_id, document_id=document_id,
                                source=path.name)
    except DocumentError as e:
        err = ErrorInfo(code=e.code, message=e.message, action=e.action)
    except Exception as e:  # noqa: BLE001 - one broken page must not stop the batch
        err = ErrorInfo(code="internal_error",
                        message=f"Reading this page failed unexpectedly ({type(e).__name__}).",
                        action="Rescan the page; if it fails again, report the document id to the "
                               "maintainers.")
    return DocumentResult(batch_id=batch_id, document_id=document_id, source=path.name, form_id=form.id,
                          error=err)


def _task(path: str, batch_id: str, document_id: str) -> DocumentResult:
    assert _form is not None and _engine is not None
    return read_one(Path(path), _form, _engine, batch_id=batch_id, document_id=document_id)


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


def process_directory(in_dir: Path, *, form_id: str, out_dir: Path, engine: str = DEFAULT_ENGINE,
                      encoding: str = "utf-8-sig", workers: int | None = None) -> BatchReport:
    """Read every file in ``in_dir`` as a ``form_id`` page into ``out_dir`` (one machine).

    Writes ``<document_id>.json`` per input (errors included), ``results.csv`` and
    ``batch.json``. Raises BatchInputError for a missing or empty folder and EngineError when
    the engine is not installed; bad pages never raise (they are results with ``error``)."""
    from yomitori.validation import route_document
    from yomitori.validation.registry import check_form_validators

    in_dir, out_dir = Path(in_dir), Path(out_dir)
    form = load_form(form_id)
    check_form_validators(form)  # a form naming an unknown validator fails before any work
    paths = list_inputs(in_dir)
    if not paths:
        raise BatchInputError(f"{in_dir} holds no files to read.")
    probe = get_engine(engine)
    probe.probe()  # fail before any work when the engine or its model is not installed
    probe.close()
    out_dir.mkdir(parents=True, exist_ok=True)
    batch_id = "local-" + dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    ids = document_ids(paths)
    started = time.perf_counter()
    results: dict[str, DocumentResult] = {}
    progress = _Progress(len(paths))
    n = _workers(workers, len(paths))
    if n == 1:
        _init_worker(form, engine)
        for p, doc_id in zip(paths, ids, strict=True):
            results[doc_id] = _task(str(p), batch_id, doc_id)
            progress.step()
    else:
        with ProcessPoolExecutor(max_workers=n, initializer=_init_worker, initargs=(form, engine)) as pool:
            futures = {pool.submit(_task, str(p), batch_id, d): d for p, d in zip(paths, ids, strict=True)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                progress.step()
    ordered = [results[d] for d in ids]
    for doc in ordered:
        if doc.ok:
            route_document(form, doc)
        (out_dir / f"{doc.document_id}.json").write_text(doc.model_dump_json(indent=2), encoding="utf-8")
    csv_report = write_results_csv(ordered, form, out_dir / "results.csv", encoding=encoding)
    seconds = round(time.perf_counter() - started, 2)
    errors: dict[str, int] = {}
    for doc in ordered:
        if doc.error:
            errors[doc.error.code] = errors.get(doc.error.code, 0) + 1
    report = BatchReport(
        batch_id=batch_id, form_id=form.id, out_dir=out_dir, documents=len(ordered),
        failed=sum(errors.values()), seconds=seconds, engine=engine, errors=errors,
        needs_review=sum(1 for d in ordered if d.ok and d.needs_person), csv=csv_report,
    )
    batch = {"batch_id": batch_id, "form_id": form.id, "scans_dir": str(in_dir.resolve()),
             "documents": report.documents, "failed": report.failed, "seconds": seconds,
             "pages_per_minute": report.pages_per_minute, "engine": engine, "workers": n, "errors": errors,
             "csv_encoding": encoding, "csv_replaced_characters": csv_report.replaced_total}
    text = json.dumps(batch, ensure_ascii=False, indent=2) + "\n"
    (out_dir / SUMMARY_NAME).write_text(text, encoding="utf-8")
    return report
