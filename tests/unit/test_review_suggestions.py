"""Review issue 18, part 1: a suggestion comes only from a source that is itself sure, never
contradicts a field read confidently, and is refused by the server when its source changed.
Real forms, real Japan Post data (the bundled subset), real routing."""

from __future__ import annotations

import datetime as dt

from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.steps.review import SUGGESTION_SOURCE_CHANGED, Correction, apply_corrections
from yomitori.validation import route_document

TODAY = dt.date(2026, 3, 25)


def water_start(confidence: dict[str, float], **values: str) -> DocumentResult:
    doc = DocumentResult(
        batch_id="b", document_id="d", source="d.png", form_id="water_start",
        fields={k: FieldResult(value=v, raw=v, confidence=confidence.get(k, 0.99))
                for k, v in values.items()},
    )
    return route_document(load_form("water_start"), doc, today=TODAY)


def test_a_confidently_read_listed_code_gets_no_code_derived_from_a_misread_address():
    # Given 千代田's postal code read confidently (it exists) and the address misread as 丸の内
    # (which names one other code, 1000005) at low confidence
    doc = water_start({"address": 0.5}, postal_code="1000001", address="東京都千代田区丸の内1-2-3")
    code, address = doc.fields["postal_code"], doc.fields["address"]
    # Then both go to a person, but the code is offered no contradicting value
    assert code.status is FieldStatus.NEEDS_REVIEW and address.status is FieldStatus.NEEDS_REVIEW
    assert code.suggestion is None
    # and the address gets the area the sure code stands for, naming its source
    assert address.suggestion is not None
    assert address.suggestion.value == "東京都千代田区千代田1-2-3"
    assert address.suggestion.sources == ["postal_code"]


def test_an_unsure_code_gets_the_code_a_sure_address_names():
    # Given the code read unsure (1↔5) and the address read confidently
    doc = water_start({"postal_code": 0.5}, postal_code="1000001", address="東京都千代田区丸の内1-2-3")
    # Then the code is offered the address's code, and the sure address no prefix from the unsure code
    assert doc.fields["postal_code"].suggestion.value == "1000005"
    assert doc.fields["postal_code"].suggestion.sources == ["address"]
    assert doc.fields["address"].suggestion is None


def test_two_unsure_fields_offer_no_suggestion_to_each_other():
    doc = water_start({"postal_code": 0.5, "address": 0.5},
                      postal_code="1000001", address="東京都千代田区丸の内1-2-3")
    assert doc.fields["postal_code"].suggestion is None and doc.fields["address"].suggestion is None


def water_stop_with_new_address() -> DocumentResult:
    values = {
        "address": "東京都千代田区千代田1-1", "name": "山田 太郎", "phone": "03-1234-5678",
        "stop_date": "2026-04-01", "settlement": "口座振替", "new_postal_code": "",
        "new_address": "東京都千代田区丸の内1-2-3", "application_date": "2026-03-20",
    }
    doc = DocumentResult(
        batch_id="b", document_id="d", source="d.png", form_id="water_stop",
        fields={k: FieldResult(value=v, raw=v, confidence=1.0) for k, v in values.items()},
    )
    return route_document(load_form("water_stop"), doc, today=TODAY)


def test_the_server_refuses_a_suggestion_whose_source_changed_in_the_same_submission():
    # Given a new postal code suggested from the new address (read confidently)
    doc = water_stop_with_new_address()
    assert doc.fields["new_postal_code"].suggestion.value == "1000005"
    # When the clerk corrects the address and also accepts the code suggested from the old one
    applied = apply_corrections(
        load_form("water_stop"), doc,
        [Correction(field="new_address", value="東京都千代田区千代田1-1"),
         Correction(field="new_postal_code", value="1000005", suggestion=True)],
        today=TODAY,
    )
    # Then the suggestion is refused (nothing of it stored)
    assert applied.refused.get("new_postal_code") == [SUGGESTION_SOURCE_CHANGED]


def test_an_accepted_suggestion_with_its_source_unchanged_is_stored():
    doc = water_stop_with_new_address()
    applied = apply_corrections(
        load_form("water_stop"), doc,
        [Correction(field="new_postal_code", value="1000005", suggestion=True)], today=TODAY,
    )
    assert applied.refused == {}
    assert applied.document.fields["new_postal_code"].status is FieldStatus.CORRECTED
