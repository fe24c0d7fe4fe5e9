"""The batch flow (Step Functions, Standard): manifest arrives -> per page OCR -> validate
(Distributed Map) -> review gate -> finalize -> download acknowledged -> purge.

State payloads carry only ids and object keys (execution history is kept 90 days and cannot
be deleted); the Lambda results are narrowed with ResultSelector so nothing else gets in.
The definition is plain ASL built by :func:`definition` (the Distributed Map reads the
manifest's nested ``pages`` array with ``ReaderConfig.ItemsPointer``, which the CDK
``S3JsonItemReader`` does not expose).
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from yomitori import batch, settings

from infra.config import YomitoriConfig
from infra.functions import retention

_COLON = ArnFormat.COLON_RESOURCE_NAME

# Errors worth retrying: Lambda throttling/service faults, and the OCR engine's throttling
# (the ocr function lets Textract's throttling exceptions through under their own names).
THROTTLING_ERRORS = [
    "Lambda.TooManyRequestsException",
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "ThrottlingException",
    "ProvisionedThroughputExceededException",
    "LimitExceededException",
]


def _retry(attempts: int = 6) -> list[dict]:
    return [
        {
            "ErrorEquals": THROTTLING_ERRORS,
            "IntervalSeconds": 2,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        }
    ]


def _invoke(
    function_arn: str,
    payload: dict,
    *,
    next_state: str | None,
    result_selector: dict | None = None,
    result_path: str | None = None,
    catch_to: str | None = None,
    wait_for_token: bool = False,
    heartbeat_s: int | None = None,
    timeout_s: int | None = None,
) -> dict:
    state: dict = {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke" + (".waitForTaskToken" if wait_for_token else ""),
        "Parameters": {"FunctionName": function_arn, "Payload": payload},
        "Retry": _retry(),
        "ResultPath": result_path,
    }
    if result_selector is not None:
        state["ResultSelector"] = result_selector
    if heartbeat_s:
        state["HeartbeatSeconds"] = heartbeat_s
    if timeout_s:
        state["TimeoutSeconds"] = timeout_s
    if catch_to:
        state["Catch"] = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": catch_to}]
    state.update({"Next": next_state} if next_state else {"End": True})
    return state


def definition(
    *,
    functions: dict[str, str],
    audit_table: str,
    max_concurrency: int,
    review_heartbeat_s: int,
    review_timeout_s: int,
    ack_timeout_s: int,
) -> dict:
    """The ASL of the batch flow. ``functions`` maps function names to ARNs.

    Input (from the EventBridge rule):
    ``{"bucket": <intake bucket>, "manifest_key": "<batch_id>/manifest.json"}``.
    """
    ids = {"batch_id.$": "$.batch_id"}
    page_states = {
        "Ocr": _invoke(
            functions["ocr"],
            {**ids, "form_id.$": "$.form_id", "page.$": "$.page"},
            result_selector={"document_id.$": "$.Payload.document_id", "form_id.$": "$.Payload.form_id"},
            result_path="$.ocr",
            catch_to="RecordPageFailure",
            next_state="Validate",
        ),
        "Validate": _invoke(
            functions["validate"],
            {**ids, "document_id.$": "$.ocr.document_id", "form_id.$": "$.ocr.form_id"},
            result_selector={
                "document_id.$": "$.Payload.document_id",
                "needs_person.$": "$.Payload.needs_person",
            },
            result_path="$.validated",
            catch_to="RecordPageFailure",
            next_state=None,
        ),
        # A page that cannot be read is recorded (ids and the error name only) and the batch
        # goes on; the person sees it in the review as a failed document.
        "RecordPageFailure": {
            "Type": "Task",
            "Resource": "arn:aws:states:::dynamodb:putItem",
            "Parameters": {
                "TableName": audit_table,
                "Item": {
                    settings.AUDIT.partition_key: {"S.$": "$.batch_id"},
                    settings.AUDIT.sort_key: {"S.$": "States.Format('page_failed#{}', $.page.name)"},
                    "error": {"S.$": "$.error.Error"},
                },
            },
            "Retry": [
                {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 3, "BackoffRate": 2.0}
            ],
            "ResultPath": None,
            "End": True,
        },
    }
    return {
        "Comment": "yomitori batch flow: ids and object keys only in every state",
        "StartAt": "ParseEvent",
        "States": {
            "ParseEvent": {
                "Type": "Pass",
                "Parameters": {
                    "bucket.$": "$.bucket",
                    "manifest_key.$": "$.manifest_key",
                    "batch_id.$": "States.ArrayGetItem(States.StringSplit($.manifest_key, '/'), 0)",
                },
                "Next": "ReadManifestHeader",
            },
            "ReadManifestHeader": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:s3:getObject",
                "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.manifest_key"},
                "ResultSelector": {"manifest.$": "States.StringToJson($.Body)"},
                "ResultPath": "$.header",
                "Retry": [
                    {
                        "ErrorEquals": ["States.ALL"],
                        "IntervalSeconds": 2,
                        "MaxAttempts": 3,
                        "BackoffRate": 2.0,
                    }
                ],
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PurgeAfterFailure"}
                ],
                "Next": "KeepIds",
            },
            # Keep only the ids: the manifest header is dropped from the state here.
            "KeepIds": {
                "Type": "Pass",
                "Parameters": {
                    "batch_id.$": "$.batch_id",
                    "bucket.$": "$.bucket",
                    "manifest_key.$": "$.manifest_key",
                    "form_id.$": "$.header.manifest.form_id",
                },
                "Next": "Pages",
            },
            "Pages": {
                "Type": "Map",
                "Label": "Pages",
                "MaxConcurrency": max_concurrency,
                "ItemReader": {
                    "Resource": "arn:aws:states:::s3:getObject",
                    "ReaderConfig": {"InputType": "JSON", "ItemsPointer": "/pages"},
                    "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.manifest_key"},
                },
                "ItemSelector": {**ids, "form_id.$": "$.form_id", "page.$": "$$.Map.Item.Value"},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Ocr",
                    "States": page_states,
                },
                "ResultPath": None,  # per-page outcomes live in S3 and the audit table, not here
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "PurgeAfterFailure"}
                ],
                "Next": "ReviewGate",
            },
            "ReviewGate": _invoke(
                functions["review"],
                {
                    "action": "wait",
                    "task_kind": settings.TASK_KIND_REVIEW,
                    **ids,
                    "task_token.$": "$$.Task.Token",
                },
                wait_for_token=True,
                heartbeat_s=review_heartbeat_s,
                timeout_s=review_timeout_s,
                catch_to="PurgeAfterFailure",
                next_state="Finalize",
            ),
            "Finalize": _invoke(
                functions["finalize"],
                {**ids, "form_id.$": "$.form_id"},
                catch_to="PurgeAfterFailure",
                next_state="WaitForDownloadAck",
            ),
            "WaitForDownloadAck": _invoke(
                functions["review"],
                {
                    "action": "wait",
                    "task_kind": settings.TASK_KIND_ACK,
                    **ids,
                    "task_token.$": "$$.Task.Token",
                },
                wait_for_token=True,
                timeout_s=ack_timeout_s,
                catch_to="PurgeAfterFailure",
                next_state="Purge",
            ),
            "Purge": _invoke(functions["purge"], {**ids, "reason": "acknowledged"}, next_state="Done"),
            "Done": {"Type": "Succeed"},
            # Whatever went wrong, the batch's objects are deleted now, not at the lifecycle backstop.
            "PurgeAfterFailure": _invoke(
                functions["purge"],
                {**ids, "reason": "failed"},
                result_path="$.purge",
                next_state="BatchFailed",
            ),
            "BatchFailed": {
                "Type": "Fail",
                "Error": "yomitori.BatchFailed",
                "Cause": "The batch stopped early and was purged; see its audit records.",
            },
        },
    }


class Pipeline(Construct):
    """Exposes ``state_machine``, ``rule`` and ``dlq`` (failed deliveries of the trigger)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: YomitoriConfig,
        intake: s3.IBucket,
        audit_table: ddb.ITable,
        functions: dict[str, lambda_.IFunction],
        key: kms.IKey,
    ) -> None:
        super().__init__(scope, id)
        stack = Stack.of(self)
        name = f"{config.name_prefix}-batch"
        # The ARN is built from the fixed name so the review function's policy can name it
        # without a dependency cycle (state machine -> function -> role policy -> state machine).
        self.state_machine_arn = stack.format_arn(
            service="states", resource="stateMachine", resource_name=name, arn_format=_COLON
        )
        # Child executions of the Distributed Map are named <state machine>/<map run>:<id>.
        self.executions_arn = stack.format_arn(
            service="states", resource="execution", resource_name=f"{name}/*", arn_format=_COLON
        )
        log_group = logs.LogGroup(
            self,
            "Logs",
            log_group_name=f"/aws/vendedlogs/states/{name}",
            retention=retention(config.log_retention_days),
            encryption_key=key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        asl = definition(
            functions={n: f.function_arn for n, f in functions.items()},
            audit_table=audit_table.table_name,
            max_concurrency=config.max_concurrency,
            review_heartbeat_s=config.review_heartbeat_hours * 3600,
            review_timeout_s=config.review_timeout_hours * 3600,
            ack_timeout_s=config.ack_timeout_hours * 3600,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "BatchFlow",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(stack.to_json_string(asl)),
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        role = self.state_machine.role
        # The definition invokes the unqualified ARNs, so no "<arn>:*" version wildcard.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeSteps",
                actions=["lambda:InvokeFunction"],
                resources=[f.function_arn for f in functions.values()],
            )
        )
        # The Distributed Map runs its pages as child executions of this state machine.
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DistributedMapChildren",
                actions=["states:StartExecution"],
                resources=[self.state_machine_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DistributedMapRuns",
                actions=["states:DescribeExecution", "states:StopExecution"],
                resources=[self.executions_arn],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="ReadManifests",
                actions=["s3:GetObject"],
                resources=[intake.arn_for_objects(f"*{batch.MANIFEST_SUFFIX}")],
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="RecordPageFailures", actions=["dynamodb:PutItem"], resources=[audit_table.table_arn]
            )
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="DataKey",
                actions=["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"],
                resources=[key.key_arn],
            )
        )

        self.dlq = sqs.Queue(
            self,
            "TriggerDlq",
            encryption=sqs.QueueEncryption.KMS,
            encryption_master_key=key,
            enforce_ssl=True,
            retention_period=Duration.days(4),
        )
        self.rule = events.Rule(
            self,
            "ManifestArrived",
            description="A batch manifest landed in the intake bucket: start the batch flow",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [intake.bucket_name]},
                    "object": {"key": [{"suffix": batch.MANIFEST_SUFFIX}]},
                },
            ),
        )
        self.rule.add_target(
            targets.SfnStateMachine(
                self.state_machine,
                input=events.RuleTargetInput.from_object(
                    {
                        "bucket": events.EventField.from_path("$.detail.bucket.name"),
                        "manifest_key": events.EventField.from_path("$.detail.object.key"),
                    }
                ),
                dead_letter_queue=self.dlq,
                retry_attempts=8,
                max_event_age=Duration.hours(2),
            )
        )
