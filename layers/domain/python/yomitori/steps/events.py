"""The events the state machine (and the agent) send to the handlers: ids, keys and codes
only. Parsed with Powertools' parser; a wrong shape becomes :class:`BadEvent`, whose message
names the fields that are wrong, never what they held. Runs in Lambda and the local runner."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from yomitori.batch import BATCH_ID_PATTERN, MAX_PAGES
from yomitori.errors import YomitoriError
from yomitori.settings import TASK_KIND_REVIEW
from yomitori.steps.review import Correction

DOCUMENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$"
BatchId = Annotated[str, Field(pattern=BATCH_ID_PATTERN)]
DocumentId = Annotated[str, Field(pattern=DOCUMENT_ID_PATTERN)]
FormId = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Who = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9@._-]{0,127}$")]  # a login id, not a name


class BadEvent(YomitoriError):
    code = "bad_event"
    action = "Send the event in the documented shape (docs/cloud.md); this is a deployment or caller bug."

    def __init__(self, model: str, fields: list[str]):
        super().__init__(f"The {model} event is not in the expected shape (fields: {', '.join(fields)}).")
        self.fields = fields


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)  # the state machine may pass more


class OcrEvent(_Event):
    """One page, by its position in the manifest (1-based): the flow never carries names."""

    batch_id: BatchId
    form_id: FormId
    ordinal: int = Field(ge=1, le=MAX_PAGES)


class ValidateEvent(_Event):
    batch_id: BatchId
    document_id: DocumentId


class ReviewWait(_Event):
    action: Literal["wait"]
    batch_id: BatchId
    task_kind: Literal["review", "ack"] = TASK_KIND_REVIEW
    task_token: str = Field(min_length=1, max_length=2048)


class ReviewAckArrived(_Event):
    """The download acknowledgement object landed (EventBridge: S3 Object Created on
    ``<batch_id>/ack.json`` in the results bucket); ``requester`` is S3's authenticated caller.
    The only way a download is acknowledged: the agent writes ack.json (it may not invoke the
    function), so who acknowledged is whom S3 authenticated, never a name in a request."""

    action: Literal["ack_arrived"]
    key: str = Field(pattern=BATCH_ID_PATTERN.rstrip("$") + "/ack\\.json$")
    requester: str = Field(default="s3", max_length=256)

    @property
    def batch_id(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def who(self) -> str:
        import re

        return re.sub(r"[^A-Za-z0-9@._-]", "_", self.requester)[:128] or "s3"


class ReviewQueue(_Event):
    action: Literal["queue"]
    batch_id: BatchId | None = None


class ReviewLease(_Event):
    action: Literal["lease"]
    batch_id: BatchId
    reviewer: Who
    document_id: DocumentId | None = None
    seconds: int = Field(default=900, ge=30, le=3600)


class ReviewSubmit(_Event):
    action: Literal["submit"]
    batch_id: BatchId
    document_id: DocumentId
    reviewer: Who
    corrections: list[Correction]


class ReviewReveal(_Event):
    action: Literal["reveal"]
    batch_id: BatchId
    document_id: DocumentId
    reviewer: Who
    field: str = Field(pattern=r"^[a-z][a-z0-9_]*$")


ReviewAction = Annotated[
    ReviewWait | ReviewAckArrived | ReviewQueue | ReviewLease | ReviewSubmit | ReviewReveal,
    Field(discriminator="action"),
]


class ReviewEvent(BaseModel):
    request: ReviewAction


class FinalizeEvent(_Event):
    batch_id: BatchId
    form_id: FormId
    encoding: Literal["utf-8-sig", "cp932"] = "utf-8-sig"


class PurgeEvent(_Event):
    batch_id: BatchId
    reason: Literal["acknowledged", "failed", "manual"] = "acknowledged"  # why the flow purges
    triggered_by: Who | None = None  # a login id for a manual purge; default: the state machine

    @property
    def who(self) -> str:
        return self.triggered_by or f"state-machine:{self.reason}"


# --- results: what the handlers return (to the state machine's history, kept 90 days) ----------
class _Result(BaseModel):
    """Closed models: a result can only carry the ids, keys and counts declared here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def out(self) -> dict:
        return self.model_dump(mode="json")


class OcrResult(_Result):
    batch_id: BatchId
    document_id: DocumentId
    form_id: str
    ocr_key: str
    error: str | None  # a reason code
    engine: str
    ocr_ms: int


class ValidateResult(_Result):
    batch_id: BatchId
    document_id: DocumentId
    form_id: str | None
    error: str | None
    accepted: int
    needs_review: int
    invalid: int
    corrected: int
    needs_person: bool
    document_key: str
    documents: int = 1  # documents of the page object (a multi-page TIFF/PDF has several)


class FinalizeResult(_Result):
    batch_id: BatchId
    results_json_key: str
    results_csv_key: str
    documents: int
    failed: int
    held_fields: int = 0  # fields a reviewer held (判読不能, 要問合せ ...): to follow up
    held_documents: int = 0
    encoding: str
    replaced_characters: int


class PurgeResult(_Result):
    batch_id: BatchId
    objects: int
    bytes: int
    table_items: int
    at: str
    triggered_by: str
    remaining: int
    audit_seq: int | None = None  # the audit trail's head when purged (yomitori.audit.chain)
    audit_hash: str | None = None
    audit_archived: str | None = None  # the trail's copy in the Object-Lock trail bucket


def parse(event: Any, model: type[BaseModel]) -> Any:
    """``event`` as ``model`` (Powertools parser), or :class:`BadEvent` naming bad fields."""
    from aws_lambda_powertools.utilities.parser import parse as pt_parse
    from pydantic import ValidationError

    if model is ReviewEvent:  # a union: wrap so the discriminator picks the model
        event = {"request": event}
    try:
        parsed = pt_parse(event=event, model=model)
    except ValidationError as e:
        fields = sorted(
            {".".join(str(p) for p in err["loc"]) or "(event)" for err in e.errors(include_input=False)}
        )
        raise BadEvent(model.__name__, fields) from None
    except Exception:  # not even a JSON object
        raise BadEvent(model.__name__, ["(event)"]) from None
    return parsed.request if model is ReviewEvent else parsed
