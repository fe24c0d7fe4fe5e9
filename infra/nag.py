"""cdk-nag acknowledgements (cdk-nag v3: CDK's ``Validations.of(construct).acknowledge``).

Each acknowledgement sits on the construct it concerns, names the exact finding (v3 ids carry
the offending action/resource, e.g. ``AwsSolutions-IAM5[Resource::*]``) and says why it is
true but acceptable here. Anything not listed fails synth and the tests.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from aws_cdk import Acknowledgment, CfnResource, Stack, Validations
from constructs import IConstruct

if TYPE_CHECKING:
    from infra.stack import YomitoriStack

IAM5 = "AwsSolutions-IAM5"

# Why object-key wildcards are needed: every key starts with the batch id (yomitori.batch).
BATCH_PREFIX = (
    "object keys start with the batch id, known only at run time (yomitori.batch key "
    "layout); the pattern still limits the role to one kind of object in one bucket"
)
NO_RESOURCE_LEVEL = {
    "vpc": "ec2:*NetworkInterface* for the function's VPC ENIs and xray:PutTraceSegments/"
    "PutTelemetryRecords support no resource-level permissions (only '*')",
    "textract": "Textract DetectDocumentText/AnalyzeDocument have no resource-level permissions; page "
    "bytes are sent in the request, Textract reads no bucket",
    "states": "CloudWatch Logs vended-log delivery (logs:*LogDelivery*, DescribeLogGroups, resource "
    "policies) and X-Ray tracing of the state machine support only '*'",
}


def ack(construct: IConstruct, rule: str, reason: str) -> None:
    """Acknowledge one finding on ``construct`` with a specific reason."""
    Validations.of(construct).acknowledge(Acknowledgment(id=rule, reason=reason))


def nag_text(text: str) -> str:
    """A literal resource string as cdk-nag prints it: policy variables in angle brackets."""
    return re.sub(r"\$\{([^}]+)\}", r"<\1>", text)


def nag_repr(scope: IConstruct, value: str) -> str:
    """How cdk-nag prints a (possibly tokenised) resource string in a finding id: ``Ref`` as
    ``<Name>``, ``Fn::GetAtt`` as ``<Name.Attr>``, ``Fn::Join`` joined, an IAM policy variable
    ``${aws:PrincipalTag/x}`` as ``<aws:PrincipalTag/x>``."""
    def render(node) -> str:
        if isinstance(node, str):
            return nag_text(node)
        if isinstance(node, dict) and "Ref" in node:
            return f"<{node['Ref']}>"
        if isinstance(node, dict) and "Fn::GetAtt" in node:
            return f"<{'.'.join(node['Fn::GetAtt'])}>"
        if isinstance(node, dict) and "Fn::Join" in node:
            sep, parts = node["Fn::Join"]
            return sep.join(render(p) for p in parts)
        raise ValueError(f"cannot render {node!r} as cdk-nag does")

    return render(Stack.of(scope).resolve(value))


def arn_of(resource: IConstruct) -> str:
    """``<LogicalId.Arn>`` of a bucket (or any resource whose default child has an Arn)."""
    cfn = resource if isinstance(resource, CfnResource) else resource.node.default_child
    return nag_repr(cfn, cfn.get_att("Arn").to_string())


def acknowledge_stack(stack: YomitoriStack) -> None:
    """Acknowledge the deliberate findings of the yomitori stack, each on its own construct."""
    from infra.stack import DOCUMENTS, MANIFEST, OCR, OWN_DOCUMENTS, OWN_OBJECTS, OWN_RESULTS, PAGES, RESULTS

    storage, fns, pipeline = stack.storage, stack.functions.functions, stack.pipeline
    intake, results = arn_of(storage.intake), arn_of(storage.results)

    for name, fn in fns.items():
        reason = NO_RESOURCE_LEVEL["vpc"]
        if name == "ocr" and stack.config.ocr_engine == "textract":
            reason += "; " + NO_RESOURCE_LEVEL["textract"]
        ack(fn.role, f"{IAM5}[Resource::*]", reason)

    per_function = {
        "ocr": [
            (intake, PAGES, "reads the page images of the batch it is given"),
            (intake, MANIFEST, "looks up the page it is given (by ordinal) in the batch manifest"),
            (results, OCR, "writes the OCR output of each page"),
        ],
        "validate": [
            (results, OCR, "reads the OCR output of the document it validates"),
            (results, DOCUMENTS, "writes the routed document result"),
        ],
        "finalize": [
            (results, DOCUMENTS, "reads every document result of the batch"),
            (results, RESULTS, "writes results.json and results.csv of the batch"),
            (intake, MANIFEST, "reads the batch manifest to list pages whose OCR failed for good"),
        ],
        "review": [
            (results, DOCUMENTS, "reads documents for the review page and saves the corrections"),
        ],
        "purge": [
            (
                intake,
                "*",
                "deletes every object (all kinds) under the finished batch's prefix, so the grant covers "
                "any object of this bucket",
            ),
            (
                results,
                "*",
                "deletes every object (all kinds) under the finished batch's prefix, so the grant covers "
                "any object of this bucket",
            ),
        ],
    }
    for name, grants in per_function.items():
        for bucket, pattern, what in grants:
            ack(fns[name].role, f"{IAM5}[Resource::{bucket}/{pattern}]", f"{name} {what}; {BATCH_PREFIX}")
    ack(fns["purge"].role, f"{IAM5}[Resource::{arn_of(storage.trail_bucket)}/trail/*]",
        "purge writes the finished batch's audit trail copy (trail/<batch id>.jsonl; batch ids are only "
        "known at run time); PutObject only, into an Object-Lock bucket it cannot delete from")

    sm_role = pipeline.state_machine.role
    ack(sm_role, f"{IAM5}[Resource::*]", NO_RESOURCE_LEVEL["states"])
    ack(
        sm_role,
        f"{IAM5}[Resource::{intake}/{MANIFEST}]",
        f"the Distributed Map's ItemReader reads each batch's manifest; {BATCH_PREFIX}",
    )
    execution_arn = nag_repr(stack, pipeline.executions_arn)
    ack(
        sm_role,
        f"{IAM5}[Resource::{execution_arn}]",
        "the Distributed Map describes/stops its own child executions, whose names Step Functions "
        "generates under this state machine's name",
    )

    from infra.people import acknowledge_people

    acknowledge_people(stack.people, storage)
    agent = stack.agent_policy
    own = (
        "; its keys are limited to the batches of the client its identity is tagged with "
        "(yomitori-client), whose ids are known only at run time"
    )
    ack(
        agent,
        f"{IAM5}[Resource::{intake}/{nag_text(OWN_OBJECTS)}]",
        f"the agent uploads, checks and withdraws a batch's pages and manifest{own}",
    )
    ack(
        agent,
        f"{IAM5}[Resource::{results}/{nag_text(OWN_RESULTS)}]",
        f"the agent downloads a batch's results.json and results.csv{own}",
    )
    ack(
        agent,
        f"{IAM5}[Resource::{results}/{nag_text(OWN_DOCUMENTS)}]",
        f"the review page reads documents and saves corrections{own}",
    )
    # (ack.json of the client's batches has only '?' wildcards, which IAM5 does not flag)

    ack(
        pipeline.dlq,
        "AwsSolutions-SQS3",
        "this queue is itself the dead-letter queue of the EventBridge rule that starts the batch flow",
    )
    for table, why in (
        (
            storage.tables["review_tasks"],
            "holds Step Functions task tokens (bearer "
            "credentials to resume an execution) that must not survive in 35-day backups",
        ),
        (
            storage.tables["idempotency"],
            "holds idempotency records that expire with the batch; a restore would replay nothing useful",
        ),
    ):
        ack(table, "AwsSolutions-DDB3", f"point-in-time recovery off on purpose: the table {why}")
