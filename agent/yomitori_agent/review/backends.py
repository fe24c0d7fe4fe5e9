"""Where a review session reads and writes: the stores, the gate releaser and who is reviewing.

* :func:`local_backend` (one machine): the output folder of ``yomitori process``. The batch is
  put into a local store under ``OUT/.review/`` (a folder and a SQLite file with leases and
  the audit trail) and its review gate opened. When the last document is done the gate's
  continuation writes the reviewed results back to ``OUT`` (one JSON per document and
  ``results.csv``) and removes the store's copies of the scans; the audit trail stays.
* :func:`cloud_backend` (cloud setup, or the local moto cloud): the S3, DynamoDB and Step
  Functions stores named by the same environment variables the Lambdas read
  (:mod:`yomitori.settings`); releasing the gate is ``SendTaskSuccess``.

Who reviews is a :class:`~yomitori.access.Principal`, never a name typed by the caller. On one
machine: whoever logs in with a users file (``--users`` / ``YOMITORI_USERS``); without one,
the OS user with the ``reviewer`` role only (no My Number can be revealed). In the cloud: the
session of the assumed job role (STS GetCallerIdentity, :mod:`yomitori.principals`).
"""

from __future__ import annotations

import getpass
import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from yomitori.access import Principal, Role
from yomitori.batch import SUMMARY_NAME, page_key
from yomitori.errors import ExitCode, YomitoriError
from yomitori.results import DocumentResult
from yomitori.store.base import GateReleaser, ResultStore, ReviewStore
from yomitori.users import UsersFile

STATE_DIR = ".review"


class BackendError(YomitoriError):
    code = "review_backend"
    exit_code = ExitCode.BAD_INPUT
    action = "Pass the output folder of `yomitori process` (it holds batch.json)."


@dataclass
class Backend:
    results: ResultStore
    reviews: ReviewStore
    releaser: GateReleaser
    principal: Principal | None  # None: whoever logs in with ``users`` decides
    batch_id: str | None = None
    describe: str = ""
    users: UsersFile | None = None

    @property
    def reviewer(self) -> str:
        return self.principal.name if self.principal else "(login)"


def os_principal() -> Principal:
    """One machine without a users file: the OS login name, with the reviewer role only."""
    try:
        name = getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name (some containers): still say who we can
        name = "unknown"
    return Principal(name, frozenset({Role.REVIEWER}))


def _read_batch(out_dir: Path) -> dict:
    info_path = out_dir / SUMMARY_NAME
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
        return {"batch_id": str(info["batch_id"]), "scans_dir": Path(info["scans_dir"]),
                "encoding": info.get("csv_encoding", "utf-8-sig"), "form_id": info.get("form_id")}
    except FileNotFoundError:
        raise BackendError(f"{out_dir} has no {SUMMARY_NAME}.") from None
    except (ValueError, KeyError, TypeError):
        raise BackendError(f"{info_path} is not a batch description written by `yomitori process`.") from None


def _documents(out_dir: Path) -> list[DocumentResult]:
    docs = []
    for p in sorted(out_dir.glob("*.json")):
        if p.name in (SUMMARY_NAME, "results.json", "review.json", "metrics.json"):
            continue
        try:
            docs.append(DocumentResult.model_validate_json(p.read_bytes()))
        except ValueError:
            continue  # not a document result (e.g. a metrics file someone put there)
    return docs


def write_back(results: ResultStore, batch_id: str, out_dir: Path, encoding: str) -> int:
    """Write the batch's documents from the store to ``out_dir`` (JSON each, results.csv);
    returns how many. Atomic per file (temporary name, then rename)."""
    from yomitori.export import write_results_csv
    from yomitori.forms import load_form

    docs = [results.get_document(batch_id, d) for d in results.list_documents(batch_id)]
    for doc in docs:
        target = out_dir / f"{doc.document_id}.json"
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(doc.model_dump_json(indent=2), encoding="utf-8")
        tmp.replace(target)
    form_ids = {d.form_id for d in docs if d.form_id}
    if len(form_ids) == 1:
        write_results_csv(docs, load_form(form_ids.pop()), out_dir / "results.csv", encoding=encoding)
    _note_held(out_dir, docs)
    return len(docs)


def _note_held(out_dir: Path, docs: list[DocumentResult]) -> None:
    """Add the held fields (document id -> field -> reason code; never values) to the batch
    summary, so what must be followed up is listed next to the counts."""
    import json

    path = out_dir / SUMMARY_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    held = {d.document_id: d.held() for d in sorted(docs, key=lambda d: d.document_id) if d.held()}
    info["held"] = held
    info["held_fields"] = sum(len(h) for h in held.values())
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


def local_backend(out_dir: Path | str, *, principal: Principal | None = None,
                  users: UsersFile | None = None) -> Backend:
    """The one-machine review of ``out_dir`` (the output of ``yomitori process``). Idempotent:
    a second call continues the same review (leases, audit trail, documents done).
    With ``users`` the page asks for a login; else ``principal`` (default: the OS user as a
    reviewer) reviews."""
    from yomitori.steps.review import open_review_gate
    from yomitori.store import LocalGateReleaser, LocalResultStore, SqliteReviewStore

    out_dir = Path(out_dir)
    info = _read_batch(out_dir)
    batch_id = info["batch_id"]
    state = out_dir / STATE_DIR
    results = LocalResultStore(state / "store")
    reviews = SqliteReviewStore(state / "review.sqlite3")

    def continue_batch(task_token: str, output: dict) -> None:
        # the local runner's continuation: the reviewed results replace the pre-review ones
        write_back(results, batch_id, out_dir, info["encoding"])
        results.delete_batch(batch_id)  # the store's copies of the scans are not needed any more

    releaser = LocalGateReleaser(continue_batch)
    if reviews.get_gate(batch_id) is None:
        docs = [d for d in _documents(out_dir) if d.batch_id == batch_id]
        if not docs:
            raise BackendError(f"{out_dir} holds no document results of batch '{batch_id}'.")
        from yomitori.steps import verification

        def double_entry(doc: DocumentResult) -> bool:  # its crops are shown to a verifier
            from yomitori.forms import load_form

            return (verification.enabled() and bool(doc.form_id)
                    and bool(verification.fields_to_verify(load_form(doc.form_id), doc)))

        for doc in docs:
            if doc.ok and (doc.needs_person or double_entry(doc)):
                scan = info["scans_dir"] / doc.source
                try:
                    data = scan.read_bytes()
                except OSError:
                    raise BackendError(
                        f"The scan {scan} of document '{doc.document_id}' cannot be read.",
                        action="Keep the scans folder where `yomitori process` read it.",
                    ) from None
                results.put_page(batch_id, doc.source, data)
                doc.page_keys = [page_key(batch_id, doc.source)]
            results.put_document(doc)
        open_review_gate(results, reviews, releaser, batch_id=batch_id, task_token=secrets.token_urlsafe(24))
    who = None if users is not None else (principal or os_principal())
    return Backend(results, reviews, releaser, who, batch_id, describe=f"batch {batch_id} in {out_dir}",
                   users=users)


def aws_principal() -> str:
    """The ARN of the AWS principal of this process, from STS GetCallerIdentity."""
    from yomitori.store.clients import client

    try:
        return client("sts").get_caller_identity()["Arn"]
    except Exception as e:  # noqa: BLE001 - translated once, here
        raise BackendError(
            f"Cannot tell who is reviewing: STS GetCallerIdentity failed ({type(e).__name__}).",
            action="Check the AWS profile and network (the STS endpoint) of this PC.",
        ) from None


class ClientReviews:
    """The review store as one client's external PC sees it: the queue lists only that
    client's batches (the agent policy lets it open, lease and correct no other's:
    yomitori.batch.client_batch_pattern); everything else is the store's."""

    def __init__(self, inner: ReviewStore, client_id: str):
        self._inner, self.client_id = inner, client_id

    def queue(self, batch_id: str | None = None, *, now=None):
        from yomitori.batch import owned_by

        return [q for q in self._inner.queue(batch_id, now=now) if owned_by(q.batch_id, self.client_id)]

    def verification_batches(self) -> list[str]:
        """The client's batches with double-entry work (their tasks are read with a Query the
        policy allows on the client's own batches only)."""
        from yomitori.batch import owned_by

        return [b for b in self._inner.verification_batches() if owned_by(b, self.client_id)]

    def __getattr__(self, name):
        return getattr(self._inner, name)


def cloud_backend(*, batch_id: str | None = None, client_id: str | None = None, job_roles=None,
                  allow_agent_identity: bool | None = None) -> Backend:
    """The cloud stores from the ``YOMITORI_*`` environment variables (as the Lambdas), used
    directly with the rights the stack's agent policy grants (review table: read and update
    the gate; audit table: append; the state machine: SendTaskSuccess/Heartbeat). The
    reviewer is always the authenticated AWS principal of this process (STS), never a name
    the caller passes: the audit trail names who really held the credentials. With
    ``client_id`` (the agent configuration's) the queue holds only that client's batches. An assumed job
    role (``infra/people.py``) gives the session name and the job's roles
    (:func:`yomitori.principals.principal_from_arn`, ``job_roles`` or ``YOMITORI_JOB_ROLES``);
    the agent's own IAM user is refused, or reviews as a reviewer without My Number rights
    when ``allow_agent_identity`` (default: ``YOMITORI_ALLOW_AGENT_REVIEWER=1``, the local cloud)."""
    from yomitori.principals import agent_reviewer_allowed, job_roles_from_env, principal_from_arn
    from yomitori.steps import config

    try:
        config.get_settings()
    except YomitoriError as e:
        raise BackendError(e.message, action="Set the bucket, table and key variables (see docs/review.md), "
                           "or review on one machine with `yomitori review OUT`.") from None
    who = principal_from_arn(aws_principal(), job_roles if job_roles is not None else job_roles_from_env(),
                             allow_agent_identity=agent_reviewer_allowed() if allow_agent_identity is None
                             else allow_agent_identity)
    reviews = config.review_store()
    if client_id:
        reviews = ClientReviews(reviews, client_id)
    return Backend(config.result_store(), reviews, config.gate_releaser(), who, batch_id,
                   describe=f"batch {batch_id}" if batch_id else "all batches waiting for review")
