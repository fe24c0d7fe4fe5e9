"""The configuration file: the shipped example is valid, mistakes are named by key."""

from __future__ import annotations

from pathlib import Path

import pytest
from yomitori_agent.config import load_config
from yomitori_agent.errors import ConfigError

EXAMPLE = Path(__file__).resolve().parents[3] / "agent" / "yomitori-agent.example.toml"


def test_the_example_configuration_loads_with_paths_relative_to_the_file():
    # Given the documented example
    # When it is loaded
    cfg = load_config(EXAMPLE)
    # Then every section is there and relative paths hang off the file's folder
    assert cfg.client_id == "city-example"
    assert cfg.identity_file == EXAMPLE.parent / "keys" / "external-pc.key"
    assert cfg.registration.watch_dir == EXAMPLE.parent / "robot-watch"
    assert cfg.aws.upload_concurrency == 8 and cfg.aws.region == "ap-northeast-1"
    assert len(cfg.recipients.contract_server) == 1
    # And it names the stack's data key, so every PUT asks for SSE-KMS as the bucket policy demands
    assert cfg.aws.kms_key_arn.startswith("arn:aws:kms:ap-northeast-1:")
    assert cfg.aws.sse_args() == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": cfg.aws.kms_key_arn}


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        ('client_id = "a b"', "client_id"),
        ('client_id = "x"\n[aws]\nupload_concurrency = 0', "aws.upload_concurrency"),
        ('client_id = "x"\n[aws]\nendpoint_url = "ftp://x"', "aws.endpoint_url"),
        ('client_id = "x"\n[aws]\nbucket = "typo"', "aws.bucket"),
        ('client_id = "x"\n[recipients]\nexternal_pc = ["age1notakey"]', "recipients.external_pc"),
        ('client_id = "x"\n[register]\nexport_encoding = "latin-1"', "register.export_encoding"),
        ("[aws]", "client_id"),
    ],
)
def test_mistakes_are_reported_with_the_key(tmp_path, snippet, named):
    # Given a configuration with one mistake
    path = tmp_path / "agent.toml"
    path.write_text(snippet, encoding="utf-8")
    # When it is loaded
    with pytest.raises(ConfigError) as e:
        load_config(path)
    # Then the message names the file and the key
    assert str(path) in e.value.message and named in e.value.message


def test_not_toml_and_missing_file_are_clear(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("client_id = ", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.toml")


def test_require_names_an_unset_key(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text('client_id = "x"', encoding="utf-8")
    cfg = load_config(path)
    with pytest.raises(ConfigError, match="'aws.intake_bucket' is not set"):
        cfg.require("aws.intake_bucket")


def test_a_rendered_configuration_loads_as_written_even_with_windows_paths_and_quotes(tmp_path):
    # Given settings with a Windows path (backslashes), a quote and a tab in a folder name
    from yomitori_agent.config import render_config

    settings = {
        "client_id": "city-1",
        "identity_file": r"C:\Users\担当\keys\external.key",
        "inbox": 'in "box"\tA',
        "log_file": None,
        "recipients": {"contract_server": []},
        "aws": {"region": "ap-northeast-1", "upload_concurrency": 4, "read_timeout": 2.5},
        "pack": {"settle_seconds": 0, "suffixes": [".png", ".tif"]},
    }
    path = tmp_path / "agent.toml"
    # When rendered and loaded
    path.write_text(render_config(settings), encoding="utf-8")
    cfg = load_config(path)
    # Then every value is the one given, and a None is simply absent
    assert str(cfg.identity_file).endswith(r"C:\Users\担当\keys\external.key")
    assert cfg.inbox.name == 'in "box"\tA'
    assert cfg.log_file is None
    assert (cfg.aws.upload_concurrency, cfg.aws.read_timeout) == (4, 2.5)
    assert cfg.pack.suffixes == [".png", ".tif"]
    # And the text stays line per key (tests edit it with str.replace)
    assert "upload_concurrency = 4\n" in path.read_text(encoding="utf-8")
