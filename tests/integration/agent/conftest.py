"""Fixtures for the agent's integration tests: real `age` keys, a real moto server process,
and a complete agent site (config file, folders, buckets) per test."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.agent_site import AGE, AGE_KEYGEN, Site, make_key, make_site
from support.moto_server import MotoServer


@pytest.fixture(scope="session")
def age_keys(tmp_path_factory):
    if not (AGE and AGE_KEYGEN):
        pytest.fail("the reference `age` tool is missing: run `make setup` (Debian package age)")
    d = tmp_path_factory.mktemp("keys")
    return {
        "external": (d / "external.key", make_key(d / "external.key")),
        "contract": (d / "contract.key", make_key(d / "contract.key")),
    }


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def site(tmp_path, moto_server, age_keys) -> Site:
    s = make_site(tmp_path, moto_server, age_keys)
    s.create_buckets()
    return s


@pytest.fixture
def contract_config(site, age_keys) -> Path:
    """The contract server's configuration: same site, its own identity."""
    path = site.root / "contract.toml"
    text = site.config.read_text(encoding="utf-8").replace(
        str(age_keys["external"][0]), str(age_keys["contract"][0])
    )
    path.write_text(text, encoding="utf-8")
    return path
