"""The agent's configuration: one TOML file per machine, validated up front.

Runs on all three machines; each uses the sections it needs. Errors name the file and the
key (``aws.region: ...``) so the operator can fix it without reading code.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from yomitori_agent.errors import ConfigError

CONFIG_ENV = "YOMITORI_AGENT_CONFIG"
DEFAULT_CONFIG_NAME = "yomitori-agent.toml"
_RECIPIENT_PREFIX = "age1"
_KMS_ARN = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[0-9a-f-]+$"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _check_recipients(values: list[str]) -> list[str]:
    import pyrage

    for v in values:
        try:
            if not v.startswith(_RECIPIENT_PREFIX):
                raise ValueError
            pyrage.x25519.Recipient.from_str(v)
        except (ValueError, pyrage.RecipientError):
            raise ValueError(f"'{v[:12]}...' is not an age X25519 recipient (see `keys show`)") from None
    return values


class Recipients(_Section):
    """Public keys (age1...) of the machines that may open packages, per role."""

    external_pc: list[str] = Field(default_factory=list)
    contract_server: list[str] = Field(default_factory=list)

    _check = field_validator("external_pc", "contract_server")(_check_recipients)


class AwsSection(_Section):
    endpoint_url: str | None = None  # the S3 interface endpoint (https://bucket.vpce-...)
    region: str = "ap-northeast-1"
    profile: str | None = None
    intake_bucket: str | None = None
    results_bucket: str | None = None
    batches_table: str | None = None
    upload_concurrency: int = Field(default=8, ge=1, le=64)
    max_attempts: int = Field(default=6, ge=1, le=20)
    connect_timeout: float = Field(default=10.0, gt=0)
    read_timeout: float = Field(default=60.0, gt=0)
    # A frozen line: a notice on stderr every stall_notice_seconds without an answer, and the
    # command stops after give_up_seconds without one (see yomitori_agent.linewatch).
    stall_notice_seconds: float = Field(default=15.0, gt=0)
    give_up_seconds: float = Field(default=180.0, gt=0)
    multipart_threshold_mb: int = Field(default=16, ge=5, le=5000)
    # The deployment's KMS key (stack output). When set, every PUT asks for SSE-KMS with it, as
    # the bucket policy demands; multipart is then off, because UploadPart requests cannot carry
    # those headers and the policy would deny them (single PUTs go up to 5 GB).
    kms_key_arn: str | None = Field(default=None, pattern=_KMS_ARN)

    @property
    def multipart_threshold(self) -> int:
        """Bytes from which a file goes up in parts (never, when SSE-KMS headers are required)."""
        return (5 << 30) if self.kms_key_arn else self.multipart_threshold_mb << 20

    def sse_args(self) -> dict[str, str]:
        """Extra PutObject arguments that the bucket policy requires (empty without a key)."""
        if not self.kms_key_arn:
            return {}
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_arn}

    @field_validator("endpoint_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("https://", "http://")):
            raise ValueError("must be a URL starting with https:// (http:// only for a local test server)")
        return v


class PackSection(_Section):
    # A scan counts as finished when its size has not changed for this long.
    settle_seconds: float = Field(default=5.0, ge=0)
    done_dir: Path | None = None  # move scans here after their package verified
    form_id: str = "auto"
    suffixes: list[str] = Field(default_factory=lambda: [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".pdf"])


class RegisterSection(_Section):
    watch_dir: Path | None = None  # the RPA robot's watch folder
    database_url: str | None = None  # e.g. sqlite:///C:/core/core.db or postgresql+psycopg://...
    export_encoding: Literal["cp932", "utf-8", "utf-8-sig"] | None = None  # overrides the form's


class AgentConfig(_Section):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    client_id: str = Field(min_length=1, max_length=40)
    role: Literal["scanner_pc", "external_pc", "contract_server"] | None = None
    identity_file: Path | None = None
    keys_dir: Path | None = None
    state_dir: Path = Path("yomitori-agent-state")
    log_file: Path | None = None
    # Where upload/download keep decrypted files while they work (private, wiped after use).
    # A RAM disk or an encrypted volume is best: nothing in clear reaches a plain disk.
    work_dir: Path | None = None
    inbox: Path | None = None
    # How a package is destroyed after use: "full" overwrites every byte; "key" overwrites the
    # header with the wrapped file key (crypto-erase; much faster on slow sticks).
    package_wipe: Literal["full", "key"] = "full"
    forms_dir: Path | None = None
    recipients: Recipients = Field(default_factory=Recipients)
    aws: AwsSection = Field(default_factory=AwsSection)
    pack: PackSection = Field(default_factory=PackSection)
    # the TOML section is [register]; "register" is a name BaseModel already has
    registration: RegisterSection = Field(default_factory=RegisterSection, alias="register")
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("client_id")
    @classmethod
    def _client(cls, v: str) -> str:
        if not all(c.isalnum() or c in "-_" for c in v) or not v.isascii():
            raise ValueError("use letters, digits, '-' and '_' only (it becomes part of batch ids)")
        return v

    def require(self, dotted: str):
        """The value of ``dotted`` (e.g. ``aws.intake_bucket``); a ConfigError naming the key if unset."""
        node = self
        for part in dotted.split("."):
            node = getattr(node, part)
        if node in (None, [], ""):
            where = self.source or "configuration"
            raise ConfigError(f"{where}: '{dotted}' is not set; this command needs it.")
        return node

    @property
    def log_path(self) -> Path:
        return self.log_file or self.state_dir / "agent.log"

    @property
    def work_path(self) -> Path:
        return self.work_dir or self.state_dir / "work"


def _resolve(base: Path, p: Path | None) -> Path | None:
    if p is None:
        return None
    p = Path(os.path.expandvars(os.path.expanduser(str(p))))
    return p if p.is_absolute() else base / p


def load_config(path: Path | str | None) -> AgentConfig:
    """Read and validate the TOML file (``--config``, else ``$YOMITORI_AGENT_CONFIG``, else
    ./yomitori-agent.toml). Relative paths are relative to the file. Raises ConfigError."""
    if path is None:
        path = os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_NAME
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {path} not found.",
                          action="Pass --config FILE or copy agent/yomitori-agent.example.toml.") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: not valid TOML ({e}).") from None
    try:
        cfg = AgentConfig.model_validate(data)
    except ValidationError as e:
        problems = [f"{'.'.join(str(p) for p in err['loc']) or '(top level)'}: {err['msg']}"
                    for err in e.errors()]
        raise ConfigError(f"{path}: " + "; ".join(problems)) from None
    base = path.resolve().parent
    updates = {k: _resolve(base, getattr(cfg, k)) for k in
               ("identity_file", "keys_dir", "state_dir", "log_file", "work_dir", "inbox", "forms_dir")}
    cfg = cfg.model_copy(update={**updates, "source": path})
    cfg.pack.done_dir = _resolve(base, cfg.pack.done_dir)
    cfg.registration.watch_dir = _resolve(base, cfg.registration.watch_dir)
    return cfg


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str | Path):
        # a basic string: backslashes (Windows paths), quotes and control characters escaped
        out = []
        for c in str(v):
            if c in '"\\':
                out.append("\\" + c)
            elif ord(c) < 0x20 or ord(c) == 0x7F:
                out.append(f"\\u{ord(c):04x}")
            else:
                out.append(c)
        return '"' + "".join(out) + '"'
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(f"no TOML form for {type(v).__name__}")


def render_config(settings: Mapping[str, Any]) -> str:
    """The text of a configuration file that :func:`load_config` reads as ``settings``: the
    top-level keys first, then one ``[section]`` per nested mapping (``recipients``, ``aws``,
    ``pack``, ``register``), in the given order; ``None`` values are left out. Strings are
    quoted for TOML, so Windows paths and any name are safe."""
    def keys(values: Mapping[str, Any]) -> list[str]:  # a mapping in a section: TypeError
        return [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]

    sections = {k: v for k, v in settings.items() if isinstance(v, Mapping)}
    lines = keys({k: v for k, v in settings.items() if k not in sections})
    for section, values in sections.items():
        lines += [f"[{section}]", *keys(values)]
    return "\n".join(lines) + "\n"
