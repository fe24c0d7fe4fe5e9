"""A ReviewService for tests, whichever way the service names its person: ``principal=`` (with
logins and roles; a number viewer, who may also review) or the older ``reviewer=``."""

from __future__ import annotations

import inspect


def review_service(results, reviews, releaser, who: str, batch_id: str | None):
    from yomitori_agent.review import ReviewService

    if "principal" in inspect.signature(ReviewService).parameters:
        from tests.support.people import number_viewer

        return ReviewService(results, reviews, releaser, principal=number_viewer(who), batch_id=batch_id)
    return ReviewService(results, reviews, releaser, reviewer=who, batch_id=batch_id)
