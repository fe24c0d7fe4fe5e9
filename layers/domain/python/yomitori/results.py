"""The document result contract (see DESIGN.md, "Core data contracts").

Personal values live only in these objects (stored in S3 or the local store). Anything that
leaves for logs, metrics or Step Functions payloads goes through :meth:`DocumentResult.summary`,
which carries ids, counts and reason codes only.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RESULT_SCHEMA_VERSION = 1


# Reasons the reader itself gives (the page shows a mess a person must look at); routing keeps
# them next to the validators' findings.
CORRECTION_MARK = "correction_mark"  # 訂正あり: a value struck through and rewritten
SCANNER_STREAK = "scanner_streak"  # スキャナの筋: a scanner streak crossed the field and was removed
# an existing form whose scan fits its registered blank only fairly: every field is checked
ALIGNMENT_UNCERTAIN = "alignment_uncertain"
READER_REASONS = frozenset({CORRECTION_MARK, SCANNER_STREAK, ALIGNMENT_UNCERTAIN})


class FieldStatus(StrEnum):
    ACCEPTED = "accepted"
    NEEDS_REVIEW = "needs_review"
    INVALID = "invalid"
    CORRECTED = "corrected"
    ILLEGIBLE = "illegible"  # a person looked and could not read it (保留), with a reason


class Suggestion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str
    reason: str  # a reason code, e.g. "postal_code_address_prefix"
    # the fields the suggestion was derived from (empty: from master data alone); the server
    # refuses to store the suggestion when one of them changed in the same submission
    sources: list[str] = Field(default_factory=list)


class FieldVerification(BaseModel):
    """How a field marked ``verify`` was double-entered (ベリファイ): who typed the first and
    the second entry, and who decided when they differed. Names only, never a second value."""

    model_config = ConfigDict(extra="forbid")

    state: Literal["verified", "decided", "skipped"]
    first_by: str | None = None  # "reader" when the reader's value was accepted as it was
    second_by: str | None = None
    decided_by: str | None = None


class FieldResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = ""  # normalised ("" when nothing was written)
    raw: str = ""  # as the engine read it
    confidence: float = Field(default=0.0, ge=0.0, le=1.0)
    box: tuple[int, int, int, int] | None = None  # (left, top, right, bottom) in scan pixels
    status: FieldStatus = FieldStatus.NEEDS_REVIEW
    reasons: list[str] = Field(default_factory=list)
    suggestion: Suggestion | None = None
    verification: FieldVerification | None = None  # set when a double entry finished


class DocumentError(BaseModel):
    """Why a whole document could not be read, and what to do; no personal values."""

    model_config = ConfigDict(extra="forbid")

    code: str
    message: str
    action: str


class DocumentResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = RESULT_SCHEMA_VERSION
    batch_id: str
    document_id: str
    source: str  # the input file name, so every input can be traced to its result
    form_id: str | None = None
    page_keys: list[str] = Field(default_factory=list)
    # degrees clockwise to turn the scan upright (180: fed in upside down, 90/270: sideways);
    # boxes stay in scan pixels. Results written before this field read as 0.
    page_rotation: Literal[0, 90, 180, 270] = 0
    # which page of ``source`` this document starts on (1 for a one-page file); a document of
    # several pages (a form with ``pages: N``) lists them all in ``source_pages``.
    source_page: int = Field(default=1, ge=1)
    source_pages: list[int] = Field(default_factory=list)
    fields: dict[str, FieldResult] = Field(default_factory=dict)
    error: DocumentError | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def count(self, status: FieldStatus) -> int:
        return sum(1 for f in self.fields.values() if f.status is status)

    @property
    def needs_person(self) -> bool:
        return any(f.status in (FieldStatus.NEEDS_REVIEW, FieldStatus.INVALID) for f in self.fields.values())

    def held(self) -> dict[str, str]:
        """Fields a person held (判読不能, 要問合せ ...) -> the reason code they gave: what
        someone must follow up."""
        return {
            name: (f.reasons[0] if f.reasons else "illegible")
            for name, f in self.fields.items()
            if f.status is FieldStatus.ILLEGIBLE
        }

    def summary(self) -> dict:
        """Ids, counts and reason codes only: safe for logs, metrics and state payloads."""
        return {
            "batch_id": self.batch_id,
            "document_id": self.document_id,
            "form_id": self.form_id,
            "error": self.error.code if self.error else None,
            "accepted": self.count(FieldStatus.ACCEPTED),
            "needs_review": self.count(FieldStatus.NEEDS_REVIEW),
            "invalid": self.count(FieldStatus.INVALID),
            "corrected": self.count(FieldStatus.CORRECTED),
        }
