"""The status rules: one stage per batch from the evidence of buckets, journal and table."""

from __future__ import annotations

import pytest
from yomitori_agent.status import Evidence, derive

B = "city-20260101-000000-abcdef"


@pytest.mark.parametrize(
    ("intake", "results", "journal", "counts", "stage"),
    [
        ([], [], set(), None, "unknown"),
        ([f"{B}/pages/a.png"], [], {"started"}, None, "uploading"),
        ([f"{B}/pages/a.png", f"{B}/manifest.json"], [], set(), None, "uploaded"),
        ([f"{B}/manifest.json"], [f"{B}/documents/a.json"], set(), {"needs_review": 0}, "processing"),
        ([f"{B}/manifest.json"], [f"{B}/documents/a.json"], set(), {"needs_review": 2}, "waiting_for_review"),
        ([f"{B}/manifest.json"], [f"{B}/documents/a.json", f"{B}/results.json"], set(), None, "ready"),
        ([], [f"{B}/results.json", f"{B}/ack.json"], set(), None, "downloaded"),
        ([], [], {"manifest_uploaded", "page_uploaded"}, None, "purged"),
        ([], [], {"started", "page_uploaded"}, None, "uploading"),
    ],
)
def test_derive(intake, results, journal, counts, stage):
    # Given the evidence of one batch
    ev = Evidence(B, intake_keys=intake, results_keys=results, journal_events=journal, review_counts=counts)
    # When its status is derived
    # Then the stage is the furthest the evidence proves
    assert derive(ev)["stage"] == stage


def test_the_table_item_is_reported_next_to_the_derived_stage():
    ev = Evidence(B, table_item={"status": "REVIEW", "documents": 4, "needs_review_count": 1})
    out = derive(ev)
    assert out["table_status"] == "REVIEW" and out["needs_review_count"] == 1 and out["documents"] == 4
