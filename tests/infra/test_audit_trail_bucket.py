"""The review audit trail's retention copy in the synthesized template: a dedicated trail
bucket (SSE-KMS with the stack's key, versioned, Object Lock in governance mode for
``audit_trail_retention_days``), written by purge with PutObject only, and no role that can
delete, shorten or bypass the lock. The agent may read the chain head's hash, not a record."""

from __future__ import annotations

import json

from tests.infra import template as tpl
from tests.infra.conftest import synthesize
from tests.infra.policy_eval import resolve

FORBIDDEN = ("s3:delete", "s3:bypassgovernanceretention", "s3:putobjectretention",
             "s3:putbucketobjectlockconfiguration", "s3:putlifecycleconfiguration", "s3:*", "*")


def _role_statements(synth) -> list[tuple[str, dict]]:
    out = []
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, res in synth.resources(kind).items():
            for st in resolve(res["Properties"]["PolicyDocument"]["Statement"], synth.template):
                out.append((name, st))
    return out


def test_the_trail_bucket_is_sse_kms_versioned_and_locked_in_governance_mode(synth, config):
    props = synth.template["Resources"][tpl.bucket_ids(synth)["trail"]]["Properties"]
    (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::GetAtt": [next(iter(synth.resources("AWS::KMS::Key"))), "Arn"]}
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    assert props["ObjectLockEnabled"] is True
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "GOVERNANCE", "Days": config.audit_trail_retention_days}
    (life,) = props["LifecycleConfiguration"]["Rules"]
    assert life["ExpirationInDays"] == config.audit_trail_retention_days
    assert all(props["PublicAccessBlockConfiguration"].values())
    assert synth.template["Resources"][tpl.bucket_ids(synth)["trail"]]["DeletionPolicy"] == "Retain"


def test_retention_comes_from_the_configuration(tmp_path):
    other = synthesize(tmp_path, audit_trail_retention_days=3650)
    props = other.template["Resources"][tpl.bucket_ids(other)["trail"]]["Properties"]
    assert props["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]["Days"] == 3650


def test_purge_may_only_put_the_trail_and_no_role_may_delete_or_bypass_the_lock(synth):
    trail = tpl.bucket_ids(synth)["trail"]
    on_trail = [(n, st) for n, st in _role_statements(synth)
                if trail in json.dumps(st.get("Resource")) or st.get("Resource") in ("*", ["*"])]
    naming = [(n, st) for n, st in on_trail if trail in json.dumps(st.get("Resource"))]
    # Then the statements naming the trail bucket are purge's PutObject under trail/ (the only
    # writer) and the supervisor's reads (test_the_supervisor_reads_the_trail_copies_only)
    readers = [(n, st) for n, st in naming if "Supervisor" in n]
    writers = [(n, st) for n, st in naming if "Supervisor" not in n]
    assert {st["Sid"] for _, st in readers} == {"ReadAuditTrailCopies", "ListAuditTrailCopies"}
    assert len(writers) == 1
    name, st = writers[0]
    assert "Purge" in name and st["Action"] in ("s3:PutObject", ["s3:PutObject"])
    assert st["Resource"] == f"arn:{trail}/trail/*"
    # And no allow statement on it or on "*" grants a delete, a retention change or a bypass
    for n, st in on_trail:
        if st.get("Effect") != "Allow":
            continue
        actions = [a.lower() for a in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])]
        bad = [a for a in actions if a.startswith(FORBIDDEN) or a in FORBIDDEN]
        assert bad == [], (n, bad)
    # And the purge function is told where the trail bucket is
    purge = next(r for k, r in synth.resources("AWS::Lambda::Function").items() if "Purge" in k)
    env = purge["Properties"]["Environment"]["Variables"]
    assert env["YOMITORI_TRAIL_BUCKET"] == {"Ref": trail}


def test_the_agent_may_read_the_chain_head_hash_but_not_the_records(synth):
    stmts = [st for n, st in _role_statements(synth) if st.get("Sid") == "ReadAuditChainHead"]
    # the agent's, and the same statement in the review jobs' policies (infra/people.py)
    assert stmts and len({json.dumps(st, sort_keys=True) for st in stmts}) == 1
    st = stmts[0]
    assert st["Action"] in ("dynamodb:Query", ["dynamodb:Query"])
    assert sorted(st["Condition"]["ForAllValues:StringEquals"]["dynamodb:Attributes"]) == [
        "batch_id", "event_id", "hash"]
    assert st["Condition"]["StringEqualsIfExists"]["dynamodb:Select"] == "SPECIFIC_ATTRIBUTES"
    # the statement lets a head read through (key and hash) and not a read of the records
    from tests.infra.policy_eval import statement_matches

    table = st["Resource"] if isinstance(st["Resource"], str) else st["Resource"][0]
    head = {"dynamodb:Attributes": ["batch_id", "event_id", "hash"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert statement_matches(st, "dynamodb:Query", table, {**head, **st_ctx(st)})
    records = {"dynamodb:Attributes": ["batch_id", "record"], "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert not statement_matches(st, "dynamodb:Query", table, {**records, **st_ctx(st)})
    everything = {"dynamodb:Select": "ALL_ATTRIBUTES", **st_ctx(st)}
    assert not statement_matches(st, "dynamodb:Query", table, everything)


def st_ctx(st: dict) -> dict:
    """The endpoint context the agent's statements require (they hold only from the offices)."""
    ctx = {}
    for op, keys in st.get("Condition", {}).items():
        for key, expected in keys.items():
            if key.startswith("aws:"):
                v = expected[0] if isinstance(expected, list) else expected
                ctx[key] = v.split("/")[0] if op == "IpAddress" else v
    return ctx


def test_the_supervisor_reads_the_trail_copies_only(synth):
    """`yomitori audit verify --cloud` (a supervisor) checks each batch against its Object-Lock
    copy: the supervisor job may read and list trail/* with the data key through S3, and
    nothing else in that bucket; no other job may read it."""
    from support.policy_guard import Deployment, endpoint_id, policy_statements
    from support.policy_guard import resolve as bind
    from yomitori import settings

    from tests.infra.policy_eval import statement_matches

    trail_id = tpl.bucket_ids(synth)["trail"]
    names = Deployment(intake="intake", results="results", tables={t.role: t.role for t in settings.TABLES},
                       key_arn="arn:aws:kms:ap-northeast-1:123456789012:key/k")
    binding = names.binding(synth.template).bucket(trail_id, "trail")

    def allowed(job: str, action: str, resource: str, ctx: dict) -> bool:
        sts = bind(policy_statements(synth.template, f"People{job}Policy"), binding)
        if any(s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx) for s in sts):
            return False
        return any(s["Effect"] == "Allow" and statement_matches(s, action, resource, ctx) for s in sts)

    office = {"aws:RequestedRegion": "ap-northeast-1", "aws:VpcSourceIp": "10.0.10.15",
              "aws:SourceVpce": endpoint_id("s3"), "aws:SecureTransport": "true"}
    copy = "arn:aws:s3:::trail/trail/city-test-20260401-091500-3fa2c1.jsonl"
    via_s3 = {"aws:RequestedRegion": "ap-northeast-1", "kms:ViaService": "s3.ap-northeast-1.amazonaws.com"}
    # Given a batch's copy in the trail bucket
    # When the supervisor reads it (latest or an older version), lists the bucket (a missing
    # copy answers 404) and S3 decrypts it with the data key / Then each is allowed
    for action, resource in (("s3:GetObject", copy), ("s3:GetObjectVersion", copy),
                             ("s3:ListBucket", "arn:aws:s3:::trail"),
                             ("s3:ListBucketVersions", "arn:aws:s3:::trail")):
        assert allowed("Supervisor", action, resource, office), action
        # but not from outside the offices, nor through another endpoint
        for elsewhere in ({"aws:VpcSourceIp": "192.0.2.7"}, {"aws:SourceVpce": "vpce-0other"}):
            assert not allowed("Supervisor", action, resource, {**office, **elsewhere}), (action, elsewhere)
    assert allowed("Supervisor", "kms:Decrypt", names.key_arn, via_s3)
    assert not allowed("Supervisor", "kms:Decrypt", names.key_arn, {"aws:RequestedRegion": "ap-northeast-1"})
    # When the supervisor writes, deletes or reads outside trail/ / Then it is refused
    for action, resource in (("s3:PutObject", copy), ("s3:DeleteObject", copy),
                             ("s3:DeleteObjectVersion", copy), ("kms:GenerateDataKey", names.key_arn),
                             ("s3:GetObject", "arn:aws:s3:::trail/other.txt")):
        assert not allowed("Supervisor", action, resource, {**office, **via_s3}), action
    # And no review job reads the copies (who did what is for supervisors)
    for job in ("Reviewer", "NumberViewer", "Verifier"):
        assert not allowed(job, "s3:GetObject", copy, office), job
