"""Storage ports: where a batch's objects live (:class:`ResultStore`), the review gate and
its audit trail (:class:`ReviewStore`), and how a finished review releases the paused flow
(:class:`GateReleaser`).

Cloud implementations (S3, DynamoDB, Step Functions) and one-machine implementations (a
folder, a SQLite file, a callback) share these contracts, so the steps in ``yomitori.steps``
and the agent's review page run unchanged on either. Nothing here imports boto3.
Records in the review store carry ids, field names, statuses and reason codes only: never a
value read from a form.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from yomitori.batch import BatchManifest
from yomitori.errors import ExitCode, YomitoriError
from yomitori.results import DocumentResult


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class StoreError(YomitoriError):
    code = "store_error"
    action = "Check the storage configuration (bucket, table or folder) and try again."


class ObjectMissing(StoreError):
    """A page, document or result object that should exist does not."""

    code = "object_missing"
    action = "Upload the batch again (the page is listed in the manifest but was not stored)."


class LeaseConflict(StoreError):
    """Another reviewer holds the document, or the caller's lease has run out."""

    code = "lease_conflict"
    action = "Pick another document from the queue; this one is being reviewed by someone else."


class GateMissing(StoreError):
    code = "gate_missing"
    action = "The batch is not waiting for review (it may be finished or purged already)."


# --- records (no personal values) -----------------------------------------------------------


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PurgeCount(_Record):
    objects: int = 0  # object versions (and delete markers) removed
    bytes: int = 0


class ReviewGate(_Record):
    batch_id: str
    task_token: str
    form_id: str | None = None
    pending: list[str] = Field(default_factory=list)  # document ids still waiting for a person
    done: list[str] = Field(default_factory=list)
    opened_at: dt.datetime
    released_at: dt.datetime | None = None


class Lease(_Record):
    batch_id: str
    document_id: str
    reviewer: str
    expires_at: dt.datetime


class QueueItem(_Record):
    batch_id: str
    document_id: str
    leased_by: str | None = None
    lease_expires: dt.datetime | None = None


class AuditAction(StrEnum):
    LEASE = "lease"
    CORRECT = "correct"  # the reviewer typed a new value
    CONFIRM = "confirm"  # the reviewer kept the value as read
    ILLEGIBLE = "illegible"  # the reviewer could not read it either (保留)
    REFUSED = "refused"  # a correction failed validation and was not stored
    REVEAL_MY_NUMBER = "reveal_my_number"
    COMPLETE = "complete"  # the document is done
    REOPEN = "reopen"  # a submitted document opened again before the batch was released
    RELEASE_GATE = "release_gate"
    LOGIN = "login"  # a person logged in to the review page (or failed to: reasons)
    VERIFY = "verify"  # a second, blind entry of a field marked ``verify`` (ベリファイ)
    DECIDE = "decide"  # a third person decided where the two entries disagreed


class VerifyState(StrEnum):
    """Where a field marked ``verify`` stands in double entry (ベリファイ)."""

    WAITING = "waiting"  # the document's review is not done: there is no first entry yet
    OPEN = "open"  # waits for the blind second entry
    MISMATCH = "mismatch"  # the entries differ: waits for a third person's decision
    VERIFIED = "verified"  # both entries were equal
    DECIDED = "decided"  # a third person decided
    SKIPPED = "skipped"  # the reviewer held the field (判読不能 ...): nothing to verify


OPEN_VERIFY_STATES = frozenset({VerifyState.WAITING, VerifyState.OPEN, VerifyState.MISMATCH})


class VerifyTask(_Record):
    """One field's double entry: who typed which entry, never a value."""

    batch_id: str
    document_id: str
    field: str
    state: VerifyState
    first_by: str | None = None  # "reader" when the reader's value was accepted as it was
    second_by: str | None = None
    decided_by: str | None = None
    leased_by: str | None = None
    lease_expires: dt.datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_VERIFY_STATES


class AuditRecord(_Record):
    """Who did what to which field, when. Never the value before or after."""

    at: dt.datetime
    reviewer: str
    batch_id: str
    document_id: str
    field: str | None = None
    old_status: str | None = None
    new_status: str | None = None
    action: AuditAction
    reasons: list[str] = Field(default_factory=list)  # reason codes (e.g. why refused)
    role: str | None = None  # the role the person acted in (yomitori.access.Role)
    purpose: str | None = None  # why a My Number was revealed (a code from the configured list)
    # the hash chain (yomitori.audit.chain): set by the store when it appends the record
    seq: int | None = None  # 1, 2, 3, ... per batch, in the order the store appended them
    prev: str | None = None  # the previous record's hash (GENESIS for the first)
    hash: str | None = None  # SHA-256 over the canonical form of every other field


class AuditUnreadable(StoreError):
    """A stored audit record is not a record any more (edited by hand)."""

    code = "audit_unreadable"
    exit_code = ExitCode.SOME_DOCUMENTS_FAILED  # as `yomitori audit verify` on a broken trail
    action = ("Keep the store as it is and compare it with the Object-Lock copy of the trail "
              "(docs/audit.md, 'When verify fails').")

    def __init__(self, batch_id: str, position: int):
        super().__init__(f"Audit record {position} of batch '{batch_id}' (in stored order) cannot be read.")
        self.batch_id, self.position = batch_id, position


def parse_audit(text: str, batch_id: str, position: int) -> AuditRecord:
    """A stored audit record; :class:`AuditUnreadable` when it was mangled."""
    try:
        return AuditRecord.model_validate_json(text)
    except ValueError:
        raise AuditUnreadable(batch_id, position) from None


class DeletionRecord(_Record):
    """Proof that a batch was purged: counts and who asked, no content."""

    batch_id: str
    objects: int
    bytes: int
    table_items: int = 0
    at: dt.datetime
    triggered_by: str  # a login id, or "state-machine:<reason>"
    # the audit trail's head when the batch was purged (the anchor that shows a removed last
    # record); None when the batch had no chained audit records
    audit_seq: int | None = None
    audit_hash: str | None = None


# --- ports ------------------------------------------------------------------------------------


class ResultStore(ABC):
    """A batch's objects: intake pages and manifest; OCR outputs, document results and final
    results. Keys follow ``yomitori.batch`` in both implementations."""

    # intake side
    @abstractmethod
    def put_page(self, batch_id: str, page_name: str, data: bytes) -> str:
        """Store a page image; returns its key. (Agent upload / local runner / tests.)"""

    @abstractmethod
    def get_page(self, batch_id: str, page_name: str) -> bytes:
        """The page's bytes; raises :class:`ObjectMissing` when it is not there."""

    @abstractmethod
    def put_manifest(self, manifest: BatchManifest) -> str: ...

    @abstractmethod
    def get_manifest(self, batch_id: str) -> BatchManifest: ...

    # results side
    @abstractmethod
    def put_json(self, key: str, payload: dict | list) -> str:
        """Write a JSON object into the results area under ``key``; returns the key."""

    @abstractmethod
    def get_json(self, key: str) -> dict | list:
        """Read a JSON object from the results area; :class:`ObjectMissing` if absent."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, content_type: str) -> str: ...

    @abstractmethod
    def get_bytes(self, key: str) -> bytes: ...

    @abstractmethod
    def list_keys(self, prefix: str, *, area: str = "results") -> list[str]:
        """Keys under ``prefix`` in ``area`` (``intake`` or ``results``), sorted."""

    @abstractmethod
    def delete_batch(self, batch_id: str) -> PurgeCount:
        """Delete every object (every version) of the batch in both areas. Idempotent."""

    # conveniences shared by both implementations
    def put_ocr(self, batch_id: str, document_id: str, payload: dict) -> str:
        from yomitori.batch import ocr_key

        return self.put_json(ocr_key(batch_id, document_id), payload)

    def get_ocr(self, batch_id: str, document_id: str) -> dict:
        from yomitori.batch import ocr_key

        return self.get_json(ocr_key(batch_id, document_id))  # type: ignore[return-value]

    def put_document(self, result: DocumentResult) -> str:
        from yomitori.batch import document_key

        return self.put_json(
            document_key(result.batch_id, result.document_id), result.model_dump(mode="json")
        )

    def get_document(self, batch_id: str, document_id: str) -> DocumentResult:
        from yomitori.batch import document_key

        return DocumentResult.model_validate(self.get_json(document_key(batch_id, document_id)))

    def list_documents(self, batch_id: str) -> list[str]:
        """Document ids with a stored result, sorted."""
        prefix = f"{batch_id}/documents/"
        return [k[len(prefix) : -len(".json")] for k in self.list_keys(prefix) if k.endswith(".json")]

    def write_results(self, batch_id: str, results_json: bytes, results_csv: bytes) -> tuple[str, str]:
        """Store ``results.json`` and ``results.csv`` (already encoded); returns both keys."""
        from yomitori.batch import results_csv_key, results_json_key

        return (
            self.put_bytes(results_json_key(batch_id), results_json, "application/json"),
            self.put_bytes(results_csv_key(batch_id), results_csv, "text/csv"),
        )

    def batch_keys(self, batch_id: str) -> list[str]:
        """Everything left of a batch in both areas (the purge proof: empty after purge)."""
        from yomitori.batch import batch_prefix

        p = batch_prefix(batch_id)
        return self.list_keys(p, area="intake") + self.list_keys(p, area="results")


class ReviewStore(ABC):
    """The review gate of a batch, reviewer leases, the audit trail and deletion records."""

    @abstractmethod
    def open_gate(
        self,
        batch_id: str,
        task_token: str,
        document_ids: list[str],
        *,
        form_id: str | None = None,
        now: dt.datetime | None = None,
    ) -> ReviewGate:
        """Record that ``batch_id`` waits at the gate with ``task_token`` for ``document_ids``.
        Idempotent: opening the same gate again keeps documents already done."""

    @abstractmethod
    def get_gate(self, batch_id: str) -> ReviewGate | None: ...

    @abstractmethod
    def queue(self, batch_id: str | None = None, *, now: dt.datetime | None = None) -> list[QueueItem]:
        """Documents still waiting for a person (all open batches when ``batch_id`` is None)."""

    @abstractmethod
    def lease(
        self,
        batch_id: str,
        reviewer: str,
        *,
        document_id: str | None = None,
        seconds: int = 900,
        now: dt.datetime | None = None,
    ) -> Lease | None:
        """Lease ``document_id`` (or the next free one) to ``reviewer`` until now + ``seconds``.
        Two reviewers never hold the same document: a document leased by someone else and not
        expired raises :class:`LeaseConflict`; with no document given, None means nothing free."""

    @abstractmethod
    def release_lease(self, batch_id: str, document_id: str, reviewer: str) -> None: ...

    @abstractmethod
    def complete(
        self, batch_id: str, document_id: str, reviewer: str, *, now: dt.datetime | None = None
    ) -> list[str]:
        """Mark a leased document done; returns the document ids still pending.
        Raises :class:`LeaseConflict` unless ``reviewer`` holds the lease."""

    @abstractmethod
    def reopen(
        self, batch_id: str, document_id: str, reviewer: str, *, seconds: int = 900,
        now: dt.datetime | None = None,
    ) -> Lease:
        """Put a submitted (done) document back to pending, leased to ``reviewer``, while the
        batch is not released. Raises :class:`GateMissing` when the batch was released (or has
        no gate), :class:`LeaseConflict` when the document is not part of the review or someone
        else holds it. A document still pending is simply leased."""

    @abstractmethod
    def mark_released(self, batch_id: str, *, now: dt.datetime | None = None) -> None: ...

    @abstractmethod
    def audit(self, record: AuditRecord) -> AuditRecord:
        """Append ``record`` to its batch's hash chain (``seq``, ``prev`` and ``hash`` are set
        here, whatever the caller passed); returns the record as stored. Append-only and safe
        against concurrent writers: two appends never get the same ``seq``."""

    def audit_many(self, records: list[AuditRecord]) -> None:
        """Append several records (one per field of a submission); stores that can write them
        in one transaction do, so a submission's time does not grow with its fields."""
        for record in records:
            self.audit(record)

    @abstractmethod
    def audit_trail(self, batch_id: str) -> list[AuditRecord]:
        """Audit records of a batch in the order they were appended (older records without a
        hash first). Nothing is re-sorted: ``yomitori.audit.chain.verify`` checks this order."""

    @abstractmethod
    def audit_batches(self) -> list[str]:
        """Batch ids that have audit records, sorted (the audit reader's index)."""

    def audit_head(self, batch_id: str) -> tuple[int, str] | None:
        """``(seq, hash)`` of the batch's last chained record, or None."""
        chained = [r for r in self.audit_trail(batch_id) if r.hash and r.seq]
        return (chained[-1].seq, chained[-1].hash) if chained else None  # type: ignore[return-value]

    @abstractmethod
    def record_deletion(self, record: DeletionRecord) -> None: ...

    @abstractmethod
    def deletions(self, batch_id: str) -> list[DeletionRecord]: ...

    @abstractmethod
    def delete_batch(self, batch_id: str) -> int:
        """Delete the transient items of a batch (gate, leases); returns how many.
        Audit and deletion records stay (they hold no personal values)."""

    @abstractmethod
    def remember_task(
        self, batch_id: str, kind: str, task_token: str, *, now: dt.datetime | None = None
    ) -> None:
        """Keep a task token other than the review gate's (``kind`` e.g. ``ack``: the download
        acknowledgement). Re-remembering replaces the token."""

    @abstractmethod
    def take_task(self, batch_id: str, kind: str) -> str | None:
        """Remove and return the token of ``kind`` (None when there is none): taken once, so
        a repeated acknowledgement cannot resume the flow twice."""

    # double entry (ベリファイ): one task per field, no values (see yomitori.steps.verification)
    @abstractmethod
    def add_verifications(self, tasks: list[VerifyTask], *, now: dt.datetime | None = None) -> None:
        """Record ``tasks``; a task already recorded (same batch, document, field) is kept."""

    @abstractmethod
    def verifications(self, batch_id: str) -> list[VerifyTask]:
        """The double-entry tasks of a batch, ordered by document and field."""

    @abstractmethod
    def verification_batches(self) -> list[str]:
        """Batches with a double entry still open (the verifier's view over all batches)."""

    @abstractmethod
    def update_verification(
        self,
        batch_id: str,
        document_id: str,
        field: str,
        *,
        expect: VerifyState,
        state: VerifyState,
        people: dict[str, str] | None = None,
    ) -> bool:
        """Move a task from ``expect`` to ``state`` and set ``people`` (``first_by``,
        ``second_by`` or ``decided_by``), clearing its lease; False (nothing changed) when the
        task is not in ``expect`` any more: someone else got there first."""

    @abstractmethod
    def lease_verification(
        self,
        batch_id: str,
        document_id: str,
        field: str,
        who: str,
        *,
        seconds: int = 600,
        now: dt.datetime | None = None,
    ) -> bool:
        """Lease a task to ``who`` unless someone else holds a live lease on it."""

    def remaining(self, batch_id: str) -> list[str]:
        gate = self.get_gate(batch_id)
        if gate is None:
            raise GateMissing(f"Batch '{batch_id}' has no review gate.")
        return list(gate.pending)


class GateReleaser(ABC):
    """Continues a flow paused at the review gate (Step Functions task token, or local)."""

    @abstractmethod
    def release(self, task_token: str, output: dict) -> None:
        """Tell the paused flow the review is done. ``output`` holds ids and counts only."""

    def heartbeat(self, task_token: str) -> None:  # noqa: B027 - nothing to do on one machine
        """Tell the paused flow a person is still at work, so the gate's heartbeat limit does
        not end a long review. Raises GateMissing when the flow no longer waits."""
