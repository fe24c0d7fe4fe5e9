"""A real audit trail made by the review steps (two documents: refused, corrected, confirmed,
illegible, a My Number reveal, completions, the gate's release, a login), the personal
values seeded into those documents, and every single-record tampering of a stored trail:
each field of each record changed, each record removed, each adjacent pair swapped."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator

from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult
from yomitori.steps.review import Correction, ReviewRefused, open_review_gate, reveal_my_number, submit_review
from yomitori.store import AuditAction, AuditRecord
from yomitori.validation import route_document

SEEDED = {
    "address": "東京都千代田区千代田1-1",
    "name": "=HYPERLINK(\"http://x\")山田 太郎",
    "phone": "03-1234-5678",
    "stop_date": "2026-04-01",
    "settlement": "口座振替",
    "new_postal_code": "",
    "new_address": "",
    "application_date": "2026-03-20",
}
TYPED_PHONE = "03-9876-5432"
T0 = dt.datetime(2026, 3, 25, 9, 0, tzinfo=dt.UTC)


def personal_values() -> list[str]:
    """Every personal value the trail's documents and corrections held (long enough to search)."""
    return [v for v in (*SEEDED.values(), TYPED_PHONE, "山田", "千代田1-1", "1234-5678") if len(v) >= 4]


def _doc(batch_id: str, doc_id: str) -> DocumentResult:
    doc = DocumentResult(
        batch_id=batch_id, document_id=doc_id, source=f"{doc_id}.png", form_id="water_stop",
        fields={k: FieldResult(value=v, raw=v, confidence=0.3 if k in ("phone", "address") else 1.0)
                for k, v in SEEDED.items()},
    )
    return route_document(load_form("water_stop"), doc, today=T0.date())


def make_trail(results, reviews, releaser, batch_id: str) -> None:
    """Review two documents through the real steps; every action lands in ``reviews``."""
    for d in ("d1", "d2"):
        results.put_document(_doc(batch_id, d))
    open_review_gate(results, reviews, releaser, batch_id=batch_id, task_token="tok", now=T0)
    reviews.audit(AuditRecord(at=T0, reviewer="alice", role="reviewer", batch_id=batch_id,
                              document_id="-", action=AuditAction.LOGIN))
    for i, (who, d) in enumerate((("alice", "d1"), ("bob", "d2"))):
        now = T0 + dt.timedelta(minutes=10 * (i + 1))
        assert reviews.lease(batch_id, who, document_id=d, now=now)
        fields = route_document(load_form("water_stop"), results.get_document(batch_id, d)).fields
        unsure = sorted(k for k, f in fields.items() if f.status.value in ("needs_review", "invalid"))
        with contextlib.suppress(ReviewRefused):  # an invalid phone first: refused, audited with codes
            submit_review(results, reviews, releaser, batch_id=batch_id, document_id=d, reviewer=who,
                          corrections=[Correction(field="phone", value="12")], now=now)
        reveal_my_number(reviews, batch_id=batch_id, document_id=d, field_name="phone", reviewer=who, now=now)
        fixes = []
        for k in unsure:
            if k == "phone":
                fixes.append(Correction(field=k, value=TYPED_PHONE))
            elif k == "address" and d == "d2":
                fixes.append(Correction(field=k, action="illegible", reason="smudged"))
            else:
                fixes.append(Correction(field=k, action="confirm"))
        submit_review(results, reviews, releaser, batch_id=batch_id, document_id=d, reviewer=who,
                      corrections=fixes, now=now + dt.timedelta(seconds=30))


def _changed(name: str, value):
    """A different, still valid value for field ``name`` (the tamperer keeps the record readable)."""
    if name == "at":
        return (dt.datetime.fromisoformat(value) + dt.timedelta(seconds=1)).isoformat()
    if name == "seq":
        return value + 1
    if name == "action":
        return "confirm" if value != "confirm" else "correct"
    if name == "reasons":
        return [*value, "edited"]
    if name in ("prev", "hash"):
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    return (value or "") + "x"


FIELDS = tuple(AuditRecord.model_fields)


def tamperings(records: list[dict]) -> Iterator[tuple[str, int, list[dict | None]]]:
    """``(label, seq where it must show, the stored records after one tampering)``; a list of
    the same length, with None where a record was removed."""
    for i, r in enumerate(records):
        for name in FIELDS:
            t = [dict(x) for x in records]
            t[i][name] = _changed(name, r.get(name))
            yield f"change {name} of seq {r['seq']}", r["seq"], t
    for i, r in enumerate(records):
        t = [dict(x) for x in records]
        t[i] = None
        yield f"remove seq {r['seq']}", r["seq"], t
    for i in range(len(records) - 1):
        t = [dict(x) for x in records]
        t[i], t[i + 1] = t[i + 1], t[i]
        yield f"swap seq {records[i]['seq']} and {records[i + 1]['seq']}", records[i]["seq"], t


def searchable(records: list[AuditRecord]) -> str:
    """The audit records as text to search for seeded personal values: everything but the time
    and the chain's SHA-256 digests (``prev``, ``hash``), whose hex can hold a short run of
    digits by chance (a seeded '20009' turned up in one) and cannot carry a value."""
    return " ".join(r.model_dump_json(exclude={"at", "prev", "hash"}) for r in records)
