"""``yomitori local journey``: the whole office journey against the executed cloud flow, on one
machine, unattended (one machine only).

keys -> synth (cdk.out) -> deploy into a private local cloud -> forms written (the scanner) ->
``yomitori-agent pack`` -> ``upload`` (the manifest's arrival starts the state machine through
EventBridge) -> the flow runs to the review gate (``status`` says so) -> a scripted reviewer
works the queue through the agent's cloud review backend, the code the review page runs, as the
agent's own AWS principal (an IAM user of the local cloud; the audit trail names it) -> ``download``
(its ack.json resumes the flow through EventBridge) -> ``import`` -> ``register`` -> the flow
purges and ends.

Then what was left behind is measured: objects in the buckets, the deletion record, who the
audit records name, and seeded personal values and scanner file names found in the execution
history, handler logs, delivered events and the tables.

The agent's side (its identity, commands and the scripted reviewer) is in ``journey_agent``.
Every AWS call of the agent goes to ``agent_gateway``'s endpoint when one is given (the tests
put the policy guard there, judging each call against the synthesized agent policy).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from yomitori import settings
from yomitori.cloud_local.journey_agent import (
    AGENT_USER,
    AgentAccess,
    agent_cli,
    agent_identity,
    as_agent,
    batch_stage,
    review_queue,
    write_config,
)
from yomitori.cloud_local.server import CREDENTIALS, LocalCloudError, provision, start_server

__all__ = ["AGENT_USER", "AgentAccess", "Journey", "run_journey"]


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
    reviewer: str = ""  # who the review backend said is reviewing (the authenticated principal)
    audit_reviewers: list = field(default_factory=list)  # who the batch's audit records name
    audit_intact: bool = False  # the batch's audit chain verifies (yomitori.audit.chain)
    audit_anchors: int = 0  # ... against the deletion record and the Object-Lock copy
    status_seen: list = field(default_factory=list)  # `yomitori-agent status` at gate, after download
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
            and self.audit_intact
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


def _wait(predicate, what: str, timeout: float, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise LocalCloudError(f"Timed out waiting for {what}.", action="See the moto log and local-cloud/logs.")


def run_journey(
    *,
    count: int,
    form_id: str,
    engine: str,
    work: Path,
    correct: int = 1,
    agent_gateway: Callable[[AgentAccess], str] | None = None,
) -> Journey:
    """Run the journey in ``work`` (kept for inspection) and return its summary; the private
    local cloud is stopped at the end. ``correct``: documents whose reviewer types the value
    on paper into every field the engine misread (the others only confirm the read values).
    ``agent_gateway(access)``: the endpoint the agent talks to (default: the cloud's own)."""
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
            access = AgentAccess(*agent_identity(cloud), template, cloud, deployment)
            endpoint = agent_gateway(access) if agent_gateway else cloud.endpoint
            for d in ("usb-in", "usb-out", "inbox"):
                (work / d).mkdir(exist_ok=True)
            configs = {}
            for role, identity in identities.items():
                configs[role] = work / f"{role}.toml"
                write_config(configs[role], cloud, keys, identity, key_arn, endpoint)
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
            agent_cli(
                configs["external_pc"], "pack", str(scans), "--to", str(work / "usb-in"), "--form", form_id
            )
        with clock.stage("upload"), as_agent(access, endpoint):
            agent_cli(configs["external_pc"], "upload", str(work / "usb-in"))
        sfn = cloud.client("stepfunctions")

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
        with clock.stage("review"), as_agent(access, endpoint):
            j.status_seen.append(batch_stage(configs["external_pc"], batch_id))
            j.reviewer, j.fields_reviewed, j.corrections = review_queue(batch_id, truth, correct)
        with clock.stage("download"), as_agent(access, endpoint):
            results = cloud.client("s3")

            def results_ready():
                with contextlib.suppress(results.exceptions.ClientError):
                    results.head_object(
                        Bucket=cloud.bucket(settings.BUCKET_RESULTS), Key=f"{batch_id}/results.json"
                    )
                    return True
                return False

            _wait(results_ready, "finalize to write the results", 120)
            agent_cli(configs["external_pc"], "download", batch_id, "--to", str(work / "usb-out"))
            j.status_seen.append(batch_stage(configs["external_pc"], batch_id))
        with clock.stage("import"):
            usb, inbox = str(work / "usb-out"), str(work / "inbox")
            agent_cli(configs["contract_server"], "import", usb, "--to", inbox)
        with clock.stage("register"):
            db = work / "core.db"
            agent_cli(configs["contract_server"], "register", str(work / "inbox"), "--db", f"sqlite:///{db}")
            j.registered = _count_rows(db)
        with clock.stage("ack+purge"):

            def ended():
                st = sfn.describe_execution(executionArn=execution)["status"]
                return st if st != "RUNNING" else None

            j.status = _wait(ended, "the flow to purge and end after the acknowledgement", 120)
        with clock.stage("check"):
            from yomitori.cloud_local.evidence import (
                audit_reviewers,
                audit_verdict,
                deletion_receipt,
                objects_left,
                pii_report,
            )

            j.documents = len(pages)
            j.audit_reviewers = audit_reviewers(cloud, batch_id)
            j.audit_intact, j.audit_anchors = audit_verdict(cloud, batch_id)
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
