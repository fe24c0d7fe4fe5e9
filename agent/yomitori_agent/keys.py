"""X25519 identities and recipients for the three machines (age format, same files as
``age-keygen``). An identity file that others can read is refused, never silently used."""

from __future__ import annotations

import datetime as dt
import os
import re
import stat
import sys
from pathlib import Path

import pyrage

from yomitori_agent.errors import BadInputError, ConfigError, KeyPermissionError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


def check_private(path: Path) -> None:
    """Raise KeyPermissionError if group or others may read/write ``path`` (POSIX).
    On Windows, modes do not describe ACLs; keep identity files in the user's profile."""
    if sys.platform == "win32":
        return
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyPermissionError(f"identity file {path} can be read by others (mode {stat.S_IMODE(mode):o}).")


def load_identities(path: Path) -> list[pyrage.x25519.Identity]:
    """Read an age identity file (``AGE-SECRET-KEY-1...`` lines; ``#`` comments ignored)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"identity file {path} not found.",
                          action="Create one with `yomitori-agent keys new NAME` and set identity_file.")
    check_private(path)
    ids = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            ids.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise ConfigError(f"identity file {path} holds a line that is not an X25519 identity.") from None
    if not ids:
        raise ConfigError(f"identity file {path} holds no identity.")
    return ids


def parse_recipients(values: list[str], role: str) -> list[pyrage.x25519.Recipient]:
    if not values:
        raise ConfigError(f"no recipients for '{role}' (recipients.{role}).",
                          action=f"Add the public key of the {role.replace('_', ' ')} (`keys show` there).")
    try:
        return [pyrage.x25519.Recipient.from_str(v) for v in values]
    except pyrage.RecipientError:
        raise ConfigError(f"recipients.{role} holds a key that is not a valid age recipient.") from None


def new_identity(keys_dir: Path, name: str) -> tuple[Path, str]:
    """Create ``keys_dir/NAME.key`` (mode 0600, created exclusively: an existing key is never
    overwritten) and return its path and public recipient."""
    if not _NAME.match(name):
        raise BadInputError(f"key name '{name}' must be letters, digits, '-' or '_'.")
    keys_dir.mkdir(parents=True, exist_ok=True)
    if sys.platform != "win32":
        os.chmod(keys_dir, 0o700)
    path = keys_dir / f"{name}.key"
    ident = pyrage.x25519.Identity.generate()
    recipient = str(ident.to_public())
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    text = f"# created: {created}\n# public key: {recipient}\n{ident}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BadInputError(f"{path} already exists; an identity is never overwritten.",
                            action="Choose another name (a retired key is removed by hand).") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return path, recipient


def describe_identity(path: Path) -> list[str]:
    """The recipients of an identity file (after the permission check)."""
    return [str(i.to_public()) for i in load_identities(path)]
