"""`yomitori process` end to end through the command line (real Tesseract, 2 workers)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from yomitori.forms import load_form
from yomitori.synth import generate

pytestmark = pytest.mark.slow


def test_process_writes_results_csv_and_batch_json_and_exit_code(tmp_path):
    # Given two filled pages, their truth folder, and one file that is not an image
    scans = tmp_path / "scans"
    generate(load_form("water_start"), count=2, out_dir=scans, seed=3, degrade="light",
             today=dt.date(2025, 6, 1))
    (scans / "notes.txt").write_text("not a scan", encoding="utf-8")
    out = tmp_path / "out"
    # When processed with cp932 output
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    cmd = [sys.executable, "-m", "yomitori.cli", "process", str(scans), "--form", "water_start",
           "--out", str(out), "--encoding", "cp932"]
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    # Then the exit code says some documents failed, progress went to stderr, a summary to stdout
    assert run.returncode == 1, run.stderr
    assert "read 3/3" in run.stderr
    assert "3 documents read" in run.stdout
    batch = json.loads((out / "batch.json").read_text("utf-8"))
    assert batch["documents"] == 3 and batch["failed"] == 1 and batch["form_id"] == "water_start"
    assert batch["scans_dir"] == str(scans.resolve()) and batch["pages_per_minute"] > 0
    # and results.csv is cp932 with CRLF, one row per input in file order, truth/ not an input
    raw = (out / "results.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\r\n") == 4
    rows = [line.split(",") for line in raw.decode("cp932").splitlines()]
    assert [r[0] for r in rows[1:]] == ["notes", "water_start-0001", "water_start-0002"]
    assert rows[1][2:4] == ["error", "not_an_image"]
    assert rows[2][2] in ("accepted", "needs_review", "invalid")


def test_missing_folder_is_a_usage_error(tmp_path):
    cmd = [sys.executable, "-m", "yomitori.cli", "process", str(tmp_path / "nope"), "--form", "water_start",
           "--out", str(tmp_path / "o")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert run.returncode == 4
    assert "is not a folder" in run.stderr and "Traceback" not in run.stderr
