"""One test per security property, asserted on the synthesized template of the full stack
(synthesized once per session, see conftest)."""

from __future__ import annotations

import ipaddress
import json

import pytest
from yomitori import settings

from tests.infra.conftest import CLIENTS, VPC_CIDR
from tests.infra.policy_eval import denied, resolve

# --- network -----------------------------------------------------------------------------------


def test_no_internet_gateway_nat_or_public_subnet(synth):
    # Given the synthesized stack / Then nothing in it can reach or be reached from the internet
    for forbidden in (
        "AWS::EC2::InternetGateway",
        "AWS::EC2::NatGateway",
        "AWS::EC2::EgressOnlyInternetGateway",
        "AWS::EC2::EIP",
    ):
        assert not synth.resources(forbidden), forbidden
    for subnet in synth.resources("AWS::EC2::Subnet").values():
        assert subnet["Properties"]["MapPublicIpOnLaunch"] is False
    for route in synth.resources("AWS::EC2::Route").values():
        assert "GatewayId" not in route["Properties"] and "NatGatewayId" not in route["Properties"]


def _sg_of_endpoints(synth) -> set[str]:
    ids = set()
    for ep in synth.resources("AWS::EC2::VPCEndpoint").values():
        for sg in ep["Properties"].get("SecurityGroupIds", []):
            ids.add(sg["Fn::GetAtt"][0])
    return ids


def test_endpoint_security_group_admits_443_only_from_clients_and_functions(synth):
    # Given the endpoints' security group / Then its only ingress is 443 from the allow-list
    # and from the Lambda SG; never the VPC CIDR (CDK's open=True default) or anything wider
    (sg_id,) = _sg_of_endpoints(synth)
    sg = synth.template["Resources"][sg_id]["Properties"]
    inline = sg.get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in synth.resources("AWS::EC2::SecurityGroupIngress").values()
        if r["Properties"]["GroupId"] == {"Fn::GetAtt": [sg_id, "GroupId"]}
    ]
    rules = inline + separate
    cidrs = sorted(r["CidrIp"] for r in rules if "CidrIp" in r)
    assert cidrs == sorted(CLIENTS)
    assert all(r["FromPort"] == 443 and r["ToPort"] == 443 and r["IpProtocol"] == "tcp" for r in rules)
    sources = [r["SourceSecurityGroupId"]["Fn::GetAtt"][0] for r in rules if "SourceSecurityGroupId" in r]
    assert len(sources) == 1 and "LambdaSg" in sources[0]
    assert VPC_CIDR not in json.dumps(rules)


def _endpoint_services(synth) -> dict[tuple[str, str], dict]:
    """(service suffix, endpoint type) -> properties, e.g. ("s3", "Gateway")."""
    out = {}
    for ep in synth.resources("AWS::EC2::VPCEndpoint").values():
        p = ep["Properties"]
        name = "".join(str(resolve(p["ServiceName"], synth.template)))
        out[(name.rsplit(".", 1)[-1], p.get("VpcEndpointType", "Gateway"))] = p
    return out


def test_interface_and_gateway_endpoints(synth):
    # Then every service the agent and the functions call has a private endpoint, and the
    # functions reach S3 and DynamoDB through gateway endpoints
    services = _endpoint_services(synth)
    for svc in ("s3", "states", "kms", "logs", "sts", "lambda", "textract", "xray", "dynamodb"):
        assert (svc, "Interface") in services, svc
    assert ("s3", "Gateway") in services and ("dynamodb", "Gateway") in services
    for (svc, kind), p in services.items():
        if kind == "Interface":
            # DynamoDB's interface endpoint (the agent's status read) is used by its own DNS name
            assert p["PrivateDnsEnabled"] is (svc != "dynamodb") and len(p["SubnetIds"]) == 2, svc


def test_s3_interface_endpoint_private_dns_only_for_the_inbound_resolver(synth):
    # In the VPC the gateway endpoint answers S3; the offices resolve to the interface endpoint
    s3 = _endpoint_services(synth)[("s3", "Interface")]
    assert s3["DnsOptions"]["PrivateDnsOnlyForInboundResolverEndpoint"] == "OnlyInboundResolver"


def test_direct_connect_attachment_with_route_propagation(synth):
    # Given dx_gateway_id in config / Then a VGW is attached, associated and propagates routes
    (vgw_id,) = synth.resources("AWS::EC2::VPNGateway")
    (attach,) = synth.resources("AWS::EC2::VPCGatewayAttachment").values()
    assert attach["Properties"]["VpnGatewayId"] == {"Ref": vgw_id}
    (prop,) = synth.resources("AWS::EC2::VPNGatewayRoutePropagation").values()
    assert len(prop["Properties"]["RouteTableIds"]) == len(synth.resources("AWS::EC2::Subnet"))
    (assoc,) = synth.resources("AWS::DirectConnect::DirectConnectGatewayAssociation").values()
    assert assoc["Properties"]["AllowedPrefixesToDirectConnectGateway"] == [VPC_CIDR]


def test_inbound_resolver_answers_only_the_offices(synth):
    (endpoint,) = synth.resources("AWS::Route53Resolver::ResolverEndpoint").values()
    assert endpoint["Properties"]["Direction"] == "INBOUND"
    sg = synth.template["Resources"][endpoint["Properties"]["SecurityGroupIds"][0]["Fn::GetAtt"][0]]
    ingress = sg["Properties"]["SecurityGroupIngress"]
    assert {r["CidrIp"] for r in ingress} == {"10.0.0.0/16"} and {r["FromPort"] for r in ingress} == {53}


def test_lambda_security_group_egress_is_https_only(synth):
    sgs = [r for k, r in synth.resources("AWS::EC2::SecurityGroup").items() if "LambdaSg" in k]
    (sg,) = sgs
    egress = sg["Properties"].get("SecurityGroupEgress", [])
    egress += [r["Properties"] for r in synth.resources("AWS::EC2::SecurityGroupEgress").values()]
    assert egress and all(r["FromPort"] == 443 and r["ToPort"] == 443 for r in egress)


# --- storage ---------------------------------------------------------------------------------


def _bucket_ids(synth) -> dict[str, str]:
    ids = {}
    for k in synth.resources("AWS::S3::Bucket"):
        for role in ("Intake", "Results", "Log"):
            if k.startswith(f"Storage{role}Bucket"):
                ids[role.lower()] = k
    return ids


def _policy_of(synth, bucket_id: str) -> list[dict]:
    for p in synth.resources("AWS::S3::BucketPolicy").values():
        if p["Properties"]["Bucket"] == {"Ref": bucket_id}:
            return resolve(p["Properties"]["PolicyDocument"]["Statement"], synth.template)
    raise AssertionError(f"no policy for {bucket_id}")


def test_key_rotation_on(synth):
    (key,) = synth.resources("AWS::KMS::Key").values()
    assert key["Properties"]["EnableKeyRotation"] is True


@pytest.mark.parametrize("role", ["intake", "results"])
def test_data_buckets_sse_kms_private_owner_enforced_and_expiring(synth, role):
    bucket_id = _bucket_ids(synth)[role]
    props = synth.template["Resources"][bucket_id]["Properties"]
    sse = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert sse["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in sse
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    (rule,) = props["LifecycleConfiguration"]["Rules"]
    assert rule["ExpirationInDays"] == 1 and rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == 1
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert "VersioningConfiguration" not in props  # purge's delete is final
    logging = props["LoggingConfiguration"]
    assert logging["DestinationBucketName"] == {"Ref": _bucket_ids(synth)["log"]}


def _endpoint_ids(synth) -> tuple[str, str]:
    gw = iface = None
    for k, ep in synth.resources("AWS::EC2::VPCEndpoint").items():
        if ".s3" in json.dumps(ep["Properties"]["ServiceName"]):
            if ep["Properties"].get("VpcEndpointType") == "Interface":
                iface = f"ref:{k}"
            else:
                gw = f"ref:{k}"
    return gw, iface


def _ctx(synth, **kw) -> dict:
    """A request through the S3 gateway endpoint from a function, over TLS 1.3, with our key."""
    gw, _ = _endpoint_ids(synth)
    key_id = next(iter(synth.resources("AWS::KMS::Key")))
    base = {
        "aws:SourceVpce": gw,
        "aws:VpcSourceIp": "10.20.0.10",
        "aws:SecureTransport": "true",
        "s3:TlsVersion": "1.3",
        "aws:PrincipalArn": "arn:aws:iam::123456789012:role/someone",
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": f"arn:{key_id}",
    }
    base.update(kw)
    return {k: v for k, v in base.items() if v is not None}


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_admits_functions_and_clients_through_our_endpoints(synth, role):
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    obj = f"arn:{bucket}/b-001/pages/p.png"
    _, iface = _endpoint_ids(synth)
    # a function through the gateway endpoint
    assert denied(stmts, "s3:GetObject", obj, _ctx(synth)) == []
    assert denied(stmts, "s3:PutObject", obj, _ctx(synth)) == []
    # an allow-listed terminal through the interface endpoint
    assert (
        denied(
            stmts,
            "s3:PutObject",
            obj,
            _ctx(synth, **{"aws:SourceVpce": iface, "aws:VpcSourceIp": "10.0.10.15"}),
        )
        == []
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_outside_our_vpc_endpoints(synth, role):
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    obj = f"arn:{bucket}/b-001/pages/p.png"
    # another VPC endpoint, and the public internet (no aws:SourceVpce at all)
    assert "DenyOutsideVpcEndpoints" in denied(
        stmts, "s3:GetObject", obj, _ctx(synth, **{"aws:SourceVpce": "vpce-other"})
    )
    assert "DenyOutsideVpcEndpoints" in denied(
        stmts, "s3:GetObject", obj, _ctx(synth, **{"aws:SourceVpce": None, "aws:VpcSourceIp": None})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_exempts_only_the_deploy_role_and_the_state_machine(synth, role):
    # Given calls that do not come through the VPC (CloudFormation; the Distributed Map's reader)
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    outside = {"aws:SourceVpce": None, "aws:VpcSourceIp": None}
    deploy = "arn:aws:iam::123456789012:role/cdk-hnb659fds-cfn-exec-role-123456789012-ap-northeast-1"
    sm_role = next(k for k in synth.resources("AWS::IAM::Role") if k.startswith("PipelineBatchFlowRole"))
    assert (
        denied(
            stmts,
            "s3:PutBucketPolicy",
            f"arn:{bucket}",
            _ctx(synth, **outside, **{"aws:PrincipalArn": deploy}),
        )
        == []
    )
    assert (
        denied(
            stmts,
            "s3:GetObject",
            f"arn:{bucket}/b/manifest.json",
            _ctx(synth, **outside, **{"aws:PrincipalArn": f"arn:{sm_role}"}),
        )
        == []
    )
    # an administrator of the account from outside is still denied
    admin = "arn:aws:iam::123456789012:role/Admin"
    assert denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", _ctx(synth, **outside, **{"aws:PrincipalArn": admin})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_clients_outside_the_allow_list(synth, role):
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    _, iface = _endpoint_ids(synth)
    ctx = _ctx(synth, **{"aws:SourceVpce": iface, "aws:VpcSourceIp": "10.0.99.1"})  # an office PC not listed
    assert "DenyClientsOutsideAllowList" in denied(stmts, "s3:GetObject", f"arn:{bucket}/b/x", ctx)
    # the statement uses aws:VpcSourceIp (aws:SourceIp is absent on endpoint traffic)
    assert "aws:SourceIp" not in json.dumps(stmts)


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_old_tls_and_plain_http(synth, role):
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    assert "DenyTlsBelow12" in denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", _ctx(synth, **{"s3:TlsVersion": "1.1"})
    )
    assert "DenyInsecureTransport" in denied(
        stmts, "s3:GetObject", f"arn:{bucket}/b/x", _ctx(synth, **{"aws:SecureTransport": "false"})
    )


@pytest.mark.parametrize("role", ["intake", "results"])
def test_bucket_policy_denies_puts_without_sse_kms_and_our_key(synth, role):
    bucket = _bucket_ids(synth)[role]
    stmts = _policy_of(synth, bucket)
    obj = f"arn:{bucket}/b/x"
    no_sse = _ctx(
        synth,
        **{"s3:x-amz-server-side-encryption": None, "s3:x-amz-server-side-encryption-aws-kms-key-id": None},
    )
    assert "DenyPutWithoutSseKms" in denied(stmts, "s3:PutObject", obj, no_sse)
    assert "DenyPutWithoutSseKms" in denied(
        stmts, "s3:PutObject", obj, _ctx(synth, **{"s3:x-amz-server-side-encryption": "AES256"})
    )
    other_key = _ctx(
        synth, **{"s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:ap-northeast-1:1:key/x"}
    )
    assert "DenyPutWithoutOurKey" in denied(stmts, "s3:PutObject", obj, other_key)


def test_log_bucket_is_separate_private_and_tls_only(synth):
    log = _bucket_ids(synth)["log"]
    props = synth.template["Resources"][log]["Properties"]
    assert props["PublicAccessBlockConfiguration"]["RestrictPublicBuckets"] is True
    stmts = _policy_of(synth, log)
    assert denied(stmts, "s3:GetObject", f"arn:{log}/x", {"aws:SecureTransport": "false"})


def test_tables_encrypted_with_our_key_and_transient_ones_expire(synth):
    tables = synth.resources("AWS::DynamoDB::Table")
    assert len(tables) == len(settings.TABLES)
    by_key = {}
    for t in tables.values():
        p = t["Properties"]
        assert p["SSESpecification"]["SSEEnabled"] is True and p["SSESpecification"]["SSEType"] == "KMS"
        assert "KMSMasterKeyId" in p["SSESpecification"]
        by_key[tuple(k["AttributeName"] for k in p["KeySchema"])] = p
    for spec in settings.TABLES:
        keys = (spec.partition_key,) + ((spec.sort_key,) if spec.sort_key else ())
        p = by_key[keys]
        if spec.ttl_attribute:
            assert p["TimeToLiveSpecification"] == {"AttributeName": spec.ttl_attribute, "Enabled": True}
        else:
            assert "TimeToLiveSpecification" not in p


def test_cloudtrail_records_data_events_of_both_buckets(synth):
    (trail,) = synth.resources("AWS::CloudTrail::Trail").values()
    selectors = trail["Properties"]["EventSelectors"]
    values = json.dumps([r for s in selectors for r in s["DataResources"]])
    ids = _bucket_ids(synth)
    assert ids["intake"] in values and ids["results"] in values
    assert all(s["ReadWriteType"] == "All" for s in selectors)
    assert trail["Properties"]["EnableLogFileValidation"] is True


# --- functions ---------------------------------------------------------------------------------


def _functions(synth) -> dict[str, dict]:
    return {k: v for k, v in synth.resources("AWS::Lambda::Function").items()}


def test_every_function_is_in_the_vpc_traced_json_logged_with_its_own_role(synth):
    fns = _functions(synth)
    assert len(fns) == len(settings.FUNCTION_NAMES)
    roles = set()
    for fn in fns.values():
        p = fn["Properties"]
        assert p["VpcConfig"]["SubnetIds"] and p["VpcConfig"]["SecurityGroupIds"]
        assert p["TracingConfig"] == {"Mode": "Active"}
        assert p["LoggingConfig"]["LogFormat"] == "JSON"
        assert "LogGroup" in p["LoggingConfig"]
        roles.add(p["Role"]["Fn::GetAtt"][0])
    assert len(roles) == len(fns)
    for role in roles:
        assert "ManagedPolicyArns" not in synth.template["Resources"][role]["Properties"]


def test_explicit_log_groups_with_retention_and_our_key(synth):
    groups = synth.resources("AWS::Logs::LogGroup")
    names = {json.dumps(g["Properties"]["LogGroupName"]) for g in groups.values()}
    for fn in settings.FUNCTION_NAMES:
        assert any(f"/aws/lambda/yomitori-{fn}" in n for n in names)
    for g in groups.values():
        assert g["Properties"]["RetentionInDays"] == 90 and "KmsKeyId" in g["Properties"]


def test_ocr_reserved_concurrency_matches_the_map_concurrency(synth, config):
    ocr = next(v for k, v in _functions(synth).items() if k.startswith("FunctionsOcr"))
    assert ocr["Properties"]["ReservedConcurrentExecutions"] == config.max_concurrency == 7


def test_function_environment_uses_the_shared_names(synth):
    env_keys = {k for fn in _functions(synth).values() for k in fn["Properties"]["Environment"]["Variables"]}
    for key in (
        settings.ENV_INTAKE_BUCKET,
        settings.ENV_RESULTS_BUCKET,
        settings.ENV_REVIEW_TABLE,
        settings.ENV_AUDIT_TABLE,
        settings.ENV_KMS_KEY_ARN,
        settings.ENV_FORMS_DIR,
        settings.ENV_THRESHOLDS,
    ):
        assert key in env_keys
    variables = next(iter(_functions(synth).values()))["Properties"]["Environment"]["Variables"]
    assert variables[settings.ENV_FORMS_DIR] == settings.LAMBDA_FORMS_DIR
    assert json.loads(variables[settings.ENV_THRESHOLDS])["digits"] == 0.9


def test_no_function_policy_grants_wildcard_s3_or_kms_actions(synth):
    # Least privilege: explicit actions only (no s3:*, s3:GetObject*, kms:ReEncrypt*)
    for name, policy in synth.resources("AWS::IAM::Policy").items():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            for action in stmt["Action"] if isinstance(stmt["Action"], list) else [stmt["Action"]]:
                assert not (action.startswith(("s3:", "kms:", "dynamodb:", "lambda:")) and "*" in action), (
                    name,
                    action,
                )


def test_ip_ranges_in_policies_are_exactly_the_allow_list_and_the_vpc(synth):
    stmts = _policy_of(synth, _bucket_ids(synth)["intake"])
    (stmt,) = [s for s in stmts if s["Sid"] == "DenyClientsOutsideAllowList"]
    nets = [ipaddress.ip_network(c) for c in stmt["Condition"]["NotIpAddress"]["aws:VpcSourceIp"]]
    assert sorted(map(str, nets)) == sorted([*CLIENTS, VPC_CIDR])


def test_each_function_gets_only_its_layers(synth):
    # Given the layers by description / Then ocr has imaging, validate reference, all base + domain
    layers = {
        k: v["Properties"]["Description"] for k, v in synth.resources("AWS::Lambda::LayerVersion").items()
    }

    def groups(fn_prefix: str) -> set[str]:
        fn = next(v for k, v in _functions(synth).items() if k.startswith(fn_prefix))
        names = set()
        for ref in fn["Properties"]["Layers"]:
            desc = layers[ref["Ref"]]
            names.add("domain" if "domain package" in desc else desc.split(": ")[1].split(" ")[0])
        return names

    assert groups("FunctionsOcr") == {"base", "imaging", "domain"}
    assert groups("FunctionsValidate") == {"base", "reference", "domain"}
    for name in ("Review", "Finalize", "Purge"):
        assert groups(f"Functions{name}") == {"base", "domain"}


def test_services_that_write_logs_can_use_the_key_and_the_log_bucket(synth):
    # Given the key policy / Then CloudTrail, CloudWatch Logs, alarms and the DLQ may use the
    # key, each limited to this account
    (key,) = synth.resources("AWS::KMS::Key").values()
    statements = {s.get("Sid"): s for s in key["Properties"]["KeyPolicy"]["Statement"]}
    for sid in ("CloudTrailLogFiles", "CloudWatchLogsOfThisAccount", "CloudWatchAlarms", "EventBridgeDlq"):
        assert sid in statements and statements[sid]["Condition"], sid
    # and VPC flow logs of all traffic go to the log bucket, whose policy admits their delivery
    (flow,) = synth.resources("AWS::EC2::FlowLog").values()
    assert flow["Properties"]["TrafficType"] == "ALL" and flow["Properties"]["LogDestinationType"] == "s3"
    log_policy = _policy_of(synth, _bucket_ids(synth)["log"])
    write = next(s for s in log_policy if s.get("Sid") == "FlowLogDeliveryWrite")
    assert write["Condition"]["StringEquals"]["aws:SourceAccount"] == "123456789012"


def test_s3_and_dynamodb_endpoints_reach_only_our_buckets_and_tables(synth):
    # Given the endpoint policies / Then data can only go to our buckets and tables, by our account
    ids = _bucket_ids(synth)
    ours = {
        f"arn:{ids['intake']}",
        f"arn:{ids['intake']}/*",
        f"arn:{ids['results']}",
        f"arn:{ids['results']}/*",
    }
    tables = {f"arn:{k}" for k in synth.resources("AWS::DynamoDB::Table")}
    for (svc, _kind), p in _endpoint_services(synth).items():
        if svc not in ("s3", "dynamodb"):
            continue
        (stmt,) = resolve(p["PolicyDocument"]["Statement"], synth.template)
        resources = set(stmt["Resource"])
        assert resources == (ours if svc == "s3" else tables), svc
        assert stmt["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
        assert not any(a.endswith("*") for a in stmt["Action"])
