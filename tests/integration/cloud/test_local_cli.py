"""`yomitori local up | run | resume | down` as a user runs them (real processes, a real moto
server started by `up`), with the fake engine so it stays fast: every field is unread, so
the batch stops at the review gate and says how to go on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request

import pytest


def yomitori(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yomitori.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def state(tmp_path):
    env = {**os.environ, "YOMITORI_LOCAL_STATE": str(tmp_path / "state"), "OMP_THREAD_LIMIT": "1"}
    for k in ("AWS_ENDPOINT_URL",):
        env.pop(k, None)
    yield env
    yomitori("local", "down", env=env)


def test_local_up_run_down(scans, tmp_path, state):
    # Given the local cloud is up
    up = yomitori("local", "up", env=state)
    assert up.returncode == 0, up.stderr
    started = json.loads((tmp_path / "state" / "state.json").read_text())
    endpoint = started["endpoint"]
    assert f"export AWS_ENDPOINT_URL={endpoint}" in up.stdout
    # When a folder is run through it with an engine that reads nothing
    run = yomitori(
        "local",
        "run",
        str(scans),
        "--form",
        "water_stop",
        "--out",
        str(tmp_path / "out"),
        "--engine",
        "fake",
        env=state,
    )
    # Then it stops at the review gate, says how to go on, and left pre-review results in OUT
    assert run.returncode == 0, run.stderr
    assert "waits at the review gate" in run.stdout and "yomitori local resume" in run.stdout
    assert len(list((tmp_path / "out").glob("water_stop-*.json"))) == 3
    assert json.loads((tmp_path / "out" / "batch.json").read_text())["state"] == "waiting_for_review"
    # and it ran in the cloud `up` started (a deployed server is busy, not gone: no second one)
    assert json.loads((tmp_path / "state" / "state.json").read_text()) == started
    # and resuming before the review is refused with what to do
    batch_id = json.loads((tmp_path / "out" / "batch.json").read_text())["batch_id"]
    early = yomitori("local", "resume", batch_id, "--out", str(tmp_path / "out"), env=state)
    assert early.returncode != 0 and "Finish the review first" in early.stderr
    assert "Traceback" not in early.stderr
    # When it is brought down, Then the server is gone: its process and everything it started
    down = yomitori("local", "down", env=state)
    assert "stopped" in down.stdout
    assert _group(started["pid"]) == []
    with pytest.raises(urllib.error.URLError) as refused:  # no answer at all, not an HTTP error
        urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2)
    assert not isinstance(refused.value, urllib.error.HTTPError)


def _group(pgid: int) -> list[str]:
    """The live processes of a process group (ps), zombies left out."""
    ps = subprocess.run(["ps", "-eo", "pgid=,stat=,args="], capture_output=True, text=True, check=True)
    rows = [line.split(None, 2) for line in ps.stdout.splitlines()]
    return [r[2] for r in rows if len(r) == 3 and r[0] == str(pgid) and not r[1].startswith("Z")]


def test_demo_goes_through_the_local_cloud(tmp_path, state):
    # Given no local cloud is up, When the demo runs with --cloud-local
    out = tmp_path / "demo"
    demo = subprocess.run(
        [
            sys.executable,
            "-m",
            "yomitori.cli",
            "demo",
            "--count",
            "1",
            "--form",
            "water_stop",
            "--out",
            str(out),
            "--cloud-local",
        ],
        env=state,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then it read, scored and printed the table, from results the cloud path wrote
    assert demo.returncode == 0, demo.stderr[-2000:]
    assert "== water_stop ==" in demo.stdout
    batch = json.loads((out / "water_stop" / "results" / "batch.json").read_text())
    assert batch["path"] == "cloud-local" and batch["documents"] == 1
    # and it used a private local cloud, not one left registered for later runs
    assert not (tmp_path / "state" / "state.json").exists()
