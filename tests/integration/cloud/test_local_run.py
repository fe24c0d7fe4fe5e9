"""The whole cloud path on one machine, over a real moto server: a batch driven through the
real handlers in the state machine's order gives the same values and routing as the
one-machine `process`; review, finalize, download, acknowledgement and purge complete it;
and no personal value read from the forms ever shows up in logs, metrics or the events
passed between steps."""

from __future__ import annotations

import json
import shutil

import pytest
from cloud_helpers import act, truth
from yomitori import settings
from yomitori.cloud_local import invoke, run_batch_dir
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldStatus
from yomitori.steps import config


def review_everything(batch_id: str, document_ids: list[str]) -> None:
    """A reviewer who settles every open field: keeps what was read, or marks it illegible
    when it is invalid (the review page's two simplest answers)."""
    for doc_id in document_ids:
        lease = act({"action": "lease", "batch_id": batch_id, "reviewer": "rev-1", "document_id": doc_id})
        assert lease["lease"]["document_id"] == doc_id
        doc = config.result_store().get_document(batch_id, doc_id)
        corrections = [
            {
                "field": n,
                "action": "illegible" if f.status is FieldStatus.INVALID else "confirm",
                "reason": "unreadable",
            }
            for n, f in doc.fields.items()
            if f.status in (FieldStatus.NEEDS_REVIEW, FieldStatus.INVALID)
        ]
        out = act(
            {
                "action": "submit",
                "batch_id": batch_id,
                "document_id": doc_id,
                "reviewer": "rev-1",
                "corrections": corrections,
            },
        )
        if out.get("ok") is False:  # confirming a value that only a rule doubts may still be refused
            corrections = [{**c, "action": "illegible"} for c in corrections]
            out = act(
                {
                    "action": "submit",
                    "batch_id": batch_id,
                    "document_id": doc_id,
                    "reviewer": "rev-1",
                    "corrections": corrections,
                },
            )
        assert out.get("ok", True), out


def load(out_dir, doc_id) -> DocumentResult:
    return DocumentResult.model_validate_json((out_dir / f"{doc_id}.json").read_text(encoding="utf-8"))


def test_local_cloud_path_matches_process_and_completes(cloud, scans, tmp_path, batch_id):
    # Given a folder of three scans and one file that is not an image
    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    for p in sorted(scans.glob("*.jpg")):
        shutil.copy(p, batch_dir / p.name)
    (batch_dir / "notes.png").write_bytes(b"not a scan")
    from yomitori.pipeline import process_directory

    one_machine = tmp_path / "process-out"
    process_directory(batch_dir, form_id="water_stop", out_dir=one_machine, workers=1)
    # When the same folder goes through the local cloud path (stopping at the review gate)
    out = tmp_path / "cloud-out"
    run = run_batch_dir(batch_dir, form_id="water_stop", out_dir=out, cloud=cloud, batch_id=batch_id)
    # Then every document has the same values, statuses and reasons as `process` gave
    ids = sorted(p.stem for p in batch_dir.iterdir())
    assert run.documents == 4 and run.failed == 1
    for doc_id in ids:
        a, b = load(one_machine, doc_id), load(out, doc_id)
        assert (a.error.code if a.error else None) == (b.error.code if b.error else None), doc_id
        assert {n: (f.value, f.status, f.reasons) for n, f in a.fields.items()} == {
            n: (f.value, f.status, f.reasons) for n, f in b.fields.items()
        }, doc_id

    # When a person reviews what waits, and the batch is resumed
    if run.state == "waiting_for_review":
        review_everything(batch_id, config.review_store().remaining(batch_id))
        from yomitori.cloud_local import resume_batch

        run = resume_batch(batch_id, out_dir=out, cloud=cloud)
    # Then results were downloaded, the download acknowledged, and the batch purged
    assert run.state == "done" and run.deletion["objects"] > 0
    assert (out / "results.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert len(json.loads((out / "results.json").read_text(encoding="utf-8"))["documents"]) == 4
    assert config.result_store().batch_keys(batch_id) == []
    assert not any(load(out, d).needs_person for d in ids)
    assert json.loads((out / "batch.json").read_text())["state"] == "done"


PERSONAL = {
    "water_start": ("name", "address", "account_number", "phone"),
    "furusato_onestop": ("name", "address", "my_number"),
}


@pytest.fixture
def text_always_reviewed(monkeypatch):
    """A deployment that sends every text field to a person (thresholds from the environment)."""
    monkeypatch.setenv(settings.ENV_THRESHOLDS, json.dumps({"text": 1.0}))
    config.reset()
    yield
    monkeypatch.undo()
    config.reset()


@pytest.mark.parametrize("form_id", sorted(PERSONAL))
def test_no_personal_value_reaches_logs_metrics_or_step_events(cloud, tmp_path, capfd, caplog,
                                                               text_always_reviewed, form_id):
    # Given a synthetic form whose personal values we know (the truth file), in a deployment
    # that sends text fields to a person (the reader alone gets these pages right, and the
    # review path must be part of what is searched)
    from yomitori.synth import generate

    scans = tmp_path / "scans"
    [image] = generate(load_form(form_id), count=1, out_dir=scans, seed=23, degrade="light")
    seeded = {k: v for k, v in truth(scans, image.stem).items() if k in PERSONAL[form_id]}
    assert all(len(v) >= 4 for v in seeded.values()), seeded
    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    shutil.copy(image, batch_dir / image.name)
    batch_id = f"pii-{form_id.replace('_', '-')}"

    # When it goes all the way through the local cloud, a reviewer typing the true values in
    read: dict[str, str] = {}

    def reviewer(batch_id: str, document_ids: list[str]) -> None:
        for doc_id in document_ids:
            doc = config.result_store().get_document(batch_id, doc_id)
            read.update({n: f.value for n, f in doc.fields.items() if n in seeded})  # as OCR read them
            act({"action": "lease", "batch_id": batch_id, "reviewer": "rev-1", "document_id": doc_id})
            open_fields = [
                n
                for n, f in doc.fields.items()
                if f.status in (FieldStatus.NEEDS_REVIEW, FieldStatus.INVALID)
            ]
            corrections = [
                {"field": n, "value": seeded[n]}
                if n in seeded
                else {"field": n, "action": "illegible", "reason": "unreadable"}
                for n in open_fields
            ]
            out = act(
                {
                    "action": "submit",
                    "batch_id": batch_id,
                    "document_id": doc_id,
                    "reviewer": "rev-1",
                    "corrections": corrections,
                },
            )
            if out.get("ok") is False:  # a rule may doubt a true value: settle those as illegible
                corrections = [
                    {"field": c["field"], "action": "illegible", "reason": "unreadable"}
                    if c["field"] in out["refused"]
                    else c
                    for c in corrections
                ]
                out = act(
                    {
                        "action": "submit",
                        "batch_id": batch_id,
                        "document_id": doc_id,
                        "reviewer": "rev-1",
                        "corrections": corrections,
                    },
                )
            assert out.get("ok", True), out

    run = run_batch_dir(
        batch_dir,
        form_id=form_id,
        out_dir=tmp_path / "out",
        cloud=cloud,
        batch_id=batch_id,
        reviewer=reviewer,
    )
    captured = capfd.readouterr()
    logs = captured.out + captured.err + caplog.text

    # Then the run worked and was logged (so the check below can see what it must not find)
    assert run.state == "done" and read, "the form needed no review: pick another seed"
    handler_lines = [
        json.loads(line) for line in (captured.out + captured.err).splitlines() if line.startswith('{"level"')
    ]
    assert {(r.get("function_name"), r.get("batch_id")) for r in handler_lines} >= {
        ("yomitori-local-ocr", batch_id),
        ("yomitori-local-review", batch_id),
    }, "handler logs were not captured"
    assert "PagesProcessed" in logs and "FieldsAccepted" in logs
    final = {n: f.value for n, f in load(tmp_path / "out", image.stem).fields.items() if n in seeded}
    assert any(final[n] == seeded[n] for n in seeded)  # true values did go through the system
    between_steps = json.dumps(
        [(name, ev, res) for name, ev, res in run.trace if ev.get("action") not in ("submit", "lease")],
        ensure_ascii=False,
    )
    # (and what the tables keep: idempotency records, audit and deletion records)
    from yomitori import settings

    ddb = cloud.client("dynamodb")
    tables = json.dumps(
        [ddb.scan(TableName=cloud.table(spec))["Items"] for spec in settings.TABLES], ensure_ascii=False
    )
    assert batch_id in tables
    values = {**seeded, **{f"read:{k}": v for k, v in read.items() if len(v) >= 4}}
    for name, value in values.items():
        for form in {value, json.dumps(value)[1:-1]}:  # as written, and JSON-escaped (\uXXXX)
            assert form not in logs, f"{name} appears in the logs or metrics"
            assert form not in between_steps, f"{name} appears in an event between steps"
            assert form not in tables, f"{name} appears in a table"


def test_a_batch_with_form_auto_reads_each_page_as_its_own_form(cloud, scans, tmp_path, batch_id):
    # Given a batch packed with the agent's default form "auto": two water_stop pages, one
    # water_start page, and a page of no known form (a blank sheet with nothing printed)
    from PIL import Image
    from yomitori.synth import generate

    batch_dir = tmp_path / "batch"
    batch_dir.mkdir()
    for p in sorted(scans.glob("*.jpg"))[:2]:
        shutil.copy(p, batch_dir / p.name)
    [start] = generate(load_form("water_start"), count=1, out_dir=tmp_path / "start", seed=2, degrade="none")
    shutil.copy(start, batch_dir / start.name)
    Image.new("L", (2480, 3508), 255).save(batch_dir / "blank.png")
    # When it goes through the local cloud (an engine that reads nothing: only the forms matter)
    run = run_batch_dir(
        batch_dir, form_id="auto", out_dir=tmp_path / "out", cloud=cloud, batch_id=batch_id, engine="fake"
    )
    # Then every page was read as the form it is, and the blank one is a recorded failure
    forms = {d: load(tmp_path / "out", d) for d in sorted(p.stem for p in batch_dir.iterdir())}
    assert {d: (doc.form_id, doc.error.code if doc.error else None) for d, doc in forms.items()} == {
        "blank": ("auto", forms["blank"].error.code),
        start.stem: ("water_start", None),
        **{p.stem: ("water_stop", None) for p in sorted(scans.glob("*.jpg"))[:2]},
    }
    assert forms["blank"].error.code in ("blank_page", "no_registration_marks")
    assert run.documents == 4 and run.failed == 1
    # and finalize writes the CSV with the columns of the batch's main form
    out = invoke("finalize", {"batch_id": batch_id, "form_id": "auto"})
    header = config.result_store().get_bytes(out["results_csv_key"]).decode("utf-8-sig").splitlines()[0]
    assert out["documents"] == 4 and "stop_date" in header.split(",")
