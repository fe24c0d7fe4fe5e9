"""keys new / keys show through the command line, checked against the reference age-keygen."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest
from yomitori_agent.cli import main
from yomitori_agent.errors import ExitCode


def test_keys_new_writes_a_private_identity_that_age_keygen_reads(tmp_path, capsys):
    # Given an empty keys folder
    keys = tmp_path / "keys"
    # When a new identity is made for the contract server
    assert main(["keys", "new", "contract-server", "--dir", str(keys)]) == 0
    out = json.loads(capsys.readouterr().out)
    # Then only its owner can read it, and age-keygen derives the same recipient from it
    path = keys / "contract-server.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    derived = subprocess.run(
        [shutil.which("age-keygen"), "-y", str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out["recipient"] == derived
    # And it is never overwritten
    assert main(["keys", "new", "contract-server", "--dir", str(keys)]) == ExitCode.BAD_INPUT
    assert "already exists" in capsys.readouterr().err


def test_keys_show_lists_recipients_and_refuses_a_key_others_can_read(tmp_path, capsys):
    # Given two identities, one of them readable by everybody
    keys = tmp_path / "keys"
    main(["keys", "new", "scanner", "--dir", str(keys)])
    first = json.loads(capsys.readouterr().out)["recipient"]
    assert main(["keys", "show", "--dir", str(keys)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["identities"][0]["recipients"] == [first]
    main(["keys", "new", "loose", "--dir", str(keys)])
    capsys.readouterr()
    os.chmod(keys / "loose.key", 0o644)
    # When keys show runs
    code = main(["keys", "show", "--dir", str(keys)])
    # Then it refuses, naming the file and what to do
    err = capsys.readouterr().err
    assert code == ExitCode.KEY_PERMISSIONS
    assert "loose.key" in err and "chmod 600" in err


@pytest.mark.parametrize("name", ["../evil", "a b", ""])
def test_keys_new_refuses_odd_names(tmp_path, capsys, name):
    assert main(["keys", "new", name, "--dir", str(tmp_path)]) == ExitCode.BAD_INPUT
    assert list(tmp_path.iterdir()) == []
