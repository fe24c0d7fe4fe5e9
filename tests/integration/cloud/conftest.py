"""Fixtures for the cloud path: one real moto server process (tests/support), the stack's
buckets, key and tables created by ``yomitori.cloud_local.provision``, and the handlers'
environment set for the module (restored afterwards). Batches get unique ids per test."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def cloud_server(moto_server):
    """The session's moto server (tests/conftest.py)."""
    return moto_server


@pytest.fixture(scope="module")
def cloud(cloud_server):
    """A provisioned local cloud with this process's environment pointing at it."""
    from yomitori import observability
    from yomitori.cloud_local import LocalCloud, provision
    from yomitori.steps import config
    from yomitori.steps.ocr import engine_for

    saved = dict(os.environ)
    c = provision(LocalCloud(endpoint=cloud_server.url))
    c.activate("tesseract")
    yield c
    os.environ.clear()
    os.environ.update(saved)
    config.reset()
    observability.reset()
    engine_for.cache_clear()


@pytest.fixture(scope="session")
def scans(tmp_path_factory):
    """Three synthetic water_stop pages with truth files (made once)."""
    from yomitori.forms import load_form
    from yomitori.synth import generate

    d = tmp_path_factory.mktemp("scans")
    generate(load_form("water_stop"), count=3, out_dir=d, seed=11, dpi=300, degrade="light")
    return d


@pytest.fixture
def batch_id() -> str:
    return f"t-{uuid.uuid4().hex[:12]}"
