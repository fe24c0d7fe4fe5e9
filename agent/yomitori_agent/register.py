"""``register`` (contract server): imported results -> the core system.

(a) one CSV per batch and form in the column layout of the form's export mapping (headers,
order, encoding, line ends; CP932 + CRLF by default), written atomically into the RPA robot's
watch folder, once per batch and form: a local ledger, the file still in the watch folder, or
(with a database) the documents already in the database stop a second copy reaching the
robot. Cells a spreadsheet would evaluate get a leading quote (:mod:`yomitori.csvcell`);
the database gets raw values;
(b) optionally, rows in a core-system database through SQLAlchemy (SQLite file or
PostgreSQL URL), idempotent by document id.
Only documents nobody needs to look at any more are registered; the others are rejected with
a reason code. The reconciliation report holds ids, counts and reason codes only.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from yomitori.csvcell import neutralise_cell
from yomitori.errors import UnknownFormError
from yomitori.export import CP932_LOOKALIKES, export_value
from yomitori.forms import load_form
from yomitori.forms.schema import ExportMapping, FormDefinition
from yomitori.results import DocumentResult

from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import BadInputError
from yomitori_agent.fsutil import atomic_write_bytes, check_writable_dir, exclusive_lock
from yomitori_agent.journal import append_record, audit, now_iso, read_records
from yomitori_agent.log import log


def load_documents(batch_dir: Path) -> list[DocumentResult]:
    """The batch's documents: ``results.json`` (finalize's payload), else ``documents/*.json``."""
    results = batch_dir / "results.json"
    if results.is_file():
        data = json.loads(results.read_text(encoding="utf-8"))
        items = data.get("documents", []) if isinstance(data, dict) else data
    else:
        files = sorted((batch_dir / "documents").glob("*.json"))
        items = [json.loads(p.read_text(encoding="utf-8")) for p in files]
    return [DocumentResult.model_validate(i) for i in items]


def _row(doc: DocumentResult, mapping: ExportMapping, encoding: str) -> tuple[list[str] | None, str | None]:
    """The CSV/database row of a document, or (None, reason code)."""
    if doc.error is not None:
        return None, f"document_error:{doc.error.code}"
    if doc.needs_person:
        return None, "needs_review"
    row = []
    for col in mapping.columns:
        value = export_value(doc, col)
        if encoding == "cp932":
            value = value.translate(CP932_LOOKALIKES)
        try:
            value.encode(encoding)
        except UnicodeEncodeError:
            return None, f"not_encodable:{col.field}"  # never guess: a person fixes the value
        row.append(value)
    return row, None


def _csv_bytes(mapping: ExportMapping, rows: list[list[str]], encoding: str) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n" if mapping.newline == "crlf" else "\n",
                        quoting=csv.QUOTE_MINIMAL)
    writer.writerow([c.header for c in mapping.columns])
    writer.writerows([neutralise_cell(c) for c in r] for r in rows)  # the database keeps raw values
    return buf.getvalue().encode(encoding)


def _db_table(form: FormDefinition):
    import sqlalchemy as sa

    meta = sa.MetaData()
    columns = [sa.Column(c.name, sa.Text) for c in form.export.columns if c.field != "document_id"]
    table = sa.Table(f"yomitori_{form.id}", meta, sa.Column("document_id", sa.String(80), primary_key=True),
                     sa.Column("yomitori_batch_id", sa.String(80), nullable=False),
                     sa.Column("yomitori_registered_at", sa.String(40), nullable=False),
                     *columns)
    return meta, table


def _db_existing(url: str, form: FormDefinition, ids: list[str]) -> set[str]:
    """The ids of ``ids`` the core database holds already (an empty set if it has no table)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    _meta, table = _db_table(form)
    try:
        if not ids or not sa.inspect(engine).has_table(table.name):
            return set()
        with engine.connect() as conn:
            return set(conn.execute(sa.select(table.c.document_id).where(table.c.document_id.in_(ids)))
                       .scalars())
    finally:
        engine.dispose()


def _db_register(url: str, form: FormDefinition, batch_id: str,
                 rows: list[tuple[str, list[str]]]) -> tuple[list[str], list[str]]:
    """Insert rows not yet present (by document id); returns (registered ids, duplicate ids).
    Values go in raw (a CSV quotes formula cells; a database column is not evaluated)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    meta, table = _db_table(form)
    try:
        meta.create_all(engine)
        with engine.begin() as conn:
            ids = [d for d, _ in rows]
            existing = set(conn.execute(sa.select(table.c.document_id).where(table.c.document_id.in_(ids)))
                           .scalars()) if ids else set()
            new = []
            at = now_iso()
            for doc_id, values in rows:
                if doc_id in existing:
                    continue
                record = {c.name: v for c, v in zip(form.export.columns, values, strict=True)}
                record.update(document_id=doc_id, yomitori_batch_id=batch_id, yomitori_registered_at=at)
                new.append(record)
                existing.add(doc_id)
            if new:
                conn.execute(table.insert(), new)
    finally:
        engine.dispose()
    registered = [r["document_id"] for r in new]
    return registered, [d for d, _ in rows if d not in set(registered)]


def register(cfg: AgentConfig, inbox: Path, *, batch: str | None = None, csv: bool = True,
             database_url: str | None = None, dry_run: bool = False) -> dict:
    """Register the inbox's batches; returns the reconciliation report (also written next to
    each batch as ``reconciliation.json``)."""
    inbox = Path(inbox)
    batch_dirs = sorted(p for p in inbox.iterdir() if p.is_dir() and not p.name.startswith(".")
                        and (p / "manifest.json").is_file()) if inbox.is_dir() else []
    if batch:
        batch_dirs = [p for p in batch_dirs if p.name == batch]
    if not batch_dirs:
        raise BadInputError(f"no imported batch{' ' + batch if batch else 'es'} in {inbox}.")
    url = database_url or cfg.registration.database_url
    watch = cfg.registration.watch_dir
    if csv and watch is None:
        raise BadInputError("register.watch_dir (the robot's watch folder) is not set.",
                            action="Set register.watch_dir in the configuration, or pass --no-csv.")
    if csv and not dry_run:
        watch.mkdir(parents=True, exist_ok=True)
        check_writable_dir(watch)
    ledger = cfg.state_dir / "registered.jsonl"
    report: dict = {"registered": 0, "duplicates": 0, "rejected": 0, "csv_files": [], "documents": []}
    with exclusive_lock(cfg.state_dir / "locks" / "register.lock"):
        done_csv = {(r["batch_id"], r["form_id"]) for r in read_records(ledger)
                    if r.get("event") == "csv_written"}
        for bdir in batch_dirs:
            _register_batch(cfg, bdir, csv, url, dry_run, watch, ledger, done_csv, report)
    log.info("register batches=%d registered=%d duplicates=%d rejected=%d", len(batch_dirs),
             report["registered"], report["duplicates"], report["rejected"])
    return report


def _register_batch(cfg, bdir: Path, csv_on: bool, url, dry_run, watch, ledger, done_csv, report) -> None:
    batch_id = bdir.name
    docs = load_documents(bdir)
    entries: list[dict] = []
    by_form: dict[str, list[DocumentResult]] = {}
    for d in docs:
        by_form.setdefault(d.form_id or "unknown", []).append(d)
    for form_id, fdocs in sorted(by_form.items()):
        try:
            form = load_form(form_id, cfg.forms_dir)
        except UnknownFormError:
            form = None
        if form is None or form.export is None:
            entries += [_entry(d, "rejected", "no_export_mapping") for d in fdocs]
            continue
        encoding = cfg.registration.export_encoding or form.export.encoding
        rows: list[tuple[str, list[str]]] = []
        for d in fdocs:
            row, reason = _row(d, form.export, encoding)
            if row is None:
                entries.append(_entry(d, "rejected", reason))
            else:
                rows.append((d.document_id, row))
        ok_ids = {d for d, _ in rows}
        outcome = {d: "registered" for d in ok_ids}
        if csv_on and rows:
            target = watch / f"{form_id}_{batch_id}.csv"
            # Delivered before, by the ledger or by the target itself (the ledger may be lost):
            # the file still waits in the robot's folder, or the database holds the documents
            # (register delivers both together).
            in_db = _db_existing(url, form, sorted(ok_ids)) if url else set()
            fresh = [(d, r) for d, r in rows if d not in in_db]
            if (batch_id, form_id) in done_csv or target.exists() or not fresh:
                outcome = {d: "duplicate" for d in ok_ids}
            elif not dry_run:
                atomic_write_bytes(target, _csv_bytes(form.export, [r for _, r in fresh], encoding))
                append_record(ledger, {"event": "csv_written", "batch_id": batch_id, "form_id": form_id,
                                       "rows": len(fresh), "file": target.name})
                outcome |= {d: "duplicate" for d in in_db}
                done_csv.add((batch_id, form_id))
                report["csv_files"].append(str(target))
        if url and rows and not dry_run:
            registered, dupes = _db_register(url, form, batch_id, rows)
            outcome = {d: "registered" for d in registered} | {d: "duplicate" for d in dupes}
        entries += [_entry_id(d, batch_id, form_id, outcome[d], None) for d, _ in rows]
    names = {"registered": "registered", "duplicate": "duplicates", "rejected": "rejected"}
    for e in entries:
        report[names[e["result"]]] += 1
    report["documents"] += entries
    if not dry_run:
        body = {"batch_id": batch_id, "at": now_iso(), "documents": entries,
                "counts": {k: sum(1 for e in entries if e["result"] == k) for k in
                           ("registered", "duplicate", "rejected")}}
        text = json.dumps(body, ensure_ascii=False, indent=2)
        atomic_write_bytes(bdir / "reconciliation.json", text.encode())
        audit(cfg.state_dir, "registered", batch_id=batch_id, **body["counts"])


def _entry(d: DocumentResult, result: str, reason: str | None) -> dict:
    return _entry_id(d.document_id, d.batch_id, d.form_id, result, reason)


def _entry_id(doc_id: str, batch_id: str, form_id: str | None, result: str, reason: str | None) -> dict:
    out = {"document_id": doc_id, "batch_id": batch_id, "form_id": form_id, "result": result}
    if reason:
        out["reason"] = reason
    return out
