"""Typed deployment configuration, read from the ``yomitori`` object of cdk.json's context.

Validated at synth: a bad value stops synth with a message that names the key and says what
to do. Runs only in the CDK app (never in Lambda); imports no CDK so it is cheap to test.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from yomitori import settings
from yomitori.validation.routing import DEFAULT_THRESHOLDS

CONTEXT_KEY = "yomitori"

# Known AZ names, so synth never needs a context lookup (no AWS credentials at synth).
DEFAULT_AZS = {
    "ap-northeast-1": ["ap-northeast-1a", "ap-northeast-1c"],
    "ap-northeast-3": ["ap-northeast-3a", "ap-northeast-3b"],
}


# Upper bound of the time the Map takes before the review gate opens.
PAGES_MARGIN_HOURS = 2


class ConfigError(ValueError):
    """The cdk.json context is wrong; the message names the key and the fix."""


def _network(value: str, key: str) -> ipaddress.IPv4Network:
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{key}: '{value}' is not an IPv4 CIDR block like 10.20.0.0/22 ({e})") from None


class DirectConnect(BaseModel):
    """How the VPC reaches the offices: an existing virtual private gateway (already wired
    to a private virtual interface), or a Direct Connect gateway the stack associates a new
    virtual private gateway with. Neither: the stack creates the VGW for you to attach."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dx_gateway_id: str | None = Field(default=None, pattern=r"^[0-9a-f-]{8,64}$")
    vpn_gateway_id: str | None = Field(default=None, pattern=r"^vgw-[0-9a-f]{8,17}$")
    amazon_side_asn: int = Field(default=64512, ge=64512, le=65534)
    # false (the default): the subnets route only on_prem_cidrs to the gateway (static routes),
    # so no route the offices' routers advertise -- a default route above all -- reaches the
    # functions' subnets. true: every route the gateway learns is propagated (docs/deploy.md).
    propagate_routes: bool = False

    @model_validator(mode="after")
    def _one(self) -> DirectConnect:
        if self.dx_gateway_id and self.vpn_gateway_id:
            raise ValueError("set either dx_gateway_id or vpn_gateway_id, not both")
        return self


class YomitoriConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack_name: str = Field(default="Yomitori", pattern=r"^[A-Za-z][A-Za-z0-9-]{0,100}$")
    name_prefix: str = Field(default="yomitori", pattern=r"^[a-z][a-z0-9-]{1,30}$")
    account: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str = "ap-northeast-1"
    availability_zones: list[str] = Field(default_factory=list)
    vpc_cidr: str = "10.20.0.0/22"
    on_prem_cidrs: list[str] = Field(default_factory=list)
    client_cidrs: list[str] = Field(default_factory=list)
    s3_prefix_list_id: str | None = Field(default=None, pattern=r"^pl-[0-9a-f]{8,17}$")
    dynamodb_prefix_list_id: str | None = Field(default=None, pattern=r"^pl-[0-9a-f]{8,17}$")
    direct_connect: DirectConnect = Field(default_factory=DirectConnect)
    allowed_regions: list[str] = Field(default_factory=lambda: list(settings.DEFAULT_ALLOWED_REGIONS))
    # ppocr: reads inside the ocr function, sends page images nowhere (the default).
    # textract: does not read Japanese handwriting (synth warns, see infra/engine.py).
    # tesseract: is in no Lambda layer; every page fails (synth warns).
    ocr_engine: Literal["ppocr", "textract", "tesseract"] = "ppocr"
    ocr_region: str | None = None  # default: the stack's region
    allow_region_outside_residency: bool = False
    # Optional: OUs / accounts (r-..., ou-..., 12 digits) that get the organisation guardrails
    # (Japan-only SCP, AI services opt-out); a second stack, deployed from the management account.
    organization_target_ids: list[str] = Field(default_factory=list)
    review_thresholds: dict[str, float] = Field(default_factory=dict)
    # Double entry (ベリファイ) of the fields forms mark ``verify``: the review gate waits for a
    # verifier's blind second entry (and a third decision on a mismatch). Needs verifier roles.
    double_entry: bool = False
    retention_days: int = Field(default=1, ge=1, le=7)
    # results.csv for the core system: UTF-8 with BOM, or CP932 for older Japanese systems
    csv_encoding: Literal["utf-8-sig", "cp932"] = "utf-8-sig"
    log_retention_days: int = Field(default=90, ge=1, le=3653)
    # the review audit trail's copy in the trail bucket (Object Lock, governance): how long no
    # one without s3:BypassGovernanceRetention can delete or overwrite it (docs/audit.md)
    audit_trail_retention_days: int = Field(default=1825, ge=1, le=36500)
    alarm_email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    max_concurrency: int = Field(default=10, ge=1, le=1000)
    review_heartbeat_hours: int = Field(default=12, ge=1)
    review_timeout_hours: int = Field(default=20, ge=1)
    ack_timeout_hours: int = Field(default=20, ge=1)
    cdk_qualifier: str = Field(default="hnb659fds", pattern=r"^[a-z0-9]{1,10}$")
    extra_deployment_role_arns: list[str] = Field(default_factory=list)
    # overrides of yomitori.cost.PriceTable (unit prices in USD, usage assumptions) for the
    # cost estimate finalize writes into results.json
    price_table: dict[str, float] = Field(default_factory=dict)
    # who administers the data key besides the CDK deployment role (never uses it on data)
    key_admin_role_arns: list[str] = Field(default_factory=list)
    # who may assume each job role (infra/people.py): job -> IAM user or role ARNs (wildcards
    # allowed, e.g. the AWSReservedSSO_* roles of an Identity Center permission set)
    people: dict[str, list[str]] = Field(default_factory=dict)
    require_third_party_layer: bool = False
    third_party_layers_dir: str = "build/layers"  # relative to the repository

    @field_validator("on_prem_cidrs", "client_cidrs")
    @classmethod
    def _cidr_list(cls, v: list[str], info) -> list[str]:
        for c in v:
            _network(c, info.field_name)
        return v

    @field_validator("price_table")
    @classmethod
    def _prices(cls, v: dict[str, float]) -> dict[str, float]:
        from yomitori.cost import PriceTable

        unknown = sorted(set(v) - set(PriceTable.model_fields))
        if unknown:
            raise ValueError(f"price_table: unknown entries {', '.join(unknown)} (see yomitori/cost.py)")
        PriceTable.model_validate(v)
        return v

    @field_validator("people")
    @classmethod
    def _people(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        import re

        from yomitori.principals import JOBS

        for job, arns in v.items():
            if job not in JOBS:
                raise ValueError(f"people: '{job}' is not a job ({', '.join(JOBS)})")
            for a in arns:
                if not re.fullmatch(r"arn:aws[a-z-]*:iam::\d{12}:(user|role)/[\w+=,.@/*-]+", a):
                    raise ValueError(f"people.{job}: '{a}' is not an IAM user or role ARN")
        return v

    @field_validator("organization_target_ids")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        import re

        for t in v:
            if not re.fullmatch(r"r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}|\d{12}", t):
                raise ValueError(
                    f"organization_target_ids: '{t}' is not a root (r-...), OU (ou-...) or account id"
                )
        return v

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, v: str) -> str:
        net = _network(v, "vpc_cidr")
        if not net.is_private or not 16 <= net.prefixlen <= 24:
            raise ValueError(f"vpc_cidr: '{v}' must be a private range between /16 and /24")
        return v

    @field_validator("review_thresholds")
    @classmethod
    def _thresholds(cls, v: dict[str, float]) -> dict[str, float]:
        for k, t in v.items():
            if k not in DEFAULT_THRESHOLDS:
                raise ValueError(
                    f"review_thresholds: unknown field type '{k}' (use {', '.join(DEFAULT_THRESHOLDS)})"
                )
            if not 0 <= t <= 1:
                raise ValueError(f"review_thresholds.{k}: {t} is not between 0 and 1")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> YomitoriConfig:
        if not self.on_prem_cidrs:
            raise ValueError("on_prem_cidrs: list the office networks that reach AWS over Direct Connect")
        if not self.client_cidrs:
            raise ValueError(
                "client_cidrs: the allow-list of client terminals is missing; list the "
                "external PCs that run yomitori-agent (e.g. 10.0.10.15/32)"
            )
        vpc = _network(self.vpc_cidr, "vpc_cidr")
        offices = [_network(c, "on_prem_cidrs") for c in self.on_prem_cidrs]
        for net in offices:
            if net.overlaps(vpc):
                raise ValueError(
                    f"on_prem_cidrs: {net} overlaps vpc_cidr {vpc}; choose a VPC range "
                    "that is not used on premises"
                )
        for c in self.client_cidrs:
            if not any(_network(c, "client_cidrs").subnet_of(o) for o in offices):
                raise ValueError(f"client_cidrs: {c} is not inside any of on_prem_cidrs")
        if self.region not in self.allowed_regions:
            raise ValueError(
                f"region: '{self.region}' is outside allowed_regions ({', '.join(self.allowed_regions)})"
            )
        try:
            settings.check_residency(
                self.ocr_engine,
                self.engine_region,
                self.allowed_regions,
                override=self.allow_region_outside_residency,
            )
        except settings.ResidencyError as e:
            raise ValueError(
                f"ocr_region: {e.message} Set ocr_region to an allowed region, or set "
                "allow_region_outside_residency: true (needs the privacy officer's sign-off)."
            ) from None
        outside_japan = sorted(
            {self.region, *self.allowed_regions} - set(settings.JAPAN_REGIONS)
        )
        if outside_japan and not self.allow_region_outside_residency:
            raise ValueError(
                f"region: {', '.join(outside_japan)} is outside Japan "
                f"({', '.join(settings.JAPAN_REGIONS)}); My Number data stays in Japan. Use "
                "ap-northeast-1 or ap-northeast-3 in region, allowed_regions and ocr_region, or set "
                "allow_region_outside_residency: true (needs the privacy officer's sign-off, docs/deploy.md)."
            )
        if not (self.s3_prefix_list_id and self.dynamodb_prefix_list_id):
            raise ValueError(
                "s3_prefix_list_id, dynamodb_prefix_list_id: the functions may only reach the "
                "endpoints; set the AWS-managed prefix lists of the S3 and DynamoDB gateway "
                f"endpoints of {self.region} (`aws ec2 describe-managed-prefix-lists --region "
                f"{self.region} --filters Name=owner-id,Values=AWS`: com.amazonaws.{self.region}.s3 "
                f"and com.amazonaws.{self.region}.dynamodb)"
            )
        if self.review_heartbeat_hours > self.review_timeout_hours:
            raise ValueError("review_heartbeat_hours must not exceed review_timeout_hours")
        # Pages and documents are written while the pages are read (before the gate) and read
        # again by finalize after it; results are written by finalize and downloaded during the
        # ack wait. So the gate (plus the time to read the pages) and the ack wait must each end
        # before the lifecycle backstop deletes what they still need; if one still expires, the
        # next step fails and the flow purges and fails the batch (PurgeAfterFailure).
        if (
            self.review_timeout_hours + PAGES_MARGIN_HOURS >= 24 * self.retention_days
            or self.ack_timeout_hours >= 24 * self.retention_days
        ):
            raise ValueError(
                f"review_timeout_hours (+{PAGES_MARGIN_HOURS} h to read the pages) and ack_timeout_hours "
                f"must end before the S3 lifecycle backstop ({24 * self.retention_days} h = retention_days) "
                "deletes the batch"
            )
        if not self.availability_zones and self.region not in DEFAULT_AZS:
            raise ValueError(f"availability_zones: no default for region '{self.region}'; list two AZs")
        return self

    @property
    def permitted_regions(self) -> list[str]:
        """Where any role of the stack and the agent may call AWS (aws:RequestedRegion): the
        residency list, plus the engine's region when the override sends pages elsewhere."""
        regions = list(dict.fromkeys(self.allowed_regions))
        if self.ocr_engine in settings.CLOUD_ENGINES and self.engine_region not in regions:
            regions.append(self.engine_region)
        return regions

    @property
    def engine_region(self) -> str:
        return self.ocr_region or self.region

    @property
    def azs(self) -> list[str]:
        return self.availability_zones or DEFAULT_AZS[self.region]

    @property
    def thresholds(self) -> dict[str, float]:
        return {**DEFAULT_THRESHOLDS, **self.review_thresholds}


def load_config(context: dict | None) -> YomitoriConfig:
    """Validate the ``yomitori`` context object; raise :class:`ConfigError` with every problem."""
    if context is None:
        raise ConfigError(
            f"cdk.json has no '{CONTEXT_KEY}' context object; copy the example from "
            "docs/deploy.md and fill in your networks."
        )
    try:
        return YomitoriConfig.model_validate(context)
    except ValidationError as e:
        problems = []
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"])
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {msg}" if where and not msg.startswith(f"{where}:") else msg)
        raise ConfigError("Invalid yomitori configuration in cdk.json: " + "; ".join(problems)) from None
