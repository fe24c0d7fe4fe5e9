"""The ``yomitori`` command (one machine). Thin: parse arguments, call the API, translate
errors into one-line messages and exit codes (:class:`yomitori.errors.ExitCode`).
Results go to stdout; progress and logs to stderr."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from yomitori.errors import EngineError, ExitCode, YomitoriError
from yomitori.ocr.engine import DEFAULT_ENGINE, ENGINE_NAMES

LOCAL_ENGINES = tuple(e for e in ENGINE_NAMES if e != "textract")  # the local cloud has no Textract


def _forms_list(args: argparse.Namespace) -> int:
    from yomitori.forms import available_forms, load_form

    for form_id in available_forms():
        form = load_form(form_id)
        print(f"{form.id}\t{form.title}\t{len(form.fields)} fields")
    return ExitCode.OK


def _forms_render(args: argparse.Namespace) -> int:
    from yomitori.forms import load_form
    from yomitori.render import save_blank

    for path in save_blank(load_form(args.form), Path(args.out), dpi=args.dpi):
        print(path)
    return ExitCode.OK


def _forms_check(args: argparse.Namespace) -> int:
    from yomitori.forms import load_form_file
    from yomitori.validation.registry import check_form_validators

    for path in args.files:
        check_form_validators(load_form_file(Path(path)))
        print(f"{path}: ok")
    return ExitCode.OK


def _forms_new(args: argparse.Namespace) -> int:
    from yomitori.forms.existing import new_existing_form

    made = new_existing_form(args.form, Path(args.from_scan), title=args.title,
                             directory=Path(args.dir) if args.dir else None, force=args.force)
    print(f"{made.definition}\n{made.reference}\n{made.paper} at {made.dpi:.0f} dpi; draw its fields with "
          f"`yomitori forms edit {args.form}`")
    return ExitCode.OK


def _forms_edit(args: argparse.Namespace) -> int:
    from yomitori.forms.editor import run_editor

    return run_editor(args.form, port=args.port, open_browser=not args.no_browser,
                      directory=Path(args.dir) if args.dir else None)


def _synth(args: argparse.Namespace) -> int:
    from yomitori.forms import load_form
    from yomitori.synth import generate

    paths = generate(
        load_form(args.form), count=args.count, out_dir=Path(args.out), seed=args.seed,
        fonts=args.font or None, dpi=args.dpi, degrade=args.degrade,
    )
    print(f"{len(paths)} forms written to {args.out}")
    return ExitCode.OK


def _process(args: argparse.Namespace) -> int:
    from yomitori.pipeline import process_directory

    report = process_directory(
        Path(args.dir), form_id=args.form, out_dir=Path(args.out), engine=args.engine, encoding=args.encoding
    )
    print(report.describe())
    return ExitCode.OK if report.failed == 0 else ExitCode.SOME_DOCUMENTS_FAILED


def _eval(args: argparse.Namespace) -> int:
    from yomitori.evaluate import evaluate_directory

    metrics = evaluate_directory(
        Path(args.dir), truth_dir=Path(args.truth) if args.truth else None,
        metrics_out=Path(args.metrics_out) if args.metrics_out else None,
        plot=Path(args.plot) if args.plot else None,
        inject_errors=args.inject_errors,
    )
    print(metrics.table())
    return ExitCode.OK


def _demo(args: argparse.Namespace) -> int:
    from yomitori.demo import run_demo

    return run_demo(count=args.count, out=Path(args.out), metrics_out=args.metrics_out, seed=args.seed,
                    forms=args.form, cloud_local=args.cloud_local, engine=args.engine, compare=args.compare,
                    degrade=args.degrade, fonts=args.font)


def _local_up(args: argparse.Namespace) -> int:
    from yomitori.cloud_local import up
    from yomitori.cloud_local.deploy import deploy, synth
    from yomitori.cloud_local.server import state_dir

    cloud = up(port=args.port)
    template = (
        next(Path(args.cdk_out).glob("*.template.json")) if args.cdk_out else synth(state_dir() / "cdk.out")
    )
    deployment = deploy(cloud, template, engine=args.engine)
    print(f"local cloud on {cloud.endpoint} (S3, DynamoDB, KMS, STS, Lambda, EventBridge, Step Functions "
          f"via moto); state machine {deployment.state_machine_arn} deployed from {template}")
    for k, v in cloud.environment().items():  # moto's fixed test credentials: not secrets
        print(f"export {k}={v}")
    return ExitCode.OK


def _local_run(args: argparse.Namespace) -> int:
    from yomitori.cloud_local import run_batch_dir, up

    run = run_batch_dir(Path(args.dir), form_id=args.form, out_dir=Path(args.out), engine=args.engine,
                        encoding=args.encoding, cloud=up())
    print(run.describe())
    return ExitCode.OK if run.failed == 0 else ExitCode.SOME_DOCUMENTS_FAILED


def _local_resume(args: argparse.Namespace) -> int:
    from yomitori.cloud_local import resume_batch

    run = resume_batch(args.batch_id, out_dir=Path(args.out), encoding=args.encoding)
    print(run.describe())
    return ExitCode.OK


def _local_journey(args: argparse.Namespace) -> int:
    import json
    import tempfile

    from yomitori.cloud_local.journey import run_journey

    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="yomitori-journey-"))
    j = run_journey(count=args.count, form_id=args.form, engine=args.engine, work=work)
    summary = {k: v for k, v in j.__dict__.items()}
    text = json.dumps(summary, ensure_ascii=False, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"journey {'passed' if j.ok else 'FAILED'}; work folder: {work}", file=sys.stderr)
    return ExitCode.OK if j.ok else ExitCode.SOME_DOCUMENTS_FAILED


def _local_down(args: argparse.Namespace) -> int:
    from yomitori.cloud_local import down

    print("local cloud stopped" if down() else "no local cloud was running")
    return ExitCode.OK


def _add_local(sub) -> None:
    loc = sub.add_parser("local", help="the cloud path on this machine (moto server, the real handlers)")
    lsub = loc.add_subparsers(dest="local_command", required=True)
    u = lsub.add_parser("up", help="start the local cloud and create the stack's buckets, key and tables")
    u.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    u.add_argument("--engine", default=DEFAULT_ENGINE, choices=LOCAL_ENGINES,
                   help="the ocr function's engine")
    u.add_argument("--cdk-out", help="deploy this synthesized cdk.out (default: synthesize now)")
    u.set_defaults(func=_local_up)
    jr = lsub.add_parser("journey", help="the whole office journey through the executed flow, unattended")
    jr.add_argument("--count", type=int, default=3)
    jr.add_argument("--form", required=True)
    jr.add_argument("--engine", default=DEFAULT_ENGINE, choices=LOCAL_ENGINES)
    jr.add_argument("--json", help="also write the summary to this file")
    jr.add_argument("--work", help="keep the journey's files here (default: a new temporary folder)")
    jr.set_defaults(func=_local_journey)
    r = lsub.add_parser("run", help="a folder of scans through the handlers, in the state machine's order")
    r.add_argument("dir")
    r.add_argument("--form", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--engine", default=DEFAULT_ENGINE, choices=ENGINE_NAMES)
    r.add_argument("--encoding", default="utf-8-sig", choices=("utf-8-sig", "cp932"))
    r.set_defaults(func=_local_run)
    rs = lsub.add_parser("resume", help="continue a batch after its review: finalize, download, purge")
    rs.add_argument("batch_id")
    rs.add_argument("--out", required=True)
    rs.add_argument("--encoding", default="utf-8-sig", choices=("utf-8-sig", "cp932"))
    rs.set_defaults(func=_local_resume)
    dn = lsub.add_parser("down", help="stop the local cloud (its data is in memory and goes with it)")
    dn.set_defaults(func=_local_down)


def _review(args: argparse.Namespace) -> int:
    # the review page lives with the agent (one web server for both commands); imported lazily
    try:
        from yomitori_agent.review.command import run_one_machine
    except ModuleNotFoundError as e:
        raise EngineError("The review page (package yomitori_agent) is not installed.",
                          action="Run `make setup`.", code="missing_dependency") from e
    import json

    print(json.dumps(run_one_machine(args), ensure_ascii=False))
    return ExitCode.OK


def _cost(args: argparse.Namespace) -> int:
    import json

    from pydantic import ValidationError

    from yomitori.cost import ENV_PRICE_TABLE, PriceTableError, estimate, price_table

    raw = args.price_table if args.price_table is not None else os.environ.get(ENV_PRICE_TABLE)
    try:
        prices = price_table(raw)
    except (ValueError, ValidationError) as e:
        detail = e.errors()[0]["msg"] if isinstance(e, ValidationError) else str(e)
        raise PriceTableError(f"the price table is not valid ({detail}).") from None
    print(json.dumps(estimate(args.pages, engine=args.engine, prices=prices), ensure_ascii=False, indent=1))
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="yomitori", description="Japanese paper forms to checked data.")
    sub = p.add_subparsers(dest="command", required=True)

    forms = sub.add_parser("forms", help="list, render and check form definitions")
    fsub = forms.add_subparsers(dest="forms_command", required=True)
    fsub.add_parser("list", help="the installed forms").set_defaults(func=_forms_list)
    r = fsub.add_parser("render", help="a printable blank form (PNG and PDF)")
    r.add_argument("form")
    r.add_argument("--out", default="blank-forms")
    r.add_argument("--dpi", type=int, default=300)
    r.set_defaults(func=_forms_render)
    c = fsub.add_parser("check", help="validate form definition files")
    c.add_argument("files", nargs="+")
    c.set_defaults(func=_forms_check)
    n = fsub.add_parser("new", help="register an existing paper form from a scan of its blank")
    n.add_argument("form", help="the new form's id (lower case letters, digits, _)")
    n.add_argument("--from-scan", required=True, metavar="BLANK",
                   help="the blank form: PNG, JPEG, TIFF or PDF")
    n.add_argument("--title", help="the form's title (default: its id)")
    n.add_argument("--dir", help="where forms live (default: the forms folder)")
    n.add_argument("--force", action="store_true", help="replace an existing form of this id")
    n.set_defaults(func=_forms_new)
    ed = fsub.add_parser("edit", help="draw an existing form's fields on its blank in the browser "
                                      "(127.0.0.1)")
    ed.add_argument("form")
    ed.add_argument("--port", type=int, default=0, help="local port (default: any free port)")
    ed.add_argument("--no-browser", action="store_true", help="only print the address")
    ed.add_argument("--dir", help="where forms live (default: the forms folder)")
    ed.set_defaults(func=_forms_edit)

    s = sub.add_parser("synth", help="filled-in sample forms with a truth file each")
    s.add_argument("form")
    s.add_argument("--count", type=int, default=10)
    s.add_argument("--out", required=True)
    s.add_argument("--seed", type=int, default=1)
    s.add_argument("--font", action="append", help="a handwriting font file (repeatable)")
    s.add_argument("--dpi", type=int, choices=(200, 300), default=300)
    s.add_argument("--degrade", choices=("none", "light", "heavy"), default="light")
    s.set_defaults(func=_synth)

    pr = sub.add_parser("process", help="read a folder of scans into results")
    pr.add_argument("dir")
    pr.add_argument("--form", required=True)
    pr.add_argument("--out", required=True)
    pr.add_argument("--engine", default=DEFAULT_ENGINE, choices=ENGINE_NAMES)
    pr.add_argument("--encoding", default="utf-8-sig", choices=("utf-8-sig", "cp932"),
                    help="results.csv encoding (utf-8 with BOM, or cp932 for older systems)")
    pr.set_defaults(func=_process)

    e = sub.add_parser("eval", help="score results against truth files")
    e.add_argument("dir", help="the output folder of `process`")
    e.add_argument("--truth", help="folder of truth files (default: the scans folder recorded by process)")
    e.add_argument("--metrics-out")
    e.add_argument("--plot")
    e.add_argument("--inject-errors", action="store_true",
                   help="also measure how many injected OCR confusions the validators catch")
    e.set_defaults(func=_eval)

    d = sub.add_parser("demo", help="synth, process and eval in one go")
    d.add_argument("--count", type=int, default=20)
    d.add_argument("--out", default="demo-out")
    d.add_argument("--seed", type=int, default=7)
    d.add_argument("--form", action="append", help="forms to include (default: all)")
    d.add_argument("--metrics-out")
    d.add_argument("--cloud-local", action="store_true", help="go through the local cloud path (moto)")
    d.add_argument("--engine", default=DEFAULT_ENGINE, choices=ENGINE_NAMES)
    d.add_argument("--compare", action="append", choices=ENGINE_NAMES,
                   help="another engine to read the same scans in the same run (repeatable)")
    d.add_argument("--degrade", choices=("none", "light", "heavy"), default="light")
    d.add_argument("--font", action="append", help="a handwriting font file for the scans (repeatable)")
    d.set_defaults(func=_demo)
    _add_local(sub)

    rv = sub.add_parser("review", help="check and correct the fields of a batch in the browser (127.0.0.1)")
    rv.add_argument("dir", help="the output folder of `yomitori process` (holds batch.json)")
    rv.add_argument("--port", type=int, default=0, help="local port (default: any free port)")
    rv.add_argument("--no-browser", action="store_true", help="only print the address")
    rv.add_argument("--stay", action="store_true", help="keep serving after the last document is done")
    rv.add_argument("--users", help="the users file: log in with roles (default: $YOMITORI_USERS; none: the "
                    "OS user, reviewer role only)")
    rv.set_defaults(func=_review)
    from yomitori.users_cli import add_parser as add_users

    add_users(sub)

    co = sub.add_parser("cost", help="the cost estimate of a batch in AWS (what finalize writes "
                        "into results.json)")
    co.add_argument("--pages", type=int, default=100, help="pages in the batch (default 100)")
    co.add_argument("--engine", choices=("ppocr", "textract", "tesseract"), default="ppocr")
    co.add_argument("--price-table", help="JSON overrides of the price table (default: "
                    "$YOMITORI_PRICE_TABLE, else the built-in ap-northeast-1 list prices)")
    co.set_defaults(func=_cost)

    from yomitori.audit.command import add_parser as add_audit

    add_audit(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args))
        sys.stdout.flush()  # now, so a reader that went away is seen here and not at exit
        return code
    except YomitoriError as e:
        print(f"yomitori: {e.message}\n  what to do: {e.action}", file=sys.stderr)
        return int(e.exit_code)
    except KeyboardInterrupt:
        print("yomitori: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # stdout was closed early (e.g. `yomitori eval OUT | head`): not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
