"""People: one IAM role (and one customer managed policy of the same name) per job.

The My Number guideline asks that each person works under their own identity, with only the
access their job needs. yomitori's jobs (``yomitori.principals.JOBS``) are reviewer, number
viewer, verifier, supervisor and agent operator. For each job this construct makes:

* a customer managed policy ``<prefix>-<job>`` with only that job's permissions, each holding
  only through the service's interface endpoint and from a client terminal on the allow-list
  (the agent policy's conditions), plus the region guard; IAM Identity Center permission sets
  named like the job attach it by name (a customer managed policy reference);
* a role ``<prefix>-<job>`` with that policy, assumable by the principals configured for the
  job (``people`` in cdk.json) and only with a source identity: an IAM user must use its own
  user name as session name and source identity (``aws sts assume-role --role-session-name
  NAME --source-identity NAME``), other principals must set a source identity (CloudTrail
  keeps it across role chaining). The session carries the person's office as the session tag
  ``yomitori-client`` (an IAM user passes its own tag: ``--tags Key=yomitori-client,Value=…``;
  Identity Center passes it as an attribute for access control); the review jobs reach only
  that office's batches, like the agent. A job with no principals configured gets its policy
  (for Identity Center) but no role.

The review page names the person from the session of the assumed role
(``yomitori.principals.principal_from_arn``). What IAM cannot tell apart is said in
docs/deploy.md ("Job roles"): a role that may read a document result reads its My Number too.
"""

from __future__ import annotations

from collections.abc import Callable

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from constructs import Construct
from yomitori import settings
from yomitori.batch import CLIENT_TAG, client_batch_pattern
from yomitori.principals import JOBS, job_role_name

from infra.config import YomitoriConfig
from infra.nag import BATCH_PREFIX, IAM5, ack, arn_of, nag_text

# A Scan of the review-task table reads every client's items: it must project onto ids, leases
# and states (settings.REVIEW_SCAN_ATTRIBUTES; Select sent by yomitori.store.dynamo), so a gate's
# task token, a bearer credential for SendTaskSuccess, never comes with it (the agent's
# ReviewQueue statement in infra/stack.py, the supervisor's ScanReviewGateIds here).
SCAN_WITHOUT_TOKENS = {
    "ForAllValues:StringEquals": {"dynamodb:Attributes": list(settings.REVIEW_SCAN_ATTRIBUTES)},
    "StringEquals": {"dynamodb:Select": "SPECIFIC_ATTRIBUTES"},
}

# a person works for one office (client): the session's yomitori-client tag, set when the job
# role is assumed (below), limits the review jobs to that office's batches, as the agent's
OWN_OFFICE = "${aws:PrincipalTag/" + CLIENT_TAG + "}"
OWN_BATCH = client_batch_pattern(OWN_OFFICE)
DOCUMENTS = OWN_BATCH + "/documents/*"
PAGES = OWN_BATCH + "/pages/*"
REVIEW_JOBS = ("reviewer", "number-viewer", "verifier")


class People(Construct):
    """Job policies and roles. ``policies`` / ``roles``: job -> construct (roles only for jobs
    with configured principals). ``review_statements``: the review page's DynamoDB / Step
    Functions statements, fresh at each call (the stack's, shared with the agent policy);
    ``guard``: the stack's where-from conditions; ``extra``:
    statements every job policy carries (the region guard); ``operator_policy``: the agent
    policy, attached to the operator's role."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: YomitoriConfig,
        storage,
        review_statements: Callable[[], list[iam.PolicyStatement]],
        guard: Callable[[list[iam.PolicyStatement]], list[iam.PolicyStatement]],
        extra: list[iam.PolicyStatement],
        operator_policy: iam.ManagedPolicy,
    ) -> None:
        super().__init__(scope, id)
        self.config = config
        self.policies: dict[str, iam.ManagedPolicy] = {}
        self.roles: dict[str, iam.Role] = {}
        intake, results, tables = storage.intake, storage.results, storage.tables
        review = [
            # the review page: documents (values, My Numbers included) and the scans it shows
            iam.PolicyStatement(
                sid="ReadReviewDocuments",
                actions=["s3:GetObject"],
                resources=[results.arn_for_objects(DOCUMENTS)],
            ),
            iam.PolicyStatement(
                sid="SaveCorrections",
                actions=["s3:PutObject"],
                resources=[results.arn_for_objects(DOCUMENTS)],
            ),
            iam.PolicyStatement(
                sid="ReadPages", actions=["s3:GetObject"], resources=[intake.arn_for_objects(PAGES)]
            ),
            # the review gate, leases, double-entry tasks, the audit append, the task token: the
            # same statements as the agent policy's review part (one definition, in the stack)
            *review_statements(),
        ]
        key = iam.PolicyStatement(
            sid="UseDataKeyThroughS3",
            actions=["kms:GenerateDataKey", "kms:Decrypt"],
            resources=[storage.key.key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
        )
        supervisor = [
            # reads the audit trail (who did what, when; never a value): the batches (Scan of
            # the keys), each batch's chain (Query) and deletion records; and the review gates
            # (ids only) that the review server lists when it starts
            iam.PolicyStatement(
                sid="ReadAuditTrail",
                actions=["dynamodb:Query", "dynamodb:GetItem", "dynamodb:Scan"],
                resources=[tables[settings.AUDIT.role].table_arn],
            ),
            # a gate by its batch id, projected like the Scan (a whole item holds the token;
            # Null: a GetItem without a projection supplies no attribute list and is refused)
            iam.PolicyStatement(
                sid="ListReviewGates",
                actions=["dynamodb:GetItem"],
                resources=[tables[settings.REVIEW_TASKS.role].table_arn],
                conditions={
                    "ForAllValues:StringEquals": SCAN_WITHOUT_TOKENS["ForAllValues:StringEquals"],
                    "Null": {"dynamodb:Attributes": "false"},
                },
            ),
            # the Scan reads ids and leases only, never a gate's task token
            iam.PolicyStatement(
                sid="ScanReviewGateIds",
                actions=["dynamodb:Scan"],
                resources=[tables[settings.REVIEW_TASKS.role].table_arn],
                conditions=SCAN_WITHOUT_TOKENS,
            ),
            # `yomitori audit verify --cloud` checks each batch against its Object-Lock copy
            # (docs/audit.md): GetObject (every version) on trail/*; ListBucket so that a batch
            # not purged yet answers 404, not 403 (S3 checks it without a prefix, and the bucket
            # holds nothing but trail/<batch>.jsonl); the data key, through S3 only
            iam.PolicyStatement(
                sid="ReadAuditTrailCopies",
                actions=["s3:GetObject", "s3:GetObjectVersion"],
                resources=[storage.trail_bucket.arn_for_objects("trail/*")],
            ),
            iam.PolicyStatement(
                sid="ListAuditTrailCopies",
                actions=["s3:ListBucket", "s3:ListBucketVersions"],
                resources=[storage.trail_bucket.bucket_arn],
            ),
            iam.PolicyStatement(
                sid="DecryptTrailCopiesThroughS3",
                actions=["kms:Decrypt"],
                resources=[storage.key.key_arn],
                conditions={"StringEquals": {"kms:ViaService": f"s3.{config.region}.amazonaws.com"}},
            ),
        ]
        job_statements: dict[str, Callable[[], list[iam.PolicyStatement]]] = {
            "reviewer": lambda: [*guard(_copies(review)), _copy(key)],
            "number-viewer": lambda: [*guard(_copies(review)), _copy(key)],
            "verifier": lambda: [*guard(_copies(review)), _copy(key)],
            "supervisor": lambda: guard(_copies(supervisor)),
        }
        for job in JOBS:
            name = job_role_name(config.name_prefix, job)
            if job == "operator":
                policy = operator_policy  # the agent policy (pack, upload, download, status)
            else:
                policy = iam.ManagedPolicy(
                    self,
                    f"{camel(job)}Policy",
                    managed_policy_name=name,
                    description=f"yomitori: what the {job} job needs (docs/deploy.md, Job roles)",
                    statements=[*job_statements[job](), *(_copy(s) for s in extra)],
                )
            self.policies[job] = policy
            principals = config.people.get(job, [])
            if principals:
                self.roles[job] = self._role(job, name, principals, policy)

    def _role(self, job: str, name: str, principals: list[str], policy: iam.ManagedPolicy) -> iam.Role:
        users = [p for p in principals if ":user/" in p]
        others = [p for p in principals if p not in users]
        account = iam.AccountRootPrincipal()
        trust = []
        # the office travels as the one session tag allowed: an IAM user's own tag, never another
        office = {"ForAllValues:StringEquals": {"aws:TagKeys": [CLIENT_TAG]}}
        if users:
            # an IAM user assumes the role as itself: the session name is its user name, and so is
            # the source identity when one is set (SDK profiles cannot set it; the CLI can)
            trust.append(
                {
                    "ArnLike": {"aws:PrincipalArn": users},
                    "StringLike": {"sts:RoleSessionName": "${aws:username}"},
                    "StringLikeIfExists": {"sts:SourceIdentity": "${aws:username}"},
                    "StringEquals": {f"aws:RequestTag/{CLIENT_TAG}": OWN_OFFICE},
                    **office,
                }
            )
        if others:
            trust.append({"ArnLike": {"aws:PrincipalArn": others},
                          "Null": {"sts:SourceIdentity": "false", f"aws:RequestTag/{CLIENT_TAG}": "false"},
                          **office})
        role = iam.Role(
            self,
            f"{camel(job)}Role",
            role_name=name,
            description=f"yomitori {job}: assumed per person with their own session name",
            assumed_by=account.with_conditions(trust[0]),
            managed_policies=[policy],
            max_session_duration=Duration.hours(8),  # one working day
        )
        # setting the source identity and tagging the session are permissions of their own,
        # under the same conditions
        role.assume_role_policy.add_statements(
            iam.PolicyStatement(actions=["sts:SetSourceIdentity", "sts:TagSession"], principals=[account],
                                conditions=trust[0])
        )
        for conditions in trust[1:]:
            role.assume_role_policy.add_statements(
                iam.PolicyStatement(
                    actions=["sts:AssumeRole", "sts:SetSourceIdentity", "sts:TagSession"],
                    principals=[account],
                    conditions=conditions,
                )
            )
        return role


def _copy(st: iam.PolicyStatement) -> iam.PolicyStatement:
    """A fresh statement (the where-from guard adds conditions in place; each policy its own)."""
    return iam.PolicyStatement(
        sid=st.sid,
        effect=st.effect,
        actions=list(st.actions),
        resources=list(st.resources),
        conditions=dict(st.conditions or {}) or None,
    )


def _copies(statements: list[iam.PolicyStatement]) -> list[iam.PolicyStatement]:
    return [_copy(s) for s in statements]


def camel(job: str) -> str:
    return "".join(p.capitalize() for p in job.split("-"))


def acknowledge_people(people: People, storage) -> None:
    """cdk-nag: the review jobs' object wildcards (called by infra.nag.acknowledge_stack)."""
    results, intake = arn_of(storage.results), arn_of(storage.intake)
    for job in REVIEW_JOBS:
        policy = people.policies[job]
        ack(
            policy,
            f"{IAM5}[Resource::{results}/{nag_text(DOCUMENTS)}]",
            f"the {job} reads the documents waiting for a person and saves corrections, of the batches "
            f"of their own office only (session tag yomitori-client); {BATCH_PREFIX}",
        )
        ack(
            policy,
            f"{IAM5}[Resource::{intake}/{nag_text(PAGES)}]",
            f"the {job} sees the scan of the document it reviews, of their own office's batches; "
            f"{BATCH_PREFIX}",
        )
    ack(
        people.policies["supervisor"],
        f"{IAM5}[Resource::{arn_of(storage.trail_bucket)}/trail/*]",
        "the supervisor's `yomitori audit verify --cloud` reads each batch's Object-Lock copy of its "
        "audit trail (trail/<batch id>.jsonl; batch ids are only known at run time); read only",
    )
