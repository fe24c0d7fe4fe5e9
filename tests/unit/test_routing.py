"""Routing: accepted only when confidence clears the threshold AND every validator passes."""

from __future__ import annotations

from yomitori.forms.schema import FormDefinition
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.validation import DEFAULT_THRESHOLDS, route_document

FORM = FormDefinition.model_validate({
    "id": "t", "title": "t", "fields": [
        {"name": "code", "label": "c", "type": "digits", "box": {"x": 10, "y": 10, "w": 30, "h": 10},
         "required": True, "validators": [{"name": "digits", "args": {"length": 3}}]},
        {"name": "memo", "label": "m", "type": "text", "box": {"x": 10, "y": 30, "w": 30, "h": 10}},
    ]})


def _route(code: str, conf: float, memo_conf: float = 0.99) -> DocumentResult:
    doc = DocumentResult(batch_id="b", document_id="d", source="d.png", fields={
        "code": FieldResult(value=code, confidence=conf),
        "memo": FieldResult(value="x", confidence=memo_conf)})
    return route_document(FORM, doc)


def test_accepted_only_when_sure_and_valid():
    t = DEFAULT_THRESHOLDS["digits"]
    assert _route("123", t + 0.01).fields["code"].status is FieldStatus.ACCEPTED
    low = _route("123", t - 0.01).fields["code"]
    assert low.status is FieldStatus.NEEDS_REVIEW and "low_confidence" in low.reasons
    wrong = _route("1234", 0.99).fields["code"]
    assert wrong.status is not FieldStatus.ACCEPTED and wrong.reasons
    empty = _route("", 0.99).fields["code"]
    assert empty.status is not FieldStatus.ACCEPTED and "required" in empty.reasons


def test_thresholds_are_per_type():
    doc = _route("123", 0.99, memo_conf=DEFAULT_THRESHOLDS["text"] - 0.05)
    assert doc.fields["memo"].status is FieldStatus.NEEDS_REVIEW
    assert doc.fields["code"].status is FieldStatus.ACCEPTED
