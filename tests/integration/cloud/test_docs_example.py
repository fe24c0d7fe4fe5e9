"""The 10-line example of a new moto-backed handler test in docs/engineering.md, kept running."""

from cloud_helpers import event, upload
from yomitori.cloud_local import invoke


def test_ocr_reads_an_uploaded_page(cloud, scans, batch_id):
    # Given a page in the intake bucket
    page = sorted(scans.glob("*.jpg"))[0]
    upload(batch_id, page)
    # When the ocr function gets the state machine's event for it
    out = invoke("ocr", event("ocr", batch_id=batch_id, page=page))
    # Then it returns ids only, and the engine's output is stored
    assert out["error"] is None and out["ocr_key"].startswith(f"{batch_id}/ocr/")
