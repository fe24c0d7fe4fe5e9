"""What the review page can do, over the store ports: the queue, opening (leasing) a
document, its images, revealing a My Number, and submitting corrections.

Runs in the agent (cloud setup: S3/DynamoDB/Step Functions stores) and on one machine (local
folder, SQLite, local gate). The correction logic is the domain's
(:mod:`yomitori.steps.review`), shared with the review Lambda. Everything sent to the page
about a My Number field is masked until the reviewer reveals it, and the reveal is audited.
Audit records carry ids, field names and statuses only (never values).
"""

from __future__ import annotations

import contextlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

from yomitori.access import NotAllowed, Principal, Role
from yomitori.errors import YomitoriError
from yomitori.forms import load_form
from yomitori.forms.schema import FieldDef, FieldType, FormDefinition, Sensitivity
from yomitori.results import DocumentResult, FieldResult, FieldStatus
from yomitori.steps.review import (
    Correction,
    ReviewRefused,
    lease_document,
    reopen_document,
    reveal_my_number,
    submit_review,
)
from yomitori.store.base import (
    AuditAction,
    AuditRecord,
    GateReleaser,
    Lease,
    LeaseConflict,
    ResultStore,
    ReviewStore,
    VerifyState,
    utcnow,
)
from yomitori.users import DEFAULT_PURPOSES
from yomitori.validation.dates import as_written, parse_date, read_typed_date
from yomitori.validation.my_number import mask

from yomitori_agent.review import images
from yomitori_agent.review.names import display_name
from yomitori_agent.review.reasons import explain, reason_text

NEEDS_PERSON = (FieldStatus.NEEDS_REVIEW, FieldStatus.INVALID)
NUMBER_VIEWER_REQUIRED = "number_viewer_required"  # a NotAllowed about My Numbers (its own Japanese text)
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")  # what may go into an audit record as a field name
# fields a person already decided: a reopened document shows them among those to check
REVIEWED = (FieldStatus.CORRECTED, FieldStatus.ILLEGIBLE)


class ReviewError(YomitoriError):
    """A request the page cannot do (translated into an HTTP status by the server)."""

    code = "review_error"
    status = 400
    action = "Reload the page."


class OpenInOtherWindow(ReviewError):
    code = "open_in_other_window"
    status = 409
    action = "Continue in the other window, or open another document here."


WINDOW_IDLE_SECONDS = 6 * 60  # a window renews every 5 minutes; one silent longer is gone


class NotLeased(ReviewError):
    code = "not_leased"
    status = 409
    action = "Open the document from the queue again."


@dataclass
class Session:
    """What this reviewer has open: the leased documents and the My Numbers they revealed."""

    leased: set[tuple[str, str]] = field(default_factory=set)
    revealed: set[tuple[str, str, str]] = field(default_factory=set)
    # fields held (判読不能, 要問合せ ...) in the documents submitted: (batch, document, field) -> reason
    held: dict[tuple[str, str, str], str] = field(default_factory=dict)


def _masked(f: FieldDef, value: str) -> str:
    return mask(value) if f.sensitivity is Sensitivity.MY_NUMBER else value


class PurposeRequired(ReviewError):
    code = "purpose_required"
    status = 400
    action = "Choose why the My Number is needed from the list, then reveal it."


class ReviewService:
    """One person's review session over the given stores (thread-safe for one page).

    ``principal`` is the authenticated person (a login on one machine, the assumed role's
    session in the cloud): leasing and submitting need the ``reviewer`` role, revealing a My
    Number the ``number_viewer`` role and a purpose from ``purposes`` (code -> Japanese label).
    Every audit record names the principal and the role acted in."""

    def __init__(
        self,
        results: ResultStore,
        reviews: ReviewStore,
        releaser: GateReleaser,
        *,
        principal: Principal,
        batch_id: str | None = None,
        lease_seconds: int = 900,
        thresholds: Mapping[str, float] | None = None,
        purposes: Mapping[str, str] | None = None,
    ):
        if not isinstance(principal, Principal):
            raise TypeError("ReviewService needs an authenticated Principal, not a name")
        self.results, self.reviews, self.releaser = results, reviews, releaser
        self.principal = principal
        self.reviewer = principal.name
        self.purposes = dict(purposes or DEFAULT_PURPOSES)
        self.batch_id = batch_id
        self.lease_seconds = lease_seconds
        self.thresholds = thresholds
        self.session = Session()
        self.images = images.ImageCache()
        self._lock = threading.Lock()
        self._docs: dict[tuple[str, str], DocumentResult] = {}
        self._labels: dict[tuple[str, str], str] = {}
        # which window (browser tab) of this reviewer has a document open, and when it was last
        # heard of: a second window of the same person gets its own document
        self._windows: dict[tuple[str, str], tuple[str, float]] = {}
        self._forms: dict[tuple[str, str], str] = {}  # (batch, document) -> form id, for labels

    # -- queue and documents ---------------------------------------------------------------
    def queue(self) -> dict:
        """The documents waiting for a person (ids and lease holders only)."""
        items = self.reviews.queue(self.batch_id)
        return {
            "submitted": self.submitted(items),
            "reviewer": self.reviewer,
            "roles": sorted(r.value for r in self.principal.roles),
            "name": display_name(self.reviewer),  # what the header shows (never an ARN)
            "documents": [
                {
                    "batch_id": q.batch_id,
                    "document_id": q.document_id,
                    "busy": q.leased_by not in (None, self.reviewer),
                }
                for q in items
            ],
        }

    def me(self) -> dict:
        """Who is logged in, their roles and the purposes a My Number may be revealed for."""
        return {"name": self.reviewer, "roles": sorted(r.value for r in self.principal.roles),
                "purposes": [{"code": k, "label": v} for k, v in self.purposes.items()]}

    def submitted(self, items: list | None = None) -> list[dict]:
        """Documents submitted in the batches under review and not yet released: they can be
        opened again (ids only) by a reviewer; nobody else may reopen, so nothing is read for them
        (the gate item holds the task token, which only the review jobs may read)."""
        if not self.principal.has(Role.REVIEWER):
            return []
        batches = {self.batch_id} if self.batch_id else {q.batch_id for q in (items or [])}
        out = []
        for b in sorted(batches):
            gate = self.reviews.get_gate(b)
            if gate is not None and gate.released_at is None:
                out.extend({"batch_id": b, "document_id": d} for d in gate.done)
        return out

    def reopen(self, batch_id: str, document_id: str, window: str | None = None) -> dict:
        """Open a submitted document again (until its batch is released), audited as ``reopen``;
        the fields a person decided are shown among those to check, as they were stored."""
        self.principal.require(Role.REVIEWER)
        with self._lock:
            if self._held_elsewhere((batch_id, document_id), window):
                raise OpenInOtherWindow(f"Document '{document_id}' is open in another window.")
        reopen_document(self.reviews, self.releaser, batch_id=batch_id, document_id=document_id,
                        reviewer=self.reviewer, seconds=self.lease_seconds)
        return self.open(batch_id, document_id, window)

    def prepare(self, wait: bool = True) -> None:
        """Before the page opens (the server's start): parse the batch's form now, and decode the
        first waiting document's scan (before returning with ``wait``, so the decoding does not
        compete with the page's first requests), so the first field and the first scan show as
        fast as the next ones. Nothing is sent anywhere until a document is leased."""
        items = self.reviews.queue(self.batch_id)
        for b in sorted({q.batch_id for q in items}):
            gate = self.reviews.get_gate(b)
            if gate is not None and gate.form_id:
                load_form(gate.form_id)
        free = [q for q in items if q.leased_by in (None, self.reviewer)]
        if free:
            first = free[0]

            def run() -> None:
                # best effort; the request path reports errors
                with contextlib.suppress(Exception):
                    self._render(first.batch_id, first.document_id)

            if wait:
                run()
            else:
                threading.Thread(target=run, daemon=True, name="review-prepare").start()

    def _lease(self, batch_id: str, document_id: str) -> Lease | None:
        self.principal.require(Role.REVIEWER)
        return lease_document(self.reviews, self.releaser, batch_id=batch_id, reviewer=self.reviewer,
                              document_id=document_id, seconds=self.lease_seconds)

    def _held_elsewhere(self, key: tuple[str, str], window: str | None) -> bool:
        import time

        holder = self._windows.get(key)
        if holder is None or window is None or holder[0] == window:
            return False
        return time.monotonic() - holder[1] < WINDOW_IDLE_SECONDS

    def _claim(self, key: tuple[str, str], window: str | None) -> None:
        import time

        if window is not None:
            self._windows[key] = (window, time.monotonic())

    def open_elsewhere(self, window: str | None) -> int:
        """How many documents another window of this reviewer has open."""
        with self._lock:
            return sum(1 for k in list(self._windows) if self._held_elsewhere(k, window))

    def open_next(self, after: tuple[str, str] | None = None, window: str | None = None) -> dict | None:
        """Lease and open the next document free for this reviewer (after ``after`` in queue
        order when given) and not open in another window of theirs; None when nothing is left."""
        with self._lock:
            items = [q for q in self.reviews.queue(self.batch_id) if q.leased_by in (None, self.reviewer)
                     and not self._held_elsewhere((q.batch_id, q.document_id), window)]
        if after is not None:
            later = [q for q in items if (q.batch_id, q.document_id) > after]
            items = later + [q for q in items if (q.batch_id, q.document_id) <= after]
        for q in items:
            try:
                return self.open(q.batch_id, q.document_id, window)
            except (LeaseConflict, OpenInOtherWindow):
                continue  # someone (or another window) took it in the meantime
        return None

    def open(self, batch_id: str, document_id: str, window: str | None = None) -> dict:
        """Lease ``document_id`` to this reviewer (LeaseConflict when someone else holds it,
        OpenInOtherWindow when another window of theirs has it open), audit the view, and
        return what the page shows (My Numbers masked)."""
        with self._lock:
            if self._held_elsewhere((batch_id, document_id), window):
                raise OpenInOtherWindow(f"Document '{document_id}' is open in another window.")
            self._claim((batch_id, document_id), window)
        try:
            self._lease(batch_id, document_id)
        except Exception:
            with self._lock:
                self._windows.pop((batch_id, document_id), None)
            raise
        doc = self.results.get_document(batch_id, document_id)
        form = load_form(doc.form_id)
        with self._lock:
            self.session.leased.add((batch_id, document_id))
            self._docs[(batch_id, document_id)] = doc
        self._audit(batch_id, document_id, AuditAction.LEASE)
        pages = None
        if doc.page_rotation:
            # boxes go to the page on the upright scan, which needs its size; upside-down pages
            # are rare and usually warmed already, so only they wait for the decode here
            try:
                pages = self._render(batch_id, document_id)
            except Exception:  # noqa: BLE001 - the image request reports it; the fields still open
                pages = None
        self.warm(batch_id, document_id)
        return self._view(form, doc, pages)

    def _view(self, form: FormDefinition, doc: DocumentResult, pages: images.PageImages | None) -> dict:
        """What the page shows. Boxes are on the upright page (``pages`` is needed for a turned
        page; without it a turned page's boxes are left out rather than drawn in the wrong place)."""

        def box(fr: FieldResult) -> list[int] | None:
            if fr.box is None:
                return None
            if not doc.page_rotation:
                return list(fr.box)
            return list(pages.upright(tuple(fr.box))) if pages is not None else None

        fields = []
        for f in form.fields:
            fr = doc.fields.get(f.name)
            if fr is None:
                continue
            revealed = (doc.batch_id, doc.document_id, f.name) in self.session.revealed
            show = (lambda v: v) if revealed else (lambda v, f=f: _masked(f, v))
            fields.append(
                {
                    "name": f.name,
                    "label": f.label,
                    "type": f.type.value,
                    "my_number": f.sensitivity is Sensitivity.MY_NUMBER,
                    "masked": f.sensitivity is Sensitivity.MY_NUMBER and not revealed,
                    "value": show(fr.value),
                    "raw": show(fr.raw),
                    "confidence": round(fr.confidence, 3),
                    "status": fr.status.value,
                    "needs_person": fr.status in NEEDS_PERSON or fr.status in REVIEWED,
                    "reviewed": fr.status in REVIEWED,  # decided by a person before (a reopened document)
                    "reasons": explain(fr.reasons),
                    "suggestion": (
                        {
                            "value": show(fr.suggestion.value),
                            "code": fr.suggestion.reason,
                            "text": reason_text(fr.suggestion.reason),
                        }
                        if fr.suggestion
                        else None
                    ),
                    "box": box(fr),
                    "options": [{"value": o.value, "label": o.label} for o in f.options],
                    "hint": f.hint,
                    # digits of a fixed length: the page moves on when all are typed
                    "length": _fixed_length(f),
                    **(_date_view(fr) if f.type is FieldType.DATE else {}),
                }
            )
        # the fields that need a person first, in form order; the rest after them
        fields.sort(key=lambda x: not x["needs_person"])
        return {
            "batch_id": doc.batch_id,
            "document_id": doc.document_id,
            "form_id": doc.form_id,
            "form_title": form.title,
            "fields": fields,
            "needs_person": sum(1 for x in fields if x["needs_person"]),
        }

    def _doc(self, batch_id: str, document_id: str) -> DocumentResult:
        key = (batch_id, document_id)
        with self._lock:
            if key not in self.session.leased:
                raise NotLeased(f"Document '{document_id}' is not open in this session.")
            return self._docs[key]

    # -- images -----------------------------------------------------------------------------
    def _render(self, batch_id: str, document_id: str) -> images.PageImages:
        def build() -> images.PageImages:
            doc = self._docs.get((batch_id, document_id)) or self.results.get_document(batch_id, document_id)
            form = load_form(doc.form_id)
            hidden = [
                tuple(doc.fields[f.name].box)
                for f in form.fields
                if f.sensitivity is Sensitivity.MY_NUMBER and f.name in doc.fields and doc.fields[f.name].box
            ]
            return images.render(self.results.get_page(batch_id, _page_name(doc)), hidden,
                                 rotation=doc.page_rotation, page=doc.source_page)

        return self.images.get((batch_id, document_id), build)

    def warm(self, batch_id: str, document_id: str) -> None:
        """Prepare this document's images and the next one's in the background, so moving on
        is quick. Nothing is sent anywhere until the reviewer leases that document."""

        def run() -> None:
            try:
                self._render(batch_id, document_id)
                nxt = [
                    q for q in self.reviews.queue(self.batch_id)
                    if (q.batch_id, q.document_id) > (batch_id, document_id) and q.leased_by is None
                ]
                if nxt:
                    self._render(nxt[0].batch_id, nxt[0].document_id)
            except Exception:  # noqa: BLE001 - warming is best effort; the request path reports errors
                pass

        threading.Thread(target=run, daemon=True, name="review-warm").start()

    def page_image(self, batch_id: str, document_id: str) -> tuple[bytes, tuple[int, int]]:
        """The display JPEG of a leased document (upright) and the scan's size in pixels."""
        self._doc(batch_id, document_id)
        pages = self._render(batch_id, document_id)
        return pages.display_jpeg, pages.size

    def crop(self, batch_id: str, document_id: str, field_name: str) -> bytes:
        """A field's crop at full resolution; a My Number's only after it was revealed."""
        doc = self._doc(batch_id, document_id)
        fr = doc.fields.get(field_name)
        if fr is None or fr.box is None:
            raise ReviewError(f"Field '{field_name}' has no box to show.", code="no_box")
        form = load_form(doc.form_id)
        if form.field(field_name).sensitivity is Sensitivity.MY_NUMBER and (
            (batch_id, document_id, field_name) not in self.session.revealed
        ):
            raise ReviewError("Reveal the My Number first.", code="masked")
        pages = self._render(batch_id, document_id)
        return images.crop_png(pages.scan, pages.upright(tuple(fr.box)))

    def region(self, batch_id: str, document_id: str, area: tuple[int, int, int, int],
               hide: frozenset[str] = frozenset()) -> bytes:
        """Part of a leased document's upright page at the scan's full resolution (the page's
        zoom), with the My Numbers not revealed in this session painted over (and those the
        page masked again, named in ``hide``)."""
        doc = self._doc(batch_id, document_id)
        form = load_form(doc.form_id)
        pages = self._render(batch_id, document_id)
        hidden = [
            pages.upright(tuple(doc.fields[f.name].box))
            for f in form.fields
            if f.sensitivity is Sensitivity.MY_NUMBER and f.name in doc.fields and doc.fields[f.name].box
            and ((batch_id, document_id, f.name) not in self.session.revealed or f.name in hide)
        ]
        try:
            return images.region_jpeg(pages.scan, area, hidden)
        except ValueError as e:
            raise ReviewError(str(e), code="bad_region") from None

    # -- actions ----------------------------------------------------------------------------
    def reveal(self, batch_id: str, document_id: str, field_name: str, purpose: str | None = None) -> dict:
        """Unmask a My Number field: only for a ``number_viewer`` (NotAllowed otherwise), with a
        ``purpose`` from the configured list, audited first (who, role, purpose, when, which
        document and field; never the number)."""
        if not self.principal.has(Role.NUMBER_VIEWER):
            self.reviews.audit(AuditRecord(
                at=utcnow(), reviewer=self.reviewer, batch_id=batch_id, document_id=document_id,
                field=field_name if _FIELD_NAME.match(field_name) else None,
                action=AuditAction.REFUSED, reasons=[NUMBER_VIEWER_REQUIRED],
                role=Role.REVIEWER.value if self.principal.has(Role.REVIEWER) else None,
            ))
            raise NotAllowed(f"'{self.reviewer}' does not have the number_viewer role.",
                             action="Ask your administrator for the number_viewer role, or leave the My "
                                    "Number to a colleague who has it.", code=NUMBER_VIEWER_REQUIRED)
        if purpose not in self.purposes:
            raise PurposeRequired("A purpose from the list is needed to reveal a My Number.")
        doc = self._doc(batch_id, document_id)
        form = load_form(doc.form_id)
        try:
            f = form.field(field_name)
        except KeyError:
            raise ReviewError(f"No field '{field_name}'.", code="unknown_field") from None
        if f.sensitivity is not Sensitivity.MY_NUMBER:
            raise ReviewError(f"Field '{field_name}' is not a My Number.", code="not_my_number")
        reveal_my_number(
            self.reviews, batch_id=batch_id, document_id=document_id, field_name=field_name,
            reviewer=self.reviewer, role=Role.NUMBER_VIEWER.value, purpose=purpose,
        )
        self.session.revealed.add((batch_id, document_id, field_name))
        fr = doc.fields[field_name]
        return {
            "field": field_name,
            "value": fr.value,
            "raw": fr.raw,
            "suggestion": fr.suggestion.value if fr.suggestion else None,
        }

    def submit(self, batch_id: str, document_id: str, corrections: list[dict]) -> dict:
        """Validate and store the corrections; ``{"ok": False, "refused": ...}`` with Japanese
        reasons when any is refused (nothing stored), else the outcome and the next document."""
        self.principal.require(Role.REVIEWER)
        self._doc(batch_id, document_id)
        try:
            parsed = [Correction.model_validate(c) for c in corrections]
        except ValueError:
            raise ReviewError("The submission is not well formed.", code="bad_submission") from None
        if not self.principal.has(Role.NUMBER_VIEWER):
            # a My Number is settled only by someone who may see it (the page shows it masked)
            form = load_form(self._doc(batch_id, document_id).form_id)
            mine = {f.name for f in form.fields if f.sensitivity is Sensitivity.MY_NUMBER}
            if any(c.field in mine and c.action != "illegible" for c in parsed):
                raise NotAllowed(f"'{self.reviewer}' does not have the number_viewer role.",
                                 action="Leave this document to a colleague with the number_viewer role "
                                        "(skip it), or ask your administrator for the role.",
                                 code=NUMBER_VIEWER_REQUIRED)
        try:
            out = submit_review(
                self.results, self.reviews, self.releaser, batch_id=batch_id, document_id=document_id,
                reviewer=self.reviewer, corrections=parsed, thresholds=self.thresholds,
                role=Role.REVIEWER.value,
            )
        except ReviewRefused as e:
            return {"ok": False, "refused": {k: explain(v) for k, v in e.refused.items()}}
        form = load_form(self._doc(batch_id, document_id).form_id)
        with self._lock:
            self.session.leased.discard((batch_id, document_id))
            self._docs.pop((batch_id, document_id), None)
            self.session.revealed = {r for r in self.session.revealed if r[:2] != (batch_id, document_id)}
            self._windows.pop((batch_id, document_id), None)
            self.session.held = {k: v for k, v in self.session.held.items()
                                 if k[:2] != (batch_id, document_id)}
            for name, reason in out.get("held", {}).items():
                self.session.held[(batch_id, document_id, name)] = reason
            self._labels.update({(form.id, f.name): f.label for f in form.fields})
            for k in self.session.held:
                if k[:2] == (batch_id, document_id):
                    self._forms[k[:2]] = form.id
            # every field held in this session so far: the done screen lists them (the one-machine
            # server stops right after the last submission, so this answer carries the list)
            out["held"] = [self._held_item(k, v) for k, v in sorted(self.session.held.items())]
        self.images.forget((batch_id, document_id))
        if not out.get("remaining") and not out.get("released"):
            # the review is done but the gate waits for ベリファイ: the done screen says so
            out["double_entry_open"] = self._open_double_entries(batch_id)
        return {"ok": True, **out}

    def _open_double_entries(self, batch_id: str) -> int:
        """How many fields of ``batch_id`` still wait for a second entry or a decision."""
        waiting = (VerifyState.OPEN, VerifyState.MISMATCH)
        return sum(1 for t in self.reviews.verifications(batch_id) if t.state in waiting)

    def _held_item(self, key: tuple[str, str, str], reason: str) -> dict:
        batch_id, document_id, name = key
        form_id = self._forms.get((batch_id, document_id), "")
        return {"batch_id": batch_id, "document_id": document_id, "field": name,
                "label": self._labels.get((form_id, name), name), "reason": reason,
                "text": reason_text(reason)}

    def held(self) -> dict:
        """What the done screen lists: the fields held in this session's submissions, to follow up."""
        with self._lock:
            return {"held": [self._held_item(k, v) for k, v in sorted(self.session.held.items())]}

    def renew(self, batch_id: str, document_id: str, window: str | None = None) -> dict:
        """Extend the lease of an open document (the page calls this while the reviewer works);
        LeaseConflict when it was lost (expired and taken by someone else)."""
        self._doc(batch_id, document_id)
        with self._lock:
            if not self._held_elsewhere((batch_id, document_id), window):
                self._claim((batch_id, document_id), window)
        lease = self._lease(batch_id, document_id)
        return {"expires_at": lease.expires_at.isoformat() if lease else None}

    def leave(self, batch_id: str, document_id: str) -> None:
        """Give the document back to the queue (the reviewer moved on without submitting)."""
        with self._lock:
            self.session.leased.discard((batch_id, document_id))
            self._docs.pop((batch_id, document_id), None)
            self._windows.pop((batch_id, document_id), None)
        self.reviews.release_lease(batch_id, document_id, self.reviewer)

    def _audit(self, batch_id: str, document_id: str, action: AuditAction) -> None:
        self.reviews.audit(
            AuditRecord(at=utcnow(), reviewer=self.reviewer, batch_id=batch_id, document_id=document_id,
                        action=action, role=Role.REVIEWER.value)
        )


def _fixed_length(f: FieldDef) -> int | None:
    """The number of digits a digits field always has (postal code 7, bank code 4 ...), else None."""
    if f.type is not FieldType.DIGITS or f.sensitivity is Sensitivity.MY_NUMBER:
        return None
    for v in f.validators:
        if v.name == "digits" and isinstance(v.args.get("length"), int):
            return v.args["length"]
    return None


def _date_view(fr: FieldResult) -> dict:
    """A date as written (和暦 with its era) beside the ISO value, and the era the page
    preselects for a date typed without one (8/9/8)."""
    written, era = as_written(fr.value, fr.raw)
    if not era:
        era = (parse_date(fr.raw).era if fr.raw and parse_date(fr.raw) else None) or "令和"
    return {"written": written, "era": era}


def date_preview(text: str, era: str | None) -> dict:
    """What a typed date will be stored as (the page shows it while the clerk types); the
    parsing is the domain's, the same the submission uses."""
    parsed = read_typed_date(text, era)
    if parsed is None or parsed.era_problem:
        return {"iso": None, "written": None}
    iso = parsed.date.isoformat()
    return {"iso": iso, "written": as_written(iso)[0]}


def _page_name(doc: DocumentResult) -> str:
    if doc.page_keys:
        return doc.page_keys[0].rsplit("/", 1)[-1]
    return doc.source
