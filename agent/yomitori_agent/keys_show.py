"""``keys show``: the identities this machine holds and the recipients it encrypts to."""

from __future__ import annotations

from pathlib import Path

from yomitori_agent.errors import ConfigError
from yomitori_agent.keys import describe_identity


def show(args) -> dict:
    """Identity files (refused if others can read them) with their recipients, and the
    configured recipients per role. Works without a configuration when ``--dir`` is given."""
    from yomitori_agent.config import load_config

    cfg = None
    try:
        cfg = load_config(args.config)
    except ConfigError:
        if not args.dir:
            raise
    keys_dir = Path(args.dir) if args.dir else (cfg.keys_dir if cfg else None)
    files: list[Path] = sorted(keys_dir.glob("*.key")) if keys_dir and keys_dir.is_dir() else []
    if cfg and cfg.identity_file and cfg.identity_file not in files:
        files.insert(0, cfg.identity_file)
    out: dict = {"identities": [{"file": str(f), "recipients": describe_identity(f)} for f in files]}
    if cfg:
        out["client_id"] = cfg.client_id
        out["recipients"] = cfg.recipients.model_dump()
    return out
