"""Network: an isolated VPC (no internet gateway, no NAT) reached only over Direct Connect.

Interface endpoints carry the agent's and the functions' AWS calls; their security group
admits 443 from the client allow-list and the Lambda security group only (CDK's default
``open=True`` would admit the whole VPC CIDR). A Route 53 Resolver inbound endpoint lets the
offices' DNS servers resolve the endpoints' private names.
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_directconnect as dx
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_route53resolver as resolver
from aws_cdk import aws_s3 as s3
from constructs import Construct

from infra.config import YomitoriConfig

# Interface endpoints every deployment needs (the agent: S3, Lambda for the review page,
# STS; the functions: KMS, Step Functions task tokens, Logs, X-Ray).
INTERFACE_SERVICES: dict[str, ec2.InterfaceVpcEndpointAwsService] = {
    "S3": ec2.InterfaceVpcEndpointAwsService.S3,
    "StepFunctions": ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS,
    "Kms": ec2.InterfaceVpcEndpointAwsService.KMS,
    "Logs": ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS,
    "Sts": ec2.InterfaceVpcEndpointAwsService.STS,
    "Lambda": ec2.InterfaceVpcEndpointAwsService.LAMBDA_,
    "XRay": ec2.InterfaceVpcEndpointAwsService.XRAY,
}


# What the agent and the functions do through the S3 / DynamoDB endpoints (and nothing more).
S3_ENDPOINT_ACTIONS = [
    "s3:GetObject",
    "s3:PutObject",
    "s3:DeleteObject",
    "s3:DeleteObjectVersion",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:ListBucket",
    "s3:ListBucketVersions",
    "s3:GetBucketLocation",
]
DYNAMODB_ENDPOINT_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:DescribeTable",
]


class Network(Construct):
    """The VPC, its endpoints, the Direct Connect attachment and the inbound resolver.

    Exposes ``vpc``, ``lambda_sg`` (for every function), ``endpoints`` (by name),
    ``s3_gateway``, ``subnets`` and ``resolver_endpoint``.
    """

    def __init__(
        self, scope: Construct, id: str, *, config: YomitoriConfig, flow_log_bucket: s3.IBucket | None = None
    ) -> None:
        super().__init__(scope, id)
        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(config.vpc_cidr),
            availability_zones=config.azs,  # explicit: no context lookup, no credentials at synth
            nat_gateways=0,
            subnet_configuration=[
                ec2.SubnetConfiguration(
                    name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26
                )
            ],
            restrict_default_security_group=False,
            gateway_endpoints={},
        )
        # restrict_default_security_group would deploy a custom-resource Lambda outside the
        # VPC; instead nothing is ever attached to the default SG (every ENI here gets its own
        # SG), so its allow-between-members rule admits no one.
        if flow_log_bucket is not None:
            self._flow_logs(flow_log_bucket)
        self.subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)

        self.lambda_sg = ec2.SecurityGroup(
            self,
            "LambdaSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="yomitori functions: HTTPS to the VPC endpoints only",
        )
        self.endpoint_sg = ec2.SecurityGroup(
            self,
            "EndpointSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="yomitori interface endpoints: 443 from client terminals and functions only",
        )
        for i, cidr in enumerate(config.client_cidrs):
            self.endpoint_sg.add_ingress_rule(
                ec2.Peer.ipv4(cidr), ec2.Port.tcp(443), f"client terminal allow-list {i}"
            )
        self.endpoint_sg.add_ingress_rule(self.lambda_sg, ec2.Port.tcp(443), "yomitori functions")
        self.lambda_sg.add_egress_rule(self.endpoint_sg, ec2.Port.tcp(443), "interface endpoints")

        # Gateway endpoints: in-VPC traffic of the functions to S3 and DynamoDB.
        isolated = [self.subnets]
        self.s3_gateway = self.vpc.add_gateway_endpoint(
            "S3Gateway", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=isolated
        )
        self.dynamodb_gateway = self.vpc.add_gateway_endpoint(
            "DynamoDbGateway", service=ec2.GatewayVpcEndpointAwsService.DYNAMODB, subnets=isolated
        )
        # The gateway endpoints' destinations are the regional service ranges (AWS-managed
        # prefix lists; their ids are configuration, required: looking them up needs credentials
        # at synth). With the endpoints' security group, that is all the functions may reach.
        for p in (config.s3_prefix_list_id, config.dynamodb_prefix_list_id):
            self.lambda_sg.add_egress_rule(
                ec2.Peer.prefix_list(p), ec2.Port.tcp(443), f"gateway endpoint {p}"
            )

        self.endpoints: dict[str, ec2.InterfaceVpcEndpoint] = {}
        services = dict(INTERFACE_SERVICES)
        if config.ocr_engine == "textract":
            services["Textract"] = ec2.InterfaceVpcEndpointAwsService.TEXTRACT
        # The agent reads its batch's status item from the offices; DynamoDB has no private DNS
        # on interface endpoints here, so the agent uses this endpoint's own DNS name.
        services["DynamoDb"] = ec2.InterfaceVpcEndpointAwsService.DYNAMODB
        for name, service in services.items():
            kwargs = {"private_dns_enabled": name != "DynamoDb"}
            if name == "S3":
                # In the VPC the gateway endpoint answers; the private DNS names of the S3
                # interface endpoint are for the offices (through the inbound resolver).
                kwargs["private_dns_only_for_inbound_resolver_endpoint"] = (
                    ec2.VpcEndpointPrivateDnsOnlyForInboundResolverEndpoint.ONLY_INBOUND_RESOLVER
                )
            if name == "Textract" and config.engine_region != config.region:
                kwargs["service_region"] = config.engine_region  # cross-region PrivateLink
            endpoint = self.vpc.add_interface_endpoint(
                f"{name}Endpoint",
                service=service,
                subnets=self.subnets,
                open=False,
                security_groups=[self.endpoint_sg],
                **kwargs,
            )
            if name == "S3":
                endpoint.node.add_dependency(self.s3_gateway)  # required for its private DNS
            self.endpoints[name] = endpoint

        self._direct_connect(config)
        self._inbound_resolver(config)

    def restrict_endpoints(self, *, buckets: list[s3.IBucket], tables: list, account: str) -> None:
        """Endpoint policies: the S3 and DynamoDB endpoints reach only our buckets and tables,
        for principals of this account, so nothing can be copied out through them to a
        bucket or table elsewhere (data-exfiltration guard; the bucket policies guard the
        other direction)."""
        same_account = {"StringEquals": {"aws:PrincipalAccount": account}}
        s3_statement = iam.PolicyStatement(
            sid="OnlyOurBuckets",
            principals=[iam.AnyPrincipal()],
            actions=S3_ENDPOINT_ACTIONS,
            resources=[r for b in buckets for r in (b.bucket_arn, b.arn_for_objects("*"))],
            conditions=same_account,
        )
        for endpoint in (self.s3_gateway, self.endpoints["S3"]):
            endpoint.add_to_policy(s3_statement)
        ddb_statement = iam.PolicyStatement(
            sid="OnlyOurTables",
            principals=[iam.AnyPrincipal()],
            actions=DYNAMODB_ENDPOINT_ACTIONS,
            resources=[t.table_arn for t in tables],
            conditions=same_account,
        )
        for endpoint in (self.dynamodb_gateway, self.endpoints["DynamoDb"]):
            endpoint.add_to_policy(ddb_statement)
        # Every other interface endpoint: principals of this account, on this account's
        # resources. aws:ResourceAccount is absent for actions that name no resource (X-Ray
        # PutTraceSegments, Textract, sts:GetCallerIdentity), hence IfExists there.
        for name, endpoint in self.endpoints.items():
            if name in ("S3", "DynamoDb"):
                continue
            endpoint.add_to_policy(
                iam.PolicyStatement(
                    sid="OnlyThisAccount",
                    principals=[iam.AnyPrincipal()],
                    actions=["*"],
                    resources=["*"],
                    conditions={
                        "StringEquals": {"aws:PrincipalAccount": account},
                        "StringEqualsIfExists": {"aws:ResourceAccount": account},
                    },
                )
            )

    def _flow_logs(self, bucket: s3.IBucket) -> None:
        """All VPC traffic metadata to the log bucket. The delivery service's access is written
        into the bucket policy here, so CloudFormation owns it (vended-log delivery would
        otherwise add it behind CloudFormation's back on first delivery)."""
        stack = Stack.of(self)
        prefix = "vpc-flow-logs"
        source = {
            "StringEquals": {"aws:SourceAccount": stack.account},
            "ArnLike": {"aws:SourceArn": stack.format_arn(service="logs", resource="*")},
        }
        logs_service = iam.ServicePrincipal("delivery.logs.amazonaws.com")
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogDeliveryWrite",
                principals=[logs_service],
                actions=["s3:PutObject"],
                resources=[bucket.arn_for_objects(f"{prefix}/AWSLogs/{stack.account}/*")],
                conditions={
                    **source,
                    "StringEquals": {**source["StringEquals"], "s3:x-amz-acl": "bucket-owner-full-control"},
                },
            )
        )
        bucket.add_to_resource_policy(
            iam.PolicyStatement(
                sid="FlowLogDeliveryAclCheck",
                principals=[logs_service],
                actions=["s3:GetBucketAcl", "s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions=source,
            )
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_s3(bucket, f"{prefix}/"),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )

    def _direct_connect(self, config: YomitoriConfig) -> None:
        dc = config.direct_connect
        if dc.vpn_gateway_id:
            vgw_id = dc.vpn_gateway_id
        else:
            vgw = ec2.CfnVPNGateway(self, "Vgw", type="ipsec.1", amazon_side_asn=dc.amazon_side_asn)
            vgw_id = vgw.ref
        attachment = ec2.CfnVPCGatewayAttachment(
            self, "VgwAttachment", vpc_id=self.vpc.vpc_id, vpn_gateway_id=vgw_id
        )
        if dc.propagate_routes:
            propagation = ec2.CfnVPNGatewayRoutePropagation(
                self,
                "VgwRoutePropagation",
                vpn_gateway_id=vgw_id,
                route_table_ids=[s.route_table.route_table_id for s in self.vpc.isolated_subnets],
            )
            propagation.node.add_dependency(attachment)  # route propagation needs the attachment
        else:
            # Only the offices, by static route: a default route (or any other prefix)
            # advertised over Direct Connect never becomes a way out of the VPC.
            for i, subnet in enumerate(self.vpc.isolated_subnets):
                for j, cidr in enumerate(config.on_prem_cidrs):
                    route = ec2.CfnRoute(
                        self,
                        f"OfficeRoute{i}x{j}",
                        route_table_id=subnet.route_table.route_table_id,
                        destination_cidr_block=cidr,
                        gateway_id=vgw_id,
                    )
                    route.node.add_dependency(attachment)  # a route to a VGW needs the attachment
        if dc.dx_gateway_id:
            dx.CfnDirectConnectGatewayAssociation(
                self,
                "DxGatewayAssociation",
                direct_connect_gateway_id=dc.dx_gateway_id,
                associated_gateway_id=vgw_id,
                allowed_prefixes_to_direct_connect_gateway=[config.vpc_cidr],
            )
        self.vpn_gateway_id = vgw_id

    def _inbound_resolver(self, config: YomitoriConfig) -> None:
        sg = ec2.SecurityGroup(
            self,
            "ResolverSg",
            vpc=self.vpc,
            allow_all_outbound=False,
            description="Route 53 Resolver inbound: DNS from the offices only",
        )
        for i, cidr in enumerate(config.on_prem_cidrs):
            sg.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.tcp(53), f"office DNS tcp {i}")
            sg.add_ingress_rule(ec2.Peer.ipv4(cidr), ec2.Port.udp(53), f"office DNS udp {i}")
        self.resolver_endpoint = resolver.CfnResolverEndpoint(
            self,
            "InboundResolver",
            direction="INBOUND",
            name=f"{config.name_prefix}-inbound",
            security_group_ids=[sg.security_group_id],
            ip_addresses=[
                resolver.CfnResolverEndpoint.IpAddressRequestProperty(subnet_id=s.subnet_id)
                for s in self.vpc.isolated_subnets
            ],
        )
