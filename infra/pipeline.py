"""The batch flow (Step Functions, Standard): manifest arrives -> per page OCR -> validate
(Distributed Map) -> review gate -> finalize -> download acknowledged -> purge.

State payloads carry only ids and object keys (execution history is kept 90 days and cannot
be deleted); the Lambda results are narrowed with ResultSelector so nothing else gets in.
The definition is plain ASL from :mod:`infra.definition` (the Distributed Map reads the
manifest's nested ``pages`` array with ``ReaderConfig.ItemsPointer``, which the CDK
``S3JsonItemReader`` does not expose).
"""

from __future__ import annotations

import json

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
from yomitori import batch

from infra.config import YomitoriConfig
from infra.definition import definition
from infra.functions import retention

_COLON = ArnFormat.COLON_RESOURCE_NAME


class Pipeline(Construct):
    """Exposes ``state_machine``, ``rule`` (manifest -> flow), ``ack_rule`` (the download's
    acknowledgement object -> the review function, which resumes the flow) and ``dlq``
    (failed deliveries of either)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: YomitoriConfig,
        intake: s3.IBucket,
        results: s3.IBucket,
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
        # Plain json.dumps with ${...} substitutions, not stack.to_json_string: that drops the
        # nulls, and "ResultPath": null (keep the state's input) is what several states need.
        subs = {f"fn_{n}": f.function_arn for n, f in functions.items()}
        subs["audit_table"] = audit_table.table_name
        asl = definition(
            functions={n: "${fn_" + n + "}" for n in functions},
            audit_table="${audit_table}",
            max_concurrency=config.max_concurrency,
            review_heartbeat_s=config.review_heartbeat_hours * 3600,
            review_timeout_s=config.review_timeout_hours * 3600,
            ack_timeout_s=config.ack_timeout_hours * 3600,
            csv_encoding=config.csv_encoding,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "BatchFlow",
            state_machine_name=name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(json.dumps(asl)),
            definition_substitutions=subs,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
            # Execution history (kept 90 days, cannot be deleted) encrypted with the stack's key.
            encryption_configuration=sfn.CustomerManagedEncryptionConfiguration(key),
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
                # reads the SSE-KMS manifest, writes page-failure items to the CMK audit table
                actions=["kms:Decrypt", "kms:GenerateDataKey"],
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

        # The download acknowledgement: yomitori-agent download PUTs <batch>/ack.json into the
        # results bucket; its arrival reaches the review function, which completes the flow's
        # WaitForDownloadAck task. S3's requester is who acknowledged (not the request body).
        self.ack_rule = events.Rule(
            self,
            "DownloadAcknowledged",
            description="A batch's download was acknowledged: let the batch flow purge it",
            event_pattern=events.EventPattern(
                source=["aws.s3"],
                detail_type=["Object Created"],
                detail={
                    "bucket": {"name": [results.bucket_name]},
                    "object": {"key": [{"suffix": "/" + batch.ACK_NAME}]},
                },
            ),
        )
        self.ack_rule.add_target(
            targets.LambdaFunction(
                functions["review"],
                event=events.RuleTargetInput.from_object(
                    {
                        "action": "ack_arrived",
                        "key": events.EventField.from_path("$.detail.object.key"),
                        "requester": events.EventField.from_path("$.detail.requester"),
                    }
                ),
                dead_letter_queue=self.dlq,
                retry_attempts=8,
                max_event_age=Duration.hours(2),
            )
        )
