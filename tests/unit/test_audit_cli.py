"""`yomitori audit show|verify|export` on a one-machine output folder (the real SQLite trail
of a review made by the real steps): a readable table, exports that verify, CSV cells safe
from spreadsheet formulas, verify's exit code and the seq it names, typed errors only."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

import pytest
from support.audit_trail import make_trail, personal_values
from yomitori.audit.sources import REVIEW_DB, REVIEW_DIR, seal_folder
from yomitori.cli import main
from yomitori.store import AuditAction, AuditRecord, LocalGateReleaser, LocalResultStore, SqliteReviewStore

BATCH = "b-cli-1"


@pytest.fixture
def out(tmp_path):
    """An output folder after a finished one-machine review (the session sealed the trail)."""
    o = tmp_path / "out"
    (o / REVIEW_DIR).mkdir(parents=True)
    (o / "batch.json").write_text(json.dumps({"batch_id": BATCH}), encoding="utf-8")
    reviews = SqliteReviewStore(o / REVIEW_DIR / REVIEW_DB)
    make_trail(LocalResultStore(o / REVIEW_DIR / "store"), reviews, LocalGateReleaser(lambda *_: None), BATCH)
    last = reviews.audit_trail(BATCH)[-1].at
    reviews.audit(AuditRecord(at=last, reviewer="=HYPERLINK(\"x\")", batch_id=BATCH, document_id="-",
                              action=AuditAction.LOGIN, reasons=["bad_passphrase"]))
    seal_folder(o, reviews, BATCH)
    return o


def _rows(o):
    db = sqlite3.connect(o / REVIEW_DIR / REVIEW_DB)
    return db, db.execute("SELECT seq, record FROM audit ORDER BY seq").fetchall()


def test_show_prints_a_readable_table_with_japanese_action_names(out, capsys):
    assert main(["audit", "show", "--out", str(out), "--who", "bob"]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert "action / 操作" in lines[0]
    assert all("bob" in line for line in lines[1:]) and len(lines) > 3
    assert "修正 " in text or "correct 修正" in text
    assert [v for v in personal_values() if v in text] == []


def test_verify_passes_an_intact_trail_and_names_the_seq_of_a_change(out, capsys):
    assert main(["audit", "verify", "--out", str(out)]) == 0
    assert "intact" in capsys.readouterr().out
    # When someone edits record 3 of the SQLite file
    db, rows = _rows(out)
    rec = json.loads(rows[2][1])
    rec["reviewer"] = "mallory"
    db.execute("UPDATE audit SET record = ? WHERE seq = ?", (json.dumps(rec), rows[2][0]))
    db.commit()
    db.close()
    # Then verify exits 1 and says where and how, with what to do, and no traceback
    assert main(["audit", "verify", "--out", str(out)]) == 1
    cap = capsys.readouterr()
    assert f"{BATCH}: BROKEN at seq 3: changed / 改変" in cap.out
    assert "what to do:" in cap.err and "Traceback" not in cap.err


def test_a_removed_last_record_is_caught_by_the_head_sealed_into_batch_json(out, capsys):
    db, rows = _rows(out)
    db.execute("DELETE FROM audit WHERE seq = ?", (rows[-1][0],))
    db.commit()
    db.close()
    (out / REVIEW_DIR / "trail" / f"{BATCH}.jsonl").unlink()  # even without the copy
    assert main(["audit", "verify", "--out", str(out)]) == 1
    assert f"BROKEN at seq {len(rows)}: removed" in capsys.readouterr().out


def test_a_mangled_record_is_a_break_not_a_traceback(out, capsys):
    db, rows = _rows(out)
    db.execute("DROP INDEX audit_chain")  # (it reads each record's seq: the tamperer drops it first)
    db.execute("UPDATE audit SET record = '{not json' WHERE seq = ?", (rows[4][0],))
    db.commit()
    db.close()
    assert main(["audit", "verify", "--out", str(out)]) == 1
    assert "BROKEN at seq 5: changed" in capsys.readouterr().out
    assert main(["audit", "show", "--out", str(out)]) == 1
    assert "what to do:" in capsys.readouterr().err


def test_exports_verify_against_the_store_and_csv_cells_are_safe(out, tmp_path, capsys):
    jsonl = tmp_path / "trail.jsonl"
    assert main(["audit", "export", "--out", str(out), "--output", str(jsonl)]) == 0
    assert main(["audit", "verify", "--out", str(out), "--anchor", str(jsonl)]) == 0
    assert "matches 3 anchor(s)" in capsys.readouterr().out  # batch.json, the sealed copy, the export
    assert main(["audit", "export", "--out", str(out), "--format", "csv", "--since", "2026-03-25T09:15"]) == 0
    text = capsys.readouterr().out
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and all(r["at"] >= "2026-03-25T09:15" for r in rows)
    assert {r["reviewer"] for r in rows} >= {"bob", "'=HYPERLINK(\"x\")"}
    assert [v for v in personal_values() if v in text] == []


def test_every_action_has_a_japanese_name():
    from yomitori.audit.report import ACTION_JA

    assert [a for a in AuditAction if not ACTION_JA.get(a)] == []


def test_a_folder_without_a_trail_is_a_typed_error(tmp_path, capsys):
    assert main(["audit", "show", "--out", str(tmp_path)]) == 4
    err = capsys.readouterr().err
    assert "holds no review trail" in err and "what to do:" in err



def test_a_wrong_date_is_a_usage_error(out, capsys):
    assert main(["audit", "show", "--out", str(out), "--since", "yesterday"]) == 2
    assert "is not a date" in capsys.readouterr().err
