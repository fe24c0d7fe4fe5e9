"""The audit trail's hash chain: each record carries ``seq``, the previous record's hash
(``prev``) and its own ``hash``, so a changed, removed or reordered record shows. Runs
wherever a review store appends (Lambda, agent, one machine) and in ``yomitori audit verify``.

* Scope: one chain per batch (the stores partition audit records by batch). The first
  record's ``prev`` is :data:`GENESIS`.
* ``hash`` = SHA-256 over :func:`canonical`: the record's JSON without ``hash``, keys sorted,
  no spaces, fields that are None left out (so a field added later with a None default keeps
  older hashes valid).
* A removed *last* record leaves no gap; the anchors show it: the head ``(seq, hash)`` the
  purge writes into the deletion record and the Object-Lock export, and the head the
  one-machine review writes into ``batch.json``. :func:`verify` compares the trail with them.
* Records written before the chain (no ``hash``) are allowed only before the first chained
  record; they are counted as ``unchained`` and cannot be verified. A record without a hash
  after the chain began is a break (inserted, or its hash stripped).

SHA-256 needs no key: someone who rewrites *every* later record consistently is caught by the
anchors (the Object-Lock copy cannot be rewritten), not by the chain alone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from yomitori.store.base import AuditRecord

GENESIS = "0" * 64

# what went wrong at a seq (the words `yomitori audit verify` prints)
CHANGED = "changed"
REMOVED = "removed"
REORDERED = "reordered"
UNCHAINED = "unchained"


def canonical(record: AuditRecord) -> bytes:
    """The bytes the record's hash covers: every field but ``hash``."""
    body = record.model_dump(mode="json", exclude={"hash"}, exclude_none=True)
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def record_hash(record: AuditRecord) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def link(record: AuditRecord, head: tuple[int, str] | None) -> AuditRecord:
    """``record`` as the next link after ``head`` (``(seq, hash)`` of the last record, or None
    for the first): a copy with ``seq``, ``prev`` and ``hash`` set."""
    seq, prev = (head[0] + 1, head[1]) if head else (1, GENESIS)
    linked = record.model_copy(update={"seq": seq, "prev": prev, "hash": None})
    return linked.model_copy(update={"hash": record_hash(linked)})


@dataclass(frozen=True)
class Anchor:
    """A head ``(seq, hash)`` written somewhere the trail's writers cannot rewrite."""

    seq: int
    hash: str
    source: str  # where it was read (e.g. "deletion record", "batch.json", a file name)


@dataclass(frozen=True)
class Break:
    seq: int
    kind: str  # CHANGED, REMOVED, REORDERED or UNCHAINED
    detail: str


@dataclass
class Verdict:
    batch_id: str
    records: int = 0
    unchained: int = 0  # older records without a hash (before the chain began)
    head: tuple[int, str] | None = None
    anchors: list[Anchor] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


def verify(batch_id: str, records: list[AuditRecord], anchors: list[Anchor] = ()) -> Verdict:
    """Check ``records`` (in stored order) link up, and that the trail reaches every anchor.
    Every break is reported with the seq where it shows and how: ``changed`` (a record's
    content or hash differs from what was chained), ``removed`` (seqs missing, also at the
    end against an anchor), ``reordered`` (a record stored out of its place) or ``unchained``
    (a record without a hash after the chain began)."""
    out = Verdict(batch_id=batch_id, records=len(records), anchors=list(anchors))
    expected, prev_hash, started = 1, GENESIS, False
    hashes: dict[int, str] = {}
    for i, r in enumerate(records):
        if r.hash is None or r.seq is None:
            if started:
                out.breaks.append(Break(expected, UNCHAINED, f"a record without a hash stands where seq "
                                        f"{expected} was expected (inserted, or its hash removed)"))
            else:
                out.unchained += 1
            continue
        started = True
        if record_hash(r) != r.hash:
            out.breaks.append(Break(expected, CHANGED, f"seq {expected} does not match its hash (its content "
                                    "was changed after it was written)"))
        elif r.seq > expected and any(x.seq == expected for x in records[i + 1:]):
            out.breaks.append(Break(expected, REORDERED, f"seq {r.seq} found where seq {expected} was "
                                    f"expected; seq {expected} comes later (records out of order)"))
        elif r.seq > expected:
            gap = f"{expected}" if r.seq == expected + 1 else f"{expected}-{r.seq - 1}"
            out.breaks.append(Break(expected, REMOVED, f"seq {gap} missing before seq {r.seq}"))
        elif r.seq < expected:
            out.breaks.append(Break(expected, REORDERED, f"seq {r.seq} found where seq {expected} was "
                                    "expected (records out of order, or repeated)"))
        elif r.prev != prev_hash:
            out.breaks.append(Break(r.seq - 1, CHANGED, f"seq {r.seq} does not follow seq {r.seq - 1}: seq "
                                    f"{r.seq - 1} was changed (and rehashed) or replaced"))
        hashes.setdefault(r.seq, r.hash)
        expected, prev_hash = max(expected, r.seq + 1), r.hash
        if out.head is None or r.seq >= out.head[0]:
            out.head = (r.seq, r.hash)
    for a in anchors:
        last = out.head[0] if out.head else 0
        if a.seq > last:
            gap = f"{a.seq}" if a.seq == last + 1 else f"{last + 1}-{a.seq}"
            out.breaks.append(Break(last + 1, REMOVED, f"seq {gap} missing at the end ({a.source} records "
                                    f"seq {a.seq} as the last)"))
        elif hashes.get(a.seq) != a.hash:
            out.breaks.append(Break(a.seq, CHANGED, f"seq {a.seq} differs from the copy in {a.source} "
                                    "(the trail was rewritten from there on)"))
    return out
