"""A reader that stops early (``yomitori-agent status | head``) ends both command lines
quietly: exit 0, nothing on stderr, no "internal error"."""

from __future__ import annotations

import subprocess
import sys


def _closed_reader(cmd: list[str], env: dict) -> subprocess.CompletedProcess:
    # the read end is closed before the command writes: its first write meets a broken pipe
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    proc.stdout.close()
    err = proc.stderr.read().decode("utf-8", "replace")
    proc.wait(timeout=120)
    return subprocess.CompletedProcess(cmd, proc.returncode, "", err)


def test_agent_status_into_a_closed_pipe_ends_quietly(site):
    # Given an agent site; When `status` writes its summary to a reader that went away
    r = _closed_reader([sys.executable, "-m", "yomitori_agent.cli", "--config", str(site.config), "status"],
                       site.env())
    # Then it ends quietly, as a successful command
    assert (r.returncode, r.stderr) == (0, ""), r.stderr


def test_yomitori_forms_list_into_a_closed_pipe_ends_quietly(site):
    # When `yomitori forms list` writes to a reader that went away
    r = _closed_reader([sys.executable, "-m", "yomitori.cli", "forms", "list"], site.env())
    # Then it ends quietly too
    assert (r.returncode, r.stderr) == (0, ""), r.stderr
