"""Zoom at the scan's full resolution (issue 18 part 8) and the header's name (part 11), over
the real one-machine stores."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from tests.support.review_service import review_service
from tests.unit.test_review_server import MN_BOX, SCAN_SIZE, _login, _request, server, stores  # noqa: F401


def _service(stores):  # noqa: F811
    results, reviews, releaser, batch = stores
    return review_service(results, reviews, releaser, "os:alice", batch), batch


def test_a_region_comes_at_the_scans_full_resolution_with_my_numbers_painted_over(stores):  # noqa: F811
    # Given a document open for review (a white 300 dpi scan)
    svc, batch = _service(stores)
    svc.open(batch, "doc-0001")
    around = (MN_BOX[0] - 40, MN_BOX[1] - 40, MN_BOX[2] + 40, MN_BOX[3] + 40)
    # When the page asks for the part around the My Number
    img = Image.open(io.BytesIO(svc.region(batch, "doc-0001", around)))
    # Then it is that part at the scan's own pixels (not the 1200 px display copy), the number
    # painted over until it is revealed
    assert img.size == (around[2] - around[0], around[3] - around[1])
    inside = (MN_BOX[0] - around[0] + 10, MN_BOX[1] - around[1] + 10)
    assert img.convert("L").getpixel(inside) < 200
    assert img.convert("L").getpixel((5, 5)) > 240
    # When the clerk reveals it, Then the region shows it; and when the page masked it again
    # (named in hide), it is painted over again
    svc.reveal(batch, "doc-0001", "my_number")
    assert Image.open(io.BytesIO(svc.region(batch, "doc-0001", around))).convert("L").getpixel(inside) > 240
    again = Image.open(io.BytesIO(svc.region(batch, "doc-0001", around, frozenset({"my_number"}))))
    assert again.convert("L").getpixel(inside) < 200


def test_a_region_of_a_document_not_open_or_outside_the_scan_is_refused(stores):  # noqa: F811
    from yomitori_agent.review.service import NotLeased, ReviewError

    svc, batch = _service(stores)
    with pytest.raises(NotLeased):
        svc.region(batch, "doc-0001", (0, 0, 100, 100))
    svc.open(batch, "doc-0001")
    with pytest.raises(ReviewError) as e:
        svc.region(batch, "doc-0001", (SCAN_SIZE[0] + 10, 0, SCAN_SIZE[0] + 100, 100))
    assert e.value.code == "bad_region"
    with pytest.raises(ReviewError):
        svc.region(batch, "doc-0001", (0, 0, SCAN_SIZE[0], SCAN_SIZE[1]))  # the whole page is not a zoom


def test_the_region_route_needs_the_session_and_whole_numbers(server):  # noqa: F811
    from tests.unit.test_review_server import _post

    status, _, _ = _request(server, "GET", "/api/region?b=x&d=y&x0=0&y0=0&x1=10&y1=10")
    assert status == 403
    cookie = _login(server)
    doc = _post(server, cookie, "/api/next", {})
    d = __import__("json").loads(doc[2])["document"]
    q = f"/api/region?b={d['batch_id']}&d={d['document_id']}"
    status, headers, body = _request(server, "GET", q + "&x0=500&y0=1600&x1=1500&y1=1800", cookie=cookie)
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert Image.open(io.BytesIO(body)).size == (1000, 200)
    status, _, body = _request(server, "GET", q + "&x0=a&y0=0&x1=1&y1=1", cookie=cookie)
    assert status == 400 and b"bad_region" in body


@pytest.mark.parametrize(("reviewer", "shown"), [
    ("os:root", "root"),
    ("aws:arn:aws:sts::123456789012:assumed-role/YomitoriReviewer/hanako.sato", "hanako.sato"),
    ("aws:arn:aws:iam::123456789012:user/ops/taro", "taro"),
    ("山田 花子", "山田 花子"),
])
def test_the_header_shows_a_persons_name_not_an_arn(stores, reviewer, shown):  # noqa: F811
    results, reviews, releaser, batch = stores
    q = review_service(results, reviews, releaser, reviewer, batch).queue()
    assert q["name"] == shown
    assert q["reviewer"] == reviewer  # the audit id is unchanged
