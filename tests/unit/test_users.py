"""The users file of one machine: scrypt-hashed passphrases, written atomically with 0600,
managed with `yomitori users`; logins limited after failures."""

from __future__ import annotations

import json
import stat
import subprocess
import sys

import pytest
from yomitori.access import Principal, Role
from yomitori.users import LoginGuard, LoginRefused, UsersError, UsersFile, login

PASS = "correct horse battery staple"


def test_users_file_round_trip_and_wrong_passphrase(tmp_path):
    # Given a users file with a reviewer who may also see My Numbers
    path = tmp_path / "users.json"
    users = UsersFile.load(path, missing_ok=True)
    users.add("sato", ["reviewer", "number_viewer"], PASS)
    users.save()
    # Then the file is readable by its owner only, and holds no passphrase, only scrypt keys
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    assert PASS not in text
    stored = json.loads(text)["users"]["sato"]["passphrase"]
    scheme, n, r, p, salt, key = stored.split("$")
    assert scheme == "scrypt" and int(n) >= 1 << 15 and int(r) == 8 and len(salt) >= 20
    # When it is read back, Then the right passphrase gives the principal with its roles
    again = UsersFile.load(path)
    assert again.authenticate("sato", PASS) == Principal(
        "sato", frozenset({Role.REVIEWER, Role.NUMBER_VIEWER})
    )
    # And a wrong passphrase, or a name that does not exist, gives nobody
    assert again.authenticate("sato", PASS + "!") is None
    assert again.authenticate("tanaka", PASS) is None
    # And two users with the same passphrase get different salts and keys
    again.add("tanaka", ["reviewer"], PASS)
    assert again.users["tanaka"].passphrase.split("$")[4:] != again.users["sato"].passphrase.split("$")[4:]


def test_a_users_file_others_may_change_is_refused(tmp_path):
    # Given a users file someone made writable by the group (anyone could add a number viewer)
    path = tmp_path / "users.json"
    users = UsersFile.load(path, missing_ok=True)
    users.add("sato", ["reviewer"], PASS)
    users.save()
    path.chmod(0o664)
    # Then it is not used, and the message says how to fix it
    with pytest.raises(UsersError) as e:
        UsersFile.load(path)
    assert "chmod 600" in e.value.action


def test_bad_names_roles_and_short_passphrases_are_refused(tmp_path):
    users = UsersFile.load(tmp_path / "u.json", missing_ok=True)
    with pytest.raises(UsersError):
        users.add("Sato Taro", ["reviewer"], PASS)
    with pytest.raises(UsersError):
        users.add("sato", ["admin"], PASS)
    with pytest.raises(UsersError):
        users.add("sato", ["reviewer"], "short")
    with pytest.raises(UsersError):
        UsersFile.load(tmp_path / "missing.json")


def test_five_failures_lock_the_name_even_for_the_right_passphrase(tmp_path):
    # Given a user and a login guard with a clock we move
    users = UsersFile.load(tmp_path / "u.json", missing_ok=True)
    users.add("sato", ["reviewer"], PASS)
    now = [1000.0]
    guard = LoginGuard(clock=lambda: now[0])
    # When five wrong passphrases are tried
    for _ in range(5):
        with pytest.raises(LoginRefused) as e:
            login(users, guard, "sato", "wrong passphrase!")
        assert e.value.reason == "wrong_passphrase"
    # Then even the right one is refused for a while
    with pytest.raises(LoginRefused) as e:
        login(users, guard, "sato", PASS)
    assert e.value.reason == "locked_out" and 0 < e.value.retry_after <= 300
    # When five minutes have passed, Then the right passphrase logs in
    now[0] += 301
    assert login(users, guard, "sato", PASS).name == "sato"


def _cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "yomitori.cli", "users", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_users_command_adds_lists_changes_and_removes(tmp_path):
    path = str(tmp_path / "users.json")
    # When an administrator adds a user from a script (passphrase on stdin)
    out = _cli(
        "add",
        "sato",
        "--role",
        "reviewer",
        "--role",
        "number_viewer",
        "--users",
        path,
        "--passphrase-stdin",
        stdin=PASS + "\n",
    )
    assert out.returncode == 0, out.stderr
    # Then the list shows names and roles, never a hash
    listed = _cli("list", "--users", path)
    assert json.loads(listed.stdout) == {"users": [{"name": "sato", "roles": ["number_viewer", "reviewer"]}]}
    assert "scrypt" not in listed.stdout
    # When the passphrase is changed, Then only the new one works
    assert (
        _cli(
            "passwd", "sato", "--users", path, "--passphrase-stdin", stdin="a new long passphrase\n"
        ).returncode
        == 0
    )
    users = UsersFile.load(path)
    assert users.authenticate("sato", PASS) is None and users.authenticate("sato", "a new long passphrase")
    # When a name is added twice, Then it is refused with what to do (exit 4)
    twice = _cli(
        "add", "sato", "--role", "reviewer", "--users", path, "--passphrase-stdin", stdin=PASS + "\n"
    )
    assert twice.returncode == 4 and "passwd" in twice.stderr
    # When the user is removed, Then the list is empty
    assert _cli("remove", "sato", "--users", path).returncode == 0
    assert json.loads(_cli("list", "--users", path).stdout) == {"users": []}
