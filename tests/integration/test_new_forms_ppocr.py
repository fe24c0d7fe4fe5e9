"""The salary report and the childcare application end to end with the default engine:
synth -> process -> eval. A mixed folder of both is sorted with ``--form auto`` and scored."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from yomitori.evaluate import evaluate_directory
from yomitori.forms import load_form
from yomitori.pipeline import process_directory
from yomitori.synth import generate

pytestmark = pytest.mark.slow
FORMS = ("salary_report", "childcare_application")


def test_the_new_forms_are_read_by_ppocr_and_sorted_by_auto(tmp_path):
    # Given three light-degraded documents of each new form, in one folder with their truth
    scans = tmp_path / "scans"
    (scans / "truth").mkdir(parents=True)
    for k, form_id in enumerate(FORMS):
        made = generate(load_form(form_id), count=3, out_dir=tmp_path / form_id, seed=40 + k,
                        degrade="light", today=dt.date(2026, 1, 20))
        for path in made:
            shutil.copy(path, scans / path.name)
            shutil.copy(path.parent / "truth" / f"{path.stem}.json", scans / "truth" / f"{path.stem}.json")
    # When the folder is processed with --form auto and the default engine, and scored
    report = process_directory(scans, form_id="auto", out_dir=tmp_path / "out", workers=2)
    metrics = evaluate_directory(tmp_path / "out").to_dict()
    # Then every page was sorted to its form and read; most fields come out right, few silently wrong
    assert report.failed == 0 and report.forms == {"salary_report": 3, "childcare_application": 3}
    assert metrics["documents"] == 6 and metrics["failed"] == 0
    assert metrics["field_accuracy"] >= 0.85
    assert metrics["silent_error_rate"] <= 0.03
    assert (tmp_path / "out" / "results-salary_report.csv").is_file()
