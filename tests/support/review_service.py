"""A ReviewService for tests: the person ``who`` as a number viewer (who may also review)."""

from __future__ import annotations


def review_service(results, reviews, releaser, who: str, batch_id: str | None):
    from yomitori_agent.review import ReviewService

    from tests.support.people import number_viewer

    return ReviewService(results, reviews, releaser, principal=number_viewer(who), batch_id=batch_id)
