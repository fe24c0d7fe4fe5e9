"""Review issue 18, part 5: the same person in two windows (browser tabs) never gets the same
document; when nothing else is left, the second window is told so and why."""

from __future__ import annotations

import pytest

from tests.support.people import number_viewer
from tests.unit.test_review_server import stores  # noqa: F401 - the fixture


def test_a_second_window_of_the_same_reviewer_gets_its_own_document(stores):  # noqa: F811
    from yomitori_agent.review import ReviewService
    from yomitori_agent.review.service import OpenInOtherWindow

    results, reviews, releaser, batch = stores
    alice = ReviewService(results, reviews, releaser, principal=number_viewer("os:alice"), batch_id=batch)
    # Given Alice has a document open in window A
    first = alice.open_next(window="A")["document_id"]
    # When she opens the page in window B, Then B gets another document
    second = alice.open_next(window="B")
    assert second is not None and second["document_id"] != first
    # And B cannot open A's document (a clear error, not a silent double)
    with pytest.raises(OpenInOtherWindow):
        alice.open(batch, first, window="B")
    # And a third window is told that the rest is open elsewhere
    assert alice.open_next(window="C") is None
    assert alice.open_elsewhere("C") == 2
    # When A submits or leaves its document, Then another window may take it
    alice.leave(batch, first)
    assert alice.open_next(window="C")["document_id"] == first

