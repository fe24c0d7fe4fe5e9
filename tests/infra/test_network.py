"""Network security properties, asserted on the full stack's synthesized template."""

from __future__ import annotations

import json

from tests.infra import template as tpl
from tests.infra.conftest import CLIENTS, ON_PREM, VPC_CIDR
from tests.infra.policy_eval import resolve


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
    (vgw,) = synth.resources("AWS::EC2::VPNGateway")
    for route in synth.resources("AWS::EC2::Route").values():
        # the only gateway routes are the offices' ranges through the virtual private gateway
        assert route["Properties"].get("GatewayId", {"Ref": vgw}) == {"Ref": vgw}
        assert route["Properties"]["DestinationCidrBlock"] in ON_PREM
        assert "NatGatewayId" not in route["Properties"]


def test_endpoint_security_group_admits_443_only_from_clients_and_functions(synth):
    # Given the endpoints' security group / Then its only ingress is 443 from the allow-list
    # and from the Lambda SG; never the VPC CIDR (CDK's open=True default) or anything wider
    (sg_id,) = tpl.sg_of_endpoints(synth)
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


def test_interface_and_gateway_endpoints(synth):
    # Then every service the agent and the functions call has a private endpoint, and the
    # functions reach S3 and DynamoDB through gateway endpoints
    services = tpl.endpoint_services(synth)
    for svc in ("s3", "states", "kms", "logs", "sts", "lambda", "xray", "dynamodb"):
        assert (svc, "Interface") in services, svc
    # the default engine (ppocr) reads inside the function: no Textract endpoint
    # (with textract there is one: tests/infra/test_engines.py)
    assert not any(svc == "textract" for svc, _ in services)
    assert ("s3", "Gateway") in services and ("dynamodb", "Gateway") in services
    for (svc, kind), p in services.items():
        if kind == "Interface":
            # DynamoDB's interface endpoint (the agent's status read) is used by its own DNS name
            assert p["PrivateDnsEnabled"] is (svc != "dynamodb") and len(p["SubnetIds"]) == 2, svc


def test_s3_interface_endpoint_private_dns_only_for_the_inbound_resolver(synth):
    # In the VPC the gateway endpoint answers S3; the offices resolve to the interface endpoint
    s3 = tpl.endpoint_services(synth)[("s3", "Interface")]
    assert s3["DnsOptions"]["PrivateDnsOnlyForInboundResolverEndpoint"] == "OnlyInboundResolver"


def test_direct_connect_attachment_routes_only_the_offices(synth):
    # Given dx_gateway_id in config / Then a VGW is attached and associated
    (vgw_id,) = synth.resources("AWS::EC2::VPNGateway")
    (attach,) = synth.resources("AWS::EC2::VPCGatewayAttachment").values()
    assert attach["Properties"]["VpnGatewayId"] == {"Ref": vgw_id}
    (assoc,) = synth.resources("AWS::DirectConnect::DirectConnectGatewayAssociation").values()
    assert assoc["Properties"]["AllowedPrefixesToDirectConnectGateway"] == [VPC_CIDR]
    # and by default it propagates nothing: no route the offices advertise (a default route
    # above all) can reach the subnets; each subnet routes exactly the office ranges to it
    assert synth.resources("AWS::EC2::VPNGatewayRoutePropagation") == {}
    routes = [r["Properties"] for r in synth.resources("AWS::EC2::Route").values()]
    subnet_tables = {a["Properties"]["RouteTableId"]["Ref"]
                     for a in synth.resources("AWS::EC2::SubnetRouteTableAssociation").values()}
    assert len(subnet_tables) == len(synth.resources("AWS::EC2::Subnet")) == 2
    for table in subnet_tables:
        mine = [r for r in routes if r["RouteTableId"] == {"Ref": table}]
        assert sorted(r["DestinationCidrBlock"] for r in mine) == sorted(ON_PREM), table
        assert all(r["GatewayId"] == {"Ref": vgw_id} for r in mine)
    assert not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" or "DestinationIpv6CidrBlock" in r
                   for r in routes)


def test_route_propagation_only_when_configured(tmp_path):
    from tests.infra.conftest import synthesize

    # Given propagate_routes: true (the operator filters what the offices advertise)
    s = synthesize(tmp_path, direct_connect={"dx_gateway_id": "5f2a3c1e-1111-2222-3333-444455556666",
                                             "propagate_routes": True})
    assert s.error is None, s.error
    # Then the gateway propagates into every subnet's route table, and no static route is added
    (prop,) = s.resources("AWS::EC2::VPNGatewayRoutePropagation").values()
    assert len(prop["Properties"]["RouteTableIds"]) == len(s.resources("AWS::EC2::Subnet"))
    assert s.resources("AWS::EC2::Route") == {}


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


def test_s3_and_dynamodb_endpoints_reach_only_our_buckets_and_tables(synth):
    # Given the endpoint policies / Then data can only go to our buckets and tables, by our account
    ids = tpl.bucket_ids(synth)
    ours = {
        f"arn:{ids['intake']}",
        f"arn:{ids['intake']}/*",
        f"arn:{ids['results']}",
        f"arn:{ids['results']}/*",
        f"arn:{ids['trail']}",  # the audit trail's Object-Lock copy (purge writes it)
        f"arn:{ids['trail']}/*",
    }
    tables = {f"arn:{k}" for k in synth.resources("AWS::DynamoDB::Table")}
    for (svc, _kind), p in tpl.endpoint_services(synth).items():
        if svc not in ("s3", "dynamodb"):
            continue
        (stmt,) = resolve(p["PolicyDocument"]["Statement"], synth.template)
        resources = set(stmt["Resource"])
        assert resources == (ours if svc == "s3" else tables), svc
        assert stmt["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
        assert not any(a.endswith("*") for a in stmt["Action"])
