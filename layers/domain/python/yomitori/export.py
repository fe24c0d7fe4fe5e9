"""Results as CSV for the core systems (one machine, and the Lambda finalize step).

One row per document: document_id, source, status, error (code), then one column per field of
the form, in form order. UTF-8 with a BOM by default (Excel opens it right); cp932 for older
Japanese systems, where characters cp932 has no code for become 〓 (geta) and are counted, so
the caller can report them without ever printing a value. Lines end in CRLF.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

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
    return "accepted"


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
        writer.writerow([*FIXED_COLUMNS, *names])
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
            if damaged:
                report.replaced_documents.append(doc.document_id)
            writer.writerow(row)
            report.rows += 1
    tmp.replace(path)
    return report
