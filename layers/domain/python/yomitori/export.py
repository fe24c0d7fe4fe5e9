"""Results as CSV for the core systems (one machine, and the Lambda finalize step).

One row per document: document_id, source, status, error (code), then one column per field of
the form, in form order, then ``follow_up``: the fields a reviewer held (判読不能, 要問合せ ...)
with the reason, e.g. ``電話番号: 要問合せ`` (a document with held fields has status ``held``).
UTF-8 with a BOM by default (Excel opens it right); cp932 for older
Japanese systems, where characters cp932 has no code for become 〓 (geta) and are counted, so
the caller can report them without ever printing a value. Lines end in CRLF. Cells a
spreadsheet would evaluate as a formula get a leading quote (:mod:`yomitori.csvcell`).
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from yomitori.csvcell import neutralise_cell
from yomitori.forms.schema import FormDefinition
from yomitori.results import DocumentResult, FieldStatus

GETA = "〓"
ENCODINGS = ("utf-8-sig", "utf-8", "cp932")
# Look-alikes that Unicode keeps apart but cp932 maps to one code: use cp932's choice
# instead of losing the character.
CP932_LOOKALIKES = str.maketrans({
    "\u301c": "\uff5e",  # 〜 WAVE DASH -> ～
    "\u2212": "\uff0d",  # − MINUS SIGN -> －
    "\u2016": "\u2225",  # ‖ -> ∥
    "\u2014": "\u2015",  # — EM DASH -> ―
    "\u00a2": "\uffe0",
    "\u00a3": "\uffe1",
    "\u00ac": "\uffe2",
})
FIXED_COLUMNS = ("document_id", "source", "status", "error")
FOLLOW_UP = "follow_up"
# the reasons a reviewer gives for holding a field (the review page's F4 choices)
HELD_REASONS = {"illegible": "判読不能", "not_written": "記入なし", "needs_inquiry": "要問合せ"}


@dataclass
class CsvReport:
    """What was written: rows, and per field how many characters had to become 〓."""

    path: Path
    rows: int
    encoding: str
    replaced: Counter = field(default_factory=Counter)  # field name -> characters replaced
    replaced_documents: list[str] = field(default_factory=list)  # ids only

    @property
    def replaced_total(self) -> int:
        return sum(self.replaced.values())


def document_status(doc: DocumentResult) -> str:
    """accepted (nobody needs to look), needs_review, invalid, or error."""
    if doc.error is not None:
        return "error"
    statuses = {f.status for f in doc.fields.values()}
    if FieldStatus.INVALID in statuses:
        return "invalid"
    if FieldStatus.NEEDS_REVIEW in statuses:
        return "needs_review"
    if FieldStatus.ILLEGIBLE in statuses:
        return "held"
    return "accepted"


def follow_up(doc: DocumentResult, form: FormDefinition | None) -> str:
    """The held fields of ``doc`` as one cell: ``label: reason`` joined by ``; `` (form order)."""
    held = doc.held()
    if not held:
        return ""
    labels = {f.name: f.label for f in form.fields} if form else {}
    order = [f.name for f in form.fields] if form else []
    names = sorted(held, key=lambda n: (order.index(n) if n in order else len(order), n))
    return "; ".join(f"{labels.get(n) or n}: {HELD_REASONS.get(held[n], held[n])}" for n in names)


def _encodable(value: str, encoding: str) -> tuple[str, int]:
    """``value`` with every character ``encoding`` cannot write replaced by 〓; and how many."""
    if encoding != "cp932":
        return value, 0
    value = value.translate(CP932_LOOKALIKES)
    try:
        value.encode("cp932")
        return value, 0
    except UnicodeEncodeError:
        pass
    out, bad = [], 0
    for ch in value:
        try:
            ch.encode("cp932")
            out.append(ch)
        except UnicodeEncodeError:
            out.append(GETA)
            bad += 1
    return "".join(out), bad


def write_results_csv(results: Iterable[DocumentResult], form: FormDefinition | None, path: Path,
                      encoding: str = "utf-8-sig") -> CsvReport:
    """Write one CSV row per document to ``path`` (CRLF line ends) and return a report.
    Without a ``form`` (pages no form was recognised on) only the fixed columns are written.

    Runs on one machine and in Lambda. ``encoding`` is ``utf-8-sig`` (default), ``utf-8`` or
    ``cp932``; with cp932 unencodable characters become 〓 and are counted in the report."""
    if encoding not in ENCODINGS:
        raise ValueError(f"unsupported CSV encoding {encoding!r}; use one of {', '.join(ENCODINGS)}")
    path = Path(path)
    report = CsvReport(path=path, rows=0, encoding=encoding)
    names = [f.name for f in form.fields] if form else []
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow([*FIXED_COLUMNS, *names, FOLLOW_UP])
        for doc in results:
            row = [doc.document_id, doc.source, document_status(doc), doc.error.code if doc.error else ""]
            damaged = False
            for name in [None, *names]:
                if name is None:
                    row[1], bad = _encodable(row[1], encoding)  # a file name may hold odd characters
                    key = "source"
                else:
                    fr = doc.fields.get(name)
                    value, bad = _encodable(fr.value if fr else "", encoding)
                    row.append(value)
                    key = name
                if bad:
                    report.replaced[key] += bad
                    damaged = True
            note, bad = _encodable(follow_up(doc, form), encoding)
            row.append(note)
            if bad:
                report.replaced[FOLLOW_UP] += bad
                damaged = True
            if damaged:
                report.replaced_documents.append(doc.document_id)
            writer.writerow([neutralise_cell(c) for c in row])  # the JSON keeps the raw value
            report.rows += 1
    tmp.replace(path)
    return report


def export_value(doc: DocumentResult, column) -> str:
    """The value of one export column (:class:`yomitori.forms.schema.ExportColumn`) for a read
    document: a document attribute, a field's value, or a code looked up from written names."""
    if column.field in ("document_id", "batch_id", "source"):
        return getattr(doc, column.field)
    value = doc.fields[column.field].value if column.field in doc.fields else ""
    if not column.lookup:
        return value
    from yomitori.validation.bank import codes_for_names

    if column.lookup == "bank_code":
        return codes_for_names(value, "")[0]
    bank = doc.fields[column.bank_field].value if column.bank_field in doc.fields else ""
    return codes_for_names(bank, value)[1]
