"""The yomitori stack: wires the capability constructs; the constructs do the work."""

from __future__ import annotations

import json

from aws_cdk import Duration, Stack, Tags
from aws_cdk import aws_iam as iam
from constructs import Construct
from yomitori import settings
from yomitori.batch import ACK_NAME, CLIENT_TAG, MANIFEST_SUFFIX, client_batch_pattern
from yomitori.principals import default_job_roles

from infra.config import YomitoriConfig
from infra.engine import warn_about_engine
from infra.functions import PythonFunctions
from infra.nag import acknowledge_stack
from infra.network import Network
from infra.operations import Operations, add_outputs, endpoint_dns_name
from infra.people import SCAN_WITHOUT_TOKENS, People, camel
from infra.pipeline import Pipeline
from infra.storage import Storage, deployment_role_arn

PAGES = "*/pages/*"
OCR = "*/ocr/*"
DOCUMENTS = "*/documents/*"
RESULTS = "*/results.*"
MANIFEST = "*" + MANIFEST_SUFFIX
ACK = "*/" + ACK_NAME
# The batches of the client the calling identity is tagged with (yomitori.batch: the batch id
# starts with the client id and has a tail of fixed length, so no other client's batch matches).
OWN_BATCH = client_batch_pattern("${aws:PrincipalTag/" + CLIENT_TAG + "}")
OWN_OBJECTS = OWN_BATCH + "/*"
OWN_RESULTS = OWN_BATCH + "/results.*"
OWN_ACK = OWN_BATCH + "/" + ACK_NAME
OWN_DOCUMENTS = OWN_BATCH + "/documents/*"
OWN_ITEMS = {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": [OWN_BATCH]}}


# No function calls kms:Encrypt: S3 (SSE-KMS, PutObject) asks for a data key and GetObject
# decrypts one; DynamoDB decrypts its table key under the grant it made at table creation.
KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
# Powertools' DynamoDBPersistenceLayer: get, put (conditional), update, delete one record by id;
# it never queries or scans.
IDEMPOTENCY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
ITEM_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",  # the review queue lists the open gates (one small item per batch)
]


def _objects(fn, sid: str, actions: list[str], bucket, pattern: str) -> None:
    fn.add_to_role_policy(
        iam.PolicyStatement(sid=sid, actions=actions, resources=[bucket.arn_for_objects(pattern)])
    )


def _list(fn, sid: str, actions: list[str], *buckets) -> None:
    fn.add_to_role_policy(
        iam.PolicyStatement(sid=sid, actions=actions, resources=[b.bucket_arn for b in buckets])
    )


def _items(fn, table, actions: list[str] = ITEM_ACTIONS) -> None:
    fn.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[table.table_arn]))


class YomitoriStack(Stack):
    """Storage, network, functions, the batch flow and operations for one deployment."""

    def __init__(
        self, scope: Construct, id: str, *, config: YomitoriConfig, acknowledge: bool = True, **kwargs
    ) -> None:
        super().__init__(scope, id, **kwargs)
        self.config = config
        self.storage = storage = Storage(self, "Storage", config=config)
        self.network = network = Network(self, "Network", config=config, flow_log_bucket=storage.audit_bucket)
        tables = storage.tables
        env = {
            settings.ENV_INTAKE_BUCKET: storage.intake.bucket_name,
            settings.ENV_RESULTS_BUCKET: storage.results.bucket_name,
            settings.ENV_BATCHES_TABLE: tables[settings.BATCHES.role].table_name,
            settings.ENV_REVIEW_TABLE: tables[settings.REVIEW_TASKS.role].table_name,
            settings.ENV_AUDIT_TABLE: tables[settings.AUDIT.role].table_name,
            settings.ENV_IDEMPOTENCY_TABLE: tables[settings.IDEMPOTENCY.role].table_name,
            settings.ENV_KMS_KEY_ARN: storage.key.key_arn,
        }
        self.functions = fns = PythonFunctions(
            self,
            "Functions",
            config=config,
            vpc=network.vpc,
            subnets=network.subnets,
            security_group=network.lambda_sg,
            key=storage.key,
            environment=env,
        )
        ocr = fns.add(
            "ocr",
            description="OCR one page",
            timeout=Duration.minutes(2),
            memory_size=1536,
            # sized to the engine's quota: the Distributed Map never runs more at once
            reserved_concurrency=config.max_concurrency,
        )
        warn_about_engine(ocr, config)
        validate = fns.add(
            "validate",
            description="Validate and route one document",
            memory_size=1024,
            # the same Distributed Map calls it after ocr, page by page: the same bound
            reserved_concurrency=config.max_concurrency,
        )
        # its layers (reference too: a submitted correction is validated again) come from
        # settings.FUNCTION_LAYER_GROUPS
        review = fns.add("review", description="Store and complete review/ack task tokens")
        finalize = fns.add(
            "finalize",
            description="Write the batch results (JSON + CSV)",
            timeout=Duration.minutes(5),
            memory_size=1024,
        )
        purge = fns.add(
            "purge",
            description="Delete every object of a batch, record the deletion",
            timeout=Duration.minutes(5),
        )

        intake, results = storage.intake, storage.results
        # Explicit least-privilege statements instead of grant_read/grant_put, which would add
        # s3:GetObject*, s3:List*, s3:Abort*, kms:ReEncrypt* and friends that no function uses.
        _objects(ocr, "ReadPages", ["s3:GetObject"], intake, PAGES)
        # The flow sends page ordinals, not names: ocr looks the page up in the manifest.
        _objects(ocr, "ReadManifest", ["s3:GetObject"], intake, MANIFEST)
        _objects(ocr, "WriteOcr", ["s3:PutObject"], results, OCR)
        _objects(validate, "ReadOcr", ["s3:GetObject"], results, OCR)
        _objects(validate, "WriteDocuments", ["s3:PutObject"], results, DOCUMENTS)
        _objects(finalize, "ReadDocuments", ["s3:GetObject"], results, DOCUMENTS)
        # The manifest tells finalize which pages never produced a document (OCR failed for good).
        _objects(finalize, "ReadManifest", ["s3:GetObject"], intake, MANIFEST)
        _objects(finalize, "WriteResults", ["s3:PutObject"], results, RESULTS)
        # The review page (through the review function) reads documents and saves corrections.
        _objects(review, "ReadDocuments", ["s3:GetObject"], results, DOCUMENTS)
        _objects(review, "WriteCorrections", ["s3:PutObject"], results, DOCUMENTS)
        # Purge deletes every version of every object under the batch prefix (the buckets are
        # unversioned; versions are deleted too in case someone turns versioning on).
        for bucket in (intake, results):
            _objects(
                purge, f"Delete{bucket.node.id}", ["s3:DeleteObject", "s3:DeleteObjectVersion"], bucket, "*"
            )
        _list(purge, "ListBatchObjects", ["s3:ListBucket", "s3:ListBucketVersions"], intake, results)
        # Before the batch's items go, purge copies its audit trail into the Object-Lock trail
        # bucket: PutObject only (no delete, no retention change, no governance bypass).
        _objects(purge, "ArchiveAuditTrail", ["s3:PutObject"], storage.trail_bucket, "trail/*")
        purge.add_environment(settings.ENV_TRAIL_BUCKET, storage.trail_bucket.bucket_name)
        for fn in (finalize, review):
            _list(fn, "ListBatchDocuments", ["s3:ListBucket"], results)
        if config.ocr_engine == "textract":
            ocr.add_to_role_policy(
                iam.PolicyStatement(
                    sid="TextractReadsPageBytes",
                    actions=["textract:DetectDocumentText", "textract:AnalyzeDocument"],
                    resources=["*"],
                )
            )  # Textract has no resource-level permissions (see infra/nag.py)
        # Review gate, leases, task tokens (review); the batch's items removed (purge).
        for fn in (review, purge):
            _items(fn, tables[settings.REVIEW_TASKS.role])
        # Audit records: corrections and reveals (review), the deletion record (purge).
        for fn in (review, purge):
            _items(fn, tables[settings.AUDIT.role], actions=["dynamodb:PutItem", "dynamodb:Query"])
        # The batches table: no function reads or writes it (the agent reads a status item).
        for fn in (ocr, validate, finalize, purge):
            _items(fn, tables[settings.IDEMPOTENCY.role], actions=IDEMPOTENCY_ACTIONS)
        for fn in fns.functions.values():
            fn.add_to_role_policy(
                iam.PolicyStatement(sid="DataKey", actions=KEY_ACTIONS, resources=[storage.key.key_arn])
            )

        self.pipeline = pipeline = Pipeline(
            self,
            "Pipeline",
            config=config,
            intake=intake,
            results=results,
            audit_table=tables[settings.AUDIT.role],
            functions=fns.functions,
            key=storage.key,
        )
        review.add_to_role_policy(
            iam.PolicyStatement(
                sid="CompleteOwnTaskTokens",
                actions=["states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"],
                resources=[pipeline.state_machine_arn],
            )
        )

        storage.restrict_to_network(
            vpc_endpoint_ids=[network.s3_gateway.vpc_endpoint_id, network.endpoints["S3"].vpc_endpoint_id],
            client_cidrs=config.client_cidrs,
            service_cidrs=[config.vpc_cidr],
            exempt_principal_arns=[pipeline.state_machine.role.role_arn],
            # configure the buckets from outside, never read or change what is in them
            bucket_admin_arns=[deployment_role_arn(config), *config.extra_deployment_role_arns],
        )
        network.restrict_endpoints(
            # the trail bucket too: purge writes the audit trail's copy through the gateway
            buckets=[intake, results, storage.trail_bucket],
            tables=list(tables.values()),
            account=self.account,
        )

        self.operations = Operations(
            self,
            "Operations",
            config=config,
            key=storage.key,
            state_machine=pipeline.state_machine,
            dlq=pipeline.dlq,
            functions=fns.functions,
        )
        self.agent_policy = self._agent_policy()
        # one role and policy per job, assumed per person (before the region guard: it covers them)
        self.people = People(
            self, "People", config=config, storage=storage, review_statements=self._agent_review_statements,
            guard=self._from_the_offices, extra=[self.region_deny()], operator_policy=self.agent_policy,
        )
        self.region_guard = self._region_guard()

        add_outputs(
            self,
            {
                "IntakeBucketName": intake.bucket_name,
                "ResultsBucketName": results.bucket_name,
                "DataKeyArn": storage.key.key_arn,
                "StateMachineArn": pipeline.state_machine.state_machine_arn,
                "ReviewFunctionName": review.function_name,
                "AgentPolicyArn": self.agent_policy.managed_policy_arn,
                # the agent maps an assumed job role to the person's roles (YOMITORI_JOB_ROLES)
                "JobRoles": json.dumps(default_job_roles(config.name_prefix), separators=(",", ":")),
                **{f"{camel(job)}RoleArn": role.role_arn for job, role in self.people.roles.items()},
                "InboundResolverEndpointId": network.resolver_endpoint.attr_resolver_endpoint_id,
                "VpnGatewayId": network.vpn_gateway_id,
                **{f"{name}EndpointDns": endpoint_dns_name(ep) for name, ep in network.endpoints.items()},
            },
        )
        Tags.of(self).add("Project", "yomitori")
        Tags.of(self).add("DataClassification", "personal-information")
        Tags.of(self).add("DataResidency", " ".join(config.allowed_regions))
        if acknowledge:
            acknowledge_stack(self)

    def region_deny(self) -> iam.PolicyStatement:
        """Deny every call to a region outside ``config.permitted_regions`` (Japan unless the
        signed-off override says otherwise). Action ``*`` with no exception for global services:
        no role here and not the agent calls IAM, Organizations or the global STS endpoint
        (sts:GetCallerIdentity needs no permission and is never denied; the agent's SDK uses
        the regional STS endpoint)."""
        return iam.PolicyStatement(
            sid="StayInPermittedRegions",
            effect=iam.Effect.DENY,
            actions=["*"],
            resources=["*"],
            conditions={"StringNotEquals": {"aws:RequestedRegion": self.config.permitted_regions}},
        )

    def _region_guard(self) -> iam.ManagedPolicy:
        """One managed policy with :meth:`region_deny`, attached to every role of the stack."""
        roles = [c for c in self.node.find_all() if isinstance(c, iam.Role)]
        return iam.ManagedPolicy(
            self,
            "RegionGuard",
            description="yomitori: no call outside the permitted regions (data residency)",
            statements=[self.region_deny()],
            roles=roles,
        )

    def _agent_policy(self) -> iam.ManagedPolicy:
        """What yomitori-agent needs; the operator attaches it to the external PCs' identity."""
        s = self.storage
        return iam.ManagedPolicy(
            self,
            "AgentPolicy",
            description="yomitori-agent on the external PCs",
            statements=self._from_the_offices([
                # Per client: an external PC's identity carries the principal tag
                # yomitori-client (docs/deploy.md); it uploads, checks, withdraws, downloads and
                # acknowledges only the batches of that client (OWN_BATCH), and reads only their
                # status items. An identity without the tag matches none of these resources.
                iam.PolicyStatement(
                    sid="UploadBatches",
                    actions=["s3:PutObject"],
                    resources=[s.intake.arn_for_objects(OWN_OBJECTS)],
                ),
                # HEAD (resume, manifest last, status) needs GetObject, and ListBucket so that a
                # missing object answers 404, not 403 (S3 checks ListBucket without a prefix for
                # that, so ListBucket cannot be narrowed to the client's prefix: listing shows
                # other clients' batch ids and page names, never their contents); DeleteObject
                # takes back the pages of a package that failed at its end (upload's single pass).
                iam.PolicyStatement(
                    sid="CheckAndWithdrawUploads",
                    actions=["s3:GetObject", "s3:DeleteObject"],
                    resources=[s.intake.arn_for_objects(OWN_OBJECTS)],
                ),
                iam.PolicyStatement(
                    sid="ListIntake", actions=["s3:ListBucket"], resources=[s.intake.bucket_arn]
                ),
                iam.PolicyStatement(
                    sid="DownloadResults",
                    actions=["s3:GetObject"],
                    resources=[s.results.arn_for_objects(OWN_RESULTS)],
                ),
                # The review page shows the documents of the client's batches (their page
                # images through CheckAndWithdrawUploads) and saves corrections to them.
                iam.PolicyStatement(
                    sid="ReadReviewDocuments",
                    actions=["s3:GetObject"],
                    resources=[s.results.arn_for_objects(OWN_DOCUMENTS)],
                ),
                # The download's acknowledgement, the only one there is: its arrival resumes the
                # flow (Pipeline.ack_rule). The agent invokes no function: it reviews with the
                # rights below, as its own principal, and cannot name a reviewer or acknowledger.
                iam.PolicyStatement(
                    sid="AcknowledgeDownloads",
                    actions=["s3:PutObject"],
                    resources=[s.results.arn_for_objects(OWN_ACK)],
                ),
                iam.PolicyStatement(
                    sid="SaveCorrections",
                    actions=["s3:PutObject"],
                    resources=[s.results.arn_for_objects(OWN_DOCUMENTS)],
                ),
                iam.PolicyStatement(
                    sid="UseDataKeyThroughS3",
                    actions=["kms:GenerateDataKey", "kms:Decrypt"],
                    resources=[s.key.key_arn],
                    conditions={"StringEquals": {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}},
                ),
                iam.PolicyStatement(
                    sid="ReadBatchStatus",
                    actions=["dynamodb:GetItem"],
                    resources=[self.storage.tables[settings.BATCHES.role].table_arn],
                    conditions=OWN_ITEMS,
                ),
                *self._agent_review_statements(),
            ]) + [self.region_deny()],
        )

    # the interface endpoint each of the agent's services is reached through from the offices
    AGENT_ENDPOINTS = {"s3": "S3", "dynamodb": "DynamoDb", "states": "StepFunctions"}

    def _from_the_offices(self, statements: list[iam.PolicyStatement]) -> list[iam.PolicyStatement]:
        """Each grant holds only through the service's interface endpoint (aws:SourceVpce) and
        from a client terminal on the allow-list (aws:VpcSourceIp): a copied access key is
        useless anywhere else. The data key's grant is the exception: S3 calls KMS on the
        agent's behalf (kms:ViaService), and such forwarded calls carry neither key; the S3
        call that causes them is conditioned here, and the bucket policy denies the rest."""
        clients = list(self.config.client_cidrs)
        for st in statements:
            services = {a.split(":")[0] for a in st.actions}
            if services == {"kms"}:
                continue
            (service,) = services
            endpoint = self.network.endpoints[self.AGENT_ENDPOINTS[service]]
            st.add_condition("StringEquals", {"aws:SourceVpce": endpoint.vpc_endpoint_id})
            st.add_condition("IpAddress", {"aws:VpcSourceIp": clients})
        return statements

    def _agent_review_statements(self) -> list[iam.PolicyStatement]:
        """The review page in cloud mode (docs/review.md): it reads and updates the review
        gate (queue, leases, done documents), appends audit records, and releases the gate or
        keeps it alive, as the reviewer's own AWS principal (STS GetCallerIdentity names them
        in the audit trail). Only from the client allow-list: a copied key is useless elsewhere.
        It cannot open, delete or forge a gate (no PutItem/DeleteItem on the review table),
        read, change or delete the audit trail (PutItem, and a Query of the chain head's key and
        hash only), or fail an execution."""
        s, tables = self.storage, self.storage.tables
        return [
            # status counts the documents waiting for a person (ids only, no values)
            iam.PolicyStatement(
                sid="ListBatchResults", actions=["s3:ListBucket"], resources=[s.results.bucket_arn]
            ),
            # the queue and the batches with double-entry work: ids, leases and states of every
            # open gate (the page lists its client's), never a task token (SCAN_WITHOUT_TOKENS:
            # a Scan without a projection, or projecting the token, is denied)
            iam.PolicyStatement(
                sid="ReviewQueue",
                actions=["dynamodb:Scan"],
                resources=[tables[settings.REVIEW_TASKS.role].table_arn],
                conditions=SCAN_WITHOUT_TOKENS,
            ),
            # leases and documents done, the gate's task token (to release it, or to send its
            # heartbeat), the double-entry tasks of a batch (Query: ベリファイ states and names,
            # no values), audit records: the client's batches only (OWN_ITEMS: the leading key
            # of a GetItem, UpdateItem or Query is one of the client's batch ids)
            iam.PolicyStatement(
                sid="ReviewLeases",
                actions=["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
                resources=[tables[settings.REVIEW_TASKS.role].table_arn],
                conditions=OWN_ITEMS,
            ),
            iam.PolicyStatement(
                sid="AppendReviewAudit",
                actions=["dynamodb:PutItem"],
                resources=[tables[settings.AUDIT.role].table_arn],
                conditions=OWN_ITEMS,
            ),
            # an append links to the chain's head (yomitori.audit.chain): the agent may read the
            # head's key and hash, never a record (who did what stays for supervisors)
            iam.PolicyStatement(
                sid="ReadAuditChainHead",
                actions=["dynamodb:Query"],
                resources=[tables[settings.AUDIT.role].table_arn],
                conditions={
                    "ForAllValues:StringEquals": {
                        "dynamodb:Attributes": [settings.AUDIT.partition_key, settings.AUDIT.sort_key, "hash"]
                    },
                    "StringEqualsIfExists": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
                },
            ),
            iam.PolicyStatement(
                sid="ReleaseOrKeepReviewGate",
                actions=["states:SendTaskSuccess", "states:SendTaskHeartbeat"],
                resources=[self.pipeline.state_machine_arn],
            ),
        ]
