"""The ``yomitori-agent`` command. Thin: parse arguments, load the configuration, call one
API function, print a JSON summary on stdout; errors become one line on stderr and an
:class:`~yomitori_agent.errors.ExitCode` here, in one place."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import traceback
from pathlib import Path

from yomitori.errors import YomitoriError

from yomitori_agent.errors import AgentError, ExitCode
from yomitori_agent.safetext import printable


def _cfg(args):
    from yomitori_agent.config import load_config
    from yomitori_agent.log import setup_logging

    cfg = load_config(args.config)
    setup_logging(cfg.log_path, verbose=args.verbose)
    return cfg


def _progress(args) -> bool | None:
    return False if args.no_progress else None


class _StdoutClosed(Exception):
    """Whoever read our stdout stopped reading (``yomitori-agent status | head``)."""


def _print(obj) -> None:
    try:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
        sys.stdout.flush()  # here, not at exit, so a closed pipe is seen while we can handle it
    except BrokenPipeError:
        raise _StdoutClosed from None


def _notes(items: list[dict]) -> None:
    # a finished-before batch says so on stderr too, where the person looks
    for it in items:
        if it.get("message"):
            print(f"yomitori-agent: batch {it.get('batch_id')}: {it['message']}", file=sys.stderr)


def _drop_stdout() -> None:
    # the reader is gone: later writes (and the flush at exit) go nowhere, without a traceback
    with contextlib.suppress(OSError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _pack(args) -> int:
    from yomitori_agent.pack import as_dicts, pack

    res = pack(_cfg(args), Path(args.scans_dir), Path(args.to), form_id=args.form, move_done=args.move_done,
               dry_run=args.dry_run, again=args.again, show_progress=_progress(args))
    _print({"dry_run": args.dry_run, "packages": as_dicts(res)})
    return ExitCode.OK


def _upload(args) -> int:
    from yomitori_agent.upload import as_dicts, upload

    res = upload(_cfg(args), Path(args.usb_dir), dry_run=args.dry_run, show_progress=_progress(args))
    _notes(as_dicts(res))
    _print({"dry_run": args.dry_run, "batches": as_dicts(res)})
    return ExitCode.OK


def _status(args) -> int:
    from yomitori_agent.status import status

    _print(status(_cfg(args), args.batch))
    return ExitCode.OK


def _download(args) -> int:
    from yomitori_agent.download import download

    _print(download(_cfg(args), args.batch, Path(args.to), dry_run=args.dry_run, acknowledge=not args.no_ack,
                    show_progress=_progress(args)))
    return ExitCode.OK


def _import(args) -> int:
    from yomitori_agent.importer import import_packages

    cfg = _cfg(args)
    inbox = Path(args.to) if args.to else cfg.require("inbox")
    res = import_packages(cfg, Path(args.usb_dir), inbox, dry_run=args.dry_run, show_progress=_progress(args))
    _notes(res)
    _print({"imported": res})
    return ExitCode.OK


def _register(args) -> int:
    from yomitori_agent.register import register

    report = register(_cfg(args), Path(args.inbox), batch=args.batch, csv=not args.no_csv,
                      database_url=args.db, dry_run=args.dry_run)
    _print(report)
    return ExitCode.PARTIAL if report["rejected"] else ExitCode.OK


def _review(args) -> int:
    # The review page belongs to yomitori_agent.review (docs/review.md); this is only its door.
    from yomitori_agent.config import load_config
    from yomitori_agent.errors import ConfigError
    from yomitori_agent.review import cloud_backend, serve

    try:  # the configuration's client_id narrows the queue to this office's batches
        client_id = load_config(args.config).client_id
    except ConfigError:
        client_id = None  # no configuration: every open batch is listed; IAM still decides
    if args.job_role:
        from yomitori_agent.review.job_role import JobRoleError, assume_job_role

        if not client_id:
            raise JobRoleError("A job role is taken on for this PC's office: the configuration has "
                               "no client_id.",
                               action="Pass --config with the agent configuration of this PC.")
        assume_job_role(args.job_role, client_id)
    backend = cloud_backend(batch_id=args.batch, client_id=client_id)
    _print(serve(backend, port=args.port, open_browser=not args.no_browser))
    return ExitCode.OK


def _keys_dir(args) -> Path:
    if args.dir:
        return Path(args.dir)
    from yomitori_agent.config import load_config

    cfg = load_config(args.config)
    return cfg.require("keys_dir")


def _keys_new(args) -> int:
    from yomitori_agent.keys import new_identity

    path, recipient = new_identity(_keys_dir(args), args.name)
    _print({"identity_file": str(path), "recipient": recipient})
    return ExitCode.OK


def _keys_show(args) -> int:
    from yomitori_agent.keys_show import show

    _print(show(args))
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yomitori-agent",
                                description="Move yomitori batches between office machines and the cloud.")
    p.add_argument("--config", help="the TOML configuration (default: $YOMITORI_AGENT_CONFIG or "
                                    "./yomitori-agent.toml)")
    p.add_argument("--no-progress", action="store_true", help="never draw progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="more detail in the log file")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("pack", help="scanner PC: scans -> encrypted package on the USB stick")
    c.add_argument("scans_dir")
    c.add_argument("--to", required=True, help="the USB stick folder")
    c.add_argument("--form", help="form id of the batch (default: pack.form_id, 'auto')")
    c.add_argument("--move-done", action="store_true", help="move scans to pack.done_dir after verification")
    c.add_argument("--again", action="store_true", help="pack scans even if they were packed before")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_pack)

    c = sub.add_parser("upload", help="external PC: packages -> intake bucket (resumable)")
    c.add_argument("usb_dir")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_upload)

    c = sub.add_parser("status", help="where each batch is")
    c.add_argument("batch", nargs="?")
    c.set_defaults(func=_status)

    c = sub.add_parser("download", help="external PC: batch results -> encrypted package, then acknowledge")
    c.add_argument("batch")
    c.add_argument("--to", required=True, help="the USB stick folder")
    c.add_argument("--no-ack", action="store_true", help="do not acknowledge (the cloud keeps the batch)")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_download)

    c = sub.add_parser("import", help="contract server: packages -> inbox (verified, atomic)")
    c.add_argument("usb_dir")
    c.add_argument("--to", help="the inbox folder (default: inbox from the configuration)")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_import)

    c = sub.add_parser("register", help="contract server: inbox -> CSV for the robot and/or core database")
    c.add_argument("inbox")
    c.add_argument("--batch", help="only this batch")
    c.add_argument("--no-csv", action="store_true", help="do not write CSV files")
    c.add_argument("--db", help="database URL (default: register.database_url; none: no database)")
    c.add_argument("--dry-run", action="store_true")
    c.set_defaults(func=_register)

    c = sub.add_parser("review", help="external PC: the local review page (see docs/review.md)")
    c.add_argument("batch", nargs="?", help="only this batch (default: every batch waiting)")
    c.add_argument("--port", type=int, default=0)
    c.add_argument("--no-browser", action="store_true")
    c.add_argument("--job-role", metavar="ARN",
                   help="assume this job role (yomitori-reviewer, ...) as your own IAM user, for this "
                        "PC's office (docs/deploy.md, Job roles)")
    c.set_defaults(func=_review)

    k = sub.add_parser("keys", help="X25519 identities and recipients")
    ks = k.add_subparsers(dest="keys_command", required=True)
    c = ks.add_parser("new", help="create an identity (private, mode 600) and print its recipient")
    c.add_argument("name")
    c.add_argument("--dir", help="where to write it (default: keys_dir from the configuration)")
    c.set_defaults(func=_keys_new)
    c = ks.add_parser("show", help="the identities and recipients this machine knows")
    c.add_argument("--dir", help="a keys folder to list (default: keys_dir from the configuration)")
    c.set_defaults(func=_keys_show)
    return p


def _portable_console() -> None:
    # Windows consoles are often cp932: never die on a character they cannot show.
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _portable_console()
    args = build_parser().parse_args(argv)
    from yomitori_agent.log import log

    try:
        return int(args.func(args))
    except AgentError as e:
        message, action = printable(e.message), printable(e.action)  # names from a stick may hold ESC
        log.error("%s failed: %s (%s)", args.command, type(e).__name__, message)
        print(f"yomitori-agent: {message}\n  what to do: {action}", file=sys.stderr)
        return int(e.exit_code)
    except YomitoriError as e:  # from the domain (forms, review gate): same one-line shape
        log.error("%s failed: %s (%s)", args.command, type(e).__name__, e.code)
        print(f"yomitori-agent: {e.message}\n  what to do: {e.action}", file=sys.stderr)
        return int(ExitCode.BAD_INPUT)
    except _StdoutClosed:
        # the command did its work; only the summary found no reader: not an error
        _drop_stdout()
        return int(ExitCode.OK)
    except KeyboardInterrupt:
        log.warning("%s interrupted", args.command)
        print("yomitori-agent: interrupted; run the same command again to continue.", file=sys.stderr)
        return int(ExitCode.INTERRUPTED)
    except Exception as e:  # a bug: one line for the user, the trace in the log file
        log.error("%s crashed:\n%s", args.command, traceback.format_exc())
        print(f"yomitori-agent: internal error ({type(e).__name__}).\n  what to do: "
              f"{AgentError.action}", file=sys.stderr)
        return int(ExitCode.INTERNAL)


if __name__ == "__main__":
    sys.exit(main())
