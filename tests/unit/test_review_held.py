"""Review issue 18, part 2: fields a reviewer held (F4: 判読不能, 要問合せ) keep their status and
reason in each document's JSON, in results.csv (status ``held`` and a ``follow_up`` column), in
the batch summary (batch.json), and are listed for the done screen. One machine, real stores."""

from __future__ import annotations

import csv
import io
import json

from yomitori_agent.review import local_backend
from yomitori_agent.review.service import ReviewService

from tests.support.people import number_viewer
from tests.unit.test_review_cli import _batch_folder


def test_held_fields_are_kept_everywhere_a_clerk_looks(tmp_path):
    # Given the output of `yomitori process` with two documents needing a person
    out = _batch_folder(tmp_path)
    backend = local_backend(out, principal=number_viewer("clerk"))
    svc = ReviewService(backend.results, backend.reviews, backend.releaser, principal=backend.principal,
                        batch_id=backend.batch_id)
    # When the clerk holds the phone of the first as 要問合せ and settles the second normally
    outcomes = []
    for i in range(2):
        doc = svc.open_next()
        phone = ({"field": "phone", "action": "illegible", "reason": "needs_inquiry"} if i == 0
                 else {"field": "phone", "action": "confirm"})
        outcomes.append(svc.submit(doc["batch_id"], doc["document_id"],
                                   [{"field": "my_number", "action": "confirm"}, phone]))
        if i == 0:
            held_doc = doc["document_id"]
    assert outcomes[-1]["released"] is True
    # Then the document's JSON keeps the status and the reason
    phone = json.loads((out / f"{held_doc}.json").read_text(encoding="utf-8"))["fields"]["phone"]
    assert (phone["status"], phone["reasons"]) == ("illegible", ["needs_inquiry"])
    # and results.csv says the document is held and what to follow up (not "accepted", empty)
    text = (out / "results.csv").read_text("utf-8-sig")
    rows = {r["document_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows[held_doc]["status"] == "held"
    assert rows[held_doc]["follow_up"] == "電話番号: 要問合せ"
    other = next(d for d in rows if d != held_doc)
    assert rows[other]["status"] == "accepted" and rows[other]["follow_up"] == ""
    # and the batch summary lists it (field name and reason code, no value)
    summary = json.loads((out / "batch.json").read_text(encoding="utf-8"))
    assert summary["held"] == {held_doc: {"phone": "needs_inquiry"}} and summary["held_fields"] == 1
    # and the done screen gets the list (with the last submission, and on request)
    listed = [(h["document_id"], h["label"], h["text"]) for h in outcomes[-1]["held"]]
    assert listed == [(held_doc, "電話番号", "要問合せ（保留）")]
    assert [h["field"] for h in svc.held()["held"]] == ["phone"]
