"""Fixtures for the agent's integration tests: real `age` keys, a real moto server process,
and a complete agent site (config file, folders, buckets) per test. The agent reaches the
server through the policy guard as the synthesized agent policy: any call outside that policy
fails the test (tests/support/policy_guard.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.agent_site import AGE, AGE_KEYGEN, Site, make_guarded_site, make_key


@pytest.fixture(scope="session")
def age_keys(tmp_path_factory):
    if not (AGE and AGE_KEYGEN):
        pytest.fail("the reference `age` tool is missing: run `make setup` (Debian package age)")
    d = tmp_path_factory.mktemp("keys")
    return {
        "external": (d / "external.key", make_key(d / "external.key")),
        "contract": (d / "contract.key", make_key(d / "contract.key")),
    }


@pytest.fixture
def site(tmp_path, moto_server, guard_for, stack_template, age_keys) -> Site:
    guard = guard_for(moto_server)
    s = make_guarded_site(tmp_path, moto_server, guard, stack_template, age_keys)
    yield s
    guard.check()


@pytest.fixture
def contract_config(site, age_keys) -> Path:
    """The contract server's configuration: same site, its own identity."""
    path = site.root / "contract.toml"
    text = site.config.read_text(encoding="utf-8").replace(
        str(age_keys["external"][0]), str(age_keys["contract"][0])
    )
    path.write_text(text, encoding="utf-8")
    return path
