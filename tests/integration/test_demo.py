"""``yomitori demo``: synth → process → eval, with the fake engine and with real Tesseract."""

from __future__ import annotations

import json

import pytest
from yomitori.cli import main
from yomitori.demo import run_demo
from yomitori.evaluate import evaluate_directory

METRIC_KEYS = {"documents", "fields", "seconds", "pages_per_minute", "field_accuracy", "cer",
               "straight_through_rate", "silent_error_rate", "by_type"}


def test_demo_with_the_fake_engine_lays_out_scans_results_and_metrics(tmp_path, capsys):
    # Given a demo run over one form with the fake engine (it reads nothing)
    out = tmp_path / "demo"
    code = run_demo(count=2, out=out, metrics_out=tmp_path / "m.json", forms=["water_stop"], engine="fake")
    # Then scans with truth, results and metrics sit where the demo says
    assert code == 0
    scans, results = out / "water_stop" / "scans", out / "water_stop" / "results"
    assert sorted(p.stem for p in (scans / "truth").glob("*.json")) == ["water_stop-0001", "water_stop-0002"]
    assert (results / "batch.json").is_file() and (results / "results.csv").is_file()
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert set(data) >= METRIC_KEYS and data["documents"] == 2 and data["fields"] == 16
    assert data["forms"]["water_stop"]["documents"] == 2
    # and the numbers are those of scoring the results folder on its own
    again = evaluate_directory(results).to_dict()
    assert again["field_accuracy"] == data["field_accuracy"] and again["cer"] == data["cer"]
    assert data["field_accuracy"] < 0.8  # a fake engine that reads nothing cannot score well
    assert (out / "thresholds.png").is_file()
    printed = capsys.readouterr().out
    assert "== water_stop (fake) ==" in printed and "== all forms (water_stop) (fake) ==" in printed


def test_a_rerun_with_fewer_documents_does_not_score_old_scans(tmp_path):
    out = tmp_path / "demo"
    run_demo(count=2, out=out, forms=["water_stop"], engine="fake", metrics_out=tmp_path / "a.json")
    run_demo(count=1, out=out, forms=["water_stop"], engine="fake", metrics_out=tmp_path / "b.json")
    assert json.loads((tmp_path / "b.json").read_text())["documents"] == 1
    assert len(list((out / "water_stop" / "scans").glob("*.*"))) == 1


@pytest.mark.slow
def test_demo_reads_two_forms_with_the_default_engine_and_tesseract_side_by_side(tmp_path, capsys):
    # Given two forms, two heavily degraded synthetic documents each, read by the default engine
    # (ppocr) and, on the same scans in the same run, by the real Tesseract engine
    metrics = tmp_path / "metrics.json"
    code = main(["demo", "--count", "2", "--out", str(tmp_path / "demo"), "--metrics-out", str(metrics),
                 "--form", "water_start", "--form", "water_stop", "--degrade", "heavy",
                 "--compare", "tesseract"])
    # Then every document is read and most fields come out right
    assert code == 0
    data = json.loads(metrics.read_text(encoding="utf-8"))
    assert data["documents"] == 4 and data["missing"] == 0 and data["failed"] == 0
    assert set(data["forms"]) == {"water_start", "water_stop"}
    assert data["field_accuracy"] > 0.5
    assert data["pages_per_minute"] > 0
    assert data["engine"] == "ppocr" and data["degrade"] == "heavy"
    assert data["compare"]["tesseract"]["documents"] == 4
    assert (tmp_path / "demo" / "water_stop" / "results-tesseract" / "results.csv").is_file()
    printed = capsys.readouterr().out
    assert "== all forms (water_start, water_stop) (ppocr) ==" in printed
    assert "== all forms (water_start, water_stop) (tesseract) ==" in printed
    # and a side-by-side line per engine, with the speed ratio against the default engine
    side = printed[printed.index("speed ÷ ppocr"):].splitlines()
    assert side[1].split()[0] == "ppocr" and side[1].split()[-1] == "1.00"
    assert side[2].split()[0] == "tesseract"
