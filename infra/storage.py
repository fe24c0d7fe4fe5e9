"""Storage: the customer-managed key, the intake/results buckets, the log bucket, the tables
and the CloudTrail data-event trail.

The deny statements of the data buckets come from :func:`yomitori.settings.bucket_policy_statements`
(one builder for the stack and the local moto mode); :meth:`Storage.restrict_to_network`
attaches them once the VPC endpoints exist.
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudtrail as cloudtrail
from aws_cdk import aws_dynamodb as ddb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from yomitori import settings

from infra.config import YomitoriConfig

# Managing the key (the deployment role creates the tables' grants: kms:CreateGrant), never
# using it on data.
KEY_ADMIN_ACTIONS = [
    "kms:CreateAlias",
    "kms:CreateGrant",
    "kms:DeleteAlias",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:DisableKeyRotation",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListGrants",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:RevokeGrant",
    "kms:RetireGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateAlias",
    "kms:UpdateKeyDescription",
]
# What the functions, the flow and the agent's S3 calls need; IAM policies say who.
KEY_USE_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]


class Storage(Construct):
    """Exposes ``key``, ``log_bucket``, ``buckets`` (by role: intake, results), ``intake``,
    ``results``, ``tables`` (by role, see ``settings.TABLES``) and ``trail``. Needs the app's
    feature flag ``@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy`` (infra/app.py)."""

    def __init__(self, scope: Construct, id: str, *, config: YomitoriConfig) -> None:
        super().__init__(scope, id)
        self.config = config
        self.key = kms.Key(
            self,
            "DataKey",
            policy=self._administration_and_use(config),
            enable_key_rotation=True,
            alias=f"alias/{config.name_prefix}-data",
            description="yomitori: page images, results, tables, logs, alarms",
            removal_policy=RemovalPolicy.RETAIN,
            pending_window=Duration.days(30),
        )
        self._key_policy_for_services()

        retention = Duration.days(config.log_retention_days)
        # S3 server access logs only. Their delivery does not support a destination with SSE-KMS
        # default encryption or an Object Lock default retention, so this bucket is SSE-S3 and
        # versioned (an overwritten or deleted log keeps its previous version until the
        # retention ends). It holds object keys (batch ids, page file names) and caller
        # addresses, never page contents; the same requests are in the CloudTrail data events
        # of the audit bucket below, which is the evidence that cannot be changed.
        self.log_bucket = s3.Bucket(
            self,
            "LogBucket",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-logs",
                    expiration=retention,
                    noncurrent_version_expiration=retention,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # The audit evidence: CloudTrail data events of the data buckets and the VPC flow logs.
        # SSE-KMS with the stack's key, versioned, Object Lock in governance mode for the
        # configured retention (log_retention_days): no one can overwrite or delete a record
        # before then without s3:BypassGovernanceRetention, which no role here holds.
        self.audit_bucket = self._locked_bucket(
            "AuditBucket",
            days=retention,
            rule_id="expire-evidence-after-retention",
            noncurrent_days=Duration.days(1),
            logs_prefix="s3-access/audit/",
        )

        self.trail_bucket = self._trail_bucket(config)

        self.buckets: dict[str, s3.Bucket] = {}
        for role in settings.DATA_BUCKETS:
            self.buckets[role] = self._data_bucket(role)
        self.intake = self.buckets[settings.BUCKET_INTAKE]
        self.results = self.buckets[settings.BUCKET_RESULTS]
        # The manifest's arrival starts the flow: S3 -> EventBridge, set on the bucket itself
        # (CDK's eventBridgeEnabled would add a notification custom-resource Lambda outside the VPC).
        # The acknowledgement object's arrival in the results bucket resumes the flow the same way.
        for bucket in (self.intake, self.results):
            cfn: s3.CfnBucket = bucket.node.default_child
            cfn.add_property_override(
                "NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled", True
            )

        self.tables: dict[str, ddb.Table] = {spec.role: self._table(spec) for spec in settings.TABLES}

        self.trail = cloudtrail.Trail(
            self,
            "DataEventsTrail",
            bucket=self.audit_bucket,
            s3_key_prefix="cloudtrail",
            encryption_key=self.key,
            enable_file_validation=True,
            include_global_service_events=False,
            is_multi_region_trail=False,
            management_events=cloudtrail.ReadWriteType.NONE,
        )
        self.trail.add_s3_event_selector(
            [cloudtrail.S3EventSelector(bucket=b) for b in self.buckets.values()],
            read_write_type=cloudtrail.ReadWriteType.ALL,
            include_management_events=False,
        )

    # --- pieces -----------------------------------------------------------------------------
    def _trail_bucket(self, config: YomitoriConfig) -> s3.Bucket:
        """The review audit trail's copy (docs/audit.md): purge writes each batch's chained
        trail here (``trail/<batch>.jsonl``) before the batch's items go. Its own bucket, not
        the CloudTrail/flow-log one, because its retention is its own (years, where logs keep
        months) and its readers are supervisors. SSE-KMS with the stack's key, versioned,
        Object Lock in governance mode for ``audit_trail_retention_days``: a second purge adds
        a version, and no role here holds s3:BypassGovernanceRetention or any delete."""
        days = Duration.days(config.audit_trail_retention_days)
        return self._locked_bucket(
            "TrailBucket",
            days=days,
            rule_id="expire-trail-after-retention",
            noncurrent_days=days,
            logs_prefix="s3-access/trail/",
        )

    def _locked_bucket(
        self, id: str, *, days: Duration, rule_id: str, noncurrent_days: Duration, logs_prefix: str
    ) -> s3.Bucket:
        """An evidence bucket: SSE-KMS with the stack's key, versioned, Object Lock in
        governance mode for ``days`` and expired after them, access-logged to the log bucket,
        kept when the stack goes."""
        return s3.Bucket(
            self,
            id,
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            versioned=True,
            object_lock_enabled=True,
            object_lock_default_retention=s3.ObjectLockRetention.governance(days),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id=rule_id,
                    expiration=days,
                    noncurrent_version_expiration=noncurrent_days,
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=logs_prefix,
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _data_bucket(self, role: str) -> s3.Bucket:
        days = Duration.days(self.config.retention_days)
        return s3.Bucket(
            self,
            f"{role.capitalize()}Bucket",
            encryption=s3.BucketEncryption.KMS,
            encryption_key=self.key,
            bucket_key_enabled=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            # Unversioned on purpose: purge's DeleteObject is final, no noncurrent copy of a
            # page image survives it. The noncurrent rule below still bounds any version that
            # appears if someone turns versioning on.
            versioned=False,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="retention-backstop",
                    expiration=days,
                    noncurrent_version_expiration=Duration.days(1),
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                )
            ],
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix=f"s3-access/{role}/",
            removal_policy=RemovalPolicy.RETAIN,
        )

    def _table(self, spec: settings.TableSpec) -> ddb.Table:
        sort_key = ddb.Attribute(name=spec.sort_key, type=ddb.AttributeType.STRING) if spec.sort_key else None
        # Point-in-time backups only where the items are evidence (audit) or batch state
        # needed to recover a run; task tokens and idempotency records must not outlive the batch.
        keep_backups = spec.role in (settings.AUDIT.role, settings.BATCHES.role)
        return ddb.Table(
            self,
            f"{''.join(p.capitalize() for p in spec.role.split('_'))}Table",
            partition_key=ddb.Attribute(name=spec.partition_key, type=ddb.AttributeType.STRING),
            sort_key=sort_key,
            billing_mode=ddb.BillingMode.PAY_PER_REQUEST,
            encryption=ddb.TableEncryption.CUSTOMER_MANAGED,
            encryption_key=self.key,
            time_to_live_attribute=spec.ttl_attribute,
            point_in_time_recovery_specification=ddb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=keep_backups
            ),
            removal_policy=RemovalPolicy.RETAIN
            if spec.role == settings.AUDIT.role
            else RemovalPolicy.DESTROY,
        )

    @staticmethod
    def _administration_and_use(config: YomitoriConfig) -> iam.PolicyDocument:
        """The key policy's two halves: the administrators (the CDK deployment role, plus
        ``key_admin_role_arns``) manage the key but cannot encrypt or decrypt with it; the
        account delegates use (data keys, decrypt, describe) to IAM policies, and nothing else:
        no IAM policy can make anyone a key administrator."""
        admins = [iam.ArnPrincipal(a) for a in (deployment_role_arn(config), *config.key_admin_role_arns)]
        return iam.PolicyDocument(
            statements=[
                iam.PolicyStatement(
                    sid="KeyAdministration",
                    principals=admins,
                    actions=KEY_ADMIN_ACTIONS,
                    resources=["*"],
                ),
                iam.PolicyStatement(
                    sid="KeyUseThroughIamPolicies",
                    principals=[iam.AccountRootPrincipal()],
                    actions=KEY_USE_ACTIONS,
                    resources=["*"],
                ),
            ]
        )

    def _key_policy_for_services(self) -> None:
        region, account = Aws.REGION, Aws.ACCOUNT_ID
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchLogsOfThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
                actions=[
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                resources=["*"],
                conditions={
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": (
                            f"arn:{Aws.PARTITION}:logs:{region}:{account}:log-group:*"
                        )
                    }
                },
            )
        )
        # CloudTrail encrypts the data-event log files of this account's trails with the key.
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudTrailLogFiles",
                principals=[iam.ServicePrincipal("cloudtrail.amazonaws.com")],
                actions=["kms:GenerateDataKey*", "kms:DescribeKey"],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": (
                            f"arn:{Aws.PARTITION}:cloudtrail:*:{account}:trail/*"
                        )
                    },
                },
            )
        )
        # VPC flow logs land in the SSE-KMS audit bucket (the delivery service's documented set).
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogDelivery",
                principals=[iam.ServicePrincipal("delivery.logs.amazonaws.com")],
                actions=[
                    "kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"
                ],
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:{Aws.PARTITION}:logs:{region}:{account}:*"},
                },
            )
        )
        # Alarms publish to the encrypted SNS topic; EventBridge writes to the encrypted DLQ.
        for sid, service in (
            ("CloudWatchAlarms", "cloudwatch.amazonaws.com"),
            ("EventBridgeDlq", "events.amazonaws.com"),
        ):
            self.key.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                    resources=["*"],
                    conditions={"StringEquals": {"aws:SourceAccount": account}},
                )
            )

    # --- wiring -----------------------------------------------------------------------------
    def restrict_to_network(
        self,
        *,
        vpc_endpoint_ids: Sequence[str],
        client_cidrs: Sequence[str],
        service_cidrs: Sequence[str],
        exempt_principal_arns: Sequence[str],
        bucket_admin_arns: Sequence[str] = (),
    ) -> None:
        """Attach the deny statements (see ``settings.bucket_policy_statements``) to both data buckets."""
        for bucket in self.buckets.values():
            for statement in settings.bucket_policy_statements(
                bucket.bucket_arn,
                vpc_endpoint_ids=vpc_endpoint_ids,
                client_cidrs=client_cidrs,
                service_cidrs=service_cidrs,
                kms_key_arn=self.key.key_arn,
                exempt_principal_arns=exempt_principal_arns,
                bucket_admin_arns=bucket_admin_arns,
            ):
                bucket.add_to_resource_policy(iam.PolicyStatement.from_json(statement))


def deployment_role_arn(config: YomitoriConfig) -> str:
    """The CloudFormation execution role of the CDK bootstrap (``cdk bootstrap`` creates it)."""
    return (
        f"arn:{Aws.PARTITION}:iam::{Aws.ACCOUNT_ID}:role/"
        f"cdk-{config.cdk_qualifier}-cfn-exec-role-{Aws.ACCOUNT_ID}-{Aws.REGION}"
    )
