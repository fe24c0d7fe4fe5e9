"""An estimate of what one batch cost in AWS (USD), written by finalize into results.json.

An estimate, not a bill: the usage per page and per batch is the flow's shape (one ocr and one
validate invocation per page, a Distributed Map child per page, the objects each page writes
and reads) with typical durations, priced with a table that is configuration
(``YOMITORI_PRICE_TABLE``, JSON; cdk.json ``price_table``). The defaults are ap-northeast-1
on-demand list prices at the time of writing; check them against the AWS price list for your
region and put yours in the configuration. Pure Python; no AWS call.
"""

from __future__ import annotations

import json

from pydantic import BaseModel, ConfigDict, Field

from yomitori.errors import ExitCode, YomitoriError

ENV_PRICE_TABLE = "YOMITORI_PRICE_TABLE"


class PriceTableError(YomitoriError):
    code = "bad_price_table"
    exit_code = ExitCode.USAGE
    action = 'Give a JSON object of yomitori.cost.PriceTable entries, e.g. \'{"textract_page": 0.0015}\'.'


class PriceTable(BaseModel):
    """Unit prices (USD) and the usage assumptions they are applied to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lambda_gb_second: float = Field(default=0.0000166667, ge=0)
    lambda_request: float = Field(default=0.20 / 1_000_000, ge=0)
    state_transition: float = Field(default=0.025 / 1000, ge=0)  # Standard workflows
    s3_put: float = Field(default=0.0047 / 1000, ge=0)  # PUT, COPY, POST, LIST
    s3_get: float = Field(default=0.00037 / 1000, ge=0)  # GET, HEAD and others
    kms_request: float = Field(default=0.03 / 10_000, ge=0)
    textract_page: float = Field(default=0.0015, ge=0)  # DetectDocumentText, first million pages
    # usage assumptions: (memory MB, seconds) per page for ocr and validate, per batch for the rest
    ocr_memory_mb: int = Field(default=1536, gt=0)
    ocr_seconds_per_page: float = Field(default=3.0, ge=0)
    validate_memory_mb: int = Field(default=1024, gt=0)
    validate_seconds_per_page: float = Field(default=0.5, ge=0)
    batch_function_gb_seconds: float = Field(default=4.0, ge=0)  # finalize, review waits, purge
    transitions_per_page: int = Field(default=8, ge=0)
    transitions_per_batch: int = Field(default=30, ge=0)
    s3_puts_per_page: int = Field(default=4, ge=0)  # page upload, ocr, document, its deletion
    s3_gets_per_page: int = Field(default=6, ge=0)  # manifest + page (ocr), ocr (validate), documents
    kms_requests_per_page: float = Field(default=0.2, ge=0)  # S3 bucket keys: few KMS calls per object


def price_table(raw: str | None) -> PriceTable:
    """The configured table (a JSON object of overrides) or the defaults."""
    return PriceTable.model_validate(json.loads(raw)) if raw else PriceTable()


def estimate(pages: int, *, engine: str, prices: PriceTable | None = None) -> dict:
    """Line items (usage and USD) and the total for a batch of ``pages`` read by ``engine``."""
    p = prices or PriceTable()
    gb_seconds = pages * (
        p.ocr_memory_mb / 1024 * p.ocr_seconds_per_page
        + p.validate_memory_mb / 1024 * p.validate_seconds_per_page
    ) + p.batch_function_gb_seconds
    invocations = 2 * pages + 4  # ocr and validate per page; finalize, two waits, purge
    transitions = p.transitions_per_page * pages + p.transitions_per_batch
    puts, gets = p.s3_puts_per_page * pages + 3, p.s3_gets_per_page * pages + 2
    kms = p.kms_requests_per_page * pages
    engine_calls = pages if engine == "textract" else 0
    items = {
        "lambda_gb_seconds": (gb_seconds, gb_seconds * p.lambda_gb_second),
        "lambda_requests": (invocations, invocations * p.lambda_request),
        "state_transitions": (transitions, transitions * p.state_transition),
        "s3_put_requests": (puts, puts * p.s3_put),
        "s3_get_requests": (gets, gets * p.s3_get),
        "kms_requests": (kms, kms * p.kms_request),
        "engine_calls": (engine_calls, engine_calls * p.textract_page),
    }
    total = sum(usd for _, usd in items.values())
    return {
        "currency": "USD",
        "pages": pages,
        "engine": engine,
        "items": {k: {"usage": round(u, 3), "usd": round(usd, 6)} for k, (u, usd) in items.items()},
        "total_usd": round(total, 6),
        "per_page_usd": round(total / pages, 6) if pages else 0.0,
        "basis": "estimate from the configured price table (YOMITORI_PRICE_TABLE), not a bill",
    }
