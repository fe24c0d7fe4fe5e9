"""Shared test fixtures. Tests read Given / When / Then."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture(scope="session")
def repo_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def stack_template():
    """The synthesized CloudFormation template (cached on disk; tests/support/synthesized.py)."""
    from support.synthesized import synthesized_template

    return synthesized_template()


@pytest.fixture(scope="session")
def guard_for():
    """``guard_for(server)``: the session's started PolicyGuard in front of that moto server
    (tests/support/policy_guard.py; one per server, stopped at the end of the session)."""
    from support.policy_guard import PolicyGuard

    guards: dict[str, PolicyGuard] = {}

    def get(server) -> PolicyGuard:
        if server.url not in guards:
            guards[server.url] = PolicyGuard(server.url).start()
        return guards[server.url]

    yield get
    for g in guards.values():
        g.stop()


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """One real moto server process for the whole session (tests/support/moto_server.py),
    shared by the agent, handler and cloud review tests: each test uses its own buckets or
    batch ids, so they do not see each other. Starting a server costs about a second; tests
    that kill or restart a server start their own."""
    from support.moto_server import MotoServer

    server = MotoServer(log_path=tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()
