"""One warm Lambda "execution environment" of the local cloud (run as a script by
:mod:`yomitori.cloud_local.functions`, never imported): ``python -I -S lambda_worker.py``.

Its import path is exactly what Lambda gives a function: the function's code, its layers'
``python`` folders (given on the first line of stdin) and the standard library; no
site-packages. So a module that is in none of the function's layers fails to import here as
it does in Lambda. Then one JSON line per invocation on stdin ({"event", "request_id"}), one
JSON line back ({"payload", "error", "logs"}) on the protocol channel; whatever the handler
prints (Powertools logs) is captured per invocation and also goes to stderr.
"""

import io
import json
import os
import sys
import time
import traceback

_proto = os.fdopen(os.dup(1), "w", encoding="utf-8")  # replies; fd 1 itself now goes to stderr
os.dup2(2, 1)


class _Capture(io.TextIOBase):
    """stdout/stderr during an invocation: kept for the invocation's log, echoed to fd 2."""

    def __init__(self, real):
        self.real, self.parts = real, []

    def write(self, s):
        self.parts.append(s)
        self.real.write(s)
        self.real.flush()
        return len(s)

    def flush(self):
        self.real.flush()

    def take(self):
        out, self.parts = "".join(self.parts), []
        return out


class _Context:
    def __init__(self, name, request_id, timeout_s, memory):
        self.function_name = name
        self.function_version = "$LATEST"
        self.aws_request_id = request_id
        self.memory_limit_in_mb = memory
        self.invoked_function_arn = os.environ.get("YOMITORI_LOCAL_FUNCTION_ARN", name)
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self):
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _error(error_type, message):
    return {
        "errorType": error_type,
        "errorMessage": message,
        "stackTrace": traceback.format_exc().splitlines(),
    }


def main():
    config = json.loads(sys.stdin.readline())
    stdlib = [p for p in sys.path if p]  # -S: the standard library only
    sys.path[:] = [*config["path"], *stdlib]
    capture = _Capture(sys.__stderr__)
    sys.stdout = sys.stderr = capture
    module_name, attr = config["handler"].rsplit(".", 1)
    handler, import_error = None, None
    try:
        handler = getattr(__import__(module_name), attr)
    except Exception as e:  # what Lambda reports when the handler module does not import
        import_error = _error("Runtime.ImportModuleError", f"Unable to import module '{module_name}': {e}")
    init_logs = capture.take()
    for line in sys.stdin:
        request = json.loads(line)
        reply = {"payload": None, "error": None}
        if import_error is not None:
            reply["error"] = import_error
        else:
            ctx = _Context(
                config["function_name"], request["request_id"], config["timeout"], config["memory"]
            )
            try:
                reply["payload"] = handler(request["event"], ctx)
            except Exception as e:
                reply["error"] = _error(type(e).__name__, str(e))
        reply["logs"] = init_logs + capture.take()
        init_logs = ""
        _proto.write(json.dumps(reply, default=str) + "\n")
        _proto.flush()


if __name__ == "__main__":
    main()
