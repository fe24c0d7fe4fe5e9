"""One helper for every Python function: runtime, architecture, layers, VPC placement, own
least-privilege role, explicit encrypted log group with retention, JSON logging, X-Ray.

The domain layer is staged from the repository at synth (``layers/domain/python`` plus the
form definitions under ``forms/``) into ``build/layers/domain``; the third-party layers and
the ppocr model layer are built beforehand by ``layers/build.py`` (pip for the Lambda
platform, no Docker). Which layers a function takes depends on the configured engine
(``yomitori.settings.layer_groups``). Synth works offline: without a built layer it uses an
empty placeholder and warns.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

from aws_cdk import Annotations, Duration, RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct
from yomitori import settings
from yomitori.cost import ENV_PRICE_TABLE
from yomitori.ocr.models import PPOCR_REC

from infra.config import YomitoriConfig

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "build" / "layers"
# One layer per group of layers/requirements/ (built by layers/build.py): all of them
# together exceed Lambda's 250 MiB unzipped limit, so each function takes only its groups.
THIRD_PARTY_GROUPS = settings.LAYER_GROUPS
RUNTIME = lambda_.Runtime.PYTHON_3_14  # layers/build.py installs wheels for the same version
ARCHITECTURE = lambda_.Architecture.ARM_64  # ... and the same platform (manylinux2014_aarch64)

_RETENTIONS = [
    (1, "ONE_DAY"),
    (3, "THREE_DAYS"),
    (5, "FIVE_DAYS"),
    (7, "ONE_WEEK"),
    (14, "TWO_WEEKS"),
    (30, "ONE_MONTH"),
    (60, "TWO_MONTHS"),
    (90, "THREE_MONTHS"),
    (120, "FOUR_MONTHS"),
    (150, "FIVE_MONTHS"),
    (180, "SIX_MONTHS"),
    (365, "ONE_YEAR"),
    (400, "THIRTEEN_MONTHS"),
    (545, "EIGHTEEN_MONTHS"),
    (731, "TWO_YEARS"),
    (1096, "THREE_YEARS"),
    (1827, "FIVE_YEARS"),
    (2192, "SIX_YEARS"),
    (2557, "SEVEN_YEARS"),
    (2922, "EIGHT_YEARS"),
    (3288, "NINE_YEARS"),
    (3653, "TEN_YEARS"),
]


def retention(days: int) -> logs.RetentionDays:
    """The shortest CloudWatch retention of at least ``days`` (CloudWatch takes fixed values)."""
    return logs.RetentionDays[next(name for d, name in _RETENTIONS if d >= days)]


def stage_domain_layer(out: Path = BUILD / "domain") -> Path:
    """Copy the domain package and the form definitions (with existing forms' reference images)
    into the layer layout:
    ``python/yomitori`` (on sys.path in Lambda) and ``forms/`` (``settings.LAMBDA_FORMS_DIR``)."""
    tmp = out.with_name(f".{out.name}-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(
        REPO / "layers" / "domain" / "python" / "yomitori", tmp / "python" / "yomitori", ignore=ignore
    )
    (tmp / "forms").mkdir(parents=True)
    # definitions, and the reference images (blank scans) of registered existing forms
    for form in sorted([*(REPO / "forms").glob("*.yaml"), *(REPO / "forms").glob("*.png")]):
        shutil.copy2(form, tmp / "forms" / form.name)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


def third_party_layer_dir(group: str, *, built_dir: Path, required: bool) -> tuple[Path, bool]:
    """``built_dir/<group>`` as built by layers/build.py, or an empty placeholder (offline
    synth, tests); raises when the layer is ``required`` but missing. The model layer holds
    ``models/`` (Lambda: /opt/models), the others ``python/``."""
    content = "models" if group == settings.MODEL_LAYER else "python"
    if (built_dir / group / content).is_dir():
        return built_dir / group, True
    if required:
        raise RuntimeError(
            f"{built_dir / group}/{content} is missing: run `.venv/bin/python layers/build.py` "
            "before deploying (it needs PyPI access once)."
        )
    placeholder = BUILD / "placeholder" / group
    (placeholder / content).mkdir(parents=True, exist_ok=True)
    (placeholder / content / "PLACEHOLDER.txt").write_text(
        f"Empty placeholder: run layers/build.py to build the '{group}' layer.\n"
    )
    return placeholder, False


class PythonFunctions(Construct):
    """Builds the layers once (domain + third-party groups) and every function through :meth:`add`."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: YomitoriConfig,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        security_group: ec2.ISecurityGroup,
        key: kms.IKey,
        environment: dict[str, str],
    ) -> None:
        super().__init__(scope, id)
        self.config, self.vpc, self.subnets, self.security_group, self.key = (
            config,
            vpc,
            subnets,
            security_group,
            key,
        )
        self.functions: dict[str, lambda_.Function] = {}
        self.log_groups: dict[str, logs.LogGroup] = {}
        self.environment = {
            settings.ENV_POWERTOOLS_SERVICE: settings.SERVICE_NAME,
            settings.ENV_POWERTOOLS_NAMESPACE: settings.METRIC_NAMESPACE,
            settings.ENV_LOG_LEVEL: "INFO",
            settings.ENV_FORMS_DIR: settings.LAMBDA_FORMS_DIR,
            settings.ENV_OCR_ENGINE: config.ocr_engine,
            settings.ENV_OCR_REGION: config.engine_region,
            settings.ENV_ALLOWED_REGIONS: ",".join(config.allowed_regions),
            settings.ENV_RESIDENCY_OVERRIDE: "true" if config.allow_region_outside_residency else "false",
            settings.ENV_THRESHOLDS: json.dumps(
                {str(k): v for k, v in config.thresholds.items()}, sort_keys=True
            ),
            settings.ENV_RETENTION_DAYS: str(config.retention_days),
            settings.ENV_DOUBLE_ENTRY: "on" if config.double_entry else "off",
            ENV_PRICE_TABLE: json.dumps(config.price_table, sort_keys=True),
            **environment,
        }
        platforms = [RUNTIME]
        self.domain_layer = lambda_.LayerVersion(
            self,
            "DomainLayer",
            code=lambda_.Code.from_asset(str(stage_domain_layer())),
            compatible_runtimes=platforms,
            compatible_architectures=[ARCHITECTURE],
            description="yomitori domain package and form definitions",
        )
        built_dir = (REPO / config.third_party_layers_dir).resolve()
        # only the layers some function takes with this engine (no textract layer for ppocr ...)
        wanted = {g for f in settings.FUNCTION_NAMES for g in self.layers_of(f)}
        used = [g for g in (*THIRD_PARTY_GROUPS, settings.MODEL_LAYER) if g in wanted]
        self.third_party_layers: dict[str, lambda_.LayerVersion] = {}
        missing = []
        for group in used:
            path, built = third_party_layer_dir(
                group, built_dir=built_dir, required=config.require_third_party_layer
            )
            description = (
                f"yomitori model: {group} ({PPOCR_REC.file_name} from {PPOCR_REC.source}, at "
                f"{settings.LAMBDA_MODELS_DIR})"
                if group == settings.MODEL_LAYER
                else f"yomitori third-party packages: {group} (layers/requirements/{group}.txt)"
            )
            layer = lambda_.LayerVersion(
                self,
                f"{group.capitalize()}Layer",
                code=lambda_.Code.from_asset(str(path)),
                compatible_runtimes=platforms,
                compatible_architectures=[ARCHITECTURE],
                description=description,
            )
            self.third_party_layers[group] = layer
            if not built:
                missing.append(group)
                Annotations.of(layer).add_warning_v2(
                    "yomitori:third-party-layer", f"layer '{group}' not built: empty placeholder used"
                )
        if missing:
            print(
                f"warning: layers not built ({', '.join(missing)}): synth used empty "
                "placeholders. Run `.venv/bin/python layers/build.py` before `npx cdk deploy`.",
                file=sys.stderr,
            )

    def _environment_of(self, name: str) -> dict[str, str]:
        env = dict(self.environment)
        if settings.needs_model_layer(name, self.config.ocr_engine):
            # where the model layer puts the model (also the engine's default in Lambda; explicit
            # so that a runner that maps /opt paths to layer folders finds it)
            env[settings.ENV_MODELS_DIR] = settings.LAMBDA_MODELS_DIR
        return env

    def layers_of(self, name: str) -> list[str]:
        """The third-party (and model) layers of function ``name`` with the configured engine."""
        engine = self.config.ocr_engine
        model = [settings.MODEL_LAYER] if settings.needs_model_layer(name, engine) else []
        return [*settings.layer_groups(name, engine), *model]

    def add(
        self,
        name: str,
        *,
        description: str,
        timeout: Duration | None = None,
        memory_size: int = 512,
        reserved_concurrency: int | None = None,
    ) -> lambda_.Function:
        """A function from ``lambdas/<name>/handler.py`` with its own role and log group, its
        third-party layers (:meth:`layers_of`) and the domain layer."""
        title = name.capitalize()
        function_name = f"{self.config.name_prefix}-{name}"
        log_group = logs.LogGroup(
            self,
            f"{title}Logs",
            log_group_name=f"/aws/lambda/{function_name}",
            retention=retention(self.config.log_retention_days),
            encryption_key=self.key,
            removal_policy=RemovalPolicy.DESTROY,
        )
        role = iam.Role(
            self,
            f"{title}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"yomitori {name} function (least privilege, no managed policies)",
        )
        log_group.grant_write(role)
        # Lambda creates and removes the function's ENIs with its role; EC2 has no resource-level
        # scoping for the Describe calls, so this is "*" (acknowledged in infra/nag.py).
        role.add_to_policy(
            iam.PolicyStatement(
                sid="VpcNetworkInterfaces",
                actions=[
                    "ec2:CreateNetworkInterface",
                    "ec2:DescribeNetworkInterfaces",
                    "ec2:DescribeSubnets",
                    "ec2:DeleteNetworkInterface",
                    "ec2:AssignPrivateIpAddresses",
                    "ec2:UnassignPrivateIpAddresses",
                ],
                resources=["*"],
            )
        )
        fn = lambda_.Function(
            self,
            title,
            function_name=function_name,
            description=description,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="handler.handler",
            code=lambda_.Code.from_asset(str(REPO / "lambdas" / name), exclude=["__pycache__", "*.pyc"]),
            layers=[*(self.third_party_layers[g] for g in self.layers_of(name)), self.domain_layer],
            role=role,
            vpc=self.vpc,
            vpc_subnets=self.subnets,
            security_groups=[self.security_group],
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            system_log_level_v2=lambda_.SystemLogLevel.WARN,
            tracing=lambda_.Tracing.ACTIVE,
            environment=self._environment_of(name),
            timeout=timeout or Duration.seconds(30),
            memory_size=memory_size,
            reserved_concurrent_executions=reserved_concurrency,
        )
        self.functions[name] = fn
        self.log_groups[name] = log_group
        return fn
