"""The agent's side of ``yomitori local journey`` (one machine only): its identity in the local
cloud (an IAM user with an access key, so STS names it as AWS names the external PC), its
configuration, running ``yomitori-agent`` commands in this process as that identity, and the
scripted reviewer, who works the queue through the same code the review page runs in cloud
mode (``cloud_backend`` and ``ReviewService``)."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from yomitori import settings
from yomitori.cloud_local.deploy import Deployment
from yomitori.cloud_local.server import CREDENTIALS, LocalCloud, LocalCloudError

AGENT_USER = "yomitori-agent"  # the external PC's IAM user in the local cloud
CLIENT_ID = "journey"  # its agent's client_id, and the client its IAM user is tagged with


@dataclass(frozen=True)
class AgentAccess:
    """The agent's identity in the local cloud, and what it was deployed with: the synthesized
    template (its ``AgentPolicy`` is what the agent may do) and the deployment's names."""

    access_key: str
    secret_key: str
    arn: str
    template: Path
    cloud: LocalCloud
    deployment: Deployment


def agent_cli(config: Path, *args: str) -> str:
    """Run ``yomitori-agent`` in this process; returns what it printed on stdout (also echoed
    to stderr)."""
    import io

    from yomitori_agent.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--config", str(config), "--no-progress", *args])
    print(out.getvalue(), end="", file=sys.stderr)
    if code != 0:
        raise LocalCloudError(
            f"yomitori-agent {args[0]} exited with {code}.", action="See its message above."
        )
    return out.getvalue()


def agent_identity(cloud: LocalCloud) -> tuple[str, str, str]:
    """An IAM user for the external PC, tagged with its client (yomitori.batch.CLIENT_TAG, as
    docs/deploy.md tells operators), with an access key: (key id, secret, user ARN). STS
    GetCallerIdentity of that key names the user, as AWS does."""
    from yomitori.batch import CLIENT_TAG

    iam = cloud.client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=AGENT_USER, Tags=[{"Key": CLIENT_TAG, "Value": CLIENT_ID}])
    key = iam.create_access_key(UserName=AGENT_USER)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"], iam.get_user(UserName=AGENT_USER)["User"]["Arn"]


@contextlib.contextmanager
def as_agent(access: AgentAccess, endpoint: str):
    """This process's AWS identity is the agent's, talking to ``endpoint``, with the
    variables ``yomitori local up`` prints for the review page (docs/agent.md); restored after."""
    from yomitori.steps import config
    from yomitori.store import clients

    saved = dict(os.environ)
    for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL_S3"):
        os.environ.pop(k, None)
    os.environ.update({k: v for k, v in access.cloud.environment().items() if not k.startswith("AWS_")})
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": access.access_key,
            "AWS_SECRET_ACCESS_KEY": access.secret_key,
            "AWS_DEFAULT_REGION": CREDENTIALS["AWS_DEFAULT_REGION"],
            "AWS_ENDPOINT_URL": endpoint,
        }
    )
    clients.reset()
    config.reset()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        clients.reset()
        config.reset()


def write_config(
    path: Path, cloud: LocalCloud, keys: dict, identity: Path, key_arn: str, endpoint: str
) -> None:
    from yomitori_agent.config import render_config

    path.write_text(
        render_config({
            "client_id": CLIENT_ID,
            "identity_file": identity,
            "state_dir": f"state-{identity.stem}",
            "inbox": "inbox",
            "recipients": {
                "external_pc": [keys["external_pc"]],
                "contract_server": [keys["contract_server"]],
            },
            "aws": {
                "endpoint_url": endpoint,
                "region": "ap-northeast-1",
                "intake_bucket": cloud.bucket(settings.BUCKET_INTAKE),
                "results_bucket": cloud.bucket(settings.BUCKET_RESULTS),
                "batches_table": cloud.table(settings.BATCHES),
                "kms_key_arn": key_arn,
            },
            "pack": {"settle_seconds": 0},
            "register": {"watch_dir": "robot-watch"},
        }),
        encoding="utf-8",
    )


def batch_stage(config: Path, batch_id: str) -> str:
    """What ``yomitori-agent status BATCH`` says the batch's stage is."""
    return json.loads(agent_cli(config, "status", batch_id))[0]["stage"]


def review_queue(batch_id: str, truth: dict, correct: int) -> tuple[str, int, int]:
    """Work the review queue as a person at the review page does, through the same code: the
    agent's cloud review backend (who reviews is the authenticated principal, from STS) and the
    page's service (lease, open, submit; the last submission releases the gate). Confirm what
    was read right; type what is on paper for the first ``correct`` documents, and mark the rest
    of the misread fields illegible. Returns (reviewer, fields reviewed, corrections)."""
    from yomitori_agent.review import ReviewService, cloud_backend

    # the journey's agent is one shared IAM user: it reviews as a plain reviewer (no My Number),
    # and its page lists only its own client's batches
    backend = cloud_backend(batch_id=batch_id, client_id=CLIENT_ID, allow_agent_identity=True)
    svc = ReviewService(
        backend.results, backend.reviews, backend.releaser, principal=backend.principal, batch_id=batch_id
    )
    fields = corrections = n = 0
    while (view := svc.open_next()) is not None:
        doc_id = view["document_id"]
        doc = backend.results.get_document(batch_id, doc_id)  # the values behind the page's masks
        paper = truth.get(doc.source, {}).get("fields", {})
        out = []
        for shown in view["fields"]:
            if not shown["needs_person"]:
                continue
            name = shown["name"]
            want, read = paper.get(name), doc.fields[name].value
            if want is not None and read == want:
                out.append({"field": name, "action": "confirm"})
            elif want not in (None, "") and n < correct:
                out.append({"field": name, "action": "correct", "value": want})
                corrections += 1
            else:
                out.append({"field": name, "action": "illegible", "reason": "unreadable"})
        fields += len(out)
        r = svc.submit(batch_id, doc_id, out)
        if r["ok"] is False:  # a typed value a validator refuses: the person marks it illegible
            refused = set(r["refused"])
            corrections -= sum(1 for c in out if c["field"] in refused and c["action"] == "correct")
            out = [
                c
                if c["field"] not in refused
                else {"field": c["field"], "action": "illegible", "reason": "unreadable"}
                for c in out
            ]
            r = svc.submit(batch_id, doc_id, out)
            if r["ok"] is False:
                raise LocalCloudError(f"the review of a document was refused ({sorted(r['refused'])}).")
        n += 1
    return backend.reviewer, fields, corrections
