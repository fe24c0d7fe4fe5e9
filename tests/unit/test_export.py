"""results.csv: UTF-8 with BOM by default, cp932 with 〓 for what it cannot encode, CRLF."""

from __future__ import annotations

import csv
import io

from yomitori.export import document_status, write_results_csv
from yomitori.forms import load_form
from yomitori.results import DocumentError, DocumentResult, FieldResult, FieldStatus


def _docs():
    ok = DocumentResult(batch_id="b1", document_id="d1", source="d1.png", form_id="water_stop", fields={
        "address": FieldResult(value="東京都𠮷野町1-2", status=FieldStatus.ACCEPTED),
        "name": FieldResult(value="髙橋 〜", status=FieldStatus.NEEDS_REVIEW),
    })
    bad = DocumentResult(batch_id="b1", document_id="d2", source="d2.png", form_id="water_stop",
                         error=DocumentError(code="corrupt_image", message="m", action="a"))
    return [ok, bad]


def test_utf8_bom_crlf_and_columns(tmp_path):
    # Given two results, one failed
    form = load_form("water_stop")
    path = tmp_path / "results.csv"
    # When written with the default encoding
    report = write_results_csv(_docs(), form, path)
    data = path.read_bytes()
    # Then the file starts with a BOM, lines end in CRLF, and the columns are fixed then form order
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == 3 and data.count(b"\n") == 3
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    names = [f.name for f in form.fields]
    assert rows[0] == ["document_id", "source", "status", "error", *names, "follow_up"]
    assert rows[1][:4] == ["d1", "d1.png", "needs_review", ""] and rows[1][4] == "東京都𠮷野町1-2"
    assert rows[2][:4] == ["d2", "d2.png", "error", "corrupt_image"]
    assert report.rows == 2 and report.replaced_total == 0


def test_cp932_replaces_what_it_cannot_encode(tmp_path):
    form = load_form("water_stop")
    path = tmp_path / "results.csv"
    # When written as cp932
    report = write_results_csv(_docs(), form, path, encoding="cp932")
    text = path.read_bytes().decode("cp932")
    # Then 𠮷 (outside cp932) became 〓 and was counted; 髙 (an IBM extension) and 〜 survive
    assert "東京都〓野町1-2" in text
    assert "髙橋 ～" in text
    assert report.replaced == {"address": 1} and report.replaced_documents == ["d1"]
    assert "\r\n" in text


def test_document_status():
    ok, bad = _docs()
    assert document_status(bad) == "error" and document_status(ok) == "needs_review"
    ok.fields["name"].status = FieldStatus.ACCEPTED
    assert document_status(ok) == "accepted"
