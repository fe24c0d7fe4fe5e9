"""The local cloud's moto server, with the two seams moto leaves to Docker and to AWS filled
in (one machine only): ``python -m yomitori.cloud_local.moto_host -p PORT``.

- Lambda: moto runs a function by starting a Docker container (``LambdaFunction._invoke_lambda``
  builds it and returns the container's last output line, whether it failed, and its log).
  There is no Docker here: that one method is replaced by the function runner
  (:mod:`yomitori.cloud_local.functions`), which runs the deployed handler with only its
  layers. Everything around it (the Invoke API, the function and layer registry, the log
  group, Step Functions' ``lambda:invoke`` integration) stays moto's.
- EventBridge: moto delivers rule targets of a few services only (SQS, Logs, buses) and not
  the state machine or Lambda targets the stack uses; those two are delivered here,
  asynchronously as EventBridge does, with the target's input transformer applied.

Step Functions executes definitions with moto's ASL interpreter once ``POST /moto-api/config``
sets ``{"stepfunctions": {"execute_state_machine": true}}`` (done by ``deploy``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import threading
import time
import traceback


def _lookup(event: dict, path: str):
    value = event
    for part in path.removeprefix("$.").split(".") if path != "$" else []:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def transform(transformer: dict, event: dict) -> dict:
    """EventBridge's input transformer: ``<name>`` inside quotes takes the raw text, a bare
    ``<name>`` the JSON value (moto's own parser inserts strings without their quotes)."""
    text = transformer.get("InputTemplate", "<aws.events.event.json>")
    values = {n: _lookup(event, p) for n, p in transformer.get("InputPathsMap", {}).items()}
    values["aws.events.event.json"] = event
    for name, value in values.items():
        raw = value if isinstance(value, str) else json.dumps(value)
        text = text.replace(f'"<{name}>"', json.dumps(raw)).replace(f"<{name}>", json.dumps(value))
    return json.loads(text)


_events_lock = threading.Lock()


def _install(endpoint: str) -> None:
    from moto.awslambda.models import LambdaFunction
    from moto.events.models import Rule
    from moto.utilities.arns import parse_arn

    from yomitori.cloud_local.functions import FunctionRunner, spec_for

    runner = FunctionRunner(endpoint)

    caller = threading.local()
    original_invoke = LambdaFunction.invoke

    def invoke(self, body, request_headers, response_headers):
        # moto's Step Functions interpreter signs its calls with the access key "ak"
        auth = (request_headers or {}).get("Authorization", "") or ""
        caller.states = "Credential=ak/" in auth
        return original_invoke(self, body, request_headers, response_headers)

    def _invoke_lambda(self, event=None):
        self.logs_backend.ensure_log_group(self.logs_group_name)
        payload, error, logs = runner.invoke(
            spec_for(self), event if event is not None else {}, from_states=getattr(caller, "states", False)
        )
        if logs:
            self.save_logs(logs)
        if error is not None:
            return json.dumps(error), True, logs
        return json.dumps(payload), False, logs

    LambdaFunction._invoke_lambda = _invoke_lambda
    LambdaFunction.invoke = invoke

    original = Rule.send_to_targets

    def _deliver(rule, target: dict, payload: dict) -> None:
        from yomitori.cloud_local.evidence import EVENTS_LOG
        from yomitori.cloud_local.server import state_dir

        state_dir().mkdir(parents=True, exist_ok=True)
        with _events_lock, open(state_dir() / EVENTS_LOG, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"rule": rule.name, "target": target["Arn"], "input": payload}) + "\n")
        arn = parse_arn(target["Arn"])
        for attempt in range(3):  # EventBridge retries a failed delivery
            try:
                if arn.service == "states":
                    from moto.stepfunctions.responses import get_backend

                    get_backend(rule.account_id, rule.region_name).start_execution(
                        target["Arn"], execution_input=json.dumps(payload)
                    )
                else:
                    from moto.awslambda.utils import get_backend

                    get_backend(rule.account_id, rule.region_name).invoke(
                        target["Arn"].split(":")[6], None, json.dumps(payload), {}, {}
                    )
                return
            except Exception as e:  # noqa: BLE001 - the event is not lost silently: logged, retried
                print(f"event delivery to {target['Arn']} failed ({type(e).__name__})", file=sys.stderr)
                time.sleep(0.5 * (attempt + 1))

    def send_to_targets(self, original_event, transform_input: bool = True) -> None:
        try:
            _send_to_targets(self, original_event, transform_input)
        except Exception:  # moto's S3 notifications swallow every error: say it here
            traceback.print_exc()
            raise

    def _send_to_targets(self, original_event, transform_input: bool) -> None:
        if not self.event_pattern.matches_event(original_event):
            return
        ours = [t for t in self.targets if parse_arn(t["Arn"]).service in ("states", "lambda")]
        for target in ours:
            transformer = target.get("InputTransformer")
            event = {"ingestion-time": time.time(), **original_event}
            payload = transform(transformer, event) if transformer else original_event
            threading.Thread(target=_deliver, args=(self, target, payload), daemon=True).start()
        rest = [t for t in self.targets if t not in ours]
        if rest:
            other = copy.copy(self)
            other.targets = rest
            original(other, original_event, transform_input)

    Rule.send_to_targets = send_to_targets


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    args = parser.parse_args(argv)
    # moto's Step Functions interpreter calls the other services at localhost:MOTO_PORT
    os.environ["MOTO_PORT"] = str(args.port)
    _install(f"http://{args.host}:{args.port}")
    from moto.server import main as moto_main

    moto_main(["-H", args.host, "-p", str(args.port)])


if __name__ == "__main__":
    main()
