"""Deploy the synthesized stack's flow into the local cloud (one machine only): the layers,
functions, state machine and EventBridge rule of ``cdk.out/<stack>.template.json``, with the
template's references resolved to the local cloud's buckets, tables and key.

What is deployed is what ``cdk synth`` wrote: the function code and domain layer are the
synthesized assets, the definition is the template's ``DefinitionString``, the rule its
``EventPattern`` and target input transformer. Left out, because moto has nothing to run
them: VPC placement, IAM roles and their policies (checked by tests/infra against the
template), X-Ray, alarms, the trigger's dead-letter queue, reserved concurrency.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from yomitori import settings
from yomitori.cloud_local.functions import LAYER_GROUP_TAG
from yomitori.cloud_local.server import ACCOUNT, REGION, LocalCloud, LocalCloudError

ROLE = f"arn:aws:iam::{ACCOUNT}:role/yomitori-local-execution"
# the stack's third-party layers and its model layer (their descriptions, infra/functions.py):
# this machine runs the host build of each (cloud_local.layers.host_layer), not the Lambda one
_GROUP = re.compile(r"(?:third-party packages|yomitori model): ([a-z0-9_-]+)")
# Host-only layers: what Lambda does not have but an engine run on this machine needs.
HOST_LAYERS = {"tesseract": "tesseract"}


def local_context() -> dict:
    """cdk.json's ``yomitori`` context, in moto's account."""
    from yomitori.cloud_local.layers import repo_dir

    raw = json.loads((repo_dir() / "cdk.json").read_text(encoding="utf-8"))["context"]["yomitori"]
    return {**raw, "account": ACCOUNT, "region": REGION}


def synth(outdir: Path, context: dict | None = None) -> Path:
    """Synthesize the stack into ``outdir`` (offline) and return the template's path."""
    from yomitori.cloud_local.layers import repo_dir

    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    import sys

    if str(repo_dir()) not in sys.path:
        sys.path.insert(0, str(repo_dir()))
    from infra.app import build_app

    app = build_app(context=context or local_context(), outdir=str(outdir))
    with contextlib.suppress(RuntimeError):  # cdk-nag findings are the infra tests' business
        app.synth()
    return next(Path(outdir).glob("*.template.json"))


def _zip_dir(path: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(path.rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                z.write(p, p.relative_to(path).as_posix())
    return buf.getvalue()


def _tag_zip(group: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr(LAYER_GROUP_TAG, json.dumps({"group": group}))
    return buf.getvalue()


@dataclass
class Deployment:
    state_machine_arn: str
    functions: dict[str, str]  # short name (ocr, ...) -> function name
    rules: list[str] = field(default_factory=list)


class _Resolver:
    def __init__(self, refs: dict, atts: dict):
        self.refs, self.atts = refs, atts

    def __call__(self, v):
        if isinstance(v, list):
            return [self(x) for x in v]
        if not isinstance(v, dict):
            return v
        if "Ref" in v:
            return self.refs[v["Ref"]]
        if "Fn::GetAtt" in v:
            return self.atts[tuple(v["Fn::GetAtt"])]
        if "Fn::Join" in v:
            sep, parts = v["Fn::Join"]
            return sep.join(str(self(p)) for p in parts)
        if "Fn::Select" in v:
            i, items = v["Fn::Select"]
            return self(items)[int(i)]
        if "Fn::Split" in v:
            sep, s = v["Fn::Split"]
            return self(s).split(sep)
        if len(v) == 1 and next(iter(v)).startswith("Fn::"):
            raise LocalCloudError(f"cannot resolve {next(iter(v))} in the template")
        return {k: self(x) for k, x in v.items()}


def configure_execution(cloud: LocalCloud) -> None:
    """Turn on moto's ASL interpreter (the server's config API)."""
    body = json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode()
    req = urllib.request.Request(
        f"{cloud.endpoint}/moto-api/config",
        data=body,
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(req, timeout=10).close()


def deploy(cloud: LocalCloud, template_path: Path, *, engine: str | None = None) -> Deployment:
    """Create the template's layers, functions, state machine and rules in ``cloud`` (already
    provisioned). ``engine`` overrides the functions' OCR engine setting."""
    template = json.loads(Path(template_path).read_text(encoding="utf-8"))
    outdir = Path(template_path).parent
    res = template["Resources"]
    configure_execution(cloud)
    key_arn = cloud.client("kms").describe_key(KeyId=cloud.kms_alias)["KeyMetadata"]["Arn"]
    refs = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    atts: dict = {}
    by_env = {
        settings.ENV_INTAKE_BUCKET: cloud.bucket(settings.BUCKET_INTAKE),
        settings.ENV_RESULTS_BUCKET: cloud.bucket(settings.BUCKET_RESULTS),
        settings.ENV_BATCHES_TABLE: cloud.table(settings.BATCHES),
        settings.ENV_REVIEW_TABLE: cloud.table(settings.REVIEW_TASKS),
        settings.ENV_AUDIT_TABLE: cloud.table(settings.AUDIT),
        settings.ENV_TRAIL_BUCKET: cloud.bucket(settings.BUCKET_TRAIL),
        settings.ENV_IDEMPOTENCY_TABLE: cloud.table(settings.IDEMPOTENCY),
    }
    functions = {k: r for k, r in res.items() if r["Type"] == "AWS::Lambda::Function"}
    for r in functions.values():  # the functions' variables name the stack's buckets, tables, key
        for name, value in r["Properties"].get("Environment", {}).get("Variables", {}).items():
            if isinstance(value, dict) and "Ref" in value and name in by_env:
                refs[value["Ref"]] = by_env[name]
                atts[(value["Ref"], "Arn")] = f"arn:aws:s3:::{by_env[name]}"
            elif name == settings.ENV_KMS_KEY_ARN and isinstance(value, dict):
                atts[tuple(value["Fn::GetAtt"])] = key_arn
    resolve = _Resolver(refs, atts)
    _execution_role(cloud)
    lam = cloud.client("lambda")
    for logical, r in res.items():
        if r["Type"] != "AWS::Lambda::LayerVersion":
            continue
        p = r["Properties"]
        group = _GROUP.search(p.get("Description", ""))
        content = _tag_zip(group[1]) if group else _zip_dir(outdir / _asset(template, p["Content"]))
        name = f"{cloud.prefix}-{group[1] if group else 'domain'}"
        refs[logical] = lam.publish_layer_version(LayerName=name, Content={"ZipFile": content})[
            "LayerVersionArn"
        ]
    extra = []
    if engine in HOST_LAYERS:
        extra.append(
            lam.publish_layer_version(
                LayerName=f"{cloud.prefix}-host-{engine}", Content={"ZipFile": _tag_zip(HOST_LAYERS[engine])}
            )["LayerVersionArn"]
        )
    existing = {f["FunctionName"] for f in lam.list_functions()["Functions"]}
    short = {}
    for logical, r in functions.items():
        p = r["Properties"]
        name = p["FunctionName"]
        short[name.rsplit("-", 1)[-1]] = name
        env = {k: str(resolve(v)) for k, v in p.get("Environment", {}).get("Variables", {}).items()}
        if engine:
            env[settings.ENV_OCR_ENGINE] = engine
        layers = [resolve(x) for x in p.get("Layers", [])]
        if name.endswith("-ocr"):
            layers += extra
        kwargs = dict(
            FunctionName=name,
            Runtime=p["Runtime"],
            Role=ROLE,
            Handler=p["Handler"],
            Timeout=int(p.get("Timeout", 3)),
            MemorySize=int(p.get("MemorySize", 128)),
            Environment={"Variables": env},
            Layers=layers,
        )
        code = _zip_dir(outdir / _asset(template, p["Code"]))
        if name in existing:
            lam.update_function_code(FunctionName=name, ZipFile=code)
            kwargs.pop("Runtime")
            lam.update_function_configuration(**{k: v for k, v in kwargs.items()})
        else:
            lam.create_function(Code={"ZipFile": code}, **kwargs)
        arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        refs[logical], atts[(logical, "Arn")] = name, arn
    sfn = cloud.client("stepfunctions")
    sm_arn = None
    for logical, r in res.items():
        if r["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        p = r["Properties"]
        definition = resolve(p["DefinitionString"])
        for key, value in resolve(p.get("DefinitionSubstitutions", {})).items():
            definition = definition.replace("${" + key + "}", str(value))
        name = p["StateMachineName"]
        sm_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{name}"
        with contextlib.suppress(sfn.exceptions.StateMachineDoesNotExist):
            sfn.delete_state_machine(stateMachineArn=sm_arn)
        extra_args = {}
        if "EncryptionConfiguration" in p:
            enc = resolve(p["EncryptionConfiguration"])
            extra_args["encryptionConfiguration"] = {k[0].lower() + k[1:]: v for k, v in enc.items()}
        sm_arn = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=ROLE,
            type=p.get("StateMachineType", "STANDARD"),
            **extra_args,
        )["stateMachineArn"]
        refs[logical] = sm_arn
    if sm_arn is None:
        raise LocalCloudError("The template has no state machine.")
    s3 = cloud.client("s3")
    for logical, r in res.items():
        if r["Type"] == "AWS::S3::Bucket" and logical in refs:
            notify = r["Properties"].get("NotificationConfiguration", {})
            if notify.get("EventBridgeConfiguration", {}).get("EventBridgeEnabled"):
                s3.put_bucket_notification_configuration(
                    Bucket=refs[logical], NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
    events = cloud.client("events")
    rules = []
    for logical, r in res.items():
        if r["Type"] != "AWS::Events::Rule":
            continue
        p = r["Properties"]
        name = f"{cloud.prefix}-{logical}"
        events.put_rule(Name=name, EventPattern=json.dumps(resolve(p["EventPattern"])), State="ENABLED")
        targets = []
        for t in p.get("Targets", []):
            target = {"Id": t["Id"], "Arn": resolve(t["Arn"])}
            if "InputTransformer" in t:
                target["InputTransformer"] = resolve(t["InputTransformer"])
            targets.append(target)
        events.put_targets(Rule=name, Targets=targets)
        rules.append(name)
    return Deployment(state_machine_arn=sm_arn, functions=short, rules=rules)


def _execution_role(cloud: LocalCloud) -> None:
    """One role the functions and the state machine name (moto checks it exists; the real
    roles' policies are checked against the template by tests/infra)."""
    iam = cloud.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=ROLE.rsplit("/", 1)[1], AssumeRolePolicyDocument=json.dumps(trust))


def _asset(template: dict, code: dict) -> str:
    """The cdk.out folder of a Lambda code/layer asset (``<hash>.zip`` -> ``asset.<hash>``)."""
    key = code["S3Key"] if isinstance(code["S3Key"], str) else json.dumps(code["S3Key"])
    return "asset." + key.removesuffix(".zip")
