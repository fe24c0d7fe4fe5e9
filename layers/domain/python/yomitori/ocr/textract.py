"""Amazon Textract as an OCR engine (cloud; runs in the ``ocr`` Lambda).

Reads a whole aligned page (``reads_pages``) with DetectDocumentText (or AnalyzeDocument) and
maps Textract's words (relative geometry, confidence 0..100) into the same :class:`Word`
structure (pixel boxes, confidence 0..1) the Tesseract path produces, so extraction does not
care which engine read the page. Responses are parsed with amazon-textract-textractor.

The region comes from configuration and is checked against the data-residency list here
too, before any image is sent. Throttling is retried with exponential backoff and full
jitter; when the retries run out the page fails with ``ocr_throttled`` (recorded, not lost).
"""

from __future__ import annotations

import io
import os
import random
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from yomitori import settings
from yomitori.errors import EngineError
from yomitori.ocr.engine import FieldHint, OcrEngine, Reading, Word, register_engine

if TYPE_CHECKING:
    from PIL import Image

THROTTLED = "ocr_throttled"
REJECTED = "ocr_rejected"
RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "InternalServerError",
        "ServiceUnavailableException",
        "RequestLimitExceeded",
    }
)


def words_from_response(response: dict, width: int, height: int) -> list[Word]:
    """Textract's WORD blocks as :class:`Word` with pixel boxes in a ``width`` x ``height``
    image and confidences 0..1, in reading order. Parsed with textractor."""
    from textractor.parsers import response_parser

    document = response_parser.parse(response)
    out = []
    for w in document.words:
        bb = w.bbox  # relative to the page: x, y, width, height in 0..1
        box = (
            round(bb.x * width),
            round(bb.y * height),
            round((bb.x + bb.width) * width),
            round((bb.y + bb.height) * height),
        )
        # textractor already scales Textract's 0..100 confidence to 0..1
        out.append(Word(text=w.text, box=box, confidence=max(0.0, min(1.0, float(w.confidence)))))
    return out


class TextractEngine(OcrEngine):
    name = "textract"
    reads_pages = True
    reads_cells = False

    def __init__(
        self,
        region: str = "",
        *,
        allowed_regions: Iterable[str] | None = None,
        feature_types: list[str] | None = None,
        client: Any | None = None,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.region = (
            region or os.environ.get(settings.ENV_OCR_REGION, "") or settings.DEFAULT_ALLOWED_REGIONS[0]
        )
        if allowed_regions is None:
            env = os.environ.get(settings.ENV_ALLOWED_REGIONS, "")
            allowed_regions = [r for r in env.split(",") if r] or settings.DEFAULT_ALLOWED_REGIONS
        override = settings.residency_override_from(os.environ.get(settings.ENV_RESIDENCY_OVERRIDE))
        # before any image is sent; the stack's override (privacy officer's sign-off) is honoured
        settings.check_residency(self.name, self.region, allowed_regions, override=override)
        self.feature_types = feature_types  # None: DetectDocumentText; e.g. ["FORMS"]: AnalyzeDocument
        self._client = client
        self.max_attempts, self.base_delay, self.max_delay = max_attempts, base_delay, max_delay
        self.sleep, self.rng = sleep, rng or random.Random()
        self.attempts = 0  # calls made (tests and metrics)

    @property
    def client(self) -> Any:
        if self._client is None:
            import boto3
            from botocore.config import Config

            # our loop below does the retrying (backoff with jitter, then a recorded failure)
            self._client = boto3.client(
                "textract",
                region_name=self.region,
                config=Config(retries={"mode": "standard", "max_attempts": 1}),
            )
        return self._client

    def _call(self, image_bytes: bytes) -> dict:
        from botocore.exceptions import ClientError

        for attempt in range(1, self.max_attempts + 1):
            self.attempts += 1
            try:
                if self.feature_types:
                    return self.client.analyze_document(
                        Document={"Bytes": image_bytes}, FeatureTypes=self.feature_types
                    )
                return self.client.detect_document_text(Document={"Bytes": image_bytes})
            except ClientError as e:
                code = e.response.get("Error", {}).get("Code", "")
                if code not in RETRYABLE:
                    raise EngineError(
                        f"Textract refused the page ({code}).",
                        code=REJECTED,
                        action="Rescan the page (Textract takes PNG/JPEG up to 10 MB).",
                    ) from None
                if attempt == self.max_attempts:
                    break
                # full jitter: a random wait up to the exponential cap, so retries spread out
                self.sleep(self.rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1))))
        raise EngineError(
            f"Textract kept throttling after {self.max_attempts} attempts.",
            code=THROTTLED,
            action="Run the batch again later, or raise the Textract quota for this account.",
        )

    @staticmethod
    def _png(image: Image.Image) -> bytes:
        buf = io.BytesIO()
        image.save(buf, format="PNG", optimize=True)
        return buf.getvalue()

    def read_page(self, page: Image.Image) -> list[Word]:
        """Every word of the aligned page with its box in ``page``'s pixels."""
        return words_from_response(self._call(self._png(page)), page.width, page.height)

    def read_field(self, crop: Image.Image, hint: FieldHint) -> Reading:
        """One crop through the same call (Textract has no per-field mode); words joined."""
        words = sorted(self.read_page(crop), key=lambda w: (w.box[1] // max(1, crop.height), w.box[0]))
        if not words:
            return Reading("", 0.0)
        text = "".join(w.text for w in words)
        return Reading(text, min(w.confidence for w in words), words)


register_engine("textract", TextractEngine)
