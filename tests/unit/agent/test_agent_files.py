"""File safety helpers and the command line's error boundary."""

from __future__ import annotations

import os
import time

import pytest
from yomitori_agent.cli import main
from yomitori_agent.errors import BusyError, ExitCode
from yomitori_agent.fsutil import (
    atomic_write_bytes,
    exclusive_lock,
    is_regular_file,
    wait_until_settled,
    wipe_tree,
)
from yomitori_agent.pack import find_batches


def test_wait_until_settled_waits_while_a_scan_grows(tmp_path):
    # Given a scan written just now that grows once more during the first wait
    scan = tmp_path / "s.png"
    scan.write_bytes(b"x" * 10)
    os.utime(scan, (time.time(), time.time()))
    sleeps = []

    def fake_sleep(seconds):
        sleeps.append(seconds)
        if len(sleeps) == 1:
            with open(scan, "ab") as fh:
                fh.write(b"more")
            os.utime(scan, ns=(time.time_ns(), time.time_ns() + 1000))

    # When waiting for it to settle
    wait_until_settled([scan], 5.0, sleep=fake_sleep)
    # Then it waited twice: once for the growth, once to see it stay the same
    assert sleeps == [5.0, 5.0]


def test_old_scans_need_no_wait(tmp_path):
    scan = tmp_path / "s.png"
    scan.write_bytes(b"x")
    os.utime(scan, (time.time() - 3600, time.time() - 3600))
    wait_until_settled([scan], 5.0, sleep=lambda s: pytest.fail("waited for an old scan"))


def test_symlinks_are_never_scans(tmp_path):
    # Given a real scan and a symlink that points at a file elsewhere
    (tmp_path / "scans").mkdir()
    real = tmp_path / "scans" / "a.png"
    real.write_bytes(b"x")
    secret = tmp_path / "secret.png"
    secret.write_bytes(b"y")
    (tmp_path / "scans" / "b.png").symlink_to(secret)
    # When the batches are found
    batches = find_batches(tmp_path / "scans", [".png"])
    # Then only the regular file is in them
    assert [p.name for p in batches[0][1]] == ["a.png"]
    assert not is_regular_file(tmp_path / "scans" / "b.png")


def test_atomic_write_leaves_no_temporary_file_and_wipe_tree_removes_everything(tmp_path):
    target = tmp_path / "out" / "x.csv"
    target.parent.mkdir()
    atomic_write_bytes(target, b"a,b\r\n")
    assert [p.name for p in target.parent.iterdir()] == ["x.csv"]
    (target.parent / "sub").mkdir()
    (target.parent / "sub" / "y").write_bytes(b"secret")
    wipe_tree(target.parent)
    assert not target.parent.exists()


def test_a_second_process_on_the_same_batch_is_refused(tmp_path):
    lock = tmp_path / "b.lock"
    with exclusive_lock(lock), pytest.raises(BusyError), exclusive_lock(lock):
        pass


@pytest.mark.parametrize(
    ("argv", "code", "text"),
    [
        (["--config", "/nonexistent/agent.toml", "upload", "x"], ExitCode.CONFIG, "not found"),
        (["pack", "/nonexistent-scans", "--to", "/tmp"], ExitCode.CONFIG, "not found"),
    ],
)
def test_errors_are_one_line_with_an_action_and_a_stable_code(
    argv, code, text, capsys, monkeypatch, tmp_path
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("YOMITORI_AGENT_CONFIG", raising=False)
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.startswith("yomitori-agent: ") and text in err and "what to do:" in err
    assert "Traceback" not in err


def test_no_scans_is_bad_input(tmp_path, capsys):
    cfg = tmp_path / "agent.toml"
    key = "age13jsl8w02gqmg3nmaa9940r3udmknta8vw4cu7pgrugzwelp65c5q477tct"
    cfg.write_text(f'client_id = "c"\n[recipients]\nexternal_pc = ["{key}"]\n', encoding="utf-8")
    (tmp_path / "scans").mkdir()
    (tmp_path / "usb").mkdir()
    code = main(["--config", str(cfg), "pack", str(tmp_path / "scans"), "--to", str(tmp_path / "usb")])
    assert code == ExitCode.BAD_INPUT
    assert "no scans" in capsys.readouterr().err
