"""Issue 17 over the synthesized template: Japan-only regions for every role and the agent,
least privilege (no grant the code does not call), and the hardening of endpoints, keys and
the audit evidence. Policy conditions are evaluated with the project's evaluator
(tests/infra/policy_eval.py), never string-matched."""

from __future__ import annotations

from tests.infra.policy_eval import resolve, statement_matches

JAPAN = ("ap-northeast-1", "ap-northeast-3")
ELSEWHERE = ("us-east-1", "eu-west-1", "ap-southeast-1")


def _list(v) -> list:
    return v if isinstance(v, list) else [v]


def _statements_of_role(synth, role_id: str) -> list[dict]:
    """Every identity-policy statement that applies to the role: inline, AWS::IAM::Policy and
    customer managed policies attached to it (names resolved the evaluator's way)."""
    ref = {"Ref": role_id}
    out = []
    role = synth.template["Resources"][role_id]["Properties"]
    for p in role.get("Policies", []):
        out += p["PolicyDocument"]["Statement"]
    for t in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for p in synth.resources(t).values():
            if ref in p["Properties"].get("Roles", []):
                out += p["Properties"]["PolicyDocument"]["Statement"]
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn:
            out += synth.template["Resources"][arn["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
    return resolve(out, synth.template)


def _allowed(statements: list[dict], action: str, resource: str, ctx: dict) -> bool:
    if any(s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx) for s in statements):
        return False
    return any(s["Effect"] == "Allow" and statement_matches(s, action, resource, ctx) for s in statements)


def _role_of_function(synth, prefix: str) -> str:
    fn = next(v for k, v in synth.resources("AWS::Lambda::Function").items() if k.startswith(prefix))
    return fn["Properties"]["Role"]["Fn::GetAtt"][0]


def _table_arn(synth, prefix: str) -> str:
    return next(f"arn:{k}" for k in synth.resources("AWS::DynamoDB::Table") if k.startswith(prefix))


def _key_arn(synth) -> str:
    return f"arn:{next(iter(synth.resources('AWS::KMS::Key')))}"


# --- 1. Japan only, pinned --------------------------------------------------------------------
def test_every_role_and_the_agent_are_denied_calls_outside_japan(synth):
    roles = list(synth.resources("AWS::IAM::Role"))
    assert len(roles) >= 6  # five functions and the state machine at least
    agent = _agent(synth)
    principals = {r: _statements_of_role(synth, r) for r in roles} | {"agent": agent}
    for who, statements in principals.items():
        # Given a request any of them might make (a data key, an object, an item)
        for action, resource in (
            ("kms:Decrypt", _key_arn(synth)),
            ("s3:GetObject", "arn:aws:s3:::any-bucket/x"),
            ("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/t"),
            ("textract:DetectDocumentText", "*"),
        ):
            for region in ELSEWHERE:
                # When it names a region outside Japan / Then an explicit deny matches
                ctx = {"aws:RequestedRegion": region}
                assert [
                    s.get("Sid") for s in statements
                    if s["Effect"] == "Deny" and statement_matches(s, action, resource, ctx)
                ], (who, action, region)
            for region in JAPAN:  # and in Tokyo or Osaka the region deny does not
                ctx = {"aws:RequestedRegion": region}
                assert not [
                    s for s in statements
                    if s["Effect"] == "Deny" and s.get("Sid") == "StayInPermittedRegions"
                    and statement_matches(s, action, resource, ctx)
                ], (who, action, region)


def test_the_agent_keeps_its_rights_in_japan(synth):
    # Given the agent policy / Then the region deny leaves its Tokyo calls allowed (the
    # journey test proves every real call; this is the one property the deny could break)
    agent = _agent(synth)
    resource = f"arn:aws:s3:::intake/{B1}/pages/p1.jpg"
    ctx = _agent_ctx("s3", region="ap-northeast-1")
    assert _allowed(agent, "s3:PutObject", resource, ctx)
    assert not _allowed(agent, "s3:PutObject", resource, {**ctx, "aws:RequestedRegion": "us-east-1"})


def test_the_override_widens_the_deny_to_the_signed_off_engine_region_only(tmp_path):
    from tests.infra.conftest import synthesize

    s = synthesize(
        tmp_path,
        ocr_engine="textract",
        ocr_region="us-east-1",
        allowed_regions=["ap-northeast-1"],
        allow_region_outside_residency=True,
    )
    assert s.error is None, s.error
    ocr = _statements_of_role(s, _role_of_function(s, "FunctionsOcr"))
    # Given the signed-off cross-region Textract / Then the ocr role may call it in us-east-1
    assert _allowed(ocr, "textract:DetectDocumentText", "*", {"aws:RequestedRegion": "us-east-1"})
    # and nowhere else outside the list
    assert not _allowed(ocr, "textract:DetectDocumentText", "*", {"aws:RequestedRegion": "eu-west-1"})
    assert not _allowed(ocr, "textract:DetectDocumentText", "*", {"aws:RequestedRegion": "ap-northeast-3"})
    # and the functions are told of the override (they honour it, tests/infra/test_settings.py)
    env = next(iter(s.resources("AWS::Lambda::Function").values()))["Properties"]["Environment"]
    assert env["Variables"]["YOMITORI_RESIDENCY_OVERRIDE"] == "true"


def test_the_functions_are_told_there_is_no_override_by_default(synth):
    for fn in synth.resources("AWS::Lambda::Function").values():
        assert fn["Properties"]["Environment"]["Variables"]["YOMITORI_RESIDENCY_OVERRIDE"] == "false"


# --- 2. over-grants removed -------------------------------------------------------------------
def test_no_role_may_query_or_scan_the_idempotency_table(synth):
    table = _table_arn(synth, "StorageIdempotencyTable")
    ctx = {"aws:RequestedRegion": "ap-northeast-1"}
    for role in synth.resources("AWS::IAM::Role"):
        statements = _statements_of_role(synth, role)
        for action in ("dynamodb:Query", "dynamodb:Scan", "dynamodb:BatchGetItem"):
            assert not _allowed(statements, action, table, ctx), (role, action)
    # while the functions with idempotent steps keep what Powertools calls
    for fn in ("FunctionsOcr", "FunctionsValidate", "FunctionsFinalize", "FunctionsPurge"):
        statements = _statements_of_role(synth, _role_of_function(synth, fn))
        for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"):
            assert _allowed(statements, action, table, ctx), (fn, action)


def test_no_role_has_item_access_to_the_batches_table(synth):
    # Given the batches table no function code reads or writes (the agent reads a status item)
    table = _table_arn(synth, "StorageBatchesTable")
    ctx = {"aws:RequestedRegion": "ap-northeast-1"}
    for role in synth.resources("AWS::IAM::Role"):
        statements = _statements_of_role(synth, role)
        for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem",
                       "dynamodb:DeleteItem", "dynamodb:Query", "dynamodb:Scan"):
            assert not _allowed(statements, action, table, ctx), (role, action)


def test_no_role_may_encrypt_with_the_data_key(synth):
    # Given the data key / Then no role can call kms:Encrypt (S3 and DynamoDB use data keys),
    # while the functions and the flow keep what S3 SSE-KMS needs
    key = _key_arn(synth)
    ctx = {"aws:RequestedRegion": "ap-northeast-1"}
    for role in synth.resources("AWS::IAM::Role"):
        assert not _allowed(_statements_of_role(synth, role), "kms:Encrypt", key, ctx), role
    ocr = _statements_of_role(synth, _role_of_function(synth, "FunctionsOcr"))
    assert _allowed(ocr, "kms:GenerateDataKey", key, ctx) and _allowed(ocr, "kms:Decrypt", key, ctx)


# --- helpers for the agent's request context (the same keys the policy guard supplies) --------
def _agent(synth) -> list[dict]:
    """The synthesized agent policy bound to physical names as the policy guard binds them."""
    from support.policy_guard import Deployment, agent_statements
    from yomitori import settings

    names = Deployment(
        intake="intake",
        results="results",
        tables={t.role: t.role for t in settings.TABLES},
        key_arn="arn:aws:kms:ap-northeast-1:123456789012:key/k",
    )
    return agent_statements(synth.template, names)


def _agent_ctx(service: str, *, region: str = "ap-northeast-1", ip: str = "10.0.10.15") -> dict:
    """A call of the tests' agent (tagged with its client, support.policy_guard.agent_tags)."""
    from support.policy_guard import agent_tags, endpoint_id

    return {
        "aws:RequestedRegion": region,
        "aws:VpcSourceIp": ip,
        "aws:SourceVpce": endpoint_id(service),
        "aws:SecureTransport": "true",
        **{f"aws:PrincipalTag/{k}": v for k, v in agent_tags().items()},
    }


B1 = "city-test-20260401-091500-3fa2c1"  # a batch of the tests' agent's client


# --- 3. hardening -----------------------------------------------------------------------------
AGENT_CALLS = [  # (service, action, resource) the agent makes (tests/integration/cloud journey)
    ("s3", "s3:PutObject", f"arn:aws:s3:::intake/{B1}/pages/p1.jpg"),
    ("s3", "s3:GetObject", f"arn:aws:s3:::results/{B1}/results.csv"),
    ("s3", "s3:ListBucket", "arn:aws:s3:::results"),
    ("dynamodb", "dynamodb:GetItem", "arn:aws:dynamodb:ap-northeast-1:123456789012:table/batches"),
    ("dynamodb", "dynamodb:UpdateItem", "arn:aws:dynamodb:ap-northeast-1:123456789012:table/review_tasks"),
    ("dynamodb", "dynamodb:PutItem", "arn:aws:dynamodb:ap-northeast-1:123456789012:table/audit"),
    ("states", "states:SendTaskSuccess", "STATE_MACHINE"),
]


def test_the_agent_is_scoped_to_its_endpoints_and_the_client_terminals(synth):
    from support.policy_guard import state_machine_arn

    agent = _agent(synth)
    for service, action, resource in AGENT_CALLS:
        resource = state_machine_arn(synth.template) if resource == "STATE_MACHINE" else resource
        # Given a call from a client terminal through the service's interface endpoint: allowed
        assert _allowed(agent, action, resource, _agent_ctx(service)), action
        # When the same key is used from another office address, or not through the endpoint
        # (the public endpoint: no aws:SourceVpce, no aws:VpcSourceIp), or through another one
        other_ip = _agent_ctx(service, ip="10.0.99.1")
        public = {k: v for k, v in _agent_ctx(service).items()
                  if k not in ("aws:SourceVpce", "aws:VpcSourceIp")}
        other_endpoint = {**_agent_ctx(service), "aws:SourceVpce": "vpce-0someoneelse"}
        # Then it is refused
        for ctx in (other_ip, public, other_endpoint):
            assert not _allowed(agent, action, resource, ctx), (action, ctx)


def _endpoint_name(props: dict) -> str:
    name = props["ServiceName"]
    if isinstance(name, dict):
        name = "".join(x for x in name["Fn::Join"][1] if isinstance(x, str))
    return name.rsplit(".", 1)[-1]


def test_every_interface_endpoint_serves_only_this_account(synth):
    endpoints = {k: v["Properties"] for k, v in synth.resources("AWS::EC2::VPCEndpoint").items()
                 if v["Properties"].get("VpcEndpointType") == "Interface"}
    assert {_endpoint_name(p) for p in endpoints.values()} >= {"s3", "dynamodb", "states", "kms", "logs",
                                                               "sts", "lambda", "xray"}
    ours, theirs = "123456789012", "999988887777"
    samples = {  # a call each endpoint carries, on one of our resources
        "s3": ("s3:GetObject", f"arn:{_bucket(synth)}/b1/results.csv"),
        "dynamodb": ("dynamodb:GetItem", _table_arn(synth, "StorageReviewTasksTable")),
        "kms": ("kms:Decrypt", _key_arn(synth)),
    }
    for k, props in endpoints.items():
        # Given the endpoint's policy (none would mean: anything for anyone)
        assert "PolicyDocument" in props, k
        statements = resolve(props["PolicyDocument"]["Statement"], synth.template)
        service = _endpoint_name(props)
        action, resource = samples.get(service, (f"{service}:Describe", "*"))
        ctx = {"aws:PrincipalAccount": ours, "aws:ResourceAccount": ours}
        # When one of our principals calls on our resources / Then the endpoint lets it through
        assert _allowed(statements, action, resource, ctx), k
        # When a principal of another account uses our endpoint, or ours reaches another
        # account's resource through it / Then the endpoint refuses (no copying out)
        assert not _allowed(statements, action, resource, {**ctx, "aws:PrincipalAccount": theirs}), k
        other = {  # S3 / DynamoDB endpoints list our buckets and tables: another one does not match
            "s3": "arn:aws:s3:::elsewhere/x",
            "dynamodb": "arn:aws:dynamodb:ap-northeast-1:999988887777:table/elsewhere",
        }.get(service, resource)
        assert not _allowed(statements, action, other, {**ctx, "aws:ResourceAccount": theirs}), k


def _bucket(synth) -> str:
    return next(k for k in synth.resources("AWS::S3::Bucket") if k.startswith("StorageResultsBucket"))


def test_function_egress_is_only_the_endpoints_security_group_and_the_gateway_prefix_lists(synth):
    lambda_sg = next(k for k in synth.resources("AWS::EC2::SecurityGroup") if "LambdaSg" in k)
    endpoint_sg = next(k for k in synth.resources("AWS::EC2::SecurityGroup") if "EndpointSg" in k)
    rules = list(synth.template["Resources"][lambda_sg]["Properties"].get("SecurityGroupEgress", []))
    rules += [r["Properties"] for r in synth.resources("AWS::EC2::SecurityGroupEgress").values()
              if r["Properties"]["GroupId"] == {"Fn::GetAtt": [lambda_sg, "GroupId"]}]
    destinations = set()
    for r in rules:
        assert (r["IpProtocol"], r["FromPort"], r["ToPort"]) == ("tcp", 443, 443)
        assert "CidrIp" not in r and "CidrIpv6" not in r, r  # no address range: no way out
        if "DestinationSecurityGroupId" in r:
            destinations.add(r["DestinationSecurityGroupId"]["Fn::GetAtt"][0])
        else:
            destinations.add(r["DestinationPrefixListId"])
    assert destinations == {endpoint_sg, "pl-61a54008", "pl-78a54011"}
    # and every function is in that security group
    for fn in synth.resources("AWS::Lambda::Function").values():
        sgs = fn["Properties"]["VpcConfig"]["SecurityGroupIds"]
        assert sgs == [{"Fn::GetAtt": [lambda_sg, "GroupId"]}]


def test_the_gateway_prefix_lists_are_required():
    import pytest

    from infra.config import ConfigError, load_config
    from tests.infra.conftest import context

    with pytest.raises(ConfigError, match="describe-managed-prefix-lists"):
        load_config(context(s3_prefix_list_id=None))


def test_the_audit_evidence_is_sse_kms_versioned_and_locked_for_the_retention(synth, config):
    from tests.infra import template as tpl

    ids = tpl.bucket_ids(synth)
    audit = synth.template["Resources"][ids["audit"]]["Properties"]
    (rule,) = audit["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["ServerSideEncryptionByDefault"]["KMSMasterKeyID"] == {
        "Fn::GetAtt": [next(iter(synth.resources("AWS::KMS::Key"))), "Arn"]}
    assert audit["VersioningConfiguration"]["Status"] == "Enabled"
    assert audit["ObjectLockEnabled"] is True
    assert audit["ObjectLockConfiguration"]["Rule"]["DefaultRetention"] == {
        "Mode": "GOVERNANCE", "Days": config.log_retention_days}
    # and the evidence goes there: the CloudTrail data events and the VPC flow logs
    (trail,) = synth.resources("AWS::CloudTrail::Trail").values()
    assert trail["Properties"]["S3BucketName"] == {"Ref": ids["audit"]}
    (flow,) = synth.resources("AWS::EC2::FlowLog").values()
    assert ids["audit"] in str(flow["Properties"]["LogDestination"])
    # and no role may lift the lock or delete a locked version
    ctx = {"aws:RequestedRegion": "ap-northeast-1"}
    for role in synth.resources("AWS::IAM::Role"):
        statements = _statements_of_role(synth, role)
        for action in ("s3:BypassGovernanceRetention", "s3:DeleteObjectVersion", "s3:PutObjectRetention"):
            assert not _allowed(statements, action, f"arn:{ids['audit']}/cloudtrail/x", ctx), (role, action)
    # and the server access logs' bucket (SSE-S3: their delivery takes no SSE-KMS or lock) is versioned
    log = synth.template["Resources"][ids["log"]]["Properties"]
    assert log["VersioningConfiguration"]["Status"] == "Enabled"


def test_the_key_policy_separates_administration_from_use(synth):
    from infra.storage import KEY_ADMIN_ACTIONS

    (key,) = synth.resources("AWS::KMS::Key").values()
    statements = resolve(key["Properties"]["KeyPolicy"]["Statement"], synth.template)
    by_sid = {s.get("Sid"): s for s in statements}
    admin, use = by_sid["KeyAdministration"], by_sid["KeyUseThroughIamPolicies"]
    # Given the administrators' statement / Then it manages the key but uses it on no data
    for action in ("kms:PutKeyPolicy", "kms:ScheduleKeyDeletion", "kms:DisableKey", "kms:EnableKeyRotation"):
        assert statement_matches(admin, action, "*", {}), action
    for action in ("kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom"):
        assert not statement_matches(admin, action, "*", {}), action
    assert "cfn-exec-role" in str(admin["Principal"])  # the CDK deployment role, not the account
    # and the account's statement (delegation to IAM policies) is use only: no IAM policy can
    # make anyone an administrator, and there is no kms:* for the root any more
    for action in KEY_ADMIN_ACTIONS:
        if action != "kms:DescribeKey":
            assert not statement_matches(use, action, "*", {}), action
    assert statement_matches(use, "kms:Decrypt", "*", {})
    assert statement_matches(use, "kms:GenerateDataKey", "*", {})
    assert not statement_matches(use, "kms:Encrypt", "*", {})
    assert not any(statement_matches(s, "kms:PutKeyPolicy", "*", {}) for s in statements if s is not admin)


# --- 5. cost per batch --------------------------------------------------------------------------
def test_the_functions_get_the_configured_price_table(synth):
    import json

    import pytest
    from yomitori.cost import ENV_PRICE_TABLE

    from infra.config import ConfigError, load_config
    from tests.infra.conftest import context

    for fn in synth.resources("AWS::Lambda::Function").values():
        assert json.loads(fn["Properties"]["Environment"]["Variables"][ENV_PRICE_TABLE]) == {}
    assert load_config(context(price_table={"textract_page": 0.002})).price_table == {"textract_page": 0.002}
    with pytest.raises(ConfigError, match="price_table: unknown entries textract_pages"):
        load_config(context(price_table={"textract_pages": 0.002}))


# --- per-client prefix ----------------------------------------------------------------------
def _tagged(service: str, client: str | None, **kw) -> dict:
    from yomitori.batch import CLIENT_TAG

    ctx = _agent_ctx(service, **kw)
    if client is not None:
        ctx[f"aws:PrincipalTag/{CLIENT_TAG}"] = client
    return ctx


def _batch_calls(batch: str) -> list[tuple[str, str, str, dict]]:
    """(service, action, resource, extra context) of every per-batch call of the agent."""
    table = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/batches"
    return [
        ("s3", "s3:PutObject", f"arn:aws:s3:::intake/{batch}/pages/p1.jpg", {}),
        ("s3", "s3:PutObject", f"arn:aws:s3:::intake/{batch}/manifest.json", {}),
        ("s3", "s3:GetObject", f"arn:aws:s3:::intake/{batch}/manifest.json", {}),
        ("s3", "s3:DeleteObject", f"arn:aws:s3:::intake/{batch}/pages/p1.jpg", {}),
        ("s3", "s3:GetObject", f"arn:aws:s3:::results/{batch}/results.json", {}),
        ("s3", "s3:GetObject", f"arn:aws:s3:::results/{batch}/results.csv", {}),
        ("s3", "s3:PutObject", f"arn:aws:s3:::results/{batch}/ack.json", {}),
        ("dynamodb", "dynamodb:GetItem", table, {"dynamodb:LeadingKeys": batch}),
        *_review_calls(batch),
    ]


def _review_calls(batch: str) -> list[tuple[str, str, str, dict]]:
    """The review page's per-batch calls (the queue's Scan aside)."""
    tables = "arn:aws:dynamodb:ap-northeast-1:123456789012:table"
    return [
        ("s3", "s3:GetObject", f"arn:aws:s3:::intake/{batch}/pages/p1.jpg", {}),
        ("s3", "s3:GetObject", f"arn:aws:s3:::results/{batch}/documents/d.json", {}),
        ("s3", "s3:PutObject", f"arn:aws:s3:::results/{batch}/documents/d.json", {}),
        ("dynamodb", "dynamodb:GetItem", f"{tables}/review_tasks", {"dynamodb:LeadingKeys": batch}),
        ("dynamodb", "dynamodb:UpdateItem", f"{tables}/review_tasks", {"dynamodb:LeadingKeys": batch}),
        ("dynamodb", "dynamodb:PutItem", f"{tables}/audit", {"dynamodb:LeadingKeys": batch}),
    ]


def test_one_client_reaches_only_its_own_batches(synth):
    from yomitori.batch import new_batch_id

    agent = _agent(synth)
    # Given two offices' batches, one of a client whose id extends the other's
    mine, theirs = new_batch_id("pc"), new_batch_id("pc-2")
    for batch, owner in ((mine, "pc"), (theirs, "pc-2")):
        for service, action, resource, extra in _batch_calls(batch):
            # When the owner's identity (tagged with its client) calls / Then it is allowed
            assert _allowed(agent, action, resource, {**_tagged(service, owner), **extra}), (action, resource)
    for service, action, resource, extra in _batch_calls(theirs):
        # When client pc's identity touches pc-2's batch / Then it is refused
        assert not _allowed(agent, action, resource, {**_tagged(service, "pc"), **extra}), (action, resource)
    for service, action, resource, extra in _batch_calls(mine):
        # and pc-2's identity pc's batch, and an identity without the tag any batch
        assert not _allowed(agent, action, resource, {**_tagged(service, "pc-2"), **extra}), resource
        assert not _allowed(agent, action, resource, {**_tagged(service, None), **extra}), resource
    # and a key that is not a batch id of the client (shorter, or another tail) is refused too
    for key in ("pc-x/pages/p1.jpg", "pc-20260401-091500-3fa2c1x/pages/p1.jpg", "pc/pages/p1.jpg"):
        assert not _allowed(agent, "s3:PutObject", f"arn:aws:s3:::intake/{key}", _tagged("s3", "pc")), key


def test_the_review_page_lists_every_gate_but_opens_only_its_clients_batches(synth):
    from yomitori.batch import new_batch_id

    agent, theirs = _agent(synth), new_batch_id("pc-2")
    review = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/review_tasks"
    # Given the review queue (ids and leases of every open gate, no values) / Then pc may scan it
    ids_and_leases = {"dynamodb:Attributes": ["batch_id", "docs", "released_at", "task_kind"],
                      "dynamodb:Select": "SPECIFIC_ATTRIBUTES"}
    assert _allowed(agent, "dynamodb:Scan", review, {**_tagged("dynamodb", "pc"), **ids_and_leases})
    # but pc-2's batch is pc-2's: pc's identity may not take a lease on it, append its audit
    # records, or read or correct its documents and page images
    assert not _allowed(agent, "dynamodb:UpdateItem", review,
                        {**_tagged("dynamodb", "pc"), "dynamodb:LeadingKeys": theirs})
    for service, action, resource, extra in _review_calls(theirs):
        assert not _allowed(agent, action, resource, {**_tagged(service, "pc"), **extra}), (action, resource)
        assert _allowed(agent, action, resource, {**_tagged(service, "pc-2"), **extra}), (action, resource)
