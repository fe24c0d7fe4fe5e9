"""``yomitori local journey``: the whole office journey against the executed cloud flow, on one
machine, unattended (one machine only).

keys -> synth (cdk.out) -> deploy into a private local cloud -> forms written (the scanner) ->
``yomitori-agent pack`` -> ``upload`` (the manifest's arrival starts the state machine through
EventBridge) -> the flow runs to the review gate -> a scripted reviewer works the queue through
the review function -> ``download`` (its ack.json resumes the flow) -> ``import`` ->
``register`` -> the flow purges and ends. Then what was left behind is measured: objects in
the buckets, the deletion record, and seeded personal values and scanner file names found in
the execution history, handler logs, delivered events and the tables.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from yomitori import settings
from yomitori.cloud_local.server import CREDENTIALS, LocalCloud, LocalCloudError, provision, start_server

REVIEWER = "journey-reviewer"


@dataclass
class Journey:
    status: str = "NOT_STARTED"
    documents: int = 0
    fields_reviewed: int = 0
    corrections: int = 0
    objects_left: int = -1
    deletion_receipt: bool = False
    pii_hits: int = -1
    pii_where: dict = field(default_factory=dict)
    registered: int = 0
    engine: str = ""
    form: str = ""
    seconds: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.status == "SUCCEEDED"
            and self.objects_left == 0
            and self.deletion_receipt
            and self.pii_hits == 0
            and self.error is None
        )


class _Clock:
    def __init__(self, journey: Journey):
        self.j, self.start = journey, time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str):
        t = time.perf_counter()
        print(f"journey: {name} ...", file=sys.stderr, flush=True)
        try:
            yield
        finally:
            self.j.seconds[name] = round(time.perf_counter() - t, 2)
            self.j.seconds["total"] = round(time.perf_counter() - self.start, 2)


def _agent(config: Path, *args: str) -> None:
    from yomitori_agent.cli import main

    with contextlib.redirect_stdout(sys.stderr):
        code = main(["--config", str(config), "--no-progress", *args])
    if code != 0:
        raise LocalCloudError(
            f"yomitori-agent {args[0]} exited with {code}.", action="See its message above."
        )


def _wait(predicate, what: str, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise LocalCloudError(f"Timed out waiting for {what}.", action="See the moto log and local-cloud/logs.")


def _write_config(path: Path, cloud: LocalCloud, keys: dict, identity: Path, key_arn: str) -> None:
    path.write_text(
        f'''client_id = "journey"
identity_file = "{identity}"
state_dir = "state-{identity.stem}"
inbox = "inbox"
[recipients]
external_pc = ["{keys["external_pc"]}"]
contract_server = ["{keys["contract_server"]}"]
[aws]
endpoint_url = "{cloud.endpoint}"
region = "ap-northeast-1"
intake_bucket = "{cloud.bucket(settings.BUCKET_INTAKE)}"
results_bucket = "{cloud.bucket(settings.BUCKET_RESULTS)}"
kms_key_arn = "{key_arn}"
[pack]
settle_seconds = 0
[register]
watch_dir = "robot-watch"
''',
        encoding="utf-8",
    )


def run_journey(*, count: int, form_id: str, engine: str, work: Path, correct: int = 1) -> Journey:
    """Run the journey in ``work`` (kept for inspection) and return its summary; the private
    local cloud is stopped at the end. ``correct``: documents whose reviewer types the value
    on paper into every field the engine misread (the others only confirm the read values)."""
    j = Journey(engine=engine, form=form_id)
    clock = _Clock(j)
    work = Path(work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    os.environ["YOMITORI_LOCAL_STATE"] = str(work / "local-cloud")
    os.environ.update(CREDENTIALS)
    os.environ.pop("AWS_PROFILE", None)
    cloud = None
    try:
        with clock.stage("keys"):
            from yomitori_agent.keys import new_identity

            keys, identities = {}, {}
            for role in ("external_pc", "contract_server"):
                identities[role], keys[role] = new_identity(work / "keys", f"{role}-{os.getpid()}")
        with clock.stage("synth"):
            from yomitori.cloud_local.deploy import deploy, synth

            template = synth(work / "cdk.out")
        with clock.stage("deploy"):
            cloud = provision(start_server(log=work / "moto.log"))
            deployment = deploy(cloud, template, engine=engine)
            key_arn = cloud.client("kms").describe_key(KeyId=cloud.kms_alias)["KeyMetadata"]["Arn"]
            for d in ("usb-in", "usb-out", "inbox"):
                (work / d).mkdir(exist_ok=True)
            configs = {}
            for role, identity in identities.items():
                configs[role] = work / f"{role}.toml"
                _write_config(configs[role], cloud, keys, identity, key_arn)
        with clock.stage("scan"):
            from yomitori.forms import load_form
            from yomitori.synth import generate

            scans = work / "scans"
            pages = generate(
                load_form(form_id), count=count, out_dir=scans, seed=count, dpi=300, degrade="light"
            )
            truth = {
                p.name: json.loads((scans / "truth" / f"{p.stem}.json").read_text("utf-8")) for p in pages
            }
        with clock.stage("pack"):
            _agent(
                configs["external_pc"], "pack", str(scans), "--to", str(work / "usb-in"), "--form", form_id
            )
        with clock.stage("upload"):
            _agent(configs["external_pc"], "upload", str(work / "usb-in"))
        sfn, lam = cloud.client("stepfunctions"), cloud.client("lambda")
        review_fn = deployment.functions["review"]

        def invoke(event: dict) -> dict:
            r = lam.invoke(FunctionName=review_fn, Payload=json.dumps(event))
            body = json.loads(r["Payload"].read())
            if r.get("FunctionError"):
                raise LocalCloudError(
                    f"the review function failed: {body.get('errorType')}: {body.get('errorMessage')}"
                )
            return body

        with clock.stage("flow"):
            execution = _wait(
                lambda: (
                    sfn.list_executions(stateMachineArn=deployment.state_machine_arn)["executions"] or [None]
                )[0],
                "the state machine to start (manifest -> EventBridge -> Step Functions)",
                60,
            )["executionArn"]
            batch_id = json.loads(sfn.describe_execution(executionArn=execution)["input"])[
                "manifest_key"
            ].split("/")[0]

            def at_gate():
                st = sfn.describe_execution(executionArn=execution)["status"]
                if st != "RUNNING":
                    raise LocalCloudError(f"the flow ended early ({st}).")
                events = sfn.get_execution_history(executionArn=execution, reverseOrder=True)["events"]
                return any(e["type"] == "TaskSubmitted" for e in events)

            _wait(at_gate, "the flow to reach the review gate", 60 + 30 * count)
        with clock.stage("review"):
            j.fields_reviewed, j.corrections = _review(cloud, invoke, batch_id, truth, correct)
        with clock.stage("download"):
            results = cloud.client("s3")

            def results_ready():
                with contextlib.suppress(results.exceptions.ClientError):
                    results.head_object(
                        Bucket=cloud.bucket(settings.BUCKET_RESULTS), Key=f"{batch_id}/results.json"
                    )
                    return True
                return False

            _wait(results_ready, "finalize to write the results", 120)
            _agent(configs["external_pc"], "download", batch_id, "--to", str(work / "usb-out"))
        with clock.stage("import"):
            _agent(configs["contract_server"], "import", str(work / "usb-out"), "--to", str(work / "inbox"))
        with clock.stage("register"):
            db = work / "core.db"
            _agent(configs["contract_server"], "register", str(work / "inbox"), "--db", f"sqlite:///{db}")
            j.registered = _count_rows(db)
        with clock.stage("ack+purge"):

            def ended():
                st = sfn.describe_execution(executionArn=execution)["status"]
                return st if st != "RUNNING" else None

            j.status = _wait(ended, "the flow to purge and end after the acknowledgement", 120)
        with clock.stage("check"):
            from yomitori.cloud_local.evidence import deletion_receipt, objects_left, pii_report

            j.documents = len(pages)
            j.objects_left = objects_left(cloud)
            j.deletion_receipt = deletion_receipt(cloud, batch_id)
            j.pii_where = pii_report(cloud, deployment.state_machine_arn, truth, form_id)
            j.pii_hits = sum(j.pii_where.values())
    except Exception as e:  # the journey reports how far it got
        j.error = f"{type(e).__name__}: {e}"
    finally:
        if cloud is not None and cloud.pid:
            from yomitori.cloud_local.server import stop_process

            stop_process(cloud.pid)
    return j


def _count_rows(db: Path) -> int:
    import sqlite3

    with contextlib.closing(sqlite3.connect(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return sum(
            conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0]
            for t in tables
            if t.startswith("yomitori_")
        )


def _review(cloud: LocalCloud, invoke, batch_id: str, truth: dict, correct: int) -> tuple[int, int]:
    """Work the review queue through the review function, as a person at the review page:
    confirm what was read right; type what is on paper for the first ``correct`` documents,
    and mark the rest of the misread fields illegible."""
    from yomitori.results import DocumentResult

    s3 = cloud.client("s3")
    fields = corrections = 0
    queue = invoke({"action": "queue", "batch_id": batch_id})["queue"]
    for n, item in enumerate(queue):
        doc_id = item["document_id"]
        invoke({"action": "lease", "batch_id": batch_id, "reviewer": REVIEWER, "document_id": doc_id})
        body = s3.get_object(
            Bucket=cloud.bucket(settings.BUCKET_RESULTS), Key=f"{batch_id}/documents/{doc_id}.json"
        )
        doc = DocumentResult.model_validate_json(body["Body"].read())
        paper = truth.get(doc.source, {}).get("fields", {})
        todo = [(name, f) for name, f in doc.fields.items() if f.status.value in ("needs_review", "invalid")]
        out = []
        for name, f in todo:
            want = paper.get(name)
            if want is not None and f.value == want:
                out.append({"field": name, "action": "confirm"})
            elif want not in (None, "") and n < correct:
                out.append({"field": name, "action": "correct", "value": want})
                corrections += 1
            else:
                out.append({"field": name, "action": "illegible", "reason": "unreadable"})
        fields += len(out)
        r = invoke(
            {
                "action": "submit",
                "batch_id": batch_id,
                "document_id": doc_id,
                "reviewer": REVIEWER,
                "corrections": out,
            }
        )
        if r.get("ok") is False:  # a typed value a validator refuses: the person marks it illegible
            refused = set(r.get("refused", {}))
            out = [
                c
                if c["field"] not in refused
                else {"field": c["field"], "action": "illegible", "reason": "unreadable"}
                for c in out
            ]
            r = invoke(
                {
                    "action": "submit",
                    "batch_id": batch_id,
                    "document_id": doc_id,
                    "reviewer": REVIEWER,
                    "corrections": out,
                }
            )
            if r.get("ok") is False:
                raise LocalCloudError(f"the review of a document was refused ({r.get('error')}).")
    return fields, corrections
