"""``yomitori audit show|verify|export`` (thin: arguments -> :mod:`.report`; results on
stdout, notes on stderr, errors typed). Runs on the supervisor's PC."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from yomitori.audit.archive import read_jsonl
from yomitori.audit.report import (
    AuditBroken,
    anchor_from_records,
    parse_since,
    select,
    table,
    to_csv,
    to_jsonl,
    verdict_lines,
    verify_batches,
)
from yomitori.audit.sources import AuditSource, AuditSourceError, cloud_source, folder_source
from yomitori.errors import ExitCode


def add_parser(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser("audit", help="read, verify and export the audit trail (supervisors)")
    asub = a.add_subparsers(dest="audit_command", required=True)
    for name, func, text in (("show", _show, "the records as a table"),
                             ("verify", _verify, "check the hash chain: exit 0 intact, 1 broken"),
                             ("export", _export, "the records as JSON Lines or CSV")):
        p = asub.add_parser(name, help=text)
        where = p.add_mutually_exclusive_group(required=True)
        where.add_argument("--out", help="the output folder of `yomitori process` (and review)")
        where.add_argument("--cloud", action="store_true",
                           help="the cloud audit table (the YOMITORI_* variables of the review backend)")
        p.add_argument("--batch", help="one batch (default: every batch with a trail)")
        if name != "verify":
            p.add_argument("--since", help="records at or after this time (2026-04-01; UTC without offset)")
            p.add_argument("--who", help="records of people whose name contains this")
        if name == "export":
            p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
            p.add_argument("--output", help="write to this file (default: stdout)")
        if name == "verify":
            p.add_argument("--anchor", action="append", default=[],
                           help="an exported or archived copy (JSON Lines) whose last record the "
                                "trail must still hold (repeatable)")
        p.set_defaults(func=func)


def _source(args: argparse.Namespace) -> AuditSource:
    return cloud_source() if args.cloud else folder_source(Path(args.out))


def _records(args: argparse.Namespace):
    src = _source(args)
    return select(src.reviews, batch=args.batch, since=parse_since(args.since), who=args.who)


def _show(args: argparse.Namespace) -> int:
    records = _records(args)
    sys.stdout.write(table(records))
    print(f"audit: {len(records)} record(s)", file=sys.stderr)
    return ExitCode.OK


def _export(args: argparse.Namespace) -> int:
    records = _records(args)
    text = to_csv(records) if args.format == "csv" else to_jsonl(records)
    if args.output:
        target = Path(args.output)
        tmp = target.with_name(f".{target.name}.tmp")
        # CSV with a BOM so Japanese Excel opens it as UTF-8
        tmp.write_text(text, encoding="utf-8-sig" if args.format == "csv" else "utf-8", newline="")
        tmp.replace(target)
        print(f"audit: {len(records)} record(s) -> {target}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return ExitCode.OK


def _verify(args: argparse.Namespace) -> int:
    src = _source(args)
    batches = [args.batch] if args.batch else src.reviews.audit_batches()
    extra = src.anchors(batches)
    for path in args.anchor:
        try:
            copy = read_jsonl(Path(path).read_bytes())
        except (OSError, ValueError):
            raise AuditSourceError(f"{path} cannot be read as an audit trail copy.",
                                   action="Pass a file written by `yomitori audit export` or the "
                                          "trail bucket's copy.") from None
        for b in {r.batch_id for r in copy}:
            a = anchor_from_records([r for r in copy if r.batch_id == b], path)
            if a and (args.batch in (None, b)):
                extra.setdefault(b, []).append(a)
    verdicts = verify_batches(src.reviews, batch=args.batch, extra=extra)
    for line in verdict_lines(verdicts):
        print(line)
    for note in src.notes:
        print(f"audit: {note}", file=sys.stderr)
    broken = [v for v in verdicts if not v.ok]
    if broken:
        first = broken[0].breaks[0]
        raise AuditBroken(f"The audit trail of {len(broken)} batch(es) is broken: batch "
                          f"'{broken[0].batch_id}' at seq {first.seq} ({first.kind}).")
    print(f"audit: {len(verdicts)} batch(es) verified, intact", file=sys.stderr)
    return ExitCode.OK
