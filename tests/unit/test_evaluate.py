"""Scoring results against truth: hand-made results with known numbers."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from yomitori.evaluate import EvaluationError, evaluate_directory
from yomitori.evaluate.metrics import Metrics, Observation, edit_distance
from yomitori.evaluate.plot import THRESHOLDS, sweep
from yomitori.results import DocumentError, DocumentResult, FieldResult, FieldStatus, Suggestion

TRUTH = {
    "address": "東京都千代田区千代田1-1",  # 13 characters
    "name": "山田 太郎",  # 4 without the space
    "phone": "03-1234-5678",  # 12
    "stop_date": "2026-04-01",  # 10
    "settlement": "口座振替",  # 4
    "new_postal_code": "",
    "new_address": "",
    "application_date": "2026-03-20",  # 10  -> 53 characters per document
}
TRUTH_CHARS = 53


def accepted(value: str, confidence: float = 0.99, **kw) -> FieldResult:
    return FieldResult(value=value, raw=value, confidence=confidence, status=FieldStatus.ACCEPTED, **kw)


def write_truth(scans: Path, doc_id: str) -> None:
    (scans / "truth").mkdir(parents=True, exist_ok=True)
    truth = {"schema_version": 1, "form_id": "water_stop", "document_id": doc_id, "source": f"{doc_id}.png",
             "fields": TRUTH, "seed": 1, "font": "KleeOne-Regular.ttf", "degrade": "light",
             "rotated_180": False}
    (scans / "truth" / f"{doc_id}.json").write_text(json.dumps(truth, ensure_ascii=False), encoding="utf-8")


@pytest.fixture
def batch(tmp_path) -> Path:
    """Three documents: one read (2 wrong fields, 1 of them accepted), one failed, one missing."""
    scans, out = tmp_path / "scans", tmp_path / "out"
    out.mkdir()
    for k in (1, 2, 3):
        write_truth(scans, f"water_stop-000{k}")
    read = DocumentResult(batch_id="b1", document_id="water_stop-0001", source="water_stop-0001.png",
                          form_id="water_stop", fields={
        "address": accepted("東京都千代田区 千代田１－１"),  # width and spaces differ: still right
        "name": accepted("山田 大郎", suggestion=Suggestion(value="山田　太郎", reason="x")),  # silent error
        "phone": FieldResult(value="03-1234-5678", confidence=0.5, status=FieldStatus.NEEDS_REVIEW,
                             reasons=["low_confidence"]),
        "stop_date": accepted("2026-04-01"),
        "settlement": accepted("口座振替"),
        "new_postal_code": accepted(""),
        "new_address": FieldResult(value="1", confidence=0.9, status=FieldStatus.INVALID, reasons=["address"],
                                   suggestion=Suggestion(value="2", reason="y")),
        "application_date": accepted("2026-03-20"),
    })
    failed = DocumentResult(batch_id="b1", document_id="water_stop-0002", source="water_stop-0002.png",
                            error=DocumentError(code="blank_page", message="blank", action="rescan"))
    for doc in (read, failed):
        (out / f"{doc.document_id}.json").write_text(doc.model_dump_json(), encoding="utf-8")
    (out / "batch.json").write_text(json.dumps({
        "batch_id": "b1", "form_id": "water_stop", "scans_dir": str(scans), "documents": 2, "failed": 1,
        "seconds": 6.0, "pages_per_minute": 20.0, "engine": "fake"}), encoding="utf-8")
    return out


def test_known_results_give_the_known_numbers(batch):
    # When the batch is evaluated (truth found through batch.json)
    m = evaluate_directory(batch).to_dict()
    # Then: 24 fields; right: address, phone, stop_date, settlement, new_postal_code, application_date
    assert m["documents"] == 3 and m["fields"] == 24 and m["failed"] == 1 and m["missing"] == 1
    assert m["field_accuracy"] == pytest.approx(6 / 24)
    assert m["straight_through_rate"] == pytest.approx(6 / 24)
    assert m["silent_error_rate"] == pytest.approx(1 / 24)
    # one substitution in the name, one insertion in new_address, and two documents not read at all
    assert m["cer"] == pytest.approx((1 + 1 + 2 * TRUTH_CHARS) / (3 * TRUTH_CHARS))
    assert m["suggestions"] == 2 and m["suggestion_accuracy"] == pytest.approx(0.5)
    assert m["seconds"] == 6.0 and m["pages_per_minute"] == pytest.approx(20.0)
    text = m["by_type"]["text"]
    assert text["fields"] == 9 and text["field_accuracy"] == pytest.approx(1 / 9)
    assert text["silent_error_rate"] == pytest.approx(1 / 9)
    assert m["by_type"]["date"]["field_accuracy"] == pytest.approx(2 / 6)
    assert m["by_type"]["digits"]["straight_through_rate"] == pytest.approx(1 / 6)
    assert m["by_type"]["choice"]["cer"] == pytest.approx(8 / 12)


def test_missing_results_are_named(batch):
    metrics = evaluate_directory(batch)
    assert metrics.missing == ["water_stop-0003"]
    assert "missing results: water_stop-0003" in metrics.table()


def test_metrics_json_has_the_agreed_keys(batch, tmp_path):
    out = tmp_path / "m" / "metrics.json"
    evaluate_directory(batch, metrics_out=out)
    data = json.loads(out.read_text(encoding="utf-8"))
    assert set(data) == {"documents", "fields", "seconds", "pages_per_minute", "field_accuracy", "cer",
                         "straight_through_rate", "silent_error_rate", "by_type", "suggestion_accuracy",
                         "suggestions", "failed", "missing"}
    assert list(data["by_type"]) == ["text", "digits", "date", "choice"]
    for per_type in data["by_type"].values():
        rates = {"field_accuracy", "cer", "straight_through_rate", "silent_error_rate", "fields"}
        assert rates <= set(per_type)


def test_the_table_shows_overall_and_per_type_rows(batch):
    table = evaluate_directory(batch).table()
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert "25.0 %" in rows["all"] and "4.2 %" in rows["all"]
    assert {"text", "digits", "date", "choice"} <= set(rows)


def test_the_plot_is_written(batch, tmp_path):
    evaluate_directory(batch, plot=tmp_path / "plot.png")
    assert (tmp_path / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_truth_folder_can_be_given_and_is_required_without_batch_json(batch, tmp_path):
    (batch / "batch.json").unlink()
    with pytest.raises(EvaluationError, match="truth folder is unknown"):
        evaluate_directory(batch)
    metrics = evaluate_directory(batch, truth_dir=tmp_path / "scans" / "truth")
    assert metrics.documents == 3 and metrics.seconds is None and metrics.pages_per_minute is None
    with pytest.raises(EvaluationError, match="No truth files"):
        evaluate_directory(batch, truth_dir=tmp_path / "nowhere")


def test_a_broken_result_file_is_a_clear_error(batch):
    (batch / "water_stop-0003.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EvaluationError, match="water_stop-0003.json: cannot read"):
        evaluate_directory(batch)


def test_the_injection_report_goes_into_the_metrics_per_form(batch, tmp_path, monkeypatch):
    # Given an injection module (stand-in with the agreed signature)
    calls = []

    def injection_report(form, truth_fields_list):
        calls.append((form.id, truth_fields_list))
        return {"injected": 10, "caught": 7}

    module = types.ModuleType("yomitori.validation.inject")
    module.injection_report = injection_report
    monkeypatch.setitem(sys.modules, "yomitori.validation.inject", module)
    # When the batch is evaluated with injected errors
    evaluate_directory(batch, inject_errors=True, metrics_out=tmp_path / "m.json")
    # Then it got every truth document of the form and its report is in the metrics
    assert [(form_id, len(fields)) for form_id, fields in calls] == [("water_stop", 3)]
    assert calls[0][1][0] == TRUTH
    data = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))
    assert data["injected_errors"] == {"water_stop": {"injected": 10, "caught": 7}}


def test_edit_distance():
    assert edit_distance("", "abc") == 3
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("山田太郎", "山田大郎") == 1


def test_threshold_sweep():
    # Given a right field at 0.9, a wrong one at 0.5, and one that failed a validator
    obs = [Observation("text", 0.9, True, True), Observation("text", 0.5, True, False),
           Observation("text", 0.95, False, False)]
    accuracy, stp = sweep(obs)
    at = {t: k for k, t in enumerate(np.round(THRESHOLDS, 2))}
    assert stp[at[0.0]] == pytest.approx(2 / 3) and accuracy[at[0.0]] == pytest.approx(0.5)
    assert stp[at[0.6]] == pytest.approx(1 / 3) and accuracy[at[0.6]] == pytest.approx(1.0)
    assert stp[at[1.0]] == 0 and np.isnan(accuracy[at[1.0]])


def test_metrics_of_two_evaluations_combine(batch):
    one = evaluate_directory(batch)
    both = Metrics.combine([one, one])
    assert both.documents == 6 and both.overall.fields == 48 and both.overall.silent_errors == 2
    assert both.to_dict()["field_accuracy"] == pytest.approx(0.25)
    assert both.pages_per_minute == pytest.approx(20.0)
