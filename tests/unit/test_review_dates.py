"""Review issue 18, part 3: dates as written. A clerk types a date the way the form shows it
(令和8年9月8日, R8.9.8, 8/9/8 with the era chosen, or 西暦) and the domain stores ISO; the page
gets the 和暦 as written beside the ISO value."""

from __future__ import annotations

import datetime as dt

import pytest
from yomitori.forms import load_form
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.steps.review import Correction, apply_corrections
from yomitori.validation import route_document
from yomitori.validation.dates import as_written, read_typed_date

TODAY = dt.date(2026, 8, 25)


def doc_with_unsure_start_date() -> DocumentResult:
    fields = {
        "start_date": FieldResult(value="2026-09-03", raw="令和8年9月3日", confidence=0.4),
        "application_date": FieldResult(value="2026-08-20", raw="令和8年8月20日", confidence=0.99),
    }
    doc = DocumentResult(batch_id="b", document_id="d", source="d.png", form_id="water_start", fields=fields)
    return route_document(load_form("water_start"), doc, today=TODAY)


@pytest.mark.parametrize(
    ("typed", "era"),
    [("令和8年9月8日", None), ("R8.9.8", None), ("8/9/8", "令和"), ("8.9.8", "R"), ("8年9月8日", "令和"),
     ("2026年9月8日", None), ("2026/9/8", "西暦"), ("2026-09-08", None)],
)
def test_a_date_typed_as_the_clerk_reads_it_is_stored_as_iso(typed, era):
    # Given a start date read unsure
    doc = doc_with_unsure_start_date()
    assert doc.fields["start_date"].status is FieldStatus.NEEDS_REVIEW
    # When the clerk types the day as written (with the era chosen on the page where needed)
    applied = apply_corrections(load_form("water_start"), doc,
                                [Correction(field="start_date", value=typed, era=era)], today=TODAY)
    # Then it is stored as ISO and corrected
    assert applied.refused == {}
    assert applied.document.fields["start_date"].value == "2026-09-08"
    assert applied.document.fields["start_date"].status is FieldStatus.CORRECTED


@pytest.mark.parametrize(("typed", "era"), [("8/9/8", None), ("8/9/8", "西暦"), ("平成40年9月8日", None)])
def test_a_date_that_is_not_one_day_is_refused_not_stored_as_typed(typed, era):
    doc = doc_with_unsure_start_date()
    applied = apply_corrections(load_form("water_start"), doc,
                                [Correction(field="start_date", value=typed, era=era)], today=TODAY)
    assert "start_date" in applied.refused


def test_the_page_gets_the_date_as_written_with_its_era():
    assert as_written("2026-09-08", "令和8年9月8日") == ("令和8年9月8日", "令和")
    assert as_written("2026-09-08", "2026年9月8日") == ("令和8年9月8日", "西暦")
    assert as_written("2019-05-01", "") == ("令和元年5月1日", "令和")
    assert as_written("", "") == ("", "")
    heisei = read_typed_date("1/5/1", "H")
    assert heisei is not None and heisei.date == dt.date(1989, 5, 1)
