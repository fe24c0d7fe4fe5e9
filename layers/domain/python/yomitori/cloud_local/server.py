"""The local cloud: a moto server on 127.0.0.1 holding the same buckets, key and tables the
CDK stack creates (names and policies from ``yomitori.settings``), the flow in the state
machine's order (:data:`FLOW`), and the handlers loaded and invoked as Lambda would.
One machine only (``yomitori local up|run|resume|down``, ``yomitori demo --cloud-local``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from yomitori import settings
from yomitori.errors import YomitoriError
from yomitori.ocr.engine import DEFAULT_ENGINE

REGION = "ap-northeast-1"
ACCOUNT = "123456789012"  # moto's default account
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}
PREFIX = "yomitori-local"


class LocalCloudError(YomitoriError):
    code = "local_cloud"
    action = "Run `yomitori local up` first (or `yomitori local down` and up again)."


# --- the flow, in the state machine's order (tests/integration/cloud checks it against the
# --- synthesized definition, so the two cannot drift) -------------------------------------
@dataclass(frozen=True)
class Step:
    function: str  # one of settings.FUNCTION_NAMES
    per_page: bool = False  # inside the Map over the manifest's pages
    wait: str | None = None  # a waitForTaskToken step: the task kind


FLOW: tuple[Step, ...] = (
    Step("ocr", per_page=True),
    Step("validate", per_page=True),
    Step("review", wait=settings.TASK_KIND_REVIEW),
    Step("finalize"),
    Step("review", wait=settings.TASK_KIND_ACK),
    Step("purge"),
)


# --- the local cloud ------------------------------------------------------------------------
@dataclass
class LocalCloud:
    endpoint: str
    pid: int | None = None  # the moto server we started (None: someone else's)
    prefix: str = PREFIX

    def bucket(self, role: str) -> str:
        return f"{self.prefix}-{role}"

    def table(self, spec: settings.TableSpec) -> str:
        return f"{self.prefix}-{spec.role.replace('_', '-')}"

    @property
    def kms_alias(self) -> str:
        return f"alias/{self.prefix}-data"

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def environment(self) -> dict[str, str]:
        """The variables the stack sets on the functions, pointed at this moto server."""
        key_arn = self.client("kms").describe_key(KeyId=self.kms_alias)["KeyMetadata"]["Arn"]
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.endpoint,
            settings.ENV_INTAKE_BUCKET: self.bucket(settings.BUCKET_INTAKE),
            settings.ENV_RESULTS_BUCKET: self.bucket(settings.BUCKET_RESULTS),
            settings.ENV_KMS_KEY_ARN: key_arn,
            settings.ENV_BATCHES_TABLE: self.table(settings.BATCHES),
            settings.ENV_REVIEW_TABLE: self.table(settings.REVIEW_TASKS),
            settings.ENV_AUDIT_TABLE: self.table(settings.AUDIT),
            settings.ENV_TRAIL_BUCKET: self.bucket(settings.BUCKET_TRAIL),
            settings.ENV_IDEMPOTENCY_TABLE: self.table(settings.IDEMPOTENCY),
            settings.ENV_POWERTOOLS_SERVICE: settings.SERVICE_NAME,
            settings.ENV_POWERTOOLS_NAMESPACE: settings.METRIC_NAMESPACE,
            "POWERTOOLS_TRACE_DISABLED": "true",
        }

    def activate(self, engine: str = DEFAULT_ENGINE) -> None:
        """Set this process's environment as the functions see it and forget cached clients."""
        from yomitori import observability
        from yomitori.steps import config

        os.environ.update(self.environment())
        os.environ[settings.ENV_OCR_ENGINE] = engine
        config.reset()
        observability.reset()


def provision(cloud: LocalCloud) -> LocalCloud:
    """Create the KMS key, both data buckets (SSE-KMS default, public access blocked, the
    stack's deny policy) and every table of ``settings.TABLES``. Safe to repeat."""
    kms, s3, ddb = cloud.client("kms"), cloud.client("s3"), cloud.client("dynamodb")
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if cloud.kms_alias not in aliases:
        key_id = kms.create_key(Description="yomitori local data key")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=cloud.kms_alias, TargetKeyId=key_id)
    key_arn = kms.describe_key(KeyId=cloud.kms_alias)["KeyMetadata"]["Arn"]
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for role in settings.DATA_BUCKETS:
        name = cloud.bucket(role)
        if name not in existing:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={
                "Rules": [
                    {
                        "ApplyServerSideEncryptionByDefault": {
                            "SSEAlgorithm": "aws:kms",
                            "KMSMasterKeyID": key_arn,
                        },
                        "BucketKeyEnabled": True,
                    }
                ]
            },
        )
        s3.put_public_access_block(
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        # The stack's bucket policy (settings.bucket_policy_statements) is NOT put here: moto
        # ignores the conditions of Deny statements, so every statement would deny every call.
        # What it enforces in the cloud (SSE-KMS with our key) is checked locally by the tests
        # reading each object's encryption headers instead.
    _trail_bucket(s3, cloud.bucket(settings.BUCKET_TRAIL), key_arn, existing)
    tables = set(ddb.list_tables()["TableNames"])
    for spec in settings.TABLES:
        name = cloud.table(spec)
        if name not in tables:
            ddb.create_table(**spec.create_table_kwargs(name))
            if (ttl := spec.ttl_kwargs(name)) is not None:
                ddb.update_time_to_live(**ttl)
    return cloud


TRAIL_RETENTION_DAYS = 1  # the local cloud's trail copy: Object Lock as in the stack, short


def _trail_bucket(s3: Any, name: str, key_arn: str, existing: set[str]) -> None:
    """The audit trail's copy as the stack makes it: versioned, SSE-KMS, Object Lock in
    governance mode (moto enforces the lock on buckets created with it)."""
    if name not in existing:  # (moto sets the lock configuration on an empty bucket only)
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION},
                         ObjectLockEnabledForBucket=True)
        s3.put_object_lock_configuration(Bucket=name, ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": TRAIL_RETENTION_DAYS}},
        })
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [{
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn},
        "BucketKeyEnabled": True}]})


# --- the moto server ------------------------------------------------------------------------
def state_dir() -> Path:
    return Path(os.environ.get("YOMITORI_LOCAL_STATE", Path.home() / ".cache" / "yomitori" / "local"))


def _answers(endpoint: str) -> bool:
    """Whether a server answers HTTP on ``endpoint`` at all. Any HTTP answer counts: moto's
    ``/moto-api/data.json`` (a dump of every backend) answers 500 once a state machine or a
    function exists, and taking that for "not running" made ``up`` start a second server and
    orphan the first (it outlived ``down``)."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_server(port: int = 0, *, log: Path | None = None) -> LocalCloud:
    """Start ``moto_server`` on 127.0.0.1 in its own session (it outlives this command)."""
    import socket

    if not port:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    # moto's server with the function runner and EventBridge delivery of the stack's targets
    cmd = [sys.executable, "-m", "yomitori.cloud_local.moto_host"]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [*cmd, "-H", "127.0.0.1", "-p", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env={**os.environ, **CREDENTIALS},
        start_new_session=True,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not _answers(endpoint):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise LocalCloudError(
                f"moto_server did not start on port {port}.",
                action="Check the port is free and moto[server] is installed (`make setup`).",
            )
        time.sleep(0.1)
    return LocalCloud(endpoint=endpoint, pid=proc.pid)


def up(port: int = 0) -> LocalCloud:
    """Start (or reuse) the local cloud and provision it; remembers it in the state dir."""
    cloud = current()
    if cloud is None:
        state_dir().mkdir(parents=True, exist_ok=True)
        cloud = start_server(port, log=state_dir() / "moto.log")
        (state_dir() / "state.json").write_text(json.dumps(asdict(cloud)))
    return provision(cloud)


def current() -> LocalCloud | None:
    """The local cloud ``up`` started, if it still answers."""
    path = state_dir() / "state.json"
    if not path.exists():
        return None
    cloud = LocalCloud(**json.loads(path.read_text()))
    # a busy server (an execution running on two cores) may answer slowly: while its process
    # lives, give it time, rather than start a second one and orphan the first
    deadline = time.monotonic() + (15 if cloud.pid and _alive(cloud.pid) else 0)
    while True:
        if _answers(cloud.endpoint):
            return cloud
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def down() -> bool:
    """Stop the server ``up`` started (its data, all in memory, goes with it)."""
    path = state_dir() / "state.json"
    cloud = LocalCloud(**json.loads(path.read_text())) if path.exists() else None
    path.unlink(missing_ok=True)
    if cloud is None or cloud.pid is None:
        return False

    return stop_process(cloud.pid)


def stop_process(pid: int) -> bool:
    """Stop a server this module started, with its function workers (its process group):
    SIGTERM, then SIGKILL if it is still there after 5 s (an execution waiting at a callback
    keeps moto's server from exiting on SIGTERM)."""
    import signal

    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        try:  # reap it if it is our child
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
    return True


# --- handlers ---------------------------------------------------------------------------------
def lambdas_dir() -> Path:
    env = os.environ.get("YOMITORI_LAMBDAS_DIR")
    if env:
        return Path(env)
    for parent in Path(__file__).resolve().parents:
        if (parent / "lambdas" / "ocr" / "handler.py").exists():
            return parent / "lambdas"
    raise LocalCloudError(
        "The Lambda handlers (lambdas/<name>/handler.py) were not found.",
        action="Run from the yomitori source tree or set YOMITORI_LAMBDAS_DIR.",
    )


def load_handler(name: str) -> Callable[[dict, Any], dict]:
    """``lambdas/<name>/handler.py``'s ``lambda_handler``, imported as Lambda would."""
    module_name = f"yomitori_lambda_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name, lambdas_dir() / name / "handler.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        spec.loader.exec_module(module)
    return sys.modules[module_name].lambda_handler


def invoke(name: str, event: dict, trace: list | None = None) -> dict:
    """Call a handler with a Lambda-like context; ``trace`` collects (name, event, result)."""
    import contextlib

    from yomitori.steps.runtime import LocalContext

    # Powertools writes logs and metrics to stdout (CloudWatch in Lambda); here stdout is the
    # command's result channel, so they go to stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = load_handler(name)(
            json.loads(json.dumps(event)), LocalContext(function_name=f"{PREFIX}-{name}")
        )
    if trace is not None:
        trace.append((name, event, result))
    return result


# --- batches ------------------------------------------------------------------------------------
def batch_id_for(directory: Path) -> str:
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", directory.resolve().name).strip("-_")[:40] or "batch"
    return f"{stem}-{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
