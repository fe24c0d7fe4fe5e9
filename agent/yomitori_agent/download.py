"""``download`` (external PC): a batch's results -> one age package for the contract server,
verified on the stick, then the acknowledgement that lets the cloud purge the batch.

``results.json`` (every document result) and ``results.csv`` are fetched by their known keys
(no bucket listing) into a private work folder, hashed on the way and compared with the
SHA-256 the cloud stored when it stored one, packed with :func:`write_package` (read back
and compared), and the work folder is wiped. The ack is sent only after the package verified.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

from yomitori.batch import ack_key, results_csv_key, results_json_key

from yomitori_agent import s3io
from yomitori_agent.config import AgentConfig
from yomitori_agent.errors import AgentError, BadInputError, NotFoundError, PackageRejected
from yomitori_agent.fsutil import check_writable_dir, exclusive_lock, private_dir, wipe_tree
from yomitori_agent.journal import BatchJournal, audit
from yomitori_agent.keys import parse_recipients
from yomitori_agent.linewatch import LineWatch
from yomitori_agent.log import log
from yomitori_agent.manifests import FileEntry, ResultsManifest, dump
from yomitori_agent.package import PACKAGE_SUFFIX, SourceFile, write_package
from yomitori_agent.progress import progress

RESULTS_PACKAGE_SUFFIX = "-results" + PACKAGE_SUFFIX


def _fetch(client, bucket: str, key: str, dest: Path) -> tuple[int, str] | None:
    """Download ``key`` to ``dest`` hashing it; None if the object does not exist."""
    from botocore.exceptions import ClientError

    try:
        obj = client.get_object(Bucket=bucket, Key=key)
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    h = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(dest, "xb") as out:
        for chunk in obj["Body"].iter_chunks(1 << 20):
            h.update(chunk)
            out.write(chunk)
            size += len(chunk)
    digest = h.hexdigest()
    stored = (obj.get("Metadata") or {}).get(s3io.META_SHA)
    if stored and stored != digest:
        raise PackageRejected(f"{key.rsplit('/', 1)[-1]} arrived damaged (SHA-256 differs).",
                              action="Run download again.")
    return size, digest


def _same_files(manifest: ResultsManifest):
    def make(digests: dict[str, str]) -> bytes:
        # what was packed must be what was fetched and hashed
        if digests != {e.name: e.sha256 for e in manifest.files}:
            raise PackageRejected("a downloaded file changed before it was packed.",
                                  action="Run download again.")
        return dump(manifest)
    return make


def send_ack(client, bucket: str, batch_id: str, info: dict, sse: dict | None = None) -> str:
    """Acknowledge a verified download: write ``<batch_id>/ack.json`` to the results bucket.
    The single place to change when the state machine callback is added."""
    body = json.dumps({"batch_id": batch_id, **info}, ensure_ascii=False, sort_keys=True).encode()
    digest = hashlib.sha256(body).hexdigest()
    s3io.put_bytes(client, bucket, ack_key(batch_id), body, digest, "application/json", sse)
    return ack_key(batch_id)


def _acknowledge(cfg: AgentConfig, client, bucket: str, batch_id: str, files: int,
                 manifest_sha: str | None) -> None:
    try:
        send_ack(client, bucket, batch_id, {
            "acknowledged_at": dt.datetime.now(dt.UTC).isoformat(), "client_id": cfg.client_id,
            "files": files, "manifest_sha256": manifest_sha}, cfg.aws.sse_args())
    except Exception as e:
        raise s3io.translate(e, f"acknowledging batch {batch_id}") from None


def download(cfg: AgentConfig, batch_id: str, usb_dir: Path, *, dry_run: bool = False,
             acknowledge: bool = True, show_progress: bool | None = None, client=None) -> dict:
    """Fetch, package, verify, acknowledge. Raises NotFoundError if results are not ready.
    Run again after an interruption between the verified package and the ack (or after
    ``--no-ack``), it only sends the ack: the journal says the package was made. A frozen line
    is reported on stderr and ends the command after ``aws.give_up_seconds`` (exit 7)."""
    client = client or s3io.s3_client(cfg)
    watch = LineWatch(f"download {batch_id}", notice=cfg.aws.stall_notice_seconds,
                      give_up=cfg.aws.give_up_seconds)
    watch.attach(client)
    with watch:
        return _download(cfg, batch_id, usb_dir, dry_run, acknowledge, show_progress, client)


def _cost_of(results_json: Path) -> dict | None:
    """The batch's cost estimate in results.json (numbers only: the journal holds no values)."""
    import json

    from yomitori_agent.status import cost_summary

    try:
        return cost_summary(json.loads(results_json.read_bytes()))
    except (OSError, ValueError):
        return None


def _download(cfg: AgentConfig, batch_id: str, usb_dir: Path, dry_run: bool, acknowledge: bool,
              show_progress: bool | None, client) -> dict:
    recipients = parse_recipients(cfg.recipients.contract_server, "contract_server")
    bucket = cfg.require("aws.results_bucket")
    dest = Path(usb_dir) / f"{batch_id}{RESULTS_PACKAGE_SUFFIX}"
    journal = BatchJournal(cfg.state_dir, batch_id)
    done = [r for r in journal.records() if r.get("event") == "downloaded"]
    if done and acknowledge and not dry_run:
        # An earlier run wrote and verified the package; finish what it did not (the ack).
        last = done[-1]
        if not journal.has("ack_sent"):
            _acknowledge(cfg, client, bucket, batch_id, last.get("files", 0), last.get("manifest_sha256"))
            journal.record("ack_sent")
        return {"batch_id": batch_id, "package": str(dest), "manifest_sha256": last.get("manifest_sha256"),
                "acknowledged": True, "note": "downloaded before; acknowledgement completed"}
    if dest.exists() and not dry_run:
        raise BadInputError(f"{dest} already exists.",
                            action="Take the earlier package to the contract server first.")
    if not dry_run:
        check_writable_dir(Path(usb_dir))
    work = private_dir(cfg.work_path, "download-")
    try:
        with exclusive_lock(cfg.state_dir / "locks" / f"{batch_id}.lock"):
            # results.json carries every document result; results.csv the finalize CSV. Known keys,
            # plain GETs: no bucket listing needed (the agent's policy grants GetObject only).
            fetched = {}
            for name, key in (("results.json", results_json_key(batch_id)),
                              ("results.csv", results_csv_key(batch_id))):
                try:
                    got = _fetch(client, bucket, key, work / name)
                except AgentError:
                    raise
                except Exception as e:
                    raise s3io.translate(e, f"downloading batch {batch_id}") from None
                if got is not None:
                    fetched[name] = got
            if "results.json" not in fetched:
                raise NotFoundError(f"batch {batch_id} has no results yet (no results.json).",
                                    action="Check `yomitori-agent status`; download when it says ready.")
            summary = {"batch_id": batch_id, "files": len(fetched), "package": str(dest),
                       "bytes": sum(n for n, _ in fetched.values())}
            if dry_run:
                return {**summary, "dry_run": True}
            files = []
            entries = []
            for name, (size, digest) in fetched.items():
                st = (work / name).stat()
                files.append(SourceFile(name, work / name, st.st_size, st.st_mtime_ns))
                entries.append(FileEntry(name=name, size=size, sha256=digest))
            manifest = ResultsManifest(batch_id=batch_id, client_id=cfg.client_id,
                                       created_at=dt.datetime.now(dt.UTC), files=entries)
            with progress(f"package {batch_id}", summary["bytes"], enabled=show_progress) as advance:
                info = write_package(dest, files, _same_files(manifest), recipients, progress=advance)
            cost = _cost_of(work / "results.json")
            journal.record("downloaded", files=len(files), manifest_sha256=info.manifest_sha256,
                           **({"cost_estimate": cost} if cost else {}))
            summary["manifest_sha256"] = info.manifest_sha256
            if acknowledge:
                _acknowledge(cfg, client, bucket, batch_id, len(files), info.manifest_sha256)
                journal.record("ack_sent")
            summary["acknowledged"] = acknowledge
    finally:
        wipe_tree(work)
    audit(cfg.state_dir, "downloaded", batch_id=batch_id, files=summary["files"],
          manifest_sha256=summary["manifest_sha256"], acknowledged=summary["acknowledged"])
    log.info("download batch=%s files=%d ack=%s", batch_id, summary["files"], summary["acknowledged"])
    return summary
